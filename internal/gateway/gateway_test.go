package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
)

// origin answers with the path and what it saw, so tests can see where a request landed.
func origin(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", name)
		w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Forwarded", r.Header.Get("Forwarded"))
		w.Header().Set("X-Seen-Via", r.Header.Get("Via"))
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Connection", r.Header.Get("Connection")+"|"+r.Header.Get("X-Hop"))
		_, _ = io.WriteString(w, r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s
}

func api(name, path string, hosts []string, state gatehouse.APIState, targets ...string) *gatehouse.API {
	a := &gatehouse.API{Name: name, Path: path, Hosts: hosts, State: state}
	for _, u := range targets {
		a.Upstream.Targets = append(a.Upstream.Targets, gatehouse.Target{URL: u})
	}
	a.Normalize()
	return a
}

func newGateway(t *testing.T, apis ...*gatehouse.API) *Gateway {
	t.Helper()
	g := New(Options{})
	t.Cleanup(g.Close)
	if err := g.Swap(1, apis); err != nil {
		t.Fatal(err)
	}
	return g
}

func do(g http.Handler, method, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, url, nil)
	g.ServeHTTP(rec, req)
	return rec
}

func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	if rec.Code != status || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q, want %d problem+json; body %s", rec.Code, rec.Header().Get("Content-Type"), status, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != code || p.Status != status {
		t.Fatalf("problem = %s, want code %q", rec.Body, code)
	}
}

func TestRouting(t *testing.T) {
	a, b, c, d, e := origin(t, "a"), origin(t, "b"), origin(t, "c"), origin(t, "d"), origin(t, "e")
	templ := api("tmpl", "/t", nil, gatehouse.StatePublished, c.URL)
	templ.Routes = []gatehouse.Route{{Path: "/items/{id}", Methods: []string{"GET"}}, {Path: "/items/{id}", Methods: []string{"DELETE"}}}
	g := newGateway(t,
		api("root", "/", nil, gatehouse.StatePublished, a.URL),
		api("orders", "/orders", nil, gatehouse.StatePublished, b.URL),
		api("shop", "/orders", []string{"shop.example.com"}, gatehouse.StatePublished, d.URL),
		api("wild", "/", []string{"*.example.com"}, gatehouse.StatePublished, e.URL),
		api("draft", "/draft", nil, gatehouse.StateDraft, b.URL),
		templ,
	)
	tests := []struct {
		method, url, origin, uri string
	}{
		{"GET", "http://gw/orders", "b", "/orders"},
		{"GET", "http://gw/orders/1?x=y", "b", "/orders/1?x=y"},
		{"GET", "http://gw/ordersx", "a", "/ordersx"}, // prefix match is per segment
		{"GET", "http://gw/draft", "a", "/draft"},     // drafts are not served; the root API catches it
		{"GET", "http://shop.example.com/orders/1", "d", "/orders/1"},
		{"GET", "http://SHOP.example.com:8000/orders", "d", "/orders"},
		{"GET", "http://shop.example.com/other", "e", "/other"}, // exact host had no match; wildcard does
		{"GET", "http://x.example.com/orders", "e", "/orders"},
		{"GET", "http://example.com/orders", "b", "/orders"}, // "*.example.com" does not match the apex
		{"GET", "http://gw/t/items/7", "c", "/t/items/7"},
		{"HEAD", "http://gw/t/items/7", "c", ""},
		{"DELETE", "http://gw/t/items/7", "c", "/t/items/7"},
	}
	for _, tt := range tests {
		rec := do(g, tt.method, tt.url)
		if rec.Code != 200 || rec.Header().Get("X-Origin") != tt.origin || rec.Body.String() != tt.uri {
			t.Errorf("%s %s: got %d from %q with %q, want %q with %q", tt.method, tt.url, rec.Code, rec.Header().Get("X-Origin"), rec.Body.String(), tt.origin, tt.uri)
		}
	}
	assertProblem(t, do(g, "GET", "http://gw/t/other"), 404, "no_route") // the API owns /t; no fallback to root
	rec := do(g, "POST", "http://gw/t/items/7")
	assertProblem(t, rec, 405, "method_not_allowed")
	if rec.Header().Get("Allow") != "DELETE, GET, HEAD" {
		t.Errorf("Allow = %q", rec.Header().Get("Allow"))
	}
}

