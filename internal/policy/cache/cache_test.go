package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	store "github.com/gatehouse-dev/gatehouse/internal/cache"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/cache"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// clock is the injectable clock: tests move it, nothing waits.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// appAuth is a test authenticator: X-Test-App names the calling app.
type appAuth struct{}

func (appAuth) Authenticate(c *policy.Context) (bool, error) {
	app := c.R.Header.Get("X-Test-App")
	if app == "" {
		return false, nil
	}
	c.Identity.App = app
	c.Identity.Method = "test-app"
	c.R.Header.Del("X-Test-App")
	return true, nil
}

func (appAuth) Challenge() string { return "" }

type noConfig struct{}

var testAuth = policy.DefineAuth("test-app", "X-Test-App names the app", func(*policy.Env, *noConfig, string) (policy.Authenticator, error) {
	return appAuth{}, nil
})

// testFail is a policy after the cache that fails with 502 when the request says X-Fail,
// as a proxy that cannot reach the upstream would.
var testFail = policy.Define("test-fail", policy.Transform, "fails on X-Fail", func(_ *policy.Env, next policy.Handler, _ *noConfig, name string) (policy.Handler, error) {
	return policy.HandlerFunc(func(c *policy.Context) error {
		if c.R.Header.Get("X-Fail") != "" {
			return policy.Reject(name, http.StatusBadGateway, "upstream_unreachable", "the upstream cannot be reached")
		}
		return next.Serve(c)
	}), nil
})

var registry = policy.NewRegistry(cache.Type, testAuth, testFail)

// upstream counts the requests that reach it and answers with fn.
type upstream struct {
	hits atomic.Int64
	fn   http.HandlerFunc
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	u.fn(w, r)
}

// counting answers 200 with a body naming the request and how many came before it, so a
// cached answer is recognisable.
func counting(extra ...string) *upstream {
	u := &upstream{}
	u.fn = func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(extra); i += 2 {
			w.Header().Add(extra[i], extra[i+1])
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s #%d app=%s lang=%s", r.URL.RequestURI(), u.hits.Load(), r.Header.Get("X-Seen-App"), r.Header.Get("Accept-Language"))
	}
	return u
}

type fixture struct {
	srv   *httptest.Server
	clock *clock
	mem   *store.Memory
	up    *upstream
}

type option func(env *policy.Env, specs *[]gatehouse.PolicySpec)

func withAuth() option {
	return func(_ *policy.Env, specs *[]gatehouse.PolicySpec) {
		*specs = append(*specs, gatehouse.PolicySpec{Type: "test-app"})
	}
}

func withCache(c policy.Cache) option {
	return func(env *policy.Env, _ *[]gatehouse.PolicySpec) { env.Cache = c }
}

func withAPI(name string) option {
	return func(env *policy.Env, _ *[]gatehouse.PolicySpec) {
		env.API = &gatehouse.API{Name: name, Path: "/", State: gatehouse.StatePublished}
	}
}

func withLogger(l *slog.Logger) option {
	return func(env *policy.Env, _ *[]gatehouse.PolicySpec) { env.Logger = l }
}

func withClock(c *clock) option {
	return func(env *policy.Env, _ *[]gatehouse.PolicySpec) { env.Now = c.Now }
}

