package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/realtime"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/hold"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsproxy"
	"github.com/google/go-cmp/cmp"
)

// oaDoc is the embedded document, parsed for the tests, with a tiny JSON Schema
// checker: $ref, allOf, type, enum, required, properties, additionalProperties: false
// and items. That is every keyword the document uses to constrain shape.
type oaDoc struct {
	root map[string]any
}

func loadDoc(t testing.TB) *oaDoc {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(openAPIDoc))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &oaDoc{root: root}
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// deref follows $ref (within the document) until it reaches a non-reference object.
func (d *oaDoc) deref(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	for v != nil {
		r, ok := v["$ref"].(string)
		if !ok {
			return v
		}
		cur := any(d.root)
		for _, seg := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			cur = obj(cur)[seg]
		}
		if cur == nil {
			t.Fatalf("openapi.json: dangling $ref %s", r)
		}
		v = obj(cur)
	}
	return v
}

// operation finds the documented operation for a request path (matching templates).
func (d *oaDoc) operation(method, path string) map[string]any {
	segs := strings.Split(path, "/")
	for tmpl, item := range obj(d.root["paths"]) {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		match := true
		for i := range ts {
			if !strings.HasPrefix(ts[i], "{") && ts[i] != segs[i] {
				match = false
				break
			}
		}
		if match {
			return obj(obj(item)[strings.ToLower(method)])
		}
	}
	return nil
}

// checkResponse reports every way an answer differs from its documented response.
func (d *oaDoc) checkResponse(t testing.TB, method, path string, r *resp) {
	t.Helper()
	for _, p := range d.responseProblems(t, method, path, r) {
		t.Errorf("%s %s: %s\n%s", method, path, p, r.body)
	}
}

