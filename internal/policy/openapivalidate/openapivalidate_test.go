package openapivalidate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// docs are the same API described in OpenAPI 3.0 (YAML) and 3.1 (JSON). Both name a server
// with a base path, which must be ignored: paths are relative to the API's prefix.
var docs = []struct{ name, file string }{
	{"3.0", "testdata/shop-3.0.yaml"},
	{"3.1", "testdata/shop-3.1.json"},
}

func readDoc(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func shopAPI(doc string) *gatehouse.API {
	return &gatehouse.API{Name: "shop", Path: "/shop", State: gatehouse.StatePublished, OpenAPI: doc}
}

// upstream answers 200 with the body it received, and says what it saw in headers.
var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	h := w.Header()
	h.Set("X-Upstream-Uri", r.URL.RequestURI())
	h.Set("X-Upstream-Content-Length", strconv.FormatInt(r.ContentLength, 10))
	h.Set("X-Upstream-Body-Length", strconv.Itoa(len(b)))
	h.Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
})

func serve(t *testing.T, doc, cfg string, up http.Handler) string {
	t.Helper()
	spec := gatehouse.PolicySpec{Type: Type.Name}
	if cfg != "" {
		spec.Config = json.RawMessage(cfg)
	}
	env := &policy.Env{API: shopAPI(doc)}
	return policytest.Serve(t, policy.NewRegistry(Type), env, []gatehouse.PolicySpec{spec}, nil, up).URL
}

type req struct {
	method, path string
	header       map[string]string
	body         string
	chunked      bool // send the body without a length
}

