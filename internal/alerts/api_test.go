package alerts_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// apiClient talks to a mounted engine through a real listener.
type apiClient struct {
	t    *testing.T
	base string
}

func newAPI(t *testing.T, h *harness) *apiClient {
	mux := http.NewServeMux()
	h.e.Mount(mux, func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			return nil
		case "Bearer viewer":
			return gatehouse.Errorf(gatehouse.EForbidden, "this token may not manage alerts")
		}
		return gatehouse.Errorf(gatehouse.EUnauthorized, "missing or invalid admin token")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &apiClient{t: t, base: srv.URL}
}

type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// problem decodes a problem document and returns its code and error fields.
func (r apiResp) problem(t *testing.T) (string, []string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, body %s", ct, r.body)
	}
	var doc struct {
		Code   string                 `json:"code"`
		Status int                    `json:"status"`
		Errors []gatehouse.FieldError `json:"errors"`
	}
	r.decode(t, &doc)
	if doc.Status != r.status {
		t.Errorf("problem status %d, response %d", doc.Status, r.status)
	}
	var fields []string
	for _, f := range doc.Errors {
		fields = append(fields, f.Field)
	}
	return doc.Code, fields
}

func (c *apiClient) do(method, path, token, body string) apiResp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *apiClient) call(method, path, body string, want int) apiResp {
	c.t.Helper()
	r := c.do(method, path, "admin", body)
	if r.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	c := newAPI(t, newHarness(t, nil))
	for _, path := range []string{"/v1/alerts", "/v1/alerts/rules", "/v1/webhooks", "/v1/alerts/firing"} {
		r := c.do("GET", path, "", "")
		if code, _ := r.problem(t); r.status != 401 || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a token: %d %s", path, r.status, r.body)
		}
		r = c.do("GET", path, "viewer", "")
		if code, _ := r.problem(t); r.status != 403 || code != "forbidden" {
			t.Errorf("GET %s forbidden: %d %s", path, r.status, r.body)
		}
	}
	r := c.do("POST", "/v1/alerts/rules", "", `{"kind":"latency","threshold":1}`)
	if r.status != 401 {
		t.Errorf("POST without a token: %d", r.status)
	}
}

func TestAPIWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := newAPI(t, h)
	rc := newReceiver(t, 0)

	// Without a secret, one is generated and returned this once.
	r := c.call("POST", "/v1/webhooks", `{"name":"ops","url":"`+rc.srv.URL+`"}`, 201)
	var created alerts.Webhook
	r.decode(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled || created.ID == "" ||
		r.header.Get("Location") != "/v1/webhooks/"+created.ID {
		t.Fatalf("created %s (Location %q)", r.body, r.header.Get("Location"))
	}
	stored, _ := h.store.Webhook(t.Context(), created.ID)
	if stored.Secret != created.Secret {
		t.Fatal("the returned secret is not the stored one")
	}
	// Never again.
	for _, path := range []string{"/v1/webhooks/" + created.ID, "/v1/webhooks"} {
		if r := c.call("GET", path, "", 200); strings.Contains(string(r.body), "secret") {
			t.Errorf("GET %s shows the secret: %s", path, r.body)
		}
	}
	// A given secret is not echoed.
	r = c.call("POST", "/v1/webhooks", `{"id":"mine","url":"`+rc.srv.URL+`","secret":"`+hookSecret+`","events":["resolved"]}`, 201)
	if strings.Contains(string(r.body), "secret") {
		t.Errorf("create echoes the secret: %s", r.body)
	}
	// PUT without a secret keeps it; the body may carry what GET returned.
	got := c.call("GET", "/v1/webhooks/mine", "", 200)
	var hook map[string]any
	got.decode(t, &hook)
	hook["name"], hook["enabled"] = "Mine", false
	b, _ := json.Marshal(hook)
	r = c.call("PUT", "/v1/webhooks/mine", string(b), 200)
	if strings.Contains(string(r.body), "secret") || !strings.Contains(string(r.body), `"name":"Mine"`) {
		t.Errorf("PUT answered %s", r.body)
	}
	if w, _ := h.store.Webhook(t.Context(), "mine"); w.Secret != hookSecret || w.Enabled || w.Name != "Mine" {
		t.Errorf("after PUT: %+v", w)
	}

	var list struct{ Items []alerts.Webhook }
	c.call("GET", "/v1/webhooks", "", 200).decode(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("listed %+v", list.Items)
	}

	// Errors.
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
		fields             []string
	}{
		{"POST", "/v1/webhooks", `{"url":"ftp://x","secret":"short","events":["sometimes"]}`, 400, "invalid", []string{"url", "secret", "events[0]"}},
		{"POST", "/v1/webhooks", `{"url":"https://example.com","colour":"red","enabled":"yes"}`, 400, "invalid", []string{"colour", "enabled"}},
		{"POST", "/v1/webhooks", `[1]`, 400, "invalid", nil},
		{"POST", "/v1/webhooks", `{"id":"mine","url":"https://example.com"}`, 409, "conflict", nil},
		{"PUT", "/v1/webhooks/mine", `{"id":"other","url":"https://example.com"}`, 400, "invalid", []string{"id"}},
		{"PUT", "/v1/webhooks/nope", `{"url":"https://example.com"}`, 404, "not_found", nil},
		{"GET", "/v1/webhooks/nope", "", 404, "not_found", nil},
		{"DELETE", "/v1/webhooks/nope", "", 404, "not_found", nil},
		{"GET", "/v1/webhooks/nope/deliveries", "", 404, "not_found", nil},
		{"POST", "/v1/webhooks/nope/test", "", 404, "not_found", nil},
		{"GET", "/v1/webhooks?x=1", "", 400, "invalid", []string{"x"}},
	} {
		r := c.do(tc.method, tc.path, "admin", tc.body)
		code, fields := r.problem(t)
		if r.status != tc.status || code != tc.code || (tc.fields != nil && !slices.Equal(fields, tc.fields)) {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, r.status, r.body)
		}
	}

	// A test delivery: sent now, signed with the generated secret, logged.
	rc.mu.Lock()
	rc.secret = created.Secret
	rc.mu.Unlock()
	var d alerts.Delivery
	c.call("POST", "/v1/webhooks/"+created.ID+"/test", "", 200).decode(t, &d)
	if !d.Success || d.StatusCode != 204 || d.EventType != "test" || d.Attempt != 1 {
		t.Fatalf("test delivery %+v", d)
	}
	if got := rc.received(); len(got) != 1 || got[0].typ != "test" || got[0].delivery != d.ID {
		t.Fatalf("receiver got %+v", got)
	}
	var dl struct {
		Items []alerts.Delivery
		Next  string
	}
	c.call("GET", "/v1/webhooks/"+created.ID+"/deliveries", "", 200).decode(t, &dl)
	if len(dl.Items) != 1 || dl.Items[0].ID != d.ID {
		t.Errorf("delivery log %+v", dl)
	}

	c.call("DELETE", "/v1/webhooks/mine", "", 204)
	c.call("GET", "/v1/webhooks/mine", "", 404)
}

func TestAPIRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := newAPI(t, h)
	c.call("POST", "/v1/webhooks", `{"id":"ops","url":"https://example.com/hook"}`, 201)

	body := `{"id":"orders-errors","name":"Orders errors","kind":"error_rate","api":"orders","window":"1m",
		"threshold":0.1,"resolve_threshold":0.05,"for":"30s","min_requests":20,"severity":"critical","webhooks":["ops"]}`
	r := c.call("POST", "/v1/alerts/rules", body, 201)
	var rule alerts.Rule
	r.decode(t, &rule)
	if !rule.Enabled || rule.ResolveFor == nil || rule.ResolveFor.D() != 30*time.Second || rule.CreatedAt.IsZero() ||
		r.header.Get("Location") != "/v1/alerts/rules/orders-errors" {
		t.Fatalf("created %s", r.body)
	}
	c.call("POST", "/v1/alerts/rules", body, 409)

	// A generated id; defaults filled.
	r = c.call("POST", "/v1/alerts/rules", `{"kind":"upstream_health","enabled":false}`, 201)
	var up alerts.Rule
	r.decode(t, &up)
	if !strings.HasPrefix(up.ID, "rule_") || up.Enabled || up.Measure != "any" || up.Threshold != 1 || up.Severity != "warning" {
		t.Errorf("created %s", r.body)
	}

	// PUT replaces (the body of a GET is accepted back).
	got := c.call("GET", "/v1/alerts/rules/orders-errors", "", 200)
	var doc map[string]any
	got.decode(t, &doc)
	doc["threshold"] = 0.2
	b, _ := json.Marshal(doc)
	r = c.call("PUT", "/v1/alerts/rules/orders-errors", string(b), 200)
	var put alerts.Rule
	r.decode(t, &put)
	if put.Threshold != 0.2 || !put.CreatedAt.Equal(rule.CreatedAt) {
		t.Errorf("PUT answered %s", r.body)
	}

	var list struct{ Items []alerts.Rule }
	c.call("GET", "/v1/alerts/rules", "", 200).decode(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("listed %d rules", len(list.Items))
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		fields                   []string
	}{
		{"bad values", "POST", "/v1/alerts/rules", `{"kind":"error_rate","threshold":5,"window":"500ms","severity":"dire"}`, 400,
			[]string{"window", "threshold", "severity"}},
		{"bad types", "POST", "/v1/alerts/rules", `{"kind":"latency","threshold":"high","window":"a minute","webhooks":[1]}`, 400,
			[]string{"threshold", "webhooks", "window"}},
		{"unknown field", "POST", "/v1/alerts/rules", `{"kind":"latency","threshold":100,"treshold":1}`, 400, []string{"treshold"}},
		{"unknown kind", "POST", "/v1/alerts/rules", `{"kind":"vibes","threshold":1}`, 400, []string{"kind"}},
		{"missing webhook", "POST", "/v1/alerts/rules", `{"kind":"latency","threshold":100,"webhooks":["ops","nope"]}`, 400, []string{"webhooks[1]"}},
		{"hysteresis backwards", "POST", "/v1/alerts/rules", `{"kind":"error_rate","threshold":0.1,"resolve_threshold":0.2}`, 400, []string{"resolve_threshold"}},
		{"id mismatch", "PUT", "/v1/alerts/rules/orders-errors", `{"id":"x","kind":"latency","threshold":100}`, 400, []string{"id"}},
		{"put missing", "PUT", "/v1/alerts/rules/nope", `{"kind":"latency","threshold":100}`, 404, nil},
		{"not json", "POST", "/v1/alerts/rules", `{"kind":`, 400, nil},
	} {
		r := c.do(tc.method, tc.path, "admin", tc.body)
		code, fields := r.problem(t)
		want := "invalid"
		if tc.status == 404 {
			want = "not_found"
		}
		if r.status != tc.status || code != want || (tc.fields != nil && !slices.Equal(fields, tc.fields)) {
			t.Errorf("%s: %d %s; want %d %v", tc.name, r.status, r.body, tc.status, tc.fields)
		}
	}
	req, _ := http.NewRequest("POST", c.base+"/v1/alerts/rules", strings.NewReader(`kind=latency`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer admin")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 415 {
		t.Errorf("a form body: %v %v", resp.StatusCode, err)
	}

	c.call("DELETE", "/v1/alerts/rules/orders-errors", "", 204)
	c.call("GET", "/v1/alerts/rules/orders-errors", "", 404)
	c.call("DELETE", "/v1/alerts/rules/orders-errors", "", 404)
}

