package header

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

type params map[string]string

func (p params) Get(name string) (string, bool) { v, ok := p[name]; return v, ok }

// identify stands in for authentication and routing: requests with X-Test-Sub get an
// identity with claims, and every request the path parameter id=42.
var identify = policy.Define("identify", policy.Authz, "test: sets an identity",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, _ string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			if sub := c.R.Header.Get("X-Test-Sub"); sub != "" {
				c.Identity = policy.Identity{Subject: sub, App: "shop", Claims: map[string]any{"tenant": "acme", "odd": "a\x01b"}}
			}
			c.Params = params{"id": "42"}
			return next.Serve(c)
		}), nil
	})

// reject runs after header in the same phase and rejects requests with X-Reject.
var reject = policy.Define("reject", policy.Transform, "test: rejects on X-Reject",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, name string) (policy.Handler, error) {
		e := policy.Reject(name, http.StatusForbidden, "nope", "rejected")
		return policy.HandlerFunc(func(c *policy.Context) error {
			if c.R.Header.Get("X-Reject") != "" {
				return e
			}
			return next.Serve(c)
		}), nil
	})

func serve(t *testing.T, cfg string, up http.Handler) *httptest.Server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "header", Config: json.RawMessage(cfg)}, {Type: "reject"}, {Type: "identify"}}
	return policytest.Serve(t, policy.NewRegistry(Type, identify, reject), &policy.Env{}, specs, nil, up)
}

func do(t *testing.T, srv *httptest.Server, headers http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/items/42?q=x", nil)
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func check(t *testing.T, h http.Header, want map[string][]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Values(k); !slices.Equal(got, v) {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestRequest(t *testing.T) {
	srv := serve(t, `{"request":{
		"set":{"X-User":"{{ subject }}","X-Tenant":"{{ claims.tenant | \"none\" }}","x-api":"{{api}}/{{path.id}}","X-Odd":"{{claims.odd}}"},
		"add":{"X-Tag":"gw","X-From":"{{ request.header.X-Origin-App | \"web\" }}"},
		"remove":["X-Secret","x-debug"],
		"rename":{"X-Old":"X-New"}}}`, policytest.Echo)
	tests := []struct {
		name string
		in   http.Header
		want map[string][]string // as the upstream saw them (echoed as X-Echo-*)
	}{
		{"authenticated", http.Header{"X-Test-Sub": {"user-1"}, "X-Secret": {"s"}, "X-Debug": {"1"}, "X-Old": {"a", "b"}, "X-New": {"gone"}, "X-Tag": {"client"}},
			map[string][]string{"X-Echo-X-User": {"user-1"}, "X-Echo-X-Tenant": {"acme"}, "X-Echo-X-Api": {"test/42"}, "X-Echo-X-Odd": {"ab"},
				"X-Echo-X-Tag": {"client", "gw"}, "X-Echo-X-From": {"web"}, "X-Echo-X-Secret": nil, "X-Echo-X-Debug": nil,
				"X-Echo-X-Old": nil, "X-Echo-X-New": {"a", "b"}}},
		// set with an empty value removes what the client sent: it cannot pose as a user.
		{"anonymous cannot spoof", http.Header{"X-User": {"admin"}, "X-Origin-App": {"mobile"}},
			map[string][]string{"X-Echo-X-User": nil, "X-Echo-X-Tenant": {"none"}, "X-Echo-X-From": {"mobile"}, "X-Echo-X-Tag": {"gw"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.in)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			check(t, resp.Header, tt.want)
		})
	}
}

func TestResponse(t *testing.T) {
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "nginx/1.25")
		h.Set("X-Powered-By", "PHP/8")
		h.Set("X-Aspnet-Version", "4.0")
		h.Set("X-Internal", "secret")
		h.Set("X-Old-Resp", "v")
		h.Set("Cache-Control", "public")
		h.Add("X-Gw", "upstream")
		if r.URL.Query().Get("silent") == "" {
			w.WriteHeader(201)
		}
	})
	srv := serve(t, `{"hide_server":true,"response":{
		"remove":["X-Internal"],"rename":{"X-Old-Resp":"X-New-Resp"},
		"set":{"Cache-Control":"no-store","X-Path":"{{request.path}}","X-Frame-Options":"DENY"},
		"add":{"X-Gw":"gatehouse"}}}`, up)
	want := map[string][]string{"Server": nil, "X-Powered-By": nil, "X-Aspnet-Version": nil, "X-Internal": nil,
		"X-Old-Resp": nil, "X-New-Resp": {"v"}, "Cache-Control": {"no-store"}, "X-Path": {"/items/42"},
		"X-Gw": {"upstream", "gatehouse"}, "X-Frame-Options": {"DENY"}}
	resp := do(t, srv, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	check(t, resp.Header, want)

	t.Run("upstream writes nothing", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/items/42?silent=1", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		check(t, resp.Header, want)
	})
	t.Run("rejections get the response edits", func(t *testing.T) {
		resp := do(t, srv, http.Header{"X-Reject": {"1"}})
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		check(t, resp.Header, map[string][]string{"X-Frame-Options": {"DENY"}, "Cache-Control": {"no-store"}, "X-Gw": {"gatehouse"}})
	})
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "set at least one"},
		{`{"request":{"set":{"Connection":"close"}}}`, "request.set: Connection is a hop-by-hop header and cannot be set"},
		{`{"request":{"add":{"proxy-authorization":"x"}}}`, "request.add: Proxy-Authorization is a hop-by-hop header"},
		{`{"response":{"set":{"Transfer-Encoding":"chunked"}}}`, "response.set: Transfer-Encoding"},
		{`{"request":{"rename":{"X-A":"Host"}}}`, "request.rename: Host routes the request"},
		{`{"request":{"set":{"Content-Length":"1"}}}`, "Content-Length frames the body"},
		{`{"request":{"set":{"Bad Name":"1"}}}`, `request.set: "Bad Name" is not a valid header name`},
		{`{"request":{"remove":[""]}}`, `request.remove: "" is not a valid header name`},
		{`{"request":{"set":{"X-A":"{{ nope }}"}}}`, `request.set[X-A]: column 4: unknown expression "nope"`},
		{`{"response":{"add":{"X-A":"x {{ app"}}}`, `response.add[X-A]: column 3: unclosed "{{"`},
		{`{"request":{"set":{"X-A":"1","x-a":"2"}}}`, "request.set: X-A is listed twice"},
		{`{"request":{"remove":"X-A"}}`, "must be an array"},
	} {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
	// Removing a hop-by-hop header is fine.
	if _, err := Type.Decode(json.RawMessage(`{"request":{"remove":["Connection"]}}`)); err != nil {
		t.Error(err)
	}
}

