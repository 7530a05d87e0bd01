package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/limit/limittest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

var reg = policy.NewRegistry(Type, limittest.EdgeType, limittest.CallerType)

// serve runs the rate-limit configs behind the test edge and caller policies.
func serve(t *testing.T, lim policy.Limiter, api string, plans []*gatehouse.Plan, configs ...string) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "test-edge"}, {Type: "test-caller"}}
	for _, c := range configs {
		specs = append(specs, gatehouse.PolicySpec{Type: "rate-limit", Config: json.RawMessage(c)})
	}
	env := &policy.Env{Limiter: lim, API: &gatehouse.API{Name: api, Path: "/", State: gatehouse.StatePublished}}
	return policytest.Serve(t, reg, env, specs, plans, policytest.Echo)
}

// get sends a request with the given headers ("Name: value").
func get(t *testing.T, srv *httptest.Server, headers ...string) limittest.Response {
	t.Helper()
	r := limittest.Get(srv, headers...)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

func memory(clock *limittest.Clock) *limit.Memory {
	return limit.NewMemory(limit.MemoryOptions{Now: clock.Now})
}

func TestBurstThenLimited(t *testing.T) {
	srv := serve(t, memory(limittest.NewClock()), "orders", nil, `{"limit":5,"window":"1h"}`)
	for i := 1; i <= 5; i++ {
		r := get(t, srv)
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Code)
		}
		if got, want := r.Header.Get("RateLimit"), fmt.Sprintf(`"rate-limit";r=%d;t=%d`, 5-i, i*720); got != want {
			t.Errorf("request %d: RateLimit %q, want %q", i, got, want)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"rate-limit";q=5;w=3600` {
			t.Errorf("request %d: RateLimit-Policy %q", i, got)
		}
		if r.Header.Get("Retry-After") != "" {
			t.Errorf("request %d: Retry-After on a passed request", i)
		}
	}
	r := get(t, srv)
	if !r.Is(http.StatusTooManyRequests, "rate_limited") {
		t.Fatalf("request 6: %d %s, want 429 rate_limited", r.Status, r.Code)
	}
	if got := r.Header.Get("Retry-After"); got != "720" {
		t.Errorf("Retry-After %q, want 720 (one request every 12 minutes)", got)
	}
	if got := r.Header.Get("RateLimit"); got != `"rate-limit";r=0;t=3600` {
		t.Errorf("RateLimit on the 429: %q", got)
	}
	if r.Header.Get("RateLimit-Policy") == "" {
		t.Error("no RateLimit-Policy on the 429")
	}
}

func TestRejectedRequestsDoNotConsume(t *testing.T) {
	clock := limittest.NewClock()
	srv := serve(t, memory(clock), "orders", nil, `{"limit":2,"window":"1s"}`)
	for i := 0; i < 2; i++ {
		if r := get(t, srv); r.Status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r.Status)
		}
	}
	for i := 0; i < 30; i++ {
		r := get(t, srv)
		if !r.Is(http.StatusTooManyRequests, "rate_limited") || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("hammering, request %d: %d %s Retry-After %q", i+1, r.Status, r.Code, r.Header.Get("Retry-After"))
		}
	}
	clock.Advance(500 * time.Millisecond) // one refill interval
	if r := get(t, srv); r.Status != http.StatusOK {
		t.Fatalf("after one refill interval: %d %s, want 200: the rejected requests consumed budget", r.Status, r.Code)
	}
	if r := get(t, srv); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the request after: %d, want 429", r.Status)
	}
}

func TestBySeparation(t *testing.T) {
	cases := []struct {
		by     string
		a, b   []string // two callers with separate buckets
		shared []string // a caller sharing a's bucket
	}{
		{"ip", []string{"X-Test-IP: 10.0.0.1"}, []string{"X-Test-IP: 10.0.0.2"}, []string{"X-Test-IP: 10.0.0.1", "X-Test-App: a"}},
		{"app", []string{"X-Test-App: a"}, []string{"X-Test-App: b"}, []string{"X-Test-App: a", "X-Test-IP: 10.9.9.9"}},
		{"app", []string{"X-Test-IP: 10.0.0.1"}, []string{"X-Test-IP: 10.0.0.2"}, nil},  // anonymous: per IP
		{"app", []string{"X-Test-App: 10.0.0.1"}, []string{"X-Test-IP: 10.0.0.1"}, nil}, // an app named like an IP
		{"key", []string{"X-Test-Key: k1", "X-Test-App: a"}, []string{"X-Test-Key: k2", "X-Test-App: a"}, []string{"X-Test-Key: k1"}},
		{"route", []string{"X-Test-Route: list"}, []string{"X-Test-Route: get"}, []string{"X-Test-Route: list", "X-Test-IP: 10.9.9.9"}},
		{"api", []string{"X-Test-IP: 10.0.0.1"}, nil, []string{"X-Test-IP: 10.0.0.2", "X-Test-App: b"}},
		{"header:X-Tenant", []string{"X-Tenant: acme"}, []string{"X-Tenant: globex"}, []string{"X-Tenant: acme", "X-Test-IP: 10.9.9.9"}},
		{"header:x-tenant", []string{"X-Tenant: acme"}, []string{"X-Test-IP: 10.0.0.2"}, nil}, // no header: per IP
		{"consumer", []string{"X-Test-App: a"}, []string{"X-Test-Subject: a"}, []string{"X-Test-App: a", "X-Test-Subject: z"}},
		{"consumer", []string{"X-Test-Subject: s"}, []string{"X-Test-IP: 10.0.0.2"}, []string{"X-Test-Subject: s", "X-Test-IP: 10.0.0.3"}},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.by), func(t *testing.T) {
			srv := serve(t, memory(limittest.NewClock()), "orders", nil, `{"limit":1,"window":"1h","by":"`+tc.by+`"}`)
			if r := get(t, srv, tc.a...); r.Status != http.StatusOK {
				t.Fatalf("a's first request: %d", r.Status)
			}
			if r := get(t, srv, tc.a...); r.Status != http.StatusTooManyRequests {
				t.Fatalf("a's second request: %d, want 429", r.Status)
			}
			if tc.b != nil {
				if r := get(t, srv, tc.b...); r.Status != http.StatusOK {
					t.Fatalf("b (%v) shares a's bucket: %d", tc.b, r.Status)
				}
			}
			if tc.shared != nil {
				if r := get(t, srv, tc.shared...); r.Status != http.StatusTooManyRequests {
					t.Fatalf("%v should share a's bucket: %d", tc.shared, r.Status)
				}
			}
		})
	}
}

func TestHeadersOff(t *testing.T) {
	srv := serve(t, memory(limittest.NewClock()), "orders", nil, `{"limit":1,"window":"1m","headers":false}`)
	r := get(t, srv)
	if r.Status != http.StatusOK || r.Header.Get("RateLimit") != "" || r.Header.Get("RateLimit-Policy") != "" {
		t.Fatalf("passed: %d with RateLimit %q", r.Status, r.Header.Get("RateLimit"))
	}
	r = get(t, srv)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("RateLimit") != "" || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("rejected: %d, RateLimit %q, Retry-After %q", r.Status, r.Header.Get("RateLimit"), r.Header.Get("Retry-After"))
	}
}

func TestTwoPoliciesTwoMembers(t *testing.T) {
	srv := serve(t, memory(limittest.NewClock()), "orders", nil,
		`{"limit":100,"window":"1m","burst":10}`, `{"limit":5,"window":"500ms","by":"api"}`)
	r := get(t, srv)
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Code)
	}
	if got, want := r.Header.Values("RateLimit-Policy"), []string{`"rate-limit";q=100;w=60`, `"rate-limit#2";q=10;w=1`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := r.Header.Values("RateLimit"), []string{`"rate-limit";r=9;t=1`, `"rate-limit#2";r=4;t=1`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
}

// A plan's rate_limit, built by the framework with scope "plan:<name>", is one budget per
// app across every API of the plan.
func TestPlanScopeSpansAPIs(t *testing.T) {
	lim := memory(limittest.NewClock())
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"orders", "billing"},
		RateLimit: &gatehouse.RateLimit{Limit: 3, Window: gatehouse.Duration(time.Minute)}}
	plans := []*gatehouse.Plan{gold}
	orders := serve(t, lim, "orders", plans)
	billing := serve(t, lim, "billing", plans)
	app1 := []string{"X-Test-App: app1", "X-Test-Plan: gold"}
	for i, srv := range []*httptest.Server{orders, billing, orders} {
		r := get(t, srv, app1...)
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Code)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"plan:gold:rate-limit";q=3;w=60` {
			t.Fatalf("RateLimit-Policy %q", got)
		}
	}
	if r := get(t, billing, app1...); !r.Is(http.StatusTooManyRequests, "rate_limited") {
		t.Fatalf("app1's fourth request across the plan's APIs: %d %s, want 429", r.Status, r.Code)
	}
	if r := get(t, billing, "X-Test-App: app2", "X-Test-Plan: gold"); r.Status != http.StatusOK {
		t.Fatalf("another app on the same plan: %d", r.Status)
	}
}