// TestAPIAlertLog: the log through the API, its filters and pages; the firing alerts.
func TestAPIAlertLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := newAPI(t, h)
	c.call("POST", "/v1/alerts/rules", `{"id":"errors","kind":"error_rate","api":"orders","threshold":0.1}`, 201)
	c.call("POST", "/v1/alerts/rules", `{"id":"slow","kind":"latency","api":"users","threshold":100}`, 201)

	// Five transitions: errors fires, resolves, fires; slow fires, resolves.
	bad := alerts.Window{Requests: 100, Errors: 50, P95: time.Second}
	good := alerts.Window{Requests: 100, P95: time.Millisecond}
	for _, step := range []struct{ orders, users alerts.Window }{
		{bad, good}, {good, good}, {bad, bad}, {bad, good},
	} {
		h.src.SetWindow("orders", time.Minute, step.orders)
		h.src.SetWindow("users", time.Minute, step.users)
		h.eval(time.Minute)
	}
	var firing struct{ Items []alerts.Event }
	c.call("GET", "/v1/alerts/firing", "", 200).decode(t, &firing)
	if len(firing.Items) != 1 || firing.Items[0].Rule != "errors" || firing.Items[0].State != alerts.StateFiring {
		t.Fatalf("firing %+v", firing.Items)
	}

	type page struct {
		Items []alerts.Event
		Next  string
	}
	var all []alerts.Event
	next := ""
	for i := 0; ; i++ {
		path := "/v1/alerts?limit=2"
		if next != "" {
			path += "&after=" + next
		}
		var p page
		c.call("GET", path, "", 200).decode(t, &p)
		if len(p.Items) > 2 || i > 5 {
			t.Fatalf("page %d: %+v", i, p)
		}
		all = append(all, p.Items...)
		if next = p.Next; next == "" {
			break
		}
	}
	if len(all) != 5 || all[0].Rule != "slow" || all[0].State != alerts.StateResolved || all[4].Rule != "errors" {
		t.Fatalf("paged log %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.After(all[i-1].At) {
			t.Errorf("log not newest first at %d", i)
		}
	}

	count := func(query string) int {
		var p page
		c.call("GET", "/v1/alerts?"+query, "", 200).decode(t, &p)
		return len(p.Items)
	}
	since := t0.Add(2 * time.Minute).Format(time.RFC3339)
	for q, want := range map[string]int{
		"rule=errors": 3, "state=resolved": 2, "api=users": 2, "rule=errors&state=firing": 2,
		"since=" + since: 4, "until=" + since: 1, "rule=nope": 0,
	} {
		if got := count(q); got != want {
			t.Errorf("GET /v1/alerts?%s: %d items, want %d", q, got, want)
		}
	}
	for q, field := range map[string]string{
		"state=bad": "state", "since=yesterday": "since", "limit=0": "limit", "after=garbage": "after", "colour=red": "colour",
	} {
		r := c.do("GET", "/v1/alerts?"+q, "admin", "")
		code, fields := r.problem(t)
		if r.status != 400 || code != "invalid" || !slices.Equal(fields, []string{field}) {
			t.Errorf("GET /v1/alerts?%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rule   alerts.Rule
		fields []string
	}{
		{alerts.Rule{ID: "ok", Kind: alerts.KindErrorRate, Threshold: 0.05}, nil},
		{alerts.Rule{ID: "", Kind: alerts.KindErrorRate, Threshold: 0.05}, []string{"id"}},
		{alerts.Rule{ID: "bad id!", Kind: "nope", Threshold: 1}, []string{"id", "kind"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0}, []string{"threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 1.5}, []string{"threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, Window: dur(time.Millisecond)}, []string{"window"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, Window: dur(48 * time.Hour)}, []string{"window"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, ResolveThreshold: ptr(0.2)}, []string{"resolve_threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, For: dur(-time.Second)}, []string{"for", "resolve_for"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, MinRequests: -1}, []string{"min_requests"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindErrorRate, Threshold: 0.1, App: "shop", Percentile: "p95", Measure: "count"},
			[]string{"app", "percentile", "measure"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindLatency, Threshold: 100, Percentile: "p90"}, []string{"percentile"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindRateLimited, Measure: "count", Threshold: 0.5}, []string{"threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindRateLimited, Measure: "count", Threshold: 5, MinRequests: 10}, []string{"min_requests"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindTrafficSpike, Threshold: 0.5}, []string{"threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindTrafficSpike, Threshold: 3, Window: dur(time.Hour)}, []string{"baseline"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindTrafficDrop, Threshold: 0}, nil},
		{alerts.Rule{ID: "r", Kind: alerts.KindTrafficDrop, Threshold: 0.5, ResolveThreshold: ptr(0.4)}, []string{"resolve_threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindUpstreamHealth, Measure: "most"}, []string{"measure", "threshold"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindUpstreamHealth, Window: dur(time.Minute)}, []string{"window"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindQuota, Threshold: 0.9, Baseline: dur(time.Hour)}, []string{"baseline"}},
		{alerts.Rule{ID: "r", Kind: alerts.KindQuota, Threshold: 0.9, Severity: "dire", Webhooks: []string{"a", "a", ""}},
			[]string{"severity", "webhooks[1]", "webhooks[2]"}},
	} {
		r := c.rule
		r.Normalize()
		err := r.Validate()
		var fields []string
		if err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
				t.Errorf("%+v: %v is not EInvalid", c.rule, err)
			}
			var ge *gatehouse.Error
			if e, ok := err.(*gatehouse.Error); ok {
				ge = e
			}
			for _, f := range ge.Fields {
				fields = append(fields, f.Field)
			}
		}
		if !slices.Equal(fields, c.fields) {
			t.Errorf("%+v: fields %v, want %v (%v)", c.rule, fields, c.fields, err)
		}
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"alert_1"}`)
	sig := alerts.Sign("secret", "1700000000", body)
	// The documented construction, spelled out.
	if want := "sha256=" + hmacHex("secret", "1700000000."+string(body)); sig != want {
		t.Fatalf("Sign = %s, want %s", sig, want)
	}
	if err := alerts.VerifySignature("secret", "1700000000", body, sig); err != nil {
		t.Error(err)
	}
	for i, c := range []struct{ secret, ts, body, sig string }{
		{"other", "1700000000", string(body), sig},
		{"secret", "1700000001", string(body), sig},
		{"secret", "1700000000", `{"id":"alert_2"}`, sig},
		{"secret", "1700000000", string(body), strings.TrimPrefix(sig, "sha256=")},
		{"secret", "", string(body), sig},
		{"secret", "soon", string(body), sig},
		{"", "1700000000", string(body), sig},
	} {
		if err := alerts.VerifySignature(c.secret, c.ts, []byte(c.body), c.sig); err == nil {
			t.Errorf("case %d verified", i)
		}
	}
}

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}
