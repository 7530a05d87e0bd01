package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// TestBadRequests sends every class of bad input and checks the problem document and that
// nothing was written: no revision bump, no audit entry.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 4 << 10 })
	e.want(e.post("/v1/apis", apiBody), http.StatusCreated)
	etag := e.want(e.get("/v1/apis/orders"), http.StatusOK).header.Get("ETag")
	json := map[string]string{"Content-Type": "application/json"}
	big := `{"name":"big","description":"` + strings.Repeat("x", 5<<10) + `"}`

	cases := []struct {
		name   string
		r      req
		status int
		code   string
		field  string // a field the problem must name
		detail string // a substring of the detail
	}{
		{"oversized body", req{method: "POST", path: "/v1/apis", body: big}, 413, "too_large", "", "exceeds 4096 bytes"},
		{"oversized patch", req{method: "PATCH", path: "/v1/apis/orders", body: big}, 413, "too_large", "", ""},
		{"oversized chunked", req{method: "POST", path: "/v1/apis", body: big, header: map[string]string{"Transfer-Encoding": "chunked"}}, 413, "too_large", "", ""},
		{"unknown field", req{method: "POST", path: "/v1/apis", body: `{"name":"a","colour":"red"}`}, 400, "invalid", "colour", ""},
		{"unknown nested field", req{method: "POST", path: "/v1/apis", body: `{"name":"a","upstream":{"targets":[{"url":"http://x","wieght":1}]}}`}, 400, "invalid", "upstream.targets[0].wieght", ""},
		{"field in wrong case", req{method: "POST", path: "/v1/apis", body: `{"Name":"a"}`}, 400, "invalid", "Name", ""},
		{"wrong type", req{method: "POST", path: "/v1/apis", body: `{"name":"a","upstream":{"targets":[{"url":"http://x","weight":"heavy"}]}}`}, 400, "invalid", "upstream.targets[0].weight", ""},
		{"wrong type top", req{method: "POST", path: "/v1/apis", body: `{"name":7}`}, 400, "invalid", "name", ""},
		{"bad duration", req{method: "POST", path: "/v1/apis", body: `{"name":"a","upstream":{"connect_timeout":"soon"}}`}, 400, "invalid", "upstream.connect_timeout", ""},
		{"bad time", req{method: "POST", path: "/v1/apis", body: `{"name":"a","sunset":"tomorrow"}`}, 400, "invalid", "sunset", ""},
		{"int overflow", req{method: "POST", path: "/v1/plans", body: `{"name":"p","rate_limit":{"limit":99999999999999999999,"window":"1s"}}`}, 400, "invalid", "rate_limit.limit", ""},
		{"malformed JSON", req{method: "POST", path: "/v1/apis", body: "{\n  \"name\": \"a\",\n  oops\n}"}, 400, "invalid", "", "line 3, column 3"},
		{"truncated JSON", req{method: "POST", path: "/v1/apis", body: `{"name":"a"`}, 400, "invalid", "", "unexpected end"},
		{"two values", req{method: "POST", path: "/v1/apis", body: `{"name":"a"} {"name":"b"}`}, 400, "invalid", "", "exactly one"},
		{"not an object", req{method: "POST", path: "/v1/apis", body: `["a"]`}, 400, "invalid", "", "JSON object"},
		{"empty body", req{method: "POST", path: "/v1/apis", header: json}, 400, "invalid", "", "empty"},
		{"invalid UTF-8", req{method: "POST", path: "/v1/apis", body: "{\"name\":\"\xff\"}"}, 400, "invalid", "", "UTF-8"},
		{"no content type", req{method: "POST", path: "/v1/apis", body: apiBody, header: map[string]string{"Content-Type": ""}}, 415, "unsupported_media_type", "", ""},
		{"form content type", req{method: "POST", path: "/v1/apis", body: apiBody, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type", "", ""},
		{"merge patch on POST", req{method: "POST", path: "/v1/apis", body: apiBody, header: map[string]string{"Content-Type": "application/merge-patch+json"}}, 415, "unsupported_media_type", "", ""},
		{"json patch", req{method: "PATCH", path: "/v1/apis/orders", body: `[{"op":"remove","path":"/x"}]`, header: map[string]string{"Content-Type": "application/json-patch+json"}}, 415, "unsupported_media_type", "", ""},
		{"latin-1", req{method: "POST", path: "/v1/apis", body: apiBody, header: map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}}, 415, "unsupported_media_type", "", ""},
		{"validation", req{method: "POST", path: "/v1/apis", body: `{"name":"-bad","path":"no-slash","state":"live"}`}, 400, "invalid", "path", ""},
		{"validation of patch", req{method: "PATCH", path: "/v1/apis/orders", body: `{"upstream":{"targets":[]}}`}, 400, "invalid", "upstream.targets", ""},
		{"patch with unknown field", req{method: "PATCH", path: "/v1/apis/orders", body: `{"upstream":{"retry":1}}`}, 400, "invalid", "upstream.retry", ""},
		{"patch with wrong type", req{method: "PATCH", path: "/v1/apis/orders", body: `{"hosts":"a.example.com"}`}, 400, "invalid", "hosts", ""},
		{"openapi not JSON", req{method: "POST", path: "/v1/apis", body: `{"name":"a","openapi":"{not json"}`}, 400, "invalid", "openapi", ""},
		{"openapi without version", req{method: "POST", path: "/v1/apis", body: `{"name":"a","openapi":"{\"info\":{}}"}`}, 400, "invalid", "openapi", ""},
		{"stale If-Match", req{method: "PUT", path: "/v1/apis/orders", body: apiBody, header: map[string]string{"If-Match": `"1"`}}, 412, "precondition_failed", "", ""},
		{"weak If-Match", req{method: "DELETE", path: "/v1/apis/orders", header: map[string]string{"If-Match": "W/" + etag}}, 412, "precondition_failed", "", ""},
		{"foreign If-Match", req{method: "PATCH", path: "/v1/apis/orders", body: `{}`, header: map[string]string{"If-Match": `"abc"`}}, 412, "precondition_failed", "", ""},
		{"malformed If-Match", req{method: "DELETE", path: "/v1/apis/orders", header: map[string]string{"If-Match": "5"}}, 400, "invalid", "If-Match", ""},
		{"If-Match list", req{method: "DELETE", path: "/v1/apis/orders", header: map[string]string{"If-Match": `"5", "6"`}}, 400, "invalid", "If-Match", ""},
		{"duplicate", req{method: "POST", path: "/v1/apis", body: apiBody}, 409, "conflict", "", ""},
		{"rename by PUT", req{method: "PUT", path: "/v1/apis/orders", body: `{"name":"other"}`}, 400, "invalid", "name", ""},
		{"PUT missing", req{method: "PUT", path: "/v1/apis/nope", body: `{}`}, 404, "not_found", "", ""},
		{"PATCH missing", req{method: "PATCH", path: "/v1/apis/nope", body: `{}`}, 404, "not_found", "", ""},
		{"DELETE missing", req{method: "DELETE", path: "/v1/apis/nope"}, 404, "not_found", "", ""},
		{"plan of missing API", req{method: "POST", path: "/v1/plans", body: `{"name":"p","apis":["nope"]}`}, 400, "invalid", "", ""},
		{"app of missing developer", req{method: "POST", path: "/v1/apps", body: `{"name":"a","developer":"nobody@example.com"}`}, 400, "invalid", "", ""},
		{"limit zero", req{method: "GET", path: "/v1/apis?limit=0"}, 400, "invalid", "limit", ""},
		{"limit text", req{method: "GET", path: "/v1/apis?limit=ten"}, 400, "invalid", "limit", ""},
		{"limit too big", req{method: "GET", path: "/v1/apis?limit=501"}, 400, "invalid", "limit", ""},
		{"bad cursor", req{method: "GET", path: "/v1/apis?after=garbage!"}, 400, "invalid", "after", ""},
		{"unknown parameter", req{method: "GET", path: "/v1/apis?stat=draft"}, 400, "invalid", "stat", ""},
		{"repeated parameter", req{method: "GET", path: "/v1/apis?state=draft&state=published"}, 400, "invalid", "state", ""},
		{"bad state filter", req{method: "GET", path: "/v1/apis?state=live"}, 400, "invalid", "state", ""},
		{"bad status filter", req{method: "GET", path: "/v1/subscriptions?status=ok"}, 400, "invalid", "status", ""},
		{"bad audit time", req{method: "GET", path: "/v1/audit?since=yesterday"}, 400, "invalid", "since", ""},
		{"bad audit resource", req{method: "GET", path: "/v1/audit?resource=apis"}, 400, "invalid", "resource", ""},
		{"unknown route", req{method: "GET", path: "/v1/widgets"}, 404, "not_found", "", ""},
		{"unknown root", req{method: "GET", path: "/nothing", noAuth: true}, 404, "not_found", "", ""},
		{"wrong method", req{method: "POST", path: "/v1/apis/orders", body: apiBody}, 405, "method_not_allowed", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(c.r)
			if r.status != c.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, c.status, r.body)
			}
			p := r.problem(t)
			if p.Code != c.code {
				t.Errorf("code = %q, want %q", p.Code, c.code)
			}
			if c.field != "" && p.field(c.field) == "" {
				t.Errorf("problem does not name field %q: %+v", c.field, p)
			}
			if c.detail != "" && !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q does not contain %q", p.Detail, c.detail)
			}
			e.unchanged(before)
		})
	}
}