type failing struct{ err error }

func (f failing) Allow(context.Context, string, policy.Rate, int64) (policy.Decision, error) {
	return policy.Decision{}, f.err
}

// down is a shared limiter that cannot be reached.
type down struct{}

func (down) Allow(context.Context, string, policy.Rate, int64) (policy.Decision, error) {
	return policy.Decision{Retry: time.Second}, fmt.Errorf("%w: connection refused", limit.ErrUnavailable)
}
func (down) Ping(context.Context) error { return errors.New("connection refused") }

func TestLimiterUnavailable(t *testing.T) {
	closed := limit.NewFallback(down{}, nil, limit.FallbackClosed, nil)
	t.Cleanup(closed.Close)
	for name, lim := range map[string]policy.Limiter{
		"error":           failing{errors.New("boom")},
		"closed fallback": closed,
	} {
		t.Run(name, func(t *testing.T) {
			srv := serve(t, lim, "orders", nil, `{"limit":5,"window":"1s"}`)
			for i := 0; i < 3; i++ {
				r := get(t, srv)
				if !r.Is(http.StatusServiceUnavailable, "limiter_unavailable") || r.Header.Get("Retry-After") != "1" {
					t.Fatalf("%d %s Retry-After %q, want 503 limiter_unavailable with Retry-After 1", r.Status, r.Code, r.Header.Get("Retry-After"))
				}
			}
		})
	}
	local := limit.NewFallback(down{}, limit.NewMemory(limit.MemoryOptions{}), limit.FallbackLocal, nil)
	t.Cleanup(local.Close)
	srv := serve(t, local, "orders", nil, `{"limit":1,"window":"1h"}`)
	if r := get(t, srv); r.Status != http.StatusOK {
		t.Fatalf("local fallback: %d %s", r.Status, r.Code)
	}
	if r := get(t, srv); !r.Is(http.StatusTooManyRequests, "rate_limited") {
		t.Fatalf("local fallback, second request: %d %s, want the local limiter's 429", r.Status, r.Code)
	}
}