func start(t *testing.T, config string, up *upstream, opts ...option) *fixture {
	t.Helper()
	clk := newClock()
	mem, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Env{Cache: mem, Now: clk.Now}
	specs := []gatehouse.PolicySpec{{Type: "cache", Config: json.RawMessage(config)}}
	for _, o := range opts {
		o(env, &specs)
	}
	srv := policytest.Serve(t, registry, env, specs, nil, up)
	return &fixture{srv: srv, clock: clk, mem: mem, up: up}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with headers given as name, value pairs.
func (f *fixture) do(t *testing.T, method, path string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (f *fixture) get(t *testing.T, path string, headers ...string) response {
	t.Helper()
	return f.do(t, http.MethodGet, path, headers...)
}

// expect checks status and X-Cache.
func expect(t *testing.T, r response, status int, xcache string) {
	t.Helper()
	if r.status != status || r.header.Get("X-Cache") != xcache {
		t.Fatalf("got %d X-Cache %q (body %q), want %d %q", r.status, r.header.Get("X-Cache"), r.body, status, xcache)
	}
}

func (f *fixture) wantHits(t *testing.T, n int64) {
	t.Helper()
	if got := f.up.hits.Load(); got != n {
		t.Fatalf("upstream saw %d requests, want %d", got, n)
	}
}

func TestMissThenHit(t *testing.T) {
	f := start(t, `{}`, counting("X-Upstream", "yes", "Connection", "X-Hop", "X-Hop", "1"))
	first := f.get(t, "/a?x=1&y=2")
	expect(t, first, 200, "MISS")
	f.clock.Advance(3 * time.Second)
	hit := f.get(t, "/a?y=2&x=1") // parameter order does not matter
	expect(t, hit, 200, "HIT")
	f.wantHits(t, 1)
	if hit.body != first.body {
		t.Fatalf("hit body %q, want %q", hit.body, first.body)
	}
	for k, want := range map[string]string{"Age": "3", "X-Upstream": "yes", "Content-Type": "text/plain", "Content-Length": strconv.Itoa(len(first.body)), "X-Hop": ""} {
		if got := hit.header.Get(k); got != want {
			t.Errorf("hit %s = %q, want %q", k, got, want)
		}
	}
	// A different query, path or host is another entry.
	expect(t, f.get(t, "/a?x=2&y=2"), 200, "MISS")
	expect(t, f.get(t, "/b"), 200, "MISS")
	f.wantHits(t, 3)
	// Repeated parameters keep their order.
	expect(t, f.get(t, "/r?a=1&a=2"), 200, "MISS")
	expect(t, f.get(t, "/r?a=2&a=1"), 200, "MISS")
	expect(t, f.get(t, "/r?a=1&a=2"), 200, "HIT")
}

func TestQueryModes(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		f := start(t, `{"query":"none"}`, counting())
		expect(t, f.get(t, "/q?a=1"), 200, "MISS")
		expect(t, f.get(t, "/q?a=2"), 200, "HIT")
		expect(t, f.get(t, "/q"), 200, "HIT")
	})
	t.Run("list", func(t *testing.T) {
		f := start(t, `{"query":"list","query_params":["page","sort by"]}`, counting())
		expect(t, f.get(t, "/q?page=1&utm=x"), 200, "MISS")
		expect(t, f.get(t, "/q?utm=y&page=1"), 200, "HIT")
		expect(t, f.get(t, "/q?page=2"), 200, "MISS")
		expect(t, f.get(t, "/q?page=2&sort+by=name"), 200, "MISS")
		expect(t, f.get(t, "/q?sort+by=name&x=y&page=2"), 200, "HIT")
	})
}

func TestHeadSharesGet(t *testing.T) {
	f := start(t, `{}`, counting())
	// A HEAD miss is passed through and not stored: it has no body to store.
	expect(t, f.do(t, http.MethodHead, "/h"), 200, "MISS")
	got := f.get(t, "/h")
	expect(t, got, 200, "MISS")
	head := f.do(t, http.MethodHead, "/h")
	expect(t, head, 200, "HIT")
	f.wantHits(t, 2)
	if head.body != "" || head.header.Get("Content-Length") != strconv.Itoa(len(got.body)) {
		t.Fatalf("HEAD hit: body %q, Content-Length %q; want none and %d", head.body, head.header.Get("Content-Length"), len(got.body))
	}
}

func TestMethods(t *testing.T) {
	f := start(t, `{"methods":["GET"]}`, counting())
	expect(t, f.get(t, "/m"), 200, "MISS")
	expect(t, f.do(t, http.MethodHead, "/m"), 200, "BYPASS")
	expect(t, f.do(t, http.MethodPost, "/m"), 200, "BYPASS")
	expect(t, f.get(t, "/m"), 200, "HIT")
}

