package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// origin answers with the path and a marker, so tests can see where a request landed.
func origin(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", name)
		w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
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
	s, err := Compile(1, apis)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{})
	g.snap.Store(s)
	return g
}

func do(g http.Handler, method, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
	return rec
}

func TestRouting(t *testing.T) {
	a, b, c, d, e := origin(t, "a"), origin(t, "b"), origin(t, "c"), origin(t, "d"), origin(t, "e")
	g := newGateway(t,
		api("root", "/", nil, gatehouse.StatePublished, a.URL),
		api("orders", "/orders", nil, gatehouse.StatePublished, b.URL),
		api("orders-v2", "/orders/v2", nil, gatehouse.StatePublished, c.URL),
		api("shop", "/orders", []string{"shop.example.com"}, gatehouse.StatePublished, d.URL),
		api("wild", "/", []string{"*.example.com"}, gatehouse.StatePublished, e.URL),
		api("draft", "/draft", nil, gatehouse.StateDraft, b.URL),
	)
	tests := []struct {
		url, origin, uri string
	}{
		{"http://gw/orders", "b", "/orders"},
		{"http://gw/orders/1?x=y", "b", "/orders/1?x=y"},
		{"http://gw/ordersx", "a", "/ordersx"}, // prefix match is per segment
		{"http://gw/orders/v2/9", "c", "/orders/v2/9"},
		{"http://gw/draft", "a", "/draft"}, // drafts are not served; the root API catches it
		{"http://shop.example.com/orders/1", "d", "/orders/1"},
		{"http://SHOP.example.com:8000/orders", "d", "/orders"},
		{"http://shop.example.com/other", "e", "/other"}, // exact host had no match; wildcard does
		{"http://x.example.com/orders", "e", "/orders"},
		{"http://example.com/orders", "b", "/orders"}, // "*.example.com" does not match the apex
	}
	for _, tt := range tests {
		rec := do(g, "GET", tt.url)
		if rec.Code != 200 || rec.Header().Get("X-Origin") != tt.origin || rec.Body.String() != tt.uri {
			t.Errorf("%s: got %d from %q with %q, want %q with %q", tt.url, rec.Code, rec.Header().Get("X-Origin"), rec.Body.String(), tt.origin, tt.uri)
		}
	}
}

func TestNoRouteAndLifecycle(t *testing.T) {
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
	rec := do(g, "GET", "http://gw/nowhere")
	assertProblem(t, rec, 404, "no_route")
	rec = do(g, "GET", "http://gw/gone/x")
	assertProblem(t, rec, 410, "api_retired")
	rec = do(g, "GET", "http://gw/old")
	if rec.Code != 200 || rec.Header().Get("Deprecation") != "@1780272000" || rec.Header().Get("Sunset") != "Fri, 01 Jan 2027 00:00:00 UTC" {
		t.Errorf("deprecated: %d Deprecation=%q Sunset=%q", rec.Code, rec.Header().Get("Deprecation"), rec.Header().Get("Sunset"))
	}
	if rec := do(New(Options{}), "GET", "http://gw/live"); rec.Code != 503 {
		t.Errorf("no snapshot: %d", rec.Code)
	}
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
		rec := do(g, "GET", url)
		if rec.Body.String() != want {
			t.Errorf("%s → %q, want %q", url, rec.Body.String(), want)
		}
	}
	req := httptest.NewRequest("GET", "http://gw/svc/x", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Header().Get("X-Seen-Request-Id") != "abc-123" || rec.Header().Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id not passed through: %v", rec.Header())
	}
	if rec.Header().Get("X-Seen-Forwarded-For") == "" {
		t.Error("X-Forwarded-For not set")
	}
	rec = do(g, "GET", "http://gw/svc/x")
	if id := rec.Header().Get("X-Seen-Request-Id"); len(id) != 32 {
		t.Errorf("generated request id %q", id)
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	a, b := origin(t, "a"), origin(t, "b")
	x := api("x", "/x", nil, gatehouse.StatePublished, a.URL, b.URL)
	three, zero := 300, 0
	x.Upstream.Targets[0].Weight = &three
	g := newGateway(t, x)
	counts := map[string]int{}
	for range 40 {
		counts[do(g, "GET", "http://gw/x").Header().Get("X-Origin")]++
	}
	if counts["a"] != 30 || counts["b"] != 10 {
		t.Errorf("weights 300:100 gave %v", counts)
	}
	x.Upstream.Targets[0].Weight = &zero
	x.Upstream.Targets[1].Weight = &zero
	g = newGateway(t, x)
	assertProblem(t, do(g, "GET", "http://gw/x"), 503, "no_healthy_upstream")
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
}

func TestCompileConflicts(t *testing.T) {
	_, err := Compile(1, []*gatehouse.API{
		api("a", "/x", []string{"h.com"}, gatehouse.StatePublished, "http://a"),
		api("b", "/x", []string{"h.com"}, gatehouse.StatePublished, "http://b"),
	})
	if err == nil || !strings.Contains(err.Error(), `both claim path "/x"`) {
		t.Errorf("conflict not reported: %v", err)
	}
	// Same prefix on different hosts is fine.
	if _, err := Compile(1, []*gatehouse.API{
		api("a", "/x", []string{"h.com"}, gatehouse.StatePublished, "http://a"),
		api("b", "/x", []string{"i.com"}, gatehouse.StatePublished, "http://b"),
	}); err != nil {
		t.Error(err)
	}
}

func FuzzMatch(f *testing.F) {
	s, err := Compile(1, []*gatehouse.API{
		api("root", "/", nil, gatehouse.StatePublished, "http://a"),
		api("o", "/orders", []string{"*.example.com", "a.com"}, gatehouse.StatePublished, "http://b"),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("a.com:80", "/orders/1")
	f.Add("[::1]:8000", "/")
	f.Add("", "")
	f.Add("x.example.com", "/orders")
	f.Fuzz(func(t *testing.T, host, path string) {
		r := s.match(hostOf(host), path)
		if r != nil && r.prefix != "/" && !strings.HasPrefix(path, r.prefix) {
			t.Fatalf("matched %q for path %q", r.prefix, path)
		}
	})
}