func TestRedisBacked(t *testing.T) {
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0): skipping the Redis-backed rate-limit test")
	}
	prefix := fmt.Sprintf("gatehouse-test:rlp:%d:", time.Now().UnixNano())
	r, err := limit.NewRedis(context.Background(), u, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	// Two gateways' chains, one Redis: one budget. (A short window: the key expires soon
	// after the test.)
	a := serve(t, r, "orders", nil, `{"limit":2,"window":"10s","by":"ip"}`)
	b := serve(t, r, "orders", nil, `{"limit":2,"window":"10s","by":"ip"}`)
	for i, srv := range []*httptest.Server{a, b} {
		if res := get(t, srv); res.Status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, res.Status)
		}
	}
	res := get(t, a)
	if !res.Is(http.StatusTooManyRequests, "rate_limited") || res.Header.Get("Retry-After") != "5" {
		t.Fatalf("third request: %d %s Retry-After %q", res.Status, res.Code, res.Header.Get("Retry-After"))
	}
}

func TestNewWithoutLimiter(t *testing.T) {
	env := &policy.Env{API: &gatehouse.API{Name: "orders"}}
	_, err := policytest.Build(t, reg, env, []gatehouse.PolicySpec{{Type: "rate-limit", Config: json.RawMessage(`{"limit":1,"window":"1s"}`)}}, nil, policytest.Echo)
	if err == nil || !strings.Contains(err.Error(), "no limiter configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfig(t *testing.T) {
	limittest.CheckConfigs(t, Type, map[string]string{
		`{"limit":10,"window":"1s"}`: "",
		`{"limit":10,"window":"1m","burst":20,"by":"header:X-Tenant","scope":"shared","headers":false}`: "",
		`{"limit":10,"window":"1m0s","by":"app","scope":"plan:gold"}`:                                   "", // what the framework builds for a plan
		`{"limit":10,"window":"1s","by":"route"}`:                                                       "",
		`{"limit":10,"window":"1s","by":"api"}`:                                                         "",
		`{"window":"1s"}`:                                                                               "limit:",
		`{"limit":-1,"window":"1s"}`:                                                                    "limit:",
		`{"limit":10}`:                                                                                  "window:",
		`{"limit":10,"window":"500us"}`:                                                                 "window:",
		`{"limit":10,"window":"745h"}`:                                                                  "window:",
		`{"limit":10,"window":"soon"}`:                                                                  "bad duration",
		`{"limit":10,"window":"1s","burst":-1}`:                                                         "burst:",
		`{"limit":1,"window":"744h","burst":1000}`:                                                      "burst:",
		`{"limit":10,"window":"1s","by":"moon"}`:                                                        "by:",
		`{"limit":10,"window":"1s","by":"header:"}`:                                                     "by:",
		`{"limit":10,"window":"1s","by":"header:X Y"}`:                                                  "by:",
		`{"limit":10,"window":"1s","scope":"` + strings.Repeat("s", 300) + `"}`:                         "scope:",
		`{"limit":10,"window":"1s","fail":"closed"}`:                                                    "unknown field",
		`{"limit":"ten","window":"1s"}`:                                                                 "limit: must be an integer",
	})
	// The plan spec decodes to the values the framework meant.
	cfg, _ := Type.Decode(json.RawMessage(`{"limit":10,"window":"1m0s","by":"app","scope":"plan:gold"}`))
	if c := cfg.(*Config); c.Limit != 10 || c.Window.D() != time.Minute || c.By != "app" || c.Scope != "plan:gold" {
		t.Errorf("plan spec decoded as %+v", c)
	}
}

func TestPolicyQuota(t *testing.T) {
	cases := []struct {
		n      int64
		window time.Duration
		q, w   int64
	}{
		{100, time.Minute, 100, 60},
		{10, 500 * time.Millisecond, 20, 1},
		{10, 1500 * time.Millisecond, 13, 2},
		{1, time.Millisecond, 1000, 1},
	}
	for _, tc := range cases {
		if q, w := policyQuota(tc.n, tc.window); q != tc.q || w != tc.w {
			t.Errorf("policyQuota(%d, %s) = q=%d w=%d, want q=%d w=%d", tc.n, tc.window, q, w, tc.q, tc.w)
		}
	}
}

// validSFString reports whether s is an RFC 9651 sf-string.
func validSFString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
			if i >= len(s)-1 || s[i] != '"' && s[i] != '\\' {
				return false
			}
		case c == '"' || c < 0x20 || c > 0x7e:
			return false
		}
	}
	return true
}