func TestPerApp(t *testing.T) {
	f := start(t, `{}`, counting(), withAuth())
	a := f.get(t, "/p", "X-Test-App", "alpha")
	expect(t, a, 200, "MISS")
	b := f.get(t, "/p", "X-Test-App", "beta")
	expect(t, b, 200, "MISS")
	again := f.get(t, "/p", "X-Test-App", "alpha")
	expect(t, again, 200, "HIT")
	if again.body != a.body || b.body == a.body {
		t.Fatalf("alpha got %q then %q; beta got %q", a.body, again.body, b.body)
	}
	f.wantHits(t, 2)

	shared := start(t, `{"per_app":false}`, counting(), withAuth())
	expect(t, shared.get(t, "/p", "X-Test-App", "alpha"), 200, "MISS")
	expect(t, shared.get(t, "/p", "X-Test-App", "beta"), 200, "HIT")
}

func TestAuthorization(t *testing.T) {
	// Without an identified app, a request carrying credentials for the upstream may get a
	// response that is the caller's own: it bypasses the cache.
	f := start(t, `{}`, counting())
	expect(t, f.get(t, "/x", "Authorization", "Bearer one"), 200, "BYPASS")
	expect(t, f.get(t, "/x", "Authorization", "Bearer one"), 200, "BYPASS")
	f.wantHits(t, 2)
	// With per_app off, too, even for an identified app.
	g := start(t, `{"per_app":false}`, counting(), withAuth())
	expect(t, g.get(t, "/x", "X-Test-App", "a", "Authorization", "Bearer one"), 200, "BYPASS")
	// Per app, it is cached within the app.
	h := start(t, `{}`, counting(), withAuth())
	expect(t, h.get(t, "/x", "X-Test-App", "a", "Authorization", "Bearer one"), 200, "MISS")
	expect(t, h.get(t, "/x", "X-Test-App", "a", "Authorization", "Bearer one"), 200, "HIT")
}

func TestVary(t *testing.T) {
	f := start(t, `{"vary_headers":["accept-language"]}`, counting())
	en := f.get(t, "/v", "Accept-Language", "en")
	expect(t, en, 200, "MISS")
	expect(t, f.get(t, "/v", "Accept-Language", "fr"), 200, "MISS")
	again := f.get(t, "/v", "Accept-Language", "en")
	expect(t, again, 200, "HIT")
	if again.body != en.body {
		t.Fatalf("en hit %q, want %q", again.body, en.body)
	}

	// A response that varies on a header the key does not hold is not stored.
	for _, vary := range []string{"Accept-Encoding", "Accept-Language, Accept-Encoding", "*"} {
		t.Run(vary, func(t *testing.T) {
			g := start(t, `{"vary_headers":["Accept-Language"]}`, counting("Vary", vary))
			expect(t, g.get(t, "/v"), 200, "MISS")
			expect(t, g.get(t, "/v"), 200, "MISS")
		})
	}
	covered := start(t, `{"vary_headers":["Accept-Language"]}`, counting("Vary", "accept-language"))
	expect(t, covered.get(t, "/v"), 200, "MISS")
	expect(t, covered.get(t, "/v"), 200, "HIT")
}

func TestNotStored(t *testing.T) {
	stream := &upstream{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: 1\n\n")
	}}
	failing := &upstream{fn: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }}
	tests := []struct {
		name string
		up   *upstream
	}{
		{"no-store", counting("Cache-Control", "no-store")},
		{"private", counting("Cache-Control", "private, max-age=60")},
		{"private field", counting("Cache-Control", `private="Set-Cookie"`)},
		{"no-cache", counting("Cache-Control", "no-cache")},
		{"max-age=0 without validator", counting("Cache-Control", "max-age=0")},
		{"invalid Expires", counting("Expires", "0")},
		{"Set-Cookie", counting("Set-Cookie", "session=abc")},
		{"event stream", stream},
		{"status not listed", failing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, `{}`, tc.up)
			first := f.get(t, "/n")
			expect(t, first, first.status, "MISS")
			expect(t, f.get(t, "/n"), first.status, "MISS")
			f.wantHits(t, 2)
		})
	}
}

