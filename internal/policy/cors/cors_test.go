package cors

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// reject is a later policy that rejects requests carrying X-Reject, to check that
// rejections carry the CORS headers too (or a browser could not read the error).
var reject = policy.Define("reject", policy.Authz, "test: rejects on X-Reject",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, name string) (policy.Handler, error) {
		e := policy.Reject(name, http.StatusUnauthorized, "nope", "rejected")
		return policy.HandlerFunc(func(c *policy.Context) error {
			if c.R.Header.Get("X-Reject") != "" {
				return e
			}
			return next.Serve(c)
		}), nil
	})

type upstream struct {
	calls   atomic.Int32
	headers http.Header // sent on every response
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	for k, vs := range u.headers {
		for _, v := range vs {
			w.Header().Add(k, v) // as httputil.ReverseProxy copies them
		}
	}
	w.Header().Set("X-Upstream-Method", r.Method)
	_, _ = io.WriteString(w, "ok")
}

func serve(t *testing.T, cfg string, up http.Handler) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "cors", Config: json.RawMessage(cfg)}, {Type: "reject"}}
	return policytest.Serve(t, policy.NewRegistry(Type, reject), &policy.Env{}, specs, nil, up)
}

func do(t *testing.T, srv *httptest.Server, method string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/items", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct{ Code string }
	_ = json.Unmarshal(body, &doc)
	return resp, doc.Code
}

const app = "https://app.example.com"

func preflight(origin, method, headers string) map[string]string {
	m := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		m["Access-Control-Request-Headers"] = headers
	}
	return m
}

func TestPreflight(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		headers map[string]string
		status  int
		code    string
		want    map[string]string // response headers; "" means absent
	}{
		{"allowed, reflects headers", `{"origins":["https://app.example.com"]}`, preflight(app, "PUT", "content-type, x-api-key"), 204, "",
			map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
				"Access-Control-Allow-Headers": "content-type, x-api-key", "Access-Control-Max-Age": "600",
				"Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers", "Access-Control-Allow-Credentials": ""}},
		{"origin denied", `{"origins":["https://app.example.com"]}`, preflight("https://evil.example", "GET", ""), 403, "cors_origin_denied",
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{"method denied", `{"origins":["*"],"methods":["GET"]}`, preflight(app, "DELETE", ""), 403, "cors_method_denied", nil},
		{"any method", `{"origins":["*"],"methods":["*"]}`, preflight(app, "PURGE", ""), 204, "",
			map[string]string{"Access-Control-Allow-Methods": "*", "Access-Control-Allow-Origin": "*", "Vary": ""}},
		{"configured headers", `{"origins":["*"],"headers":["Content-Type","X-Api-Key"],"max_age":"1h"}`, preflight(app, "POST", "x-api-key,content-type"), 204, "",
			map[string]string{"Access-Control-Allow-Headers": "Content-Type, X-Api-Key", "Access-Control-Max-Age": "3600"}},
		{"header denied", `{"origins":["*"],"headers":["Content-Type"]}`, preflight(app, "POST", "content-type, x-secret"), 403, "cors_headers_denied", nil},
		{"credentials echo the origin", `{"origins":["*"],"credentials":true}`, preflight(app, "GET", ""), 204, "",
			map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true"}},
		{"wildcard subdomain", `{"origins":["https://*.example.com"]}`, preflight("https://a.b.example.com", "GET", ""), 204, "",
			map[string]string{"Access-Control-Allow-Origin": "https://a.b.example.com"}},
		{"wildcard not the apex", `{"origins":["https://*.example.com"]}`, preflight("https://example.com", "GET", ""), 403, "cors_origin_denied", nil},
		{"wildcard not a lookalike", `{"origins":["https://*.example.com"]}`, preflight("https://evil-example.com", "GET", ""), 403, "cors_origin_denied", nil},
		{"wildcard scheme", `{"origins":["https://*.example.com"]}`, preflight("http://a.example.com", "GET", ""), 403, "cors_origin_denied", nil},
		{"wildcard with port", `{"origins":["http://*.local.test:8080"]}`, preflight("http://x.local.test:8080", "GET", ""), 204, "", nil},
		{"upper-case origin", `{"origins":["https://app.example.com"]}`, preflight("HTTPS://APP.example.com", "GET", ""), 204, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{}
			srv := serve(t, tt.cfg, up)
			resp, code := do(t, srv, "OPTIONS", tt.headers)
			if resp.StatusCode != tt.status || code != tt.code {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, code, tt.status, tt.code)
			}
			for k, v := range tt.want {
				if got := strings.Join(resp.Header.Values(k), ", "); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if n := up.calls.Load(); n != 0 {
				t.Errorf("the upstream saw %d preflights; they are answered at the edge", n)
			}
		})
	}
}