func TestOpenAPIRoutes(t *testing.T) {
	o := origin(t, "o")
	a := api("pets", "/pets-api", nil, gatehouse.StatePublished, o.URL)
	a.OpenAPI = "openapi: 3.1.0\ninfo: {title: Pets, version: '1'}\npaths:\n  /pets/{id}:\n    get: {operationId: getPet, responses: {'200': {description: ok}}}\n"
	g := newGateway(t, a)
	if rec := do(g, "GET", "http://gw/pets-api/pets/1"); rec.Code != 200 {
		t.Errorf("documented operation: %d", rec.Code)
	}
	assertProblem(t, do(g, "GET", "http://gw/pets-api/cats/1"), 404, "no_route")
	assertProblem(t, do(g, "PUT", "http://gw/pets-api/pets/1"), 405, "method_not_allowed")
}

func TestLifecycle(t *testing.T) {
	o := origin(t, "o")
	sunset := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	dep := api("old", "/old", nil, gatehouse.StateDeprecated, o.URL)
	dep.Sunset = &sunset
	dep.UpdatedAt = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	g := newGateway(t,
		api("live", "/live", nil, gatehouse.StatePublished, o.URL),
		api("gone", "/gone", nil, gatehouse.StateRetired, o.URL),
		dep,
	)
	assertProblem(t, do(g, "GET", "http://gw/nowhere"), 404, "no_route")
	assertProblem(t, do(g, "GET", "http://gw/gone/x"), 410, "api_retired")
	rec := do(g, "GET", "http://gw/old")
	if rec.Code != 200 || rec.Header().Get("Deprecation") != "@1780272000" || rec.Header().Get("Sunset") != "Fri, 01 Jan 2027 00:00:00 GMT" {
		t.Errorf("deprecated: %d Deprecation=%q Sunset=%q", rec.Code, rec.Header().Get("Deprecation"), rec.Header().Get("Sunset"))
	}
	empty := New(Options{})
	defer empty.Close()
	assertProblem(t, do(empty, "GET", "http://gw/live"), 503, "not_ready")
	if empty.Ready() == nil {
		t.Error("a gateway without a snapshot must not be ready")
	}
}

func TestStripPathAndHeaders(t *testing.T) {
	o := origin(t, "o")
	a := api("s", "/svc", nil, gatehouse.StatePublished, o.URL+"/base")
	a.StripPath = true
	g := newGateway(t, a)
	for url, want := range map[string]string{
		"http://gw/svc":           "/base/",
		"http://gw/svc/":          "/base/",
		"http://gw/svc/a/b?q=1":   "/base/a/b?q=1",
		"http://gw/svc/a%2Fb":     "/base/a%2Fb",
		"http://gw/svc/x%20y/%3F": "/base/x%20y/%3F",
	} {
		if rec := do(g, "GET", url); rec.Body.String() != want {
			t.Errorf("%s → %q, want %q", url, rec.Body.String(), want)
		}
	}

	req := httptest.NewRequest("GET", "http://gw.example/svc/x", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("X-Request-Id", "abc-123")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "must not pass")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	h := rec.Header()
	if h.Get("X-Seen-Request-Id") != "abc-123" || h.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id not passed through: %v", h)
	}
	if h.Get("X-Seen-Forwarded-For") != "192.0.2.7" || h.Get("X-Seen-Forwarded") != "for=192.0.2.7;host=gw.example;proto=http" {
		t.Errorf("forwarding headers: XFF %q Forwarded %q", h.Get("X-Seen-Forwarded-For"), h.Get("X-Seen-Forwarded"))
	}
	if h.Get("X-Seen-Via") != "1.1 gatehouse" || h.Get("Via") != "1.1 gatehouse" {
		t.Errorf("Via: request %q, response %q", h.Get("X-Seen-Via"), h.Get("Via"))
	}
	if h.Get("X-Seen-Connection") != "|" {
		t.Errorf("hop-by-hop headers reached the upstream: %q", h.Get("X-Seen-Connection"))
	}
	if !strings.HasPrefix(h.Get("X-Seen-Host"), "127.0.0.1:") {
		t.Errorf("upstream Host = %q, want the target's", h.Get("X-Seen-Host"))
	}
	if id := do(g, "GET", "http://gw/svc/x").Header().Get("X-Seen-Request-Id"); len(id) != 32 {
		t.Errorf("generated request id %q", id)
	}
}

