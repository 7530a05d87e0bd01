package introspection_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/introspection"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// endpoint is a test introspection server: tokens map to answers; it counts calls per
// token and checks the gateway's client authentication.
type endpoint struct {
	t       *testing.T
	mu      sync.Mutex
	answers map[string]map[string]any
	calls   map[string]int
	status  int           // non-zero: answer with this status
	block   chan struct{} // non-nil: wait for it (or the request's end) before answering
	url     string
	total   atomic.Int32
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{t: t, answers: map[string]map[string]any{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/introspect"
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.total.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	// RFC 6749 §2.3.1: the client id and secret are form-encoded inside Basic.
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !ok || id != "gateway" || secret != "s3cr:et" {
		http.Error(w, "client authentication failed", http.StatusUnauthorized)
		return
	}
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	e.mu.Lock()
	e.calls[tok]++
	ans, status, block := e.answers[tok], e.status, e.block
	e.mu.Unlock()
	if r.PostForm.Get("token_type_hint") != "access_token" {
		http.Error(w, "no hint", http.StatusBadRequest)
		return
	}
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if ans == nil {
		ans = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

func (e *endpoint) set(tok string, ans map[string]any) {
	e.mu.Lock()
	e.answers[tok] = ans
	e.mu.Unlock()
}

func (e *endpoint) setStatus(s int) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}

func (e *endpoint) expectCalls(tok string, want int) {
	e.t.Helper()
	e.mu.Lock()
	got := e.calls[tok]
	e.mu.Unlock()
	if got != want {
		e.t.Fatalf("token %q introspected %d times, want %d", tok, got, want)
	}
}

var identityType = policy.Define("identity-echo", policy.Authz, "test: identity to headers",
	func(env *policy.Env, next policy.Handler, cfg *struct{}, name string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			h := c.R.Header
			h.Set("X-Id-Method", c.Identity.Method)
			h.Set("X-Id-App", c.Identity.App)
			h.Set("X-Id-Subject", c.Identity.Subject)
			h.Set("X-Id-Scopes", strings.Join(c.Identity.Scopes, ","))
			return next.Serve(c)
		}), nil
	})

type fixture struct {
	clock *clock
	ep    *endpoint
	url   string
}

func setup(t *testing.T, extra map[string]any) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: time.Unix(1_800_000_000, 0)}, ep: newEndpoint(t)}
	dir := policytest.NewDirectory()
	dir.AddApp("shop", "dev@example.com")
	dir.AddApp("shady", "bad@example.com").Blocked = true
	cfg := map[string]any{"url": f.ep.url, "client_id": "gateway", "client_secret": "s3cr:et"}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	env := &policy.Env{Directory: dir, Now: f.clock.Now}
	reg := policy.NewRegistry(introspection.Type, identityType)
	specs := []gatehouse.PolicySpec{{Type: introspection.TypeName, Config: b}, {Type: "identity-echo"}}
	f.url = policytest.Serve(t, reg, env, specs, nil, policytest.Echo).URL
	return f
}

func (f *fixture) active(tok string, exp time.Duration, extra map[string]any) {
	ans := map[string]any{"active": true, "client_id": "shop", "sub": "user-1", "scope": "read write",
		"exp": f.clock.Now().Add(exp).Unix()}
	for k, v := range extra {
		ans[k] = v
	}
	f.ep.set(tok, ans)
}

type result struct {
	status int
	code   string
	header http.Header
}

func call(t *testing.T, url, tok string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &doc)
	return result{resp.StatusCode, doc.Code, resp.Header}
}

func (r result) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("got %d %q, want %d %q", r.status, r.code, status, code)
	}
}

func TestActiveTokenIsCached(t *testing.T) {
	f := setup(t, nil)
	f.active("tok-a", time.Hour, nil)
	r := call(t, f.url, "tok-a")
	r.expect(t, 200, "")
	for h, want := range map[string]string{"X-Echo-X-Id-Method": "oauth2-introspection", "X-Echo-X-Id-App": "shop",
		"X-Echo-X-Id-Subject": "user-1", "X-Echo-X-Id-Scopes": "read,write", "X-Echo-Authorization": ""} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	call(t, f.url, "tok-a").expect(t, 200, "")
	f.ep.expectCalls("tok-a", 1)

	// cache_ttl (60s) ends the reuse.
	f.clock.Add(59 * time.Second)
	call(t, f.url, "tok-a").expect(t, 200, "")
	f.ep.expectCalls("tok-a", 1)
	f.clock.Add(2 * time.Second)
	call(t, f.url, "tok-a").expect(t, 200, "")
	f.ep.expectCalls("tok-a", 2)
}

func TestCacheNeverOutlivesExp(t *testing.T) {
	f := setup(t, nil)
	f.active("tok-short", 20*time.Second, nil)
	call(t, f.url, "tok-short").expect(t, 200, "")
	f.clock.Add(19 * time.Second)
	call(t, f.url, "tok-short").expect(t, 200, "")
	f.ep.expectCalls("tok-short", 1)
	// Past exp the server is asked again, and says the token is no longer active.
	f.ep.set("tok-short", map[string]any{"active": false})
	f.clock.Add(2 * time.Second)
	call(t, f.url, "tok-short").expect(t, 401, "invalid_token")
	f.ep.expectCalls("tok-short", 2)
}

func TestNegativeCaching(t *testing.T) {
	f := setup(t, map[string]any{"negative_ttl": "10s"})
	r := call(t, f.url, "tok-bad")
	r.expect(t, 401, "invalid_token")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="test"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	call(t, f.url, "tok-bad").expect(t, 401, "invalid_token")
	f.ep.expectCalls("tok-bad", 1)
	f.clock.Add(11 * time.Second)
	f.active("tok-bad", time.Hour, nil) // e.g. a token the server had not yet seen
	call(t, f.url, "tok-bad").expect(t, 200, "")
	f.ep.expectCalls("tok-bad", 2)
}