type problemDoc struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func send(t *testing.T, base string, q req) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
		if q.chunked {
			body = io.MultiReader(body) // hides the length: the client sends it chunked
		}
	}
	r, err := http.NewRequest(cmpOr(q.method, http.MethodGet), base+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

var (
	tenant = map[string]string{"X-Tenant": "acme"}
	jsonCT = map[string]string{"Content-Type": "application/json"}
)

const goodOrder = `{"note":null,"items":[{"sku":"A-1","price":9.5},{"sku":"B-2","price":0}]}`

// TestRequests runs every case against the 3.0 and the 3.1 document.
func TestRequests(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		req    req
		status int
		code   string // problem code; "" for a request that reaches the upstream
		detail string // the problem's detail, exactly; "" to skip the check
	}{
		{name: "valid GET with query and header", req: req{path: "/shop/orders?limit=10", header: tenant}, status: 200},
		{name: "valid GET with a path parameter", req: req{path: "/shop/orders/42"}, status: 200},
		{name: "HEAD is validated as GET", req: req{method: "HEAD", path: "/shop/orders/42"}, status: 200},
		{name: "valid POST", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder}, status: 200},
		{name: "valid POST with charset", req: req{method: "POST", path: "/shop/orders", header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: goodOrder}, status: 200},
		{name: "valid chunked POST", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder, chunked: true}, status: 200},

		{name: "path parameter of the wrong type", req: req{path: "/shop/orders/abc"},
			status: 400, code: "invalid_request", detail: `path parameter "id": value 'abc' is not a valid integer`},
		{name: "path parameter out of range", req: req{path: "/shop/orders/0"},
			status: 400, code: "invalid_request", detail: `path parameter "id": must be >= 1`},
		{name: "missing required query parameter", req: req{path: "/shop/orders", header: tenant},
			status: 400, code: "invalid_request", detail: `query parameter "limit": required but missing`},
		{name: "query parameter over its maximum", req: req{path: "/shop/orders?limit=101", header: tenant},
			status: 400, code: "invalid_request", detail: `query parameter "limit": must be <= 100`},
		{name: "query parameter not a number", req: req{path: "/shop/orders?limit=ten", header: tenant},
			status: 400, code: "invalid_request", detail: `query parameter "limit": value 'ten' is not a valid integer`},
		{name: "missing required header", req: req{path: "/shop/orders?limit=10"},
			status: 400, code: "invalid_request", detail: `header "X-Tenant": required but missing`},
		{name: "path is checked before query and headers", req: req{path: "/shop/orders/abc?limit=1000"},
			status: 400, code: "invalid_request", detail: `path parameter "id": value 'abc' is not a valid integer`},

		{name: "body that is not JSON", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `{"items":[`},
			status: 400, code: "invalid_request", detail: `body: not valid JSON: unexpected EOF`},
		{name: "body with a wrong type", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `{"items":[{"sku":"A","price":"9.50"}]}`},
			status: 400, code: "invalid_request", detail: `body /items/0/price: expected number, got string`},
		{name: "body missing a required property", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `{"items":[{"sku":"A","price":1},{"sku":"B"}]}`},
			status: 400, code: "invalid_request", detail: `body /items/1: missing required property "price"`},
		{name: "the first failing location is reported", req: req{method: "POST", path: "/shop/orders", header: jsonCT,
			body: `{"items":[{"sku":"A","price":1},{"sku":"B","price":1},{"sku":"C","price":-1},{"sku":"D","price":1},{"sku":"E","price":1},{"sku":"F","price":1},{"sku":"G","price":1},{"sku":"H","price":1},{"sku":"I","price":1},{"sku":"J","price":1},{"sku":"K","price":-1}]}`},
			status: 400, code: "invalid_request", detail: `body /items/2/price: must be >= 0`},
		{name: "body of the wrong type at the root", req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `[]`},
			status: 400, code: "invalid_request", detail: `body: expected object, got array`},
		{name: "empty required body", req: req{method: "POST", path: "/shop/orders", header: jsonCT},
			status: 400, code: "invalid_request", detail: `body: a request body is required`},
		{name: "no body and no content type", req: req{method: "POST", path: "/shop/orders"},
			status: 400, code: "invalid_request", detail: `body: a request body is required`},
		{name: "wrong content type", req: req{method: "POST", path: "/shop/orders", header: map[string]string{"Content-Type": "text/plain"}, body: goodOrder},
			status: 415, code: "unsupported_media_type", detail: `the request's Content-Type is not one this operation accepts: application/json`},
		{name: "a body without a content type", req: req{method: "POST", path: "/shop/orders", body: goodOrder},
			status: 415, code: "unsupported_media_type"},

		{name: "body over max_body", cfg: `{"max_body": 16}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder},
			status: 413, code: "too_large", detail: "the request body is over the 16 bytes this API validates"},
		{name: "chunked body over max_body", cfg: `{"max_body": 16}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder, chunked: true},
			status: 413, code: "too_large"},
		{name: "body over max_body skipped", cfg: `{"max_body": 16, "skip_large_bodies": true}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder}, status: 200},
		{name: "chunked body over max_body skipped", cfg: `{"max_body": 16, "skip_large_bodies": true}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder, chunked: true}, status: 200},
		{name: "skipped bodies are not validated", cfg: `{"max_body": 4, "skip_large_bodies": true}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `{"bad":1}`}, status: 200},
		{name: "a body at max_body is validated", cfg: `{"max_body": 9}`, req: req{method: "POST", path: "/shop/orders", header: jsonCT, body: `{"bad":1}`},
			status: 400, code: "invalid_request", detail: `body: missing required property "items"`},

		{name: "unknown path", req: req{path: "/shop/customers"},
			status: 400, code: "invalid_request", detail: "the API's OpenAPI document has no operation for GET /shop/customers"},
		{name: "unknown method", req: req{method: "PUT", path: "/shop/orders/42"},
			status: 400, code: "invalid_request", detail: "the API's OpenAPI document has no operation for PUT /shop/orders/42"},
		{name: "a document path without the prefix", req: req{path: "/orders/42"},
			status: 400, code: "invalid_request", detail: "the API's OpenAPI document has no operation for GET /orders/42"},
		{name: "a server's base path is not a prefix", req: req{path: "/shop/v1/orders/42"},
			status: 400, code: "invalid_request"},
		{name: "unknown path allowed", cfg: `{"unknown_operation": "allow"}`, req: req{path: "/shop/customers"}, status: 200},
		{name: "unknown method allowed", cfg: `{"unknown_operation": "allow"}`, req: req{method: "PUT", path: "/shop/orders/42"}, status: 200},

		{name: "path checks off", cfg: `{"path": false}`, req: req{path: "/shop/orders/abc"}, status: 200},
		{name: "query checks off", cfg: `{"query": false}`, req: req{path: "/shop/orders?limit=1000", header: tenant}, status: 200},
		{name: "header checks off", cfg: `{"headers": false}`, req: req{path: "/shop/orders?limit=10"}, status: 200},
		{name: "body checks off", cfg: `{"body": false}`, req: req{method: "POST", path: "/shop/orders", header: map[string]string{"Content-Type": "text/plain"}, body: "hi"}, status: 200},
		{name: "everything else still checked", cfg: `{"body": false, "headers": false, "path": false}`, req: req{path: "/shop/orders?limit=0"},
			status: 400, code: "invalid_request", detail: `query parameter "limit": must be >= 1`},
	}
	for _, d := range docs {
		doc := readDoc(t, d.file)
		t.Run(d.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					base := serve(t, doc, tt.cfg, upstream)
					resp, body := send(t, base, tt.req)
					if resp.StatusCode != tt.status {
						t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
					}
					if tt.code == "" {
						checkUpstream(t, tt.req, resp, body)
						return
					}
					if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("Content-Type %q, want application/problem+json", ct)
					}
					var p problemDoc
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatalf("problem document: %v: %s", err, body)
					}
					if p.Code != tt.code || p.Status != tt.status {
						t.Errorf("problem %d %q, want %d %q (detail %q)", p.Status, p.Code, tt.status, tt.code, p.Detail)
					}
					if tt.detail != "" && p.Detail != tt.detail {
						t.Errorf("detail\n got %q\nwant %q", p.Detail, tt.detail)
					}
					if resp.Header.Get("X-Upstream-Uri") != "" {
						t.Error("a rejected request reached the upstream")
					}
				})
			}
		})
	}
}

// checkUpstream asserts that the upstream got the request as sent: its path, and its whole
// body with a length that agrees.
func checkUpstream(t *testing.T, q req, resp *http.Response, body []byte) {
	t.Helper()
	if got := resp.Header.Get("X-Upstream-Uri"); got != q.path {
		t.Errorf("upstream saw %q, want %q", got, q.path)
	}
	if q.method == "HEAD" {
		return
	}
	if string(body) != q.body {
		t.Errorf("upstream received body %q, want %q", body, q.body)
	}
	if n := resp.Header.Get("X-Upstream-Body-Length"); n != strconv.Itoa(len(q.body)) {
		t.Errorf("upstream read %s bytes, want %d", n, len(q.body))
	}
	if cl := resp.Header.Get("X-Upstream-Content-Length"); cl != strconv.Itoa(len(q.body)) && cl != "-1" {
		t.Errorf("upstream's ContentLength %s, body %d bytes", cl, len(q.body))
	}
}

// TestLargeBodyStreams sends a body much larger than max_body in skip mode: the upstream
// must receive every byte, in order.
func TestLargeBodyStreams(t *testing.T) {
	base := serve(t, readDoc(t, docs[0].file), `{"max_body": 1024, "skip_large_bodies": true}`, upstream)
	big := `{"items":[` + strings.Repeat(`{"sku":"A-1","price":1},`, 20000) + `{"sku":"Z","price":2}]}`
	for _, chunked := range []bool{false, true} {
		resp, body := send(t, base, req{method: "POST", path: "/shop/orders", header: jsonCT, body: big, chunked: chunked})
		if resp.StatusCode != 200 || string(body) != big {
			t.Fatalf("chunked=%v: status %d, upstream got %d of %d bytes", chunked, resp.StatusCode, len(body), len(big))
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	base := serve(t, readDoc(t, docs[1].file), `{"response": "report"}`, upstream)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 10 {
				q := req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder}
				want := 200
				if (i+j)%2 == 1 {
					q, want = req{path: "/shop/orders?limit=" + strconv.Itoa(100+j), header: tenant}, 400
					if j == 0 {
						want = 200
					}
				}
				resp, body := send(t, base, q)
				if resp.StatusCode != want {
					t.Errorf("%s %s: status %d, want %d: %s", q.method, q.path, resp.StatusCode, want, body)
				}
			}
		})
	}
	wg.Wait()
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"no document", "", "openapi-validate needs the API's openapi document"},
		{"blank document", "  \n", "openapi-validate needs the API's openapi document"},
		{"swagger 2.0", `{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}`, "not supported"},
		{"not OpenAPI", `{"hello": "world"}`, "openapi document"},
		{"not YAML", "openapi: [3.0", "openapi document"},
		{"no paths", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}`, "defines no paths"},
		{"remote reference", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"$ref": "https://127.0.0.1:1/x.json#/a"}}}`, "openapi document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &policy.Env{API: shopAPI(tt.doc)}
			_, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), &Config{}, "openapi-validate")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("no API", func(t *testing.T) {
		_, err := New(&policy.Env{}, nil, &Config{}, "openapi-validate")
		if err == nil || err.Error() != "openapi-validate needs the API's openapi document" {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("through Build", func(t *testing.T) {
		env := &policy.Env{API: shopAPI("")}
		_, err := policytest.Build(t, policy.NewRegistry(Type), env, []gatehouse.PolicySpec{{Type: Type.Name}}, nil, upstream)
		if err == nil || !strings.Contains(err.Error(), "openapi-validate needs the API's openapi document") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  string
		want string // "" for valid
	}{
		{`{}`, ""},
		{`{"body": false, "query": false, "headers": false, "path": false, "response": "report", "max_body": 65536, "skip_large_bodies": true, "unknown_operation": "allow"}`, ""},
		{`{"response": "off", "unknown_operation": "reject"}`, ""},
		{`{"response": "enforce"}`, `response: must be "off" or "report"`},
		{`{"unknown_operation": "deny"}`, `unknown_operation: must be "reject" or "allow"`},
		{`{"max_body": -1}`, "max_body: must be between"},
		{`{"max_body": 1073741824}`, "max_body: must be between"},
		{`{"body": "yes"}`, "body: must be a boolean"},
		{`{"bodies": true}`, "unknown field"},
	}
	for _, tt := range tests {
		_, err := Type.Decode(json.RawMessage(tt.cfg))
		if tt.want == "" && err != nil {
			t.Errorf("%s: %v", tt.cfg, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.list = append(h.list, r.Clone())
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) take() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.list
	h.list = nil
	return l
}

func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// serveDirect builds the handler with New (to read its counter) and serves it as the
// gateway does, checking that c.W is restored when the policy returns.
func serveDirect(t *testing.T, env *policy.Env, cfg *Config, up http.Handler) (*Validator, string) {
	t.Helper()
	cfg2 := *cfg
	if err := cfg2.Validate(); err != nil {
		t.Fatal(err)
	}
	terminal := policy.HandlerFunc(func(c *policy.Context) error {
		up.ServeHTTP(c.W, c.R)
		return nil
	})
	h, err := New(env, terminal, &cfg2, "openapi-validate")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Acquire(w, r)
		c.API = env.API.Name
		if err := h.Serve(c); err != nil {
			policy.Render(c, err)
		}
		if c.W != w {
			t.Error("the policy did not restore c.W")
		}
		policy.Release(c)
	}))
	t.Cleanup(srv.Close)
	return h.(*Validator), srv.URL
}

func TestResponseReport(t *testing.T) {
	// answers is what the upstream sends per request path.
	answers := map[string]struct {
		status int
		ct     string
		body   string
	}{
		"/shop/orders/1": {200, "application/json", `{"id":1,"note":null}`},
		"/shop/orders/2": {200, "application/json", `{"id":"two"}`},
		"/shop/orders/3": {418, "text/plain", "teapot"},
		"/shop/orders/4": {404, "", ""},
		"/shop/orders/5": {200, "text/html", "<p>hi</p>"},
		"/shop/orders/6": {200, "application/json", `{"id":6,"items":[{"sku":"A","price":1},{"sku":"B"}]}`},
		"/shop/orders/7": {200, "application/json", `{"id":7,"note":"` + strings.Repeat("x", 200) + `"}`}, // over max_body: status only
		"/shop/orders/8": {500, "application/json", `{"error":"` + strings.Repeat("x", 200) + `"}`},
		"/shop/orders/9": {200, "application/json", "\x1f\x8b compressed"},
	}
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		if a.ct != "" {
			w.Header().Set("Content-Type", a.ct)
		}
		w.Header().Set("X-Upstream", "yes")
		if r.URL.Path == "/shop/orders/9" {
			w.Header().Set("Content-Encoding", "br")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	})
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			logs := &records{}
			env := &policy.Env{API: shopAPI(readDoc(t, d.file)), Logger: slog.New(logs)}
			v, base := serveDirect(t, env, &Config{Response: ResponseReport, MaxBody: 128}, up)
			tests := []struct {
				path     string
				location string // "" when the response matches
			}{
				{"/shop/orders/1", ""},
				{"/shop/orders/2", "response body /id: expected integer, got string"},
				{"/shop/orders/3", "response status: not in the document"},
				{"/shop/orders/4", ""},
				{"/shop/orders/5", "response content type: not in the document"},
				{"/shop/orders/6", `response body /items/1: missing required property "price"`},
				{"/shop/orders/7", ""},
				{"/shop/orders/8", "response status: not in the document"},
				{"/shop/orders/9", ""}, // compressed: status only
			}
			failures := int64(0)
			for _, tt := range tests {
				a := answers[tt.path]
				resp, body := send(t, base, req{path: tt.path})
				if resp.StatusCode != a.status || string(body) != a.body || resp.Header.Get("Content-Type") != a.ct || resp.Header.Get("X-Upstream") != "yes" {
					t.Errorf("%s: the response changed: %d %q %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				got := logs.take()
				if tt.location == "" {
					for _, r := range got {
						t.Errorf("%s: unexpected log %q %v", tt.path, r.Message, attrs(r))
					}
					continue
				}
				failures++
				if len(got) != 1 {
					t.Fatalf("%s: %d log records, want 1", tt.path, len(got))
				}
				r, at := got[0], attrs(got[0])
				if r.Level != slog.LevelWarn {
					t.Errorf("%s: level %v, want warn", tt.path, r.Level)
				}
				if at["api"] != "shop" || at["operation"] != "getOrder" || at["status"] != strconv.Itoa(a.status) {
					t.Errorf("%s: attributes %v", tt.path, at)
				}
				if at["location"] != tt.location {
					t.Errorf("%s: location %q, want %q", tt.path, at["location"], tt.location)
				}
				if n := v.ResponseFailures(); n != failures {
					t.Errorf("%s: ResponseFailures %d, want %d", tt.path, n, failures)
				}
			}
		})
	}
}

// TestResponseReportStreams checks that the wrapper keeps flushing working: the client
// reads the first event while the upstream waits, before the response ends.
func TestResponseReportStreams(t *testing.T) {
	release := make(chan struct{})
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the wrapped writer is not an http.Flusher")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":`)
		if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
			t.Errorf("a deadline through the wrapper (Unwrap): %v", err)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
		<-release
		_, _ = io.WriteString(w, `"late"}`)
	})
	logs := &records{}
	env := &policy.Env{API: shopAPI(readDoc(t, docs[0].file)), Logger: slog.New(logs)}
	v, base := serveDirect(t, env, &Config{Response: ResponseReport}, up)
	resp, err := http.Get(base + "/shop/orders/9")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len(`{"id":`))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if got := string(first) + string(rest); got != `{"id":"late"}` {
		t.Fatalf("body %q", got)
	}
	// The last chunk goes out after the handler returns, so the report is made by now.
	if n := v.ResponseFailures(); n != 1 {
		t.Errorf("ResponseFailures %d, want 1", n)
	}
	for _, r := range logs.take() {
		if at := attrs(r); at["location"] != "response body /id: expected integer, got string" {
			t.Errorf("location %q", at["location"])
		}
	}
}