func TestForwardedIPv6(t *testing.T) {
	req := httptest.NewRequest("GET", "http://h/", nil)
	req.RemoteAddr = "[2001:db8::1]:443"
	req.Host = "a b"
	req.Header.Set("Via", "1.0 client-proxy")
	pr := &httputil.ProxyRequest{In: req, Out: req.Clone(req.Context())}
	(&apiRoute{}).rewrite(pr)
	h := pr.Out.Header
	for k, want := range map[string][]string{
		"Forwarded":         {`for="[2001:db8::1]";host="a b";proto=http`},
		"X-Forwarded-For":   {"2001:db8::1"},
		"X-Forwarded-Host":  {"a b"},
		"X-Forwarded-Proto": {"http"},
		"Via":               {"1.0 client-proxy", "1.1 gatehouse"},
	} {
		if got := h[k]; !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The values share an array; adding to one must not reach another.
	h.Add("X-Forwarded-For", "x")
	h.Add("X-Forwarded-Host", "y")
	if h.Get("X-Forwarded-Host") != "a b" || h.Get("X-Forwarded-Proto") != "http" || len(h["X-Forwarded-For"]) != 2 {
		t.Errorf("headers after Add: %q", h)
	}
	// An address that is not host:port (a pipe, say) is forwarded as it is, without
	// X-Forwarded-For, as ProxyRequest.SetXForwarded does.
	req.RemoteAddr = "pipe"
	pr = &httputil.ProxyRequest{In: req, Out: req.Clone(req.Context())}
	(&apiRoute{}).rewrite(pr)
	if got := pr.Out.Header; got["X-Forwarded-For"] != nil || got.Get("Forwarded") != `for=pipe;host="a b";proto=http` {
		t.Errorf("unix-socket client: %q", got)
	}
}

func TestUpstreamErrors(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	g := newGateway(t, api("dead", "/dead", nil, gatehouse.StatePublished, deadURL))
	assertProblem(t, do(g, "GET", "http://gw/dead"), 502, "upstream_unavailable")

	var hung atomic.Bool
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Store(true)
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	a := api("slow", "/slow", nil, gatehouse.StatePublished, slow.URL)
	a.Upstream.ResponseTimeout = gatehouse.Duration(100 * time.Millisecond)
	g = newGateway(t, a)
	assertProblem(t, do(g, "GET", "http://gw/slow"), 504, "upstream_timeout")
	if !hung.Load() {
		t.Error("the slow upstream was never called")
	}

	zero := 0
	off := api("off", "/off", nil, gatehouse.StatePublished, "http://127.0.0.1:1")
	off.Upstream.Targets[0].Weight = &zero
	g = newGateway(t, off)
	assertProblem(t, do(g, "GET", "http://gw/off"), 503, "no_healthy_upstream")
}

func TestBodyLimit(t *testing.T) {
	o := origin(t, "o")
	a := api("b", "/b", nil, gatehouse.StatePublished, o.URL)
	a.MaxBodyBytes = 10
	g := newGateway(t, a)
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("POST", "http://gw/b", strings.NewReader(strings.Repeat("x", 11))))
	assertProblem(t, rec, 413, "too_large")
}

func TestSwapKeepsOldOnFailure(t *testing.T) {
	o := origin(t, "o")
	g := newGateway(t, api("a", "/x", []string{"h.com"}, gatehouse.StatePublished, o.URL))
	err := g.Swap(2, []*gatehouse.API{
		api("a", "/x", []string{"h.com"}, gatehouse.StatePublished, o.URL),
		api("b", "/x", []string{"h.com"}, gatehouse.StatePublished, o.URL),
	})
	if err == nil {
		t.Fatal("two APIs on one host and path must not compile")
	}
	if g.Snapshot().Revision != 1 {
		t.Errorf("serving revision %d after a failed swap", g.Snapshot().Revision)
	}
	if rec := do(g, "GET", "http://h.com/x"); rec.Code != 200 {
		t.Errorf("old snapshot stopped serving: %d", rec.Code)
	}
	st := g.Status()
	if st.Revision != 1 || len(st.APIs) != 1 || len(st.APIs[0].Targets) != 1 || !st.APIs[0].Targets[0].Healthy {
		t.Errorf("status %+v", st)
	}
}

func TestQuoteForwarded(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":      "example.com",
		"example.com:8000": `"example.com:8000"`,
		`a"b\c`:            `"a\"b\\c"`,
	} {
		if got := quoteForwarded(in); got != want {
			t.Errorf("quoteForwarded(%q) = %s, want %s", in, got, want)
		}
	}
}

// okTransport answers every request in memory, so the benchmark measures the gateway.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Length": {"2"}}, ContentLength: 2,
		Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

// BenchmarkServeHTTP is the gateway's own cost per request (routing, rewrite, proxying
// machinery) with the network taken out: go test -bench ServeHTTP -benchmem ./internal/gateway/
func BenchmarkServeHTTP(b *testing.B) {
	g := New(Options{Upstream: upstream.Options{Transport: okTransport{}}})
	defer g.Close()
	if err := g.Swap(1, []*gatehouse.API{api("bench", "/", nil, gatehouse.StatePublished, "http://127.0.0.1:9")}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gw/items/1", nil)
	req.Header.Set("X-Request-Id", "fixed")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