func TestActual(t *testing.T) {
	upCORS := http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"false"},
		"Access-Control-Expose-Headers": {"X-Upstream"}, "Vary": {"Accept-Encoding"}}
	tests := []struct {
		name     string
		cfg      string
		upstream http.Header
		headers  map[string]string
		status   int
		want     map[string][]string // nil value: absent
	}{
		{"allowed", `{"origins":["https://app.example.com"],"expose_headers":["x-total-count","ETag"]}`, nil, map[string]string{"Origin": app}, 200,
			map[string][]string{"Access-Control-Allow-Origin": {app}, "Vary": {"Origin"}, "Access-Control-Expose-Headers": {"X-Total-Count, Etag"},
				"Access-Control-Allow-Credentials": nil}},
		{"credentials with wildcard echo the origin", `{"origins":["*"],"credentials":true}`, nil, map[string]string{"Origin": app}, 200,
			map[string][]string{"Access-Control-Allow-Origin": {app}, "Access-Control-Allow-Credentials": {"true"}, "Vary": {"Origin"}}},
		{"wildcard without credentials", `{"origins":["*"]}`, nil, map[string]string{"Origin": app}, 200,
			map[string][]string{"Access-Control-Allow-Origin": {"*"}, "Vary": nil}},
		{"upstream's own CORS headers are replaced", `{"origins":["https://app.example.com"],"credentials":true}`, upCORS, map[string]string{"Origin": app}, 200,
			map[string][]string{"Access-Control-Allow-Origin": {app}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers": nil, "Vary": {"Accept-Encoding", "Origin"}}},
		{"upstream's headers dropped for a denied origin", `{"origins":["https://app.example.com"]}`, upCORS, map[string]string{"Origin": "https://evil.example"}, 200,
			map[string][]string{"Access-Control-Allow-Origin": nil, "Access-Control-Allow-Credentials": nil, "Vary": {"Accept-Encoding", "Origin"}}},
		{"no origin: not touched, but varies", `{"origins":["https://app.example.com"]}`, upCORS, nil, 200,
			map[string][]string{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin", "Accept-Encoding"}}},
		{"rejections carry CORS headers", `{"origins":["https://app.example.com"]}`, nil, map[string]string{"Origin": app, "X-Reject": "1"}, 401,
			map[string][]string{"Access-Control-Allow-Origin": {app}, "Vary": {"Origin"}}},
		{"OPTIONS without request method is an actual request", `{"origins":["*"]}`, nil, map[string]string{"Origin": app, "X-Method": "OPTIONS"}, 200,
			map[string][]string{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Max-Age": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &upstream{headers: tt.upstream}
			srv := serve(t, tt.cfg, up)
			method := "GET"
			if tt.headers["X-Method"] != "" {
				method = tt.headers["X-Method"]
			}
			resp, _ := do(t, srv, method, tt.headers)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for k, v := range tt.want {
				if got := resp.Header.Values(k); !slices.Equal(got, v) {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestPreflightContinue(t *testing.T) {
	up := &upstream{headers: http.Header{"Access-Control-Allow-Origin": {"https://other.example"}, "Access-Control-Allow-Methods": {"GET"}}}
	srv := serve(t, `{"origins":["https://app.example.com"],"preflight_continue":true}`, up)
	resp, _ := do(t, srv, "OPTIONS", preflight(app, "PUT", ""))
	if resp.StatusCode != 200 || resp.Header.Get("X-Upstream-Method") != "OPTIONS" {
		t.Fatalf("status %d, upstream method %q: want the upstream to answer", resp.StatusCode, resp.Header.Get("X-Upstream-Method"))
	}
	if got := resp.Header.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{app}) {
		t.Errorf("Access-Control-Allow-Origin %q, want ours only", got)
	}
	if got := resp.Header.Values("Access-Control-Allow-Methods"); len(got) != 1 || !strings.Contains(got[0], "PUT") {
		t.Errorf("Access-Control-Allow-Methods %q, want ours only", got)
	}
	// A denied origin is still refused at the edge.
	if resp, code := do(t, srv, "OPTIONS", preflight("https://evil.example", "PUT", "")); resp.StatusCode != 403 || code != CodeOriginDenied {
		t.Errorf("denied preflight: %d %q", resp.StatusCode, code)
	}
}

// TestStreaming: the wrapper lets a streamed response through as it is written, and
// http.ResponseController reaches the server's writer through it.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Time{}); err != nil {
			http.Error(w, "no deadline support: "+err.Error(), 500)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = io.WriteString(w, "first\n")
		if err := rc.Flush(); err != nil {
			return
		}
		<-release
		_, _ = io.WriteString(w, "second\n")
	})
	srv := serve(t, `{"origins":["https://app.example.com"]}`, up)
	req, _ := http.NewRequest("GET", srv.URL+"/stream", nil)
	req.Header.Set("Origin", app)
	resp, err := srv.Client().Do(req)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{app}) {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n') // arrives before the upstream finishes: it is flushed
	close(release)
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" {
		t.Errorf("rest %q", rest)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "origins: required"},
		{`{"origins":["null"]}`, `origins[0]: "null" is not allowed`},
		{`{"origins":["app.example.com"]}`, `origins[0]: "app.example.com" is not an origin`},
		{`{"origins":["https://app.example.com/"]}`, "without path"},
		{`{"origins":["https://a.example.com","https://*.*.example.com"]}`, "origins[1]: "},
		{`{"origins":["https://x*.example.com"]}`, "a wildcard may only stand for the leftmost labels"},
		{`{"origins":["*"],"methods":["GET","BAD METHOD"]}`, `methods[1]: "BAD METHOD" is not a valid name`},
		{`{"origins":["*"],"headers":["a:b"]}`, "headers[0]"},
		{`{"origins":["*"],"credentials":true,"expose_headers":["*"]}`, "expose_headers:"},
		{`{"origins":["*"],"max_age":"-1s"}`, "max_age: must not be negative"},
		{`{"origins":["*"],"max_age":10}`, "duration"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func FuzzOrigins(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.example.com", "*", "null", "http://*.x:80", "https://*.", "://*.a"} {
		f.Add(s, "https://a.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		o, err := parseOrigins([]string{pattern})
		if err != nil {
			return
		}
		if o.allowed(origin) && !o.any {
			// Whatever matched must end like the pattern and share its scheme.
			lp := strings.ToLower(pattern)
			scheme, _, _ := strings.Cut(lp, "://")
			if !strings.HasPrefix(strings.ToLower(origin), scheme+"://") {
				t.Fatalf("pattern %q allowed %q with another scheme", pattern, origin)
			}
		}
	})
}

func bench(b *testing.B, cfg *Config, req *http.Request) {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(c *policy.Context) error {
		c.W.WriteHeader(200)
		return nil
	}), cfg, "cors")
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	c := new(policy.Context)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		*c = policy.Context{W: w, R: req}
		_ = h.Serve(c)
	}
}

func BenchmarkNoOrigin(b *testing.B) {
	bench(b, &Config{Origins: []string{app}}, httptest.NewRequest("GET", "/items", nil))
}

func BenchmarkActual(b *testing.B) {
	req := httptest.NewRequest("GET", "/items", nil)
	req.Header.Set("Origin", app)
	bench(b, &Config{Origins: []string{app, "https://*.example.org"}, Credentials: true, ExposeHeaders: []string{"X-Total-Count"}}, req)
}

func BenchmarkPreflight(b *testing.B) {
	req := httptest.NewRequest("OPTIONS", "/items", nil)
	req.Header.Set("Origin", "https://a.example.org")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	bench(b, &Config{Origins: []string{app, "https://*.example.org"}}, req)
}