func TestRequestDirectives(t *testing.T) {
	f := start(t, `{}`, counting())
	expect(t, f.get(t, "/d", "Cache-Control", "no-store"), 200, "BYPASS")
	expect(t, f.get(t, "/d"), 200, "MISS")
	expect(t, f.get(t, "/d"), 200, "HIT")
	// no-cache and max-age=0 go upstream, and refresh the entry.
	expect(t, f.get(t, "/d", "Cache-Control", "no-cache"), 200, "MISS")
	expect(t, f.get(t, "/d", "Pragma", "no-cache"), 200, "MISS")
	expect(t, f.get(t, "/d", "Cache-Control", "max-age=0"), 200, "MISS")
	latest := f.get(t, "/d")
	expect(t, latest, 200, "HIT")
	if !strings.Contains(latest.body, "#5") {
		t.Fatalf("entry not refreshed by no-cache: %q", latest.body)
	}
	f.clock.Advance(10 * time.Second)
	expect(t, f.get(t, "/d", "Cache-Control", "max-age=5"), 200, "MISS")
	expect(t, f.get(t, "/d", "Cache-Control", "max-age=5"), 200, "HIT")

	// cache_control false ignores them all.
	g := start(t, `{"cache_control":false}`, counting("Cache-Control", "no-store"))
	expect(t, g.get(t, "/d"), 200, "MISS")
	expect(t, g.get(t, "/d", "Cache-Control", "no-cache"), 200, "HIT")
}

func TestFreshness(t *testing.T) {
	tests := []struct {
		name   string
		config string
		header []string
		fresh  time.Duration // stays a hit until just before this, a miss from it on
	}{
		{"ttl default", `{}`, nil, 60 * time.Second},
		{"ttl", `{"ttl":"30s"}`, nil, 30 * time.Second},
		{"max-age", `{}`, []string{"Cache-Control", "public, max-age=10"}, 10 * time.Second},
		{"s-maxage wins", `{}`, []string{"Cache-Control", "max-age=10, s-maxage=20"}, 20 * time.Second},
		{"max_ttl caps", `{"max_ttl":"1m"}`, []string{"Cache-Control", "max-age=100000"}, time.Minute},
		{"Expires", `{}`, []string{"Date", "Fri, 02 Jan 2026 03:04:05 GMT", "Expires", "Fri, 02 Jan 2026 03:04:45 GMT"}, 40 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, tc.config, counting(tc.header...))
			expect(t, f.get(t, "/f"), 200, "MISS")
			f.clock.Advance(tc.fresh - time.Second)
			hit := f.get(t, "/f")
			expect(t, hit, 200, "HIT")
			if want := strconv.Itoa(int((tc.fresh - time.Second) / time.Second)); hit.header.Get("Age") != want {
				t.Fatalf("Age %q, want %s", hit.header.Get("Age"), want)
			}
			f.clock.Advance(time.Second)
			expect(t, f.get(t, "/f"), 200, "MISS")
			f.wantHits(t, 2)
		})
	}
}

// validating answers with an ETag and Last-Modified, and 304 to a matching If-None-Match;
// version changes the representation.
type validating struct {
	upstream
	version      atomic.Int64
	revalidation atomic.Int64 // conditional requests seen
	cacheControl atomic.Value // string
}

func newValidating(cacheControl string) *validating {
	v := &validating{}
	v.cacheControl.Store(cacheControl)
	v.version.Store(1)
	v.fn = func(w http.ResponseWriter, r *http.Request) {
		etag := fmt.Sprintf(`"v%d"`, v.version.Load())
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
		w.Header().Set("Cache-Control", v.cacheControl.Load().(string))
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			v.revalidation.Add(1)
			if inm == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "version %d", v.version.Load())
	}
	return v
}