func TestWrongTypeNamesExpectedType(t *testing.T) {
	e := newEnv(t)
	p := e.want(e.post("/v1/apis", `{"name":"a","strip_path":"yes","upstream":{"targets":[{"url":"http://x","weight":"heavy"}]}}`), 400).problem(t)
	if got := p.field("upstream.targets[0].weight"); got != "must be an integer, not a string" {
		t.Errorf("weight: %q", got)
	}
	if got := p.field("strip_path"); got != "must be a boolean, not a string" {
		t.Errorf("strip_path: %q", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	r := e.want(e.do(req{method: "PUT", path: "/v1/apis"}), http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
	r = e.want(e.do(req{method: "POST", path: "/v1/subscriptions/x"}), http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "PATCH") || strings.Contains(allow, "PUT") {
		t.Errorf("Allow = %q", allow)
	}
}

// TestOpenAPIFieldYAML checks that a non-JSON OpenAPI document is accepted unread (YAML
// validation comes later) and a JSON one with a version is accepted.
func TestOpenAPIField(t *testing.T) {
	e := newEnv(t)
	e.want(e.post("/v1/apis", `{"name":"y","openapi":"openapi: 3.1.0\ninfo: {title: t}\n"}`), http.StatusCreated)
	e.want(e.post("/v1/apis", `{"name":"j","openapi":" {\"openapi\":\"3.0.3\",\"paths\":{}}"}`), http.StatusCreated)
	e.want(e.post("/v1/apis", `{"name":"s","openapi":"{\"swagger\":\"2.0\"}"}`), http.StatusCreated)
	p := e.want(e.post("/v1/apis", `{"name":"n","openapi":"{\"openapi\":3}"}`), http.StatusBadRequest).problem(t)
	if p.field("openapi") == "" {
		t.Errorf("numeric openapi version accepted: %+v", p)
	}
}

// TestInternalErrorsDoNotLeak checks that a store failure is a bare 500 for the caller and
// a logged cause for the operator, and that a panic is the same.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e, hs := newHookedEnv(t)
	hs.set(func(h *hooks) { h.revisionErr = errSecretCause{} })
	p := e.want(e.get("/v1/status"), http.StatusInternalServerError).problem(t)
	if p.Code != "internal" || p.Detail != "internal error" || strings.Contains(p.Detail, "disk") {
		t.Errorf("internal problem: %+v", p)
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Errorf("cause not logged:\n%s", e.logs.String())
	}

	hs.set(func(h *hooks) { h.revisionErr = gatehouse.Errorf(gatehouse.EUnavailable, "store unavailable") })
	p = e.want(e.get("/v1/status"), http.StatusServiceUnavailable).problem(t)
	if p.Code != "unavailable" {
		t.Errorf("unavailable problem: %+v", p)
	}

	hs.set(func(h *hooks) { h.panicOnPlans = true })
	p = e.want(e.get("/v1/plans"), http.StatusInternalServerError).problem(t)
	if p.Detail != "internal error" || !strings.Contains(e.logs.String(), "plans exploded") {
		t.Errorf("panic: %+v; logs:\n%s", p, e.logs.String())
	}
}

type errSecretCause struct{}

func (errSecretCause) Error() string { return "disk on fire at /var/secret" }