// TestResponseOffDoesNotWrap checks that without report mode the upstream gets the
// server's own writer.
func TestResponseOffDoesNotWrap(t *testing.T) {
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, wrapped := w.(*recorder); wrapped {
			t.Error("the writer was wrapped with response off")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	base := serve(t, readDoc(t, docs[0].file), `{}`, up)
	if resp, _ := send(t, base, req{method: "DELETE", path: "/shop/orders/1"}); resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestDocs checks docs/policies/openapi-validate.md's configuration table against Config.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../../docs/policies/openapi-validate.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.HasPrefix(doc, "# openapi-validate\n") {
		t.Error("the page must start with # openapi-validate")
	}
	for _, h := range []string{"## Configuration", "## Behaviour", "## Example", "| Status | Code | When |"} {
		if !strings.Contains(doc, h) {
			t.Errorf("the page has no %q", h)
		}
	}
	_, rest, _ := strings.Cut(doc, "## Configuration")
	table, _, _ := strings.Cut(rest, "## Behaviour")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	var fields []string
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		name, _, _ := strings.Cut(ct.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	if !slices.Equal(documented, fields) {
		t.Errorf("documented fields %v, Config has %v", documented, fields)
	}
	_, example, _ := strings.Cut(doc, "## Example\n\n```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	var ex struct {
		Policies []struct {
			Type   string         `yaml:"type"`
			Config map[string]any `yaml:"config"`
		} `yaml:"policies"`
	}
	if err := yaml.Unmarshal([]byte(example), &ex); err != nil || len(ex.Policies) != 1 || ex.Policies[0].Type != Type.Name {
		t.Fatalf("the example is not one openapi-validate policy: %v %+v", err, ex)
	}
	raw, _ := json.Marshal(ex.Policies[0].Config)
	if _, err := Type.Decode(raw); err != nil {
		t.Errorf("the example's config: %v", err)
	}
	for _, code := range []string{"invalid_request", "unsupported_media_type", "too_large"} {
		if !strings.Contains(doc, "`"+code+"`") {
			t.Errorf("the page does not document %s", code)
		}
	}
}

func TestDescribeIsStable(t *testing.T) {
	// The body has failures in many array elements; the library collects them from
	// maps, so only a fixed choice makes the detail repeatable.
	base := serve(t, readDoc(t, docs[1].file), ``, upstream)
	body := `{"items":[{"sku":1,"price":"a"},{"sku":2,"price":"b"},{"sku":3},{"price":4}],"note":5}`
	var first string
	for i := range 20 {
		_, b := send(t, base, req{method: "POST", path: "/shop/orders", header: jsonCT, body: body})
		var p problemDoc
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = p.Detail
			if first != "body /items/0/price: expected number, got string" {
				t.Errorf("detail %q", first)
			}
		} else if p.Detail != first {
			t.Fatalf("detail changed: %q, then %q", first, p.Detail)
		}
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 400)
	c := clip(long)
	if len(c) > maxDetail || !strings.HasSuffix(c, "…") || !utf8.ValidString(c) {
		t.Errorf("clip: %d bytes, %q…", len(c), c[:10])
	}
	if clip("short") != "short" {
		t.Error("clip changed a short string")
	}
	var pe *policy.Error
	if !errors.As(error(policy.Reject("n", 400, "c", "d")), &pe) {
		t.Error("Reject is not a *policy.Error")
	}
}

// TestAPIBodyLimit: the gateway cuts a streamed body at the API's max_body_bytes; reading
// past it is the API's 413, not a bad request.
func TestAPIBodyLimit(t *testing.T) {
	h, err := policytest.Build(t, policy.NewRegistry(Type), &policy.Env{API: shopAPI(readDoc(t, docs[0].file))},
		[]gatehouse.PolicySpec{{Type: Type.Name}}, nil, upstream)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 32) // as the gateway does
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	resp, body := send(t, srv.URL, req{method: "POST", path: "/shop/orders", header: jsonCT, body: goodOrder, chunked: true})
	var p problemDoc
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 413 || p.Code != "too_large" || p.Detail != "the request body exceeds 32 bytes" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
