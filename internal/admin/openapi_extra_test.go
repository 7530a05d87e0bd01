package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/realtime"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// extraRoute is a route another package mounts on the admin mux through Options.Extra.
type extraRoute struct {
	method, path string
	public       bool // needs no admin token
}

// extraRoutes are the routes internal/app mounts through Options.Extra: the realtime node
// (realtime.Node.Mount), /metrics (telemetry), the analytics API (httpapi.API.Mount) and
// alerting (alerts.Engine.Mount). openapi.json documents them with the admin's own routes
// (TestOpenAPIRoutes), and TestExtraRoutesServed checks that those Mount functions serve
// every one. A route added to one of them belongs here and in the document.
var extraRoutes = []extraRoute{
	{"POST", "/publish", false},
	{"POST", "/publish/", false},
	{"POST", "/recover", false},
	{"GET", "/v1/realtime", false},
	{"GET", "/v1/realtime/channels", false},

	{"GET", "/metrics", true},

	{"GET", "/v1/analytics/series", false},
	{"GET", "/v1/analytics/top", false},
	{"GET", "/v1/analytics/totals", false},
	{"GET", "/v1/analytics/requests", false},
	{"GET", "/v1/analytics/quota", false},
	{"GET", "/v1/analytics/live", false},

	{"GET", "/v1/alerts/rules", false},
	{"POST", "/v1/alerts/rules", false},
	{"GET", "/v1/alerts/rules/{id}", false},
	{"PUT", "/v1/alerts/rules/{id}", false},
	{"DELETE", "/v1/alerts/rules/{id}", false},
	{"GET", "/v1/webhooks", false},
	{"POST", "/v1/webhooks", false},
	{"GET", "/v1/webhooks/{id}", false},
	{"PUT", "/v1/webhooks/{id}", false},
	{"DELETE", "/v1/webhooks/{id}", false},
	{"GET", "/v1/webhooks/{id}/deliveries", false},
	{"POST", "/v1/webhooks/{id}/test", false},
	{"GET", "/v1/alerts", false},
	{"GET", "/v1/alerts/firing", false},
}

// extras is what internal/app mounts through Options.Extra, built from the same packages
// over in-memory stores.
type extras struct {
	node      *realtime.Node
	reg       *telemetry.Registry
	analytics *httpapi.API
	astore    *analytics.MemoryStore
	agg       *analytics.Aggregator
	alerts    *alerts.Engine
	astStore  *alerts.MemoryStore
	source    *fakeSource
}

// fakeSource is the alert engine's view of traffic: every window has the same numbers.
type fakeSource struct{ w alerts.Window }

func (s *fakeSource) Window(string, time.Duration) alerts.Window { return s.w }
func (s *fakeSource) Targets() []alerts.TargetHealth             { return nil }
func (s *fakeSource) Quotas() []alerts.QuotaUse                  { return nil }