func TestConditionalFromCache(t *testing.T) {
	v := newValidating("max-age=60")
	f := start(t, `{}`, &v.upstream)
	// A conditional miss still fills the cache: the upstream is asked for the full
	// response, and the 304 is decided here.
	first := f.get(t, "/c", "If-None-Match", `"v1"`)
	expect(t, first, 304, "MISS")
	if first.body != "" || v.revalidation.Load() != 0 {
		t.Fatalf("conditional miss: body %q, upstream saw %d conditionals", first.body, v.revalidation.Load())
	}
	expect(t, f.get(t, "/c"), 200, "HIT")
	nm := f.get(t, "/c", "If-None-Match", `"x", W/"v1"`)
	expect(t, nm, 304, "HIT")
	if nm.header.Get("ETag") != `"v1"` || nm.header.Get("Content-Type") != "" || nm.body != "" {
		t.Fatalf("304: ETag %q, Content-Type %q, body %q", nm.header.Get("ETag"), nm.header.Get("Content-Type"), nm.body)
	}
	expect(t, f.get(t, "/c", "If-None-Match", `"v0"`), 200, "HIT")
	expect(t, f.get(t, "/c", "If-None-Match", `*`), 304, "HIT")
	expect(t, f.get(t, "/c", "If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT"), 304, "HIT")
	expect(t, f.get(t, "/c", "If-Modified-Since", "Wed, 31 Dec 2025 00:00:00 GMT"), 200, "HIT")
	expect(t, f.do(t, http.MethodHead, "/c", "If-None-Match", `"v1"`), 304, "HIT")
	f.wantHits(t, 1)
}

func TestRevalidation(t *testing.T) {
	v := newValidating("max-age=10")
	f := start(t, `{}`, &v.upstream)
	expect(t, f.get(t, "/r"), 200, "MISS")
	f.clock.Advance(11 * time.Second)

	// Stale: the upstream is asked with the entry's ETag, says 304, and the client gets
	// the full entry.
	v.cacheControl.Store("max-age=20")
	got := f.get(t, "/r")
	expect(t, got, 200, "REVALIDATED")
	if got.body != "version 1" || v.revalidation.Load() != 1 || got.header.Get("Age") != "0" {
		t.Fatalf("revalidated: body %q, Age %q, upstream saw %d conditionals", got.body, got.header.Get("Age"), v.revalidation.Load())
	}
	// The refreshed entry is fresh again, for the 304's new max-age.
	f.clock.Advance(15 * time.Second)
	expect(t, f.get(t, "/r"), 200, "HIT")
	f.clock.Advance(6 * time.Second)
	// The client's own conditional, matching, gets 304 after the upstream's 304.
	expect(t, f.get(t, "/r", "If-None-Match", `"v1"`), 304, "REVALIDATED")

	// A changed representation replaces the entry.
	f.clock.Advance(21 * time.Second)
	v.version.Store(2)
	changed := f.get(t, "/r", "If-None-Match", `"v1"`)
	expect(t, changed, 200, "MISS")
	if changed.body != "version 2" {
		t.Fatalf("changed body %q", changed.body)
	}
	expect(t, f.get(t, "/r"), 200, "HIT")
	f.wantHits(t, 4)

	// A 304 that sets a cookie: the client gets it, the entry does not, and stays stale.
	ck := newValidating("max-age=10")
	k := start(t, `{}`, &ck.upstream)
	expect(t, k.get(t, "/ck"), 200, "MISS")
	k.clock.Advance(11 * time.Second)
	inner := ck.fn
	ck.fn = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "seen=1")
		inner(w, r)
	}
	withCookie := k.get(t, "/ck")
	expect(t, withCookie, 200, "REVALIDATED")
	if withCookie.header.Get("Set-Cookie") != "seen=1" || withCookie.body != "version 1" {
		t.Fatalf("Set-Cookie %q, body %q", withCookie.header.Get("Set-Cookie"), withCookie.body)
	}
	ck.fn = inner
	again := k.get(t, "/ck")
	expect(t, again, 200, "REVALIDATED")
	if again.header.Get("Set-Cookie") != "" {
		t.Fatal("the cookie was stored")
	}

	// max-age=0 with a validator: stored, revalidated every time.
	w := newValidating("max-age=0")
	g := start(t, `{}`, &w.upstream)
	expect(t, g.get(t, "/z"), 200, "MISS")
	expect(t, g.get(t, "/z"), 200, "REVALIDATED")
	expect(t, g.get(t, "/z"), 200, "REVALIDATED")
}

