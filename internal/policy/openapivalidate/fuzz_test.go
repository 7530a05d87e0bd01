package openapivalidate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// FuzzNew builds the policy from arbitrary documents: it must return an error or a
// working handler, never panic.
func FuzzNew(f *testing.F) {
	for _, d := range docs {
		b, err := os.ReadFile(d.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{
		``,
		`{}`,
		`openapi: 3.0.0`,
		`{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": {"200": {"description": "ok"}}}}}}`,
		`{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}, "responses": {"default": {"description": "x"}}}}}, "components": {"schemas": {"A": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}}}}`,
		"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    $ref: '#/paths/~1y'\n  /y:\n    get: {responses: {'200': {description: ok}}}\n",
		"openapi: 3.0.0\npaths:\n  /a: &a\n    get: *a\n",
		`{"swagger": "2.0", "paths": {}}`,
		`{"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "pattern": "(["}}]}}}}}`,
	} {
		f.Add(s)
	}
	next := policy.HandlerFunc(func(*policy.Context) error { return nil })
	f.Fuzz(func(t *testing.T, doc string) {
		if len(doc) > 64<<10 {
			return
		}
		env := &policy.Env{API: &gatehouse.API{Name: "fuzz", Path: "/api", OpenAPI: doc}}
		h, err := New(env, next, &Config{Response: ResponseReport}, "openapi-validate")
		if err != nil {
			return
		}
		for _, target := range []string{"/api/", "/api/a/1?q=x", "/api/x"} {
			for _, method := range []string{"GET", "POST"} {
				r := httptest.NewRequest(method, target, strings.NewReader(`{"a":1}`))
				r.Header.Set("Content-Type", "application/json")
				c := policy.Acquire(httptest.NewRecorder(), r)
				_ = h.Serve(c)
				policy.Release(c)
			}
		}
	})
}

// FuzzRequest sends arbitrary requests through the policy built from the 3.1 document:
// every answer is a pass or one of the documented rejections.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/shop/orders/42", "", "", "")
	f.Add("GET", "/shop/orders", "limit=10", "", "")
	f.Add("GET", "/shop/orders", "limit=1e3&limit=2", "", "")
	f.Add("POST", "/shop/orders", "", "application/json", goodOrder)
	f.Add("POST", "/shop/orders", "", "application/json; charset=utf-8", `{"items":[{"sku":1}]}`)
	f.Add("POST", "/shop/orders", "", "application/vnd.api+json", `[`)
	f.Add("POST", "/shop/orders", "", "text/plain", `x`)
	f.Add("DELETE", "/shop/orders/%2F", "", "", "")
	f.Add("HEAD", "/shop//orders/1", "", "", "")
	h, err := policytest.Build(f, policy.NewRegistry(Type), &policy.Env{API: shopAPI(readDoc(f, docs[1].file))},
		[]gatehouse.PolicySpec{{Type: Type.Name, Config: []byte(`{"max_body": 4096, "response": "report"}`)}}, nil, upstream)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, ct, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			return
		}
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest(method, "http://gw.example/", strings.NewReader(body))
		r.URL, r.RequestURI = u, u.RequestURI()
		r.Header.Set("X-Tenant", "acme")
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case 200, 400, 413, 415:
		default:
			t.Fatalf("%s %s?%s: status %d: %s", method, path, query, rec.Code, rec.Body)
		}
		if rec.Code == 200 && method != "HEAD" {
			if got, _ := io.ReadAll(rec.Body); string(got) != body {
				t.Fatalf("the upstream received %q, want %q", got, body)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return m != http.MethodConnect
}