func TestSFString(t *testing.T) {
	for in, want := range map[string]string{
		"rate-limit":           `"rate-limit"`,
		"plan:gold:rate-limit": `"plan:gold:rate-limit"`,
		`a"b\c`:                `"a\"b\\c"`,
		"caf\u00e9\n":          `"caf___"`,
	} {
		if got := sfString(in); got != want {
			t.Errorf("sfString(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzSFString(f *testing.F) {
	for _, s := range []string{"rate-limit", `a"b\c`, "caf\u00e9", "", "\x00\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if q := sfString(s); !validSFString(q) {
			t.Fatalf("sfString(%q) = %s, not an sf-string", s, q)
		}
	})
}

// FuzzConfig: whatever decodes and validates builds.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"limit":10,"window":"1s"}`,
		`{"limit":10,"window":"1m0s","by":"app","scope":"plan:gold"}`,
		`{"limit":1,"window":"744h","burst":7,"by":"header:X-Tenant","headers":false}`,
		`{"limit":9223372036854775807,"window":"1ms","burst":9223372036854775807}`,
		`{"limit":10,"window":"-1s"}`,
		`{"by":"header:\u00e9"}`,
	} {
		f.Add([]byte(s))
	}
	lim := limit.NewMemory(limit.MemoryOptions{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Type.Decode(raw)
		if err != nil {
			return
		}
		env := &policy.Env{Limiter: lim, API: &gatehouse.API{Name: "fuzz"}}
		h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "rate-limit")
		if err != nil {
			t.Fatalf("%s validated but New failed: %v", raw, err)
		}
		w := httptest.NewRecorder()
		c := policy.Acquire(w, httptest.NewRequest(http.MethodGet, "/", nil))
		defer policy.Release(c)
		if err := h.Serve(c); err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Code != "rate_limited" {
				t.Fatalf("%s: first request: %v", raw, err)
			}
		}
	})
}