var server = []string{"nginx"}

func benchHandler(b *testing.B, cfg *Config) (policy.Handler, *policy.Context) {
	h, err := New(&policy.Env{}, policy.HandlerFunc(func(c *policy.Context) error {
		c.W.Header()["Server"] = server
		c.W.WriteHeader(200)
		return nil
	}), cfg, "header")
	if err != nil {
		b.Fatal(err)
	}
	return h, new(policy.Context)
}

func benchRun(b *testing.B, h policy.Handler, c *policy.Context, req *http.Request) {
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		delete(req.Header, "X-Gateway")
		delete(req.Header, "X-Tag")
		*c = policy.Context{W: w, R: req, API: "orders"}
		if err := h.Serve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestStatic(b *testing.B) {
	h, c := benchHandler(b, &Config{Request: Ops{Set: map[string]string{"X-Gateway": "gatehouse"}, Remove: []string{"X-Debug"}, Add: map[string]string{"X-Tag": "a"}}})
	req := httptest.NewRequest("GET", "/", nil)
	benchRun(b, h, c, req)
}

func BenchmarkRequestTemplate(b *testing.B) {
	h, c := benchHandler(b, &Config{Request: Ops{Set: map[string]string{"X-Gateway": "{{api}} {{request.method}}"}}})
	req := httptest.NewRequest("GET", "/", nil)
	benchRun(b, h, c, req)
}

func BenchmarkResponseStatic(b *testing.B) {
	h, c := benchHandler(b, &Config{HideServer: true, Response: Ops{Set: map[string]string{"X-Frame-Options": "DENY"}}})
	req := httptest.NewRequest("GET", "/", nil)
	benchRun(b, h, c, req)
}