func newExtras(t *testing.T) *extras {
	t.Helper()
	node, err := realtime.New(realtime.Options{Broker: broker.NewHub(broker.HubOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	x := &extras{node: node, reg: telemetry.NewRegistry(), astore: analytics.NewMemoryStore(),
		astStore: alerts.NewMemoryStore(), source: &fakeSource{}}
	x.agg = analytics.NewAggregator(analytics.AggregatorOptions{Store: x.astore, Node: "n1"})
	live := analytics.NewLive(analytics.LiveOptions{})
	x.analytics = httpapi.New(httpapi.Options{
		Query: analytics.NewQuery(analytics.QueryOptions{Store: x.astore, Aggregator: x.agg}),
		Store: x.astore, Live: live, Fanout: node.Fanout(), Node: "n1",
		Quotas: func(app string) []quota.Usage {
			return []quota.Usage{{Scope: "plan:gold", API: "orders", App: "shop", Plan: "gold", Period: "day",
				Used: 9120, Limit: 10000, Reset: time.Now().Add(time.Hour).UTC()}}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	x.analytics.Start(ctx)
	x.alerts, err = alerts.New(alerts.Options{Store: x.astStore, Source: x.source})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// mount is Options.Extra as internal/app sets it (app.go and observe.go).
func (x *extras) mount(mux *http.ServeMux, auth func(*http.Request) error) {
	x.node.Mount(mux, auth)
	mux.Handle("GET /metrics", x.reg.Handler())
	x.analytics.Mount(mux, auth)
	x.alerts.Mount(mux, auth)
}

// TestExtraRoutesServed checks that every documented Extra route is one the server
// answers: the real Mount functions register a handler for its method and path.
func TestExtraRoutesServed(t *testing.T) {
	x := newExtras(t)
	s := newServer(Options{Extra: x.mount})
	bare := newServer(Options{})
	for _, rt := range extraRoutes {
		path := strings.ReplaceAll(rt.path, "{id}", "some-id")
		r := httptest.NewRequest(rt.method, path, nil)
		if _, pattern := s.mux.Handler(r); pattern == "" {
			t.Errorf("%s %s is documented as an Extra route, but the mounted packages do not serve it", rt.method, rt.path)
		}
		if _, pattern := bare.mux.Handler(r); pattern != "" {
			t.Errorf("%s %s is an admin route (pattern %q), not an Extra one", rt.method, rt.path, pattern)
		}
		if op := loadDoc(t).operation(rt.method, path); op == nil {
			t.Errorf("%s %s is not documented", rt.method, rt.path)
		}
	}
}

// newExtraEnv is an admin API with the Extra routes mounted.
func newExtraEnv(t *testing.T) (*env, *extras) {
	t.Helper()
	x := newExtras(t)
	e := newEnv(t, func(o *Options) { o.Extra = x.mount })
	return e, x
}

// TestExtraAnswersFitDocument drives every Extra route through the admin server; env.do
// checks each answer against the document (status, Content-Type, JSON schema).
func TestExtraAnswersFitDocument(t *testing.T) {
	e, x := newExtraEnv(t)
	ctx := t.Context()

	t.Run("realtime", func(t *testing.T) {
		e.want(e.get("/v1/realtime"), http.StatusOK)
		e.want(e.get("/v1/realtime/channels?limit=5"), http.StatusOK)
		e.want(e.get("/v1/realtime/channels?limit=0"), http.StatusBadRequest)
		e.want(e.do(req{method: "GET", path: "/v1/realtime", noAuth: true}), http.StatusUnauthorized)

		body := `{"items":[{"channel":"news","formats":{"http-stream":{"content":"hi\n"}}}]}`
		if r := e.want(e.post("/publish/", body), http.StatusOK); string(r.body) != "Published\n" {
			t.Errorf("publish answered %q", r.body)
		}
		e.want(e.do(req{method: "POST", path: "/publish", body: body, header: map[string]string{"Accept": "application/json"}}), http.StatusOK)
		e.want(e.post("/publish/", `{"nope":1}`), http.StatusBadRequest)
		e.want(e.post("/publish/", `not json`), http.StatusBadRequest)
		e.want(e.do(req{method: "POST", path: "/publish/", body: body, header: map[string]string{"Accept": "image/png"}}), http.StatusNotAcceptable)
		e.want(e.post("/publish/", `{"items":[],"pad":"`+strings.Repeat("x", realtime.MaxPublishBody)+`"}`), http.StatusRequestEntityTooLarge)
		e.want(e.do(req{method: "POST", path: "/publish/", body: body, noAuth: true}), http.StatusUnauthorized)
		e.want(e.do(req{method: "POST", path: "/publish/", body: body, as: e.viewer}), http.StatusForbidden)
		e.want(e.do(req{method: "POST", path: "/recover"}), http.StatusOK)
	})

	t.Run("metrics", func(t *testing.T) {
		r := e.want(e.do(req{method: "GET", path: "/metrics", noAuth: true}), http.StatusOK)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q", ct)
		}
	})

	t.Run("analytics", func(t *testing.T) {
		now := time.Now().UTC()
		evs := []analytics.Event{
			{Kind: analytics.KindRequest, Time: now.Add(-3 * time.Minute), API: "orders", Route: "GET /orders", Method: "GET", Status: 200, App: "shop", Latency: 10 * time.Millisecond},
			{Kind: analytics.KindRequest, Time: now.Add(-2 * time.Minute), API: "orders", Route: "GET /orders", Method: "GET", Status: 503, App: "shop", Latency: 20 * time.Millisecond},
		}
		x.agg.Consume(evs)
		recs := []analytics.RequestRecord{{Event: evs[0], Node: "n1"}, {Event: evs[1], Node: "n1"}}
		if err := x.astore.WriteRequests(ctx, recs); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{
			"/v1/analytics/series", "/v1/analytics/series?group_by=app&measures=count,error_rate&interval=5m",
			"/v1/analytics/top?by=route", "/v1/analytics/totals?app=shop",
			"/v1/analytics/requests?limit=1", "/v1/analytics/quota", "/v1/analytics/quota?app=shop",
		} {
			e.want(e.get(path), http.StatusOK)
		}
		for _, path := range []string{"/v1/analytics/series", "/v1/analytics/top?by=app", "/v1/analytics/totals", "/v1/analytics/requests"} {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			r := e.want(e.get(path+sep+"format=csv"), http.StatusOK)
			if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
				t.Errorf("%s: Content-Type = %q", path, r.header.Get("Content-Type"))
			}
		}
		for _, path := range []string{"/v1/analytics/series?colour=red", "/v1/analytics/top", "/v1/analytics/totals?from=yesterday",
			"/v1/analytics/requests?limit=0", "/v1/analytics/quota?x=1", "/v1/analytics/live?x=1"} {
			e.want(e.get(path), http.StatusBadRequest)
		}
		e.want(e.do(req{method: "GET", path: "/v1/analytics/totals", noAuth: true}), http.StatusUnauthorized)

		// The live stream never ends by itself: read its head, then hang up.
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		hr, _ := http.NewRequestWithContext(lctx, "GET", e.srv.URL+"/v1/analytics/live", nil)
		hr.Header.Set("Authorization", "Bearer "+e.root)
		res, err := e.srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		e.doc.checkResponse(t, "GET", "/v1/analytics/live", &resp{status: res.StatusCode, header: res.Header})
	})

	t.Run("analytics not enabled", func(t *testing.T) {
		e2 := newEnv(t, func(o *Options) {
			o.Extra = func(mux *http.ServeMux, auth func(*http.Request) error) {
				httpapi.New(httpapi.Options{}).Mount(mux, auth)
			}
		})
		for _, path := range []string{"/v1/analytics/series", "/v1/analytics/top?by=app", "/v1/analytics/totals",
			"/v1/analytics/requests", "/v1/analytics/quota", "/v1/analytics/live"} {
			e2.want(e2.get(path), http.StatusNotFound)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer hook.Close()

		r := e.want(e.post("/v1/webhooks", `{"id":"ops","url":"`+hook.URL+`"}`), http.StatusCreated)
		if r.json(t)["secret"] == nil {
			t.Errorf("a generated secret is shown once: %s", r.body)
		}
		r = e.want(e.post("/v1/webhooks", `{"id":"ops2","url":"`+hook.URL+`","secret":"0123456789abcdef"}`), http.StatusCreated)
		if r.json(t)["secret"] != nil {
			t.Errorf("a given secret is never shown: %s", r.body)
		}
		e.want(e.post("/v1/webhooks", `{"id":"ops","url":"`+hook.URL+`"}`), http.StatusConflict)
		e.want(e.post("/v1/webhooks", `{"url":"ftp://x"}`), http.StatusBadRequest)
		e.want(e.do(req{method: "POST", path: "/v1/webhooks", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
		e.want(e.post("/v1/webhooks", `{"name":"`+strings.Repeat("x", 2<<20)+`"}`), http.StatusRequestEntityTooLarge)
		e.want(e.get("/v1/webhooks"), http.StatusOK)
		e.want(e.get("/v1/webhooks?x=1"), http.StatusBadRequest)
		e.want(e.get("/v1/webhooks/ops"), http.StatusOK)
		e.want(e.get("/v1/webhooks/nope"), http.StatusNotFound)
		e.want(e.put("/v1/webhooks/ops", `{"url":"`+hook.URL+`","events":["firing"]}`), http.StatusOK)
		e.want(e.post("/v1/webhooks/ops/test", ""), http.StatusOK)
		e.want(e.get("/v1/webhooks/ops/deliveries?limit=1"), http.StatusOK)
		e.want(e.get("/v1/webhooks/nope/deliveries"), http.StatusNotFound)

		rule := `{"id":"orders-errors","kind":"error_rate","api":"orders","threshold":0.1,"resolve_threshold":0.05,"webhooks":["ops"]}`
		e.want(e.post("/v1/alerts/rules", rule), http.StatusCreated)
		e.want(e.post("/v1/alerts/rules", `{"kind":"latency","threshold":250,"for":"30s","severity":"critical"}`), http.StatusCreated)
		e.want(e.post("/v1/alerts/rules", `{"kind":"nope","webhooks":["missing"]}`), http.StatusBadRequest)
		e.want(e.do(req{method: "POST", path: "/v1/alerts/rules", body: rule, as: e.viewer}), http.StatusForbidden)
		e.want(e.do(req{method: "GET", path: "/v1/alerts/rules", noAuth: true}), http.StatusUnauthorized)
		e.want(e.get("/v1/alerts/rules"), http.StatusOK)
		e.want(e.get("/v1/alerts/rules/orders-errors"), http.StatusOK)
		e.want(e.put("/v1/alerts/rules/orders-errors", `{"kind":"error_rate","api":"orders","threshold":0.2}`), http.StatusOK)
		e.want(e.put("/v1/alerts/rules/nope", `{"kind":"error_rate","threshold":0.2}`), http.StatusNotFound)

		// Make the rule fire, so that the log and the firing list are not empty.
		x.source.w = alerts.Window{Requests: 100, Errors: 50}
		if err := x.alerts.Evaluate(ctx); err != nil {
			t.Fatal(err)
		}
		if r := e.want(e.get("/v1/alerts/firing"), http.StatusOK); !strings.Contains(string(r.body), "orders-errors") {
			t.Errorf("nothing fired: %s", r.body)
		}
		e.want(e.get("/v1/alerts?limit=1&state=firing&since=2000-01-01T00:00:00Z"), http.StatusOK)
		e.want(e.get("/v1/alerts?state=burning"), http.StatusBadRequest)
		e.want(e.get("/v1/alerts/firing?x=1"), http.StatusBadRequest)

		e.want(e.del("/v1/alerts/rules/orders-errors"), http.StatusNoContent)
		e.want(e.del("/v1/alerts/rules/orders-errors"), http.StatusNotFound)
		e.want(e.del("/v1/webhooks/ops"), http.StatusNoContent)
	})
}