func TestPurge(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := start(t, `{}`, counting(), withCache(mem), withAPI("one"))
	two := start(t, `{}`, counting(), withCache(mem), withAPI("two"))
	for _, f := range []*fixture{one, two} {
		expect(t, f.get(t, "/p"), 200, "MISS")
		expect(t, f.get(t, "/p"), 200, "HIT")
	}
	if cache.PurgePrefix("one") != "one:" {
		t.Fatalf("PurgePrefix = %q", cache.PurgePrefix("one"))
	}
	if err := mem.Purge(context.Background(), cache.PurgePrefix("one")); err != nil {
		t.Fatal(err)
	}
	expect(t, one.get(t, "/p"), 200, "MISS")
	expect(t, two.get(t, "/p"), 200, "HIT")
	expect(t, one.get(t, "/p"), 200, "HIT")
}

func TestLargeBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16) // 64 KiB
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", declared), func(t *testing.T) {
			up := &upstream{fn: func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				for chunk := range chunks(body, 1000) {
					_, _ = w.Write(chunk)
					http.NewResponseController(w).Flush()
				}
			}}
			f := start(t, `{"max_body":4096}`, up)
			for range 2 {
				got := f.get(t, "/big")
				expect(t, got, 200, "MISS")
				if got.body != string(body) {
					t.Fatalf("body of %d bytes, want %d intact", len(got.body), len(body))
				}
			}
			f.wantHits(t, 2)
		})
	}
	// A body at the limit is stored.
	small := &upstream{fn: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body[:4096]) }}
	f := start(t, `{"max_body":4096}`, small)
	expect(t, f.get(t, "/ok"), 200, "MISS")
	hit := f.get(t, "/ok")
	expect(t, hit, 200, "HIT")
	if hit.body != string(body[:4096]) {
		t.Fatal("stored body differs")
	}
}

func chunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// TestStreaming checks that a stream reaches the client as it is flushed, not when it
// ends: the upstream waits for the client to read the first event before sending more.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := &upstream{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the cache: %v", err)
		}
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}}
	f := start(t, `{}`, up)
	res, err := f.srv.Client().Get(f.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("X-Cache %q", res.Header.Get("X-Cache"))
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: second\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestStaleIfError(t *testing.T) {
	var failing atomic.Bool
	up := &upstream{}
	up.fn = func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "good #%d", up.hits.Load())
	}
	f := start(t, `{"ttl":"10s","stale_if_error":"1m"}`, up)
	good := f.get(t, "/s")
	expect(t, good, 200, "MISS")
	f.clock.Advance(30 * time.Second)
	failing.Store(true)
	stale := f.get(t, "/s")
	expect(t, stale, 200, "STALE")
	if stale.body != good.body || stale.header.Get("Age") != "30" {
		t.Fatalf("stale: body %q Age %q; want %q and 30", stale.body, stale.header.Get("Age"), good.body)
	}
	// Past the window the failure goes through.
	f.clock.Advance(41 * time.Second)
	expect(t, f.get(t, "/s"), 503, "MISS")
	// Recovery replaces the entry.
	failing.Store(false)
	expect(t, f.get(t, "/s"), 200, "MISS")
	expect(t, f.get(t, "/s"), 200, "HIT")

	// A later policy's 5xx counts as a failure too; its 4xx would not.
	h := start(t, `{"ttl":"10s","stale_if_error":"1m"}`, counting(), func(_ *policy.Env, specs *[]gatehouse.PolicySpec) {
		*specs = append(*specs, gatehouse.PolicySpec{Type: "test-fail"})
	})
	expect(t, h.get(t, "/s"), 200, "MISS")
	h.clock.Advance(20 * time.Second)
	expect(t, h.get(t, "/s", "X-Fail", "1"), 200, "STALE")
	h.clock.Advance(60 * time.Second)
	failed := h.get(t, "/s", "X-Fail", "1")
	expect(t, failed, 502, "MISS")
	if !strings.Contains(failed.body, "upstream_unreachable") {
		t.Fatalf("rejection body %q", failed.body)
	}

	// must-revalidate forbids serving stale.
	var down atomic.Bool
	strict := &upstream{fn: func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, must-revalidate")
		w.Header().Set("ETag", `"strict"`)
		fmt.Fprint(w, "strict")
	}}
	g := start(t, `{"stale_if_error":"1m"}`, strict)
	expect(t, g.get(t, "/s"), 200, "MISS")
	g.clock.Advance(20 * time.Second)
	down.Store(true)
	expect(t, g.get(t, "/s"), 502, "MISS")
}