// responseProblems validates an answer against its documented response, if the route is
// documented (unknown routes and methods are tested separately).
func (d *oaDoc) responseProblems(t testing.TB, method, path string, r *resp) []string {
	t.Helper()
	op := d.operation(method, path)
	if op == nil {
		return nil
	}
	responses := obj(op["responses"])
	spec := obj(responses[strconv.Itoa(r.status)])
	if spec == nil {
		spec = obj(responses["default"])
	}
	if spec == nil {
		return []string{fmt.Sprintf("status %d is not documented", r.status)}
	}
	spec = d.deref(t, spec)
	var out []string
	for name := range obj(spec["headers"]) {
		if (name == "ETag" || name == "Location") && r.header.Get(name) == "" {
			out = append(out, fmt.Sprintf("documented header %s missing from %d answer", name, r.status))
		}
	}
	content := obj(spec["content"])
	if content == nil {
		if len(r.body) > 0 {
			out = append(out, fmt.Sprintf("%d answer has a body but the document says none", r.status))
		}
		return out
	}
	ct := r.header.Get("Content-Type")
	media := obj(content[ct])
	mt, _, _ := mime.ParseMediaType(ct)
	if media == nil && mt != "" {
		// text/csv documents text/csv; charset=utf-8, and so on.
		media = obj(content[mt])
	}
	if media == nil {
		return append(out, fmt.Sprintf("%d answer has Content-Type %q, documented %v", r.status, ct, keys(content)))
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		// Text (CSV, Prometheus, Pushpin's messages, event streams): only the type is checked.
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return append(out, fmt.Sprintf("answer is not JSON: %v", err))
	}
	for _, p := range d.validate(t, "$", obj(media["schema"]), v) {
		out = append(out, fmt.Sprintf("%d answer does not fit the document: %s", r.status, p))
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validate returns every place v breaks schema.
func (d *oaDoc) validate(t testing.TB, at string, schema map[string]any, v any) []string {
	t.Helper()
	schema = d.deref(t, schema)
	var out []string
	all, _ := schema["allOf"].([]any)
	for _, sub := range all {
		out = append(out, d.validate(t, at, obj(sub), v)...)
	}
	if typ, ok := schema["type"]; ok {
		var types []string
		switch typ := typ.(type) {
		case string:
			types = []string{typ}
		case []any:
			for _, x := range typ {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(ty string) bool { return fitsType(ty, v) }) {
			return append(out, fmt.Sprintf("%s: %v is not of type %v", at, v, types))
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		out = append(out, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if m, ok := v.(map[string]any); ok {
		props := obj(schema["properties"])
		required, _ := schema["required"].([]any)
		for _, r := range required {
			if _, ok := m[r.(string)]; !ok {
				out = append(out, fmt.Sprintf("%s: required property %q missing", at, r))
			}
		}
		for k, pv := range m {
			ps, ok := props[k]
			if !ok {
				if schema["additionalProperties"] == false {
					out = append(out, fmt.Sprintf("%s: undocumented property %q", at, k))
				}
				continue
			}
			out = append(out, d.validate(t, at+"."+k, obj(ps), pv)...)
		}
	}
	if a, ok := v.([]any); ok && schema["items"] != nil {
		for i, e := range a {
			out = append(out, d.validate(t, fmt.Sprintf("%s[%d]", at, i), obj(schema["items"]), e)...)
		}
	}
	return out
}

func fitsType(ty string, v any) bool {
	switch ty {
	case "null":
		return v == nil
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

// TestOpenAPIRoutes keeps routes.go plus extraRoutes and the document's paths equal, both
// ways.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	s := newServer(Options{})
	var registered, documented []string
	public := map[string]bool{}
	for _, rt := range s.routes() {
		registered = append(registered, rt.method+" "+rt.path)
		public[rt.method+" "+rt.path] = rt.public
	}
	// The routes other packages mount through Options.Extra are documented too;
	// TestExtraRoutesServed checks that the server answers each of them.
	for _, rt := range extraRoutes {
		registered = append(registered, rt.method+" "+rt.path)
		public[rt.method+" "+rt.path] = rt.public
	}
	for path, item := range obj(d.root["paths"]) {
		for method, op := range obj(item) {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented = append(documented, key)
			// Security in the document must agree with the route's public flag.
			sec, hasSec := obj(op)["security"].([]any)
			docPublic := hasSec && len(sec) == 0
			if p, ok := public[key]; ok && p != docPublic {
				t.Errorf("%s: public = %v in routes.go but the document says %v", key, p, docPublic)
			}
		}
	}
	sort.Strings(registered)
	sort.Strings(documented)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("routes.go and extraRoutes (-) and openapi.json (+) differ:\n%s", diff)
	}
}

// schemaTypes maps every schema with properties to the Go type whose JSON it describes.
// A schema missing here, or a Go field missing from its schema, fails the test.
func schemaTypes() map[string]reflect.Type {
	return map[string]reflect.Type{
		"API":           reflect.TypeFor[gatehouse.API](),
		"Upstream":      reflect.TypeFor[gatehouse.Upstream](),
		"Realtime":      reflect.TypeFor[gatehouse.Realtime](),
		"Target":        reflect.TypeFor[gatehouse.Target](),
		"HealthCheck":   reflect.TypeFor[gatehouse.HealthCheck](),
		"GatewayStatus": reflect.TypeFor[gatehouse.GatewayStatus](),
		"APIStatus":     reflect.TypeFor[gatehouse.APIStatus](),
		"TargetStatus":  reflect.TypeFor[gatehouse.TargetStatus](),
		"PassiveCheck":  reflect.TypeFor[gatehouse.PassiveCheck](),
		"UpstreamTLS":   reflect.TypeFor[gatehouse.UpstreamTLS](),
		"Route":         reflect.TypeFor[gatehouse.Route](),
		"PolicySpec":    reflect.TypeFor[gatehouse.PolicySpec](),
		"Plan":          reflect.TypeFor[gatehouse.Plan](),
		"RateLimit":     reflect.TypeFor[gatehouse.RateLimit](),
		"Quota":         reflect.TypeFor[gatehouse.Quota](),
		"Developer":     reflect.TypeFor[gatehouse.Developer](),
		"App":           reflect.TypeFor[gatehouse.App](),
		"Key":           reflect.TypeFor[gatehouse.Key](),
		"KeyCreate":     reflect.TypeFor[keyCreate](),
		"KeyCreated":    reflect.TypeFor[keyCreated](),
		"Subscription":  reflect.TypeFor[gatehouse.Subscription](),
		"SubscriptionPatch": reflect.TypeFor[struct {
			Status gatehouse.SubscriptionStatus `json:"status"`
		}](),
		"AdminToken":        reflect.TypeFor[gatehouse.AdminToken](),
		"AdminTokenCreate":  reflect.TypeFor[tokenCreate](),
		"AdminTokenCreated": reflect.TypeFor[tokenCreated](),
		"AuditEntry":        reflect.TypeFor[gatehouse.AuditEntry](),
		"Status":            reflect.TypeFor[statusBody](),
		"Health":            reflect.TypeFor[healthBody](),
		"Problem":           reflect.TypeFor[problem.Document](),
		"FieldError":        reflect.TypeFor[gatehouse.FieldError](),
		"APIPage":           reflect.TypeFor[page](),
		"PlanPage":          reflect.TypeFor[page](),
		"DeveloperPage":     reflect.TypeFor[page](),
		"AppPage":           reflect.TypeFor[page](),
		"KeyPage":           reflect.TypeFor[page](),
		"SubscriptionPage":  reflect.TypeFor[page](),
		"AdminTokenPage":    reflect.TypeFor[page](),
		"AdminUser":         reflect.TypeFor[userView](),
		"AdminUserWrite":    reflect.TypeFor[userWrite](),
		"AdminUserPage":     reflect.TypeFor[page](),
		"ResetLink":         reflect.TypeFor[resetLink](),
		"AuditPage":         reflect.TypeFor[page](),

		// Routes mounted through Options.Extra (extraRoutes).
		"RealtimeStatus": reflect.TypeFor[realtime.Status](),
		"BrokerStats":    reflect.TypeFor[broker.Stats](),
		"FanoutStats":    reflect.TypeFor[fanout.Stats](),
		"HoldStats":      reflect.TypeFor[hold.Stats](),
		"WebSocketStats": reflect.TypeFor[wsproxy.Stats](),
		"RealtimeUsage":  reflect.TypeFor[meter.Usage](),
		"ChannelStat":    reflect.TypeFor[fanout.ChannelStat](),
		"ChannelList": reflect.TypeFor[struct {
			Items []fanout.ChannelStat `json:"items"`
		}](),
		"AnalyticsStats":       reflect.TypeFor[analytics.Stats](),
		"SeriesAnswer":         reflect.TypeFor[httpapi.SeriesAnswer](),
		"Series":               reflect.TypeFor[analytics.Series](),
		"SeriesPoint":          reflect.TypeFor[analytics.Point](),
		"TopAnswer":            reflect.TypeFor[httpapi.TopAnswer](),
		"TopEntry":             reflect.TypeFor[analytics.TopEntry](),
		"TotalsAnswer":         reflect.TypeFor[httpapi.TotalsAnswer](),
		"AnalyticsRequestPage": reflect.TypeFor[httpapi.RequestPage](),
		"AnalyticsRequest":     reflect.TypeFor[httpapi.RequestItem](),
		"QuotaAnswer":          reflect.TypeFor[httpapi.QuotaAnswer](),
		"QuotaUsage":           reflect.TypeFor[quota.Usage](),
		"LiveEvent":            reflect.TypeFor[httpapi.LiveEvent](),
		"LiveAPIEvent":         reflect.TypeFor[httpapi.LiveAPIEvent](),
		"LiveCounts":           reflect.TypeFor[analytics.LiveCounts](),
		"Notable":              reflect.TypeFor[analytics.Notable](),
		"AlertRule":            reflect.TypeFor[alerts.Rule](),
		"Webhook":              reflect.TypeFor[alerts.Webhook](),
		"AlertEvent":           reflect.TypeFor[alerts.Event](),
		"WebhookDelivery":      reflect.TypeFor[alerts.Delivery](),
		// The alerts API answers lists as its items[T]: items, and next when paged.
		"AlertRuleList": reflect.TypeFor[struct {
			Items []*alerts.Rule `json:"items"`
		}](),
		"WebhookList": reflect.TypeFor[struct {
			Items []*alerts.Webhook `json:"items"`
		}](),
		"FiringAlertList": reflect.TypeFor[struct {
			Items []alerts.Event `json:"items"`
		}](),
		"AlertEventPage": reflect.TypeFor[struct {
			Items []*alerts.Event `json:"items"`
			Next  string          `json:"next,omitempty"`
		}](),
		"WebhookDeliveryPage": reflect.TypeFor[struct {
			Items []*alerts.Delivery `json:"items"`
			Next  string             `json:"next,omitempty"`
		}](),
	}
}

// TestOpenAPISchemas checks that each schema documents exactly the JSON fields of its Go
// type (embedded gatehouse.Meta included), and that required properties exist.
func TestOpenAPISchemas(t *testing.T) {
	d := loadDoc(t)
	types := schemaTypes()
	for name, sv := range obj(obj(d.root["components"])["schemas"]) {
		s := obj(sv)
		props := obj(s["properties"])
		required := s["required"]
		if props == nil {
			// A wrapper (StoredAPI: allOf API plus required) or a free-form object.
			if _, ok := types[name]; ok {
				t.Errorf("schema %s has no properties but maps to a Go type", name)
			}
			all, _ := s["allOf"].([]any)
			if len(all) == 0 {
				continue
			}
			base := d.deref(t, obj(all[0]))
			req, _ := required.([]any)
			for _, r := range req {
				if _, ok := obj(base["properties"])[r.(string)]; !ok {
					t.Errorf("schema %s requires %q, which its base does not define", name, r)
				}
			}
			continue
		}
		typ, ok := types[name]
		if !ok {
			t.Errorf("schema %s has properties but no Go type in schemaTypes", name)
			continue
		}
		var want []string
		for k := range jsonFields(typ) {
			want = append(want, k)
		}
		sort.Strings(want)
		got := keys(props)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("schema %s: JSON fields of %s (-) and documented properties (+) differ:\n%s", name, typ, diff)
		}
		if required != nil {
			for _, r := range required.([]any) {
				if _, ok := props[r.(string)]; !ok {
					t.Errorf("schema %s requires undefined property %q", name, r)
				}
			}
		}
		for p, ps := range props {
			if obj(ps)["$ref"] == nil && obj(ps)["description"] == nil && name != "APIPage" && !strings.HasSuffix(name, "Page") {
				t.Errorf("schema %s property %s has no description", name, p)
			}
		}
	}
	for name := range types {
		if obj(obj(obj(d.root["components"])["schemas"])[name]) == nil {
			t.Errorf("schemaTypes names %s, which the document lacks", name)
		}
	}
}

// TestOpenAPIRefs resolves every $ref in the document.
func TestOpenAPIRefs(t *testing.T) {
	d := loadDoc(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				d.deref(t, v)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(d.root)
}

// TestOpenAPIServed checks the document is served without a token, as JSON.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.want(e.do(req{method: "GET", path: "/v1/openapi.json", noAuth: true}), http.StatusOK)
	if r.json(t)["openapi"] != "3.1.0" {
		t.Errorf("served document is not OpenAPI 3.1: %.200s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// TestValidatorCatchesDrift makes sure the response checker is not vacuous.
func TestValidatorCatchesDrift(t *testing.T) {
	d := loadDoc(t)
	schema := map[string]any{"$ref": "#/components/schemas/StoredAPI"}
	bad := map[string]any{"name": "x", "surprise": true, "state": "nope"}
	got := d.validate(t, "$", schema, bad)
	for _, want := range []string{`undocumented property "surprise"`, `required property "revision" missing`, `is not one of`} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("validator missed %q; got %v", want, got)
		}
	}
}

// TestResponseCheckCatchesDrift makes sure every answer the tests see is really checked.
func TestResponseCheckCatchesDrift(t *testing.T) {
	d := loadDoc(t)
	h := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		method, path string
		r            *resp
		want         string
	}{
		{"GET", "/v1/apis/x", &resp{status: 200, header: h, body: []byte(`{"name":"x"}`)}, `required property "state" missing`},
		{"GET", "/v1/apis/x", &resp{status: 200, header: http.Header{}, body: []byte(`{}`)}, "Content-Type"},
		{"GET", "/v1/apps/a/keys", &resp{status: 200, header: h, body: []byte(`{"items":[{"id":"k","app":"a","prefix":"p","created_at":"2030-01-01T00:00:00Z","key":"secret"}]}`)}, `undocumented property "key"`},
		{"POST", "/v1/apis", &resp{status: 201, header: h, body: []byte(`{}`)}, "header Location missing"},
		{"DELETE", "/v1/apis/x", &resp{status: 204, header: h, body: []byte(`{}`)}, "has a body"},
	}
	for _, c := range cases {
		got := d.responseProblems(t, c.method, c.path, c.r)
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s %s: want a problem containing %q, got %v", c.method, c.path, c.want, got)
		}
	}
}