func TestEndpointDown(t *testing.T) {
	f := setup(t, nil)
	f.active("tok-a", time.Hour, nil)
	for _, status := range []int{500, 502, 401} {
		f.ep.setStatus(status)
		call(t, f.url, "tok-a").expect(t, 503, "introspection_unavailable")
	}
	// Failures are not cached: the next call succeeds as soon as the server is back.
	f.ep.setStatus(0)
	call(t, f.url, "tok-a").expect(t, 200, "")
	f.ep.expectCalls("tok-a", 4)

	// Unreachable.
	g := setup(t, map[string]any{"url": "http://127.0.0.1:1/introspect"})
	call(t, g.url, "tok-a").expect(t, 503, "introspection_unavailable")
}

func TestTimeout(t *testing.T) {
	f := setup(t, map[string]any{"timeout": "50ms"})
	f.active("tok-a", time.Hour, nil)
	f.ep.mu.Lock()
	f.ep.block = make(chan struct{}) // never released: the gateway's timeout ends the call
	f.ep.mu.Unlock()
	call(t, f.url, "tok-a").expect(t, 503, "introspection_unavailable")
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	f := setup(t, nil)
	f.active("tok-c", time.Hour, nil)
	release := make(chan struct{})
	f.ep.mu.Lock()
	f.ep.block = release
	f.ep.mu.Unlock()
	const n = 16
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() { statuses[i] = call(t, f.url, "tok-c").status })
	}
	// Let the first call reach the server, then answer it.
	for f.ep.total.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	// Requests either joined the flight or found its cached answer.
	f.ep.expectCalls("tok-c", 1)
}

func TestClaimsAndChecks(t *testing.T) {
	f := setup(t, map[string]any{"audience": []string{"api"}, "issuer": []string{"https://idp.example"}})
	ok := map[string]any{"aud": []any{"other", "api"}, "iss": "https://idp.example"}
	f.active("tok-ok", time.Hour, ok)
	f.active("tok-aud", time.Hour, map[string]any{"aud": "other", "iss": "https://idp.example"})
	f.active("tok-iss", time.Hour, map[string]any{"aud": "api", "iss": "https://evil.example"})
	f.active("tok-ghost", time.Hour, map[string]any{"aud": "api", "iss": "https://idp.example", "client_id": "ghost"})
	f.active("tok-shady", time.Hour, map[string]any{"aud": "api", "iss": "https://idp.example", "client_id": "shady"})
	f.active("tok-noapp", time.Hour, map[string]any{"aud": "api", "iss": "https://idp.example", "client_id": nil, "sub": nil, "username": "bob"})
	call(t, f.url, "tok-ok").expect(t, 200, "")
	call(t, f.url, "tok-aud").expect(t, 401, "invalid_token")
	call(t, f.url, "tok-iss").expect(t, 401, "invalid_token")
	call(t, f.url, "tok-ghost").expect(t, 403, "unknown_app")
	call(t, f.url, "tok-shady").expect(t, 403, "developer_blocked")
	r := call(t, f.url, "tok-noapp")
	r.expect(t, 200, "")
	if r.header.Get("X-Echo-X-Id-Subject") != "bob" || r.header.Get("X-Echo-X-Id-App") != "" {
		t.Errorf("subject %q app %q", r.header.Get("X-Echo-X-Id-Subject"), r.header.Get("X-Echo-X-Id-App"))
	}
}

// API keys and other schemes are not this method's: no call is made.
func TestNotMine(t *testing.T) {
	f := setup(t, nil)
	call(t, f.url, "gh_live_abc").expect(t, 401, "missing_credentials")
	call(t, f.url, "").expect(t, 401, "missing_credentials")
	if f.ep.total.Load() != 0 {
		t.Fatal("the endpoint was called")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{}`, "url: required"},
		{`{"url":"ftp://x"}`, "url:"},
		{`{"url":"https://u:p@idp.example/i"}`, "url:"},
		{`{"url":"https://idp.example/i","client_secret":"s"}`, "client_id:"},
		{`{"url":"https://idp.example/i","timeout":"2m"}`, "timeout:"},
		{`{"url":"https://idp.example/i","cache_ttl":"-1s"}`, "cache_ttl:"},
		{`{"url":"https://idp.example/i","negative_ttl":"-1s"}`, "negative_ttl:"},
		{`{"url":"https://idp.example/i","cache_size":-1}`, "cache_size:"},
		{`{"url":"https://idp.example/i","token_type_hint":"a b"}`, "token_type_hint:"},
	} {
		if _, err := introspection.Type.Decode([]byte(tc.cfg)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := introspection.New(&policy.Env{}, &introspection.Config{URL: "https://idp.example/i"}, "x"); err == nil {
		t.Error("New without a directory succeeded")
	}
}

// BenchmarkCached is the allowed path with the answer cached: no call, no allocation.
func BenchmarkCached(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"active":true,"client_id":"shop","sub":"u","scope":"read write"}`)
	}))
	defer srv.Close()
	dir := policytest.NewDirectory()
	dir.AddApp("shop", "dev@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := introspection.New(&policy.Env{Ctx: ctx, Directory: dir}, &introspection.Config{URL: srv.URL}, "i")
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	hdr := []string{"Bearer " + strings.Repeat("opaque", 10)}
	c := &policy.Context{W: httptest.NewRecorder(), R: r}
	r.Header["Authorization"] = hdr
	if ok, err := a.Authenticate(c); !ok || err != nil {
		b.Fatal(ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = hdr
		if ok, err := a.Authenticate(c); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