// flaky is a policy.Cache that fails while down is set.
type flaky struct {
	policy.Cache
	down atomic.Bool
}

var errDown = errors.New("cache down")

func (f *flaky) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.down.Load() {
		return nil, false, errDown
	}
	return f.Cache.Get(ctx, key)
}

func (f *flaky) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if f.down.Load() {
		return errDown
	}
	return f.Cache.Set(ctx, key, v, ttl)
}

func TestCacheFailureIsAMiss(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fc := &flaky{Cache: mem}
	var logs logtest.Buffer
	f := start(t, `{}`, counting(), withCache(fc), withLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	expect(t, f.get(t, "/e"), 200, "MISS")
	fc.down.Store(true)
	for range 5 {
		expect(t, f.get(t, "/e"), 200, "MISS")
	}
	fc.down.Store(false)
	expect(t, f.get(t, "/e"), 200, "HIT")
	expect(t, f.get(t, "/e"), 200, "HIT")
	out := logs.String()
	if strings.Count(out, "response cache unavailable") != 1 || strings.Count(out, "response cache available again") != 1 {
		t.Fatalf("want one warning and one recovery in the log, got:\n%s", out)
	}
}

func TestCorruptEntryIsAMiss(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	f := start(t, `{}`, counting(), withCache(&spyCache{Cache: mem, keys: &keys}))
	expect(t, f.get(t, "/k"), 200, "MISS")
	if len(keys) != 1 || !strings.HasPrefix(keys[0], cache.PurgePrefix("test")) {
		t.Fatalf("keys %q", keys)
	}
	_ = mem.Set(context.Background(), keys[0], []byte("not an entry"), time.Hour)
	expect(t, f.get(t, "/k"), 200, "MISS")
	expect(t, f.get(t, "/k"), 200, "HIT")
}

type spyCache struct {
	policy.Cache
	mu   sync.Mutex
	keys *[]string
}

func (s *spyCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	*s.keys = append(*s.keys, key)
	s.mu.Unlock()
	return s.Cache.Set(ctx, key, v, ttl)
}

// TestHeadersOfEarlierPolicies checks that headers set for one request before the cache
// (rate-limit counters, request ids) are not stored with the response.
func TestHeadersOfEarlierPolicies(t *testing.T) {
	clk := newClock()
	mem, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From-Upstream", "1")
		fmt.Fprint(w, "ok")
	}}
	h, err := policytest.Build(t, registry, &policy.Env{Cache: mem, Now: clk.Now}, []gatehouse.PolicySpec{{Type: "cache"}}, nil, up)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Number", strconv.FormatInt(n.Add(1), 10))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f := &fixture{srv: srv, clock: clk, mem: mem, up: up}
	expect(t, f.get(t, "/h"), 200, "MISS")
	hit := f.get(t, "/h")
	expect(t, hit, 200, "HIT")
	if got := hit.header.Values("X-Request-Number"); len(got) != 1 || got[0] != "2" {
		t.Fatalf("X-Request-Number %q, want [2]", got)
	}
	if hit.header.Get("X-From-Upstream") != "1" {
		t.Fatal("upstream header lost")
	}
}

