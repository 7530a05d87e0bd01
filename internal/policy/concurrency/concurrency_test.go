package concurrency

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit/limittest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

var reg = policy.NewRegistry(Type, limittest.EdgeType, limittest.CallerType)

// holder is an upstream that keeps requests carrying X-Hold until released, and aborts
// those carrying X-Panic.
type holder struct {
	entered chan struct{}
	release chan struct{}
}

func newHolder() *holder {
	return &holder{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (h *holder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Panic") != "" {
		panic(http.ErrAbortHandler) // net/http recovers this one without logging
	}
	if r.Header.Get("X-Hold") != "" {
		h.entered <- struct{}{}
		<-h.release
	}
	w.WriteHeader(http.StatusOK)
}

func serve(t *testing.T, api, config string, upstream http.Handler) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "test-edge"}, {Type: "test-caller"}, {Type: "concurrency", Config: json.RawMessage(config)}}
	env := &policy.Env{API: &gatehouse.API{Name: api, Path: "/", State: gatehouse.StatePublished}}
	return policytest.Serve(t, reg, env, specs, nil, upstream)
}

// uniqueAPI names an API no other test uses: the counters are shared by the package.
func uniqueAPI(t *testing.T) string { return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) }

// hold starts n held requests and waits until the upstream has them all.
func hold(t *testing.T, srv *httptest.Server, up *holder, n int, headers ...string) (wait func() []limittest.Response) {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]limittest.Response, n)
	for i := 0; i < n; i++ {
		wg.Go(func() { results[i] = limittest.Get(srv, append([]string{"X-Hold: 1"}, headers...)...) })
	}
	for i := 0; i < n; i++ {
		<-up.entered
	}
	return func() []limittest.Response { wg.Wait(); return results }
}

func TestHoldsAtTheLimit(t *testing.T) {
	up := newHolder()
	api := uniqueAPI(t)
	srv := serve(t, api, `{"limit":3}`, up)
	wait := hold(t, srv, up, 3)
	if n := inFlight.Count(api + ":concurrency:api:" + api); n != 3 {
		t.Fatalf("%d in flight, want 3", n)
	}
	for i := 0; i < 5; i++ {
		r := limittest.Get(srv)
		if r.Status != http.StatusTooManyRequests || r.Code != "concurrency_limited" || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("request over the cap: %d %s Retry-After %q, want 429 concurrency_limited with Retry-After 1", r.Status, r.Code, r.Header.Get("Retry-After"))
		}
	}
	close(up.release)
	for i, r := range wait() {
		if r.Status != http.StatusOK {
			t.Fatalf("held request %d: %+v", i, r)
		}
	}
	if n := inFlight.Count(api + ":concurrency:api:" + api); n != 0 {
		t.Fatalf("%d still in flight after every request finished", n)
	}
	for i := 0; i < 3; i++ {
		if r := limittest.Get(srv); r.Status != http.StatusOK {
			t.Fatalf("after the held requests finished: %+v", r)
		}
	}
}

func TestSeparateKeys(t *testing.T) {
	up := newHolder()
	srv := serve(t, uniqueAPI(t), `{"limit":1,"by":"ip"}`, up)
	wait := hold(t, srv, up, 1, "X-Test-IP: 10.0.0.1")
	if r := limittest.Get(srv, "X-Test-IP: 10.0.0.1"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("10.0.0.1's second request: %d, want 429", r.Status)
	}
	if r := limittest.Get(srv, "X-Test-IP: 10.0.0.2"); r.Status != http.StatusOK {
		t.Fatalf("10.0.0.2 while 10.0.0.1 is at its cap: %d, want 200", r.Status)
	}
	close(up.release)
	wait()
}

func TestReleasedOnPanic(t *testing.T) {
	srv := serve(t, uniqueAPI(t), `{"limit":1}`, newHolder())
	for i := 0; i < 3; i++ {
		if r := limittest.Get(srv, "X-Panic: 1"); r.Err == nil {
			t.Fatalf("panicking upstream answered %d", r.Status)
		}
	}
	if r := limittest.Get(srv); r.Status != http.StatusOK {
		t.Fatalf("after upstream panics: %d %s, want 200: the slot was not released", r.Status, r.Code)
	}
}

// A configuration reload builds new chains; requests of the old one still count.
func TestCountsSurviveReload(t *testing.T) {
	up := newHolder()
	api := uniqueAPI(t)
	old := serve(t, api, `{"limit":1}`, up)
	reloaded := serve(t, api, `{"limit":1}`, up)
	wait := hold(t, old, up, 1)
	if r := limittest.Get(reloaded); r.Status != http.StatusTooManyRequests {
		t.Fatalf("reloaded chain while the old one holds the only slot: %d, want 429", r.Status)
	}
	close(up.release)
	wait()
	if r := limittest.Get(reloaded); r.Status != http.StatusOK {
		t.Fatalf("reloaded chain after: %d", r.Status)
	}
}

func TestConfig(t *testing.T) {
	limittest.CheckConfigs(t, Type, map[string]string{
		`{"limit":10}`: "",
		`{"limit":10,"by":"consumer","scope":"shared"}`: "",
		`{"limit":10,"by":"header:X-Tenant"}`:           "",
		`{"limit":10,"by":"route"}`:                     "",
		`{}`:                                            "limit:",
		`{"limit":0}`:                                   "limit:",
		`{"limit":10,"by":"sun"}`:                       "by:",
		`{"limit":10,"scope":"` + strings.Repeat("x", 257) + `"}`: "scope:",
		`{"limit":10,"window":"1s"}`:                              "unknown field",
	})
}

func FuzzConfig(f *testing.F) {
	for _, s := range []string{`{"limit":10}`, `{"limit":1,"by":"header:X-A","scope":"s"}`, `{"limit":-5}`, `{"by":"api"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Type.Decode(raw)
		if err != nil {
			return
		}
		env := &policy.Env{API: &gatehouse.API{Name: "fuzz"}}
		h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "concurrency")
		if err != nil {
			t.Fatalf("%s validated but New failed: %v", raw, err)
		}
		c := policy.Acquire(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		defer policy.Release(c)
		if err := h.Serve(c); err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%s: %v", raw, err)
			}
		}
	})
}

func BenchmarkServe(b *testing.B) {
	for _, by := range []string{"api", "ip"} {
		b.Run(by, func(b *testing.B) {
			cfg, err := Type.Decode(json.RawMessage(fmt.Sprintf(`{"limit":1000000,"by":%q}`, by)))
			if err != nil {
				b.Fatal(err)
			}
			env := &policy.Env{API: &gatehouse.API{Name: "bench-" + by}}
			h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "concurrency")
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			c := &policy.Context{W: httptest.NewRecorder(), R: r, API: "bench-" + by}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Serve(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