func TestConfig(t *testing.T) {
	valid := []string{
		`{}`, `null`,
		`{"ttl":"5m","max_ttl":"2h","methods":["GET"],"statuses":[200],"vary_headers":["Accept-Language"],"query":"list","query_params":["page"],"per_app":false,"max_body":10,"cache_control":false,"stale_if_error":"30s"}`,
		`{"query":"none"}`, `{"ttl":"2h","max_ttl":"3h"}`,
	}
	for _, c := range valid {
		if _, err := cache.Type.Decode(json.RawMessage(c)); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	invalid := map[string]string{
		`{"ttl":"-1s"}`:                        "ttl",
		`{"ttl":"2m","max_ttl":"1m"}`:          "max_ttl",
		`{"ttl":"2h"}`:                         "raise max_ttl",
		`{"max_ttl":"-1s"}`:                    "max_ttl",
		`{"methods":["POST"]}`:                 "methods[0]",
		`{"methods":[]}`:                       "methods",
		`{"statuses":[206]}`:                   "statuses[0]",
		`{"statuses":[304]}`:                   "statuses[0]",
		`{"statuses":[99]}`:                    "statuses[0]",
		`{"vary_headers":["bad header"]}`:      "vary_headers[0]",
		`{"query":"some"}`:                     "query",
		`{"query":"list"}`:                     "query_params",
		`{"query_params":["a"]}`:               "query_params",
		`{"query":"list","query_params":[""]}`: "query_params[0]",
		`{"max_body":-1}`:                      "max_body",
		`{"max_body":2000000000}`:              "max_body",
		`{"stale_if_error":"-1s"}`:             "stale_if_error",
		`{"ttl":5}`:                            "duration",
		`{"unknown":1}`:                        "unknown",
	}
	for c, want := range invalid {
		_, err := cache.Type.Decode(json.RawMessage(c))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", c, err, want)
		}
	}
	// The node must have a cache.
	_, err := policytest.Build(t, registry, &policy.Env{}, []gatehouse.PolicySpec{{Type: "cache"}}, nil, policytest.Echo)
	if err == nil || !strings.Contains(err.Error(), "no response cache") {
		t.Fatalf("without a cache: %v", err)
	}
	if cache.Type.Phase != policy.Caching || cache.Type.Name != "cache" {
		t.Fatalf("type %q in phase %v", cache.Type.Name, cache.Type.Phase)
	}
}

// TestRedisBackend runs the policy over the Redis cache: entries are shared through the
// server, and purging an API empties only its entries.
func TestRedisBackend(t *testing.T) {
	url := os.Getenv("GATEHOUSE_TEST_REDIS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0); skipping the policy over Redis")
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	rc, err := store.NewRedis(url, store.RedisOptions{Prefix: "gatehouse-test:" + hex.EncodeToString(rnd[:]) + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rc.Purge(context.Background(), "")
		rc.Close()
	})
	one := start(t, `{}`, counting("ETag", `"e"`), withCache(rc), withAPI("one"))
	two := start(t, `{}`, counting(), withCache(rc), withAPI("two"))
	first := one.get(t, "/r?x=1")
	expect(t, first, 200, "MISS")
	hit := one.get(t, "/r?x=1")
	expect(t, hit, 200, "HIT")
	if hit.body != first.body || hit.header.Get("Etag") != `"e"` {
		t.Fatalf("hit %q %v", hit.body, hit.header)
	}
	expect(t, one.get(t, "/r?x=1", "If-None-Match", `"e"`), 304, "HIT")
	expect(t, two.get(t, "/r?x=1"), 200, "MISS")
	if err := rc.Purge(context.Background(), cache.PurgePrefix("one")); err != nil {
		t.Fatal(err)
	}
	expect(t, one.get(t, "/r?x=1"), 200, "MISS")
	expect(t, two.get(t, "/r?x=1"), 200, "HIT")
}
