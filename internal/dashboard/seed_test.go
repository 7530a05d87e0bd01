package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// demo is what seedDemo made, for tests to visit.
type demo struct {
	apis, plans, devs, apps, subs []string
	rule, webhook                 string
}

// seedDemo fills the store with a little of everything, as a real installation has:
// APIs in every state (one with routes and policies), plans of both approval modes,
// developers of every status, apps with keys and subscriptions, a reset request, alert
// rules and webhooks with history, and an hour of analytics.
func seedDemo(e *env) demo {
	e.t.Helper()
	ctx := ctxSystem
	var d demo
	must := func(err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
	}
	sunset := time.Now().Add(90 * 24 * time.Hour)
	apis := []*gatehouse.API{
		{Name: "payments", Version: "2.1", State: gatehouse.StatePublished, Path: "/payments", Description: "Charge cards, refund and list payouts.",
			Hosts: []string{"api.example.com"}, Policies: []gatehouse.PolicySpec{{Type: "key-auth"}, {Type: "rate-limit", Config: json.RawMessage(`{"limit":100,"window":"1s"}`)}},
			Routes: []gatehouse.Route{{Name: "list", Methods: []string{"GET"}, Path: "/payments"}, {Name: "charge", Methods: []string{"POST"}, Path: "/payments/{id}/charge"}}},
		{Name: "weather-forecasts", Version: "1", State: gatehouse.StatePublished, Path: "/weather/v1", Description: "Hourly and daily forecasts for any place on Earth, by coordinates or city name."},
		{Name: "legacy-orders", Version: "0.9", State: gatehouse.StateDeprecated, Path: "/orders/v0", Sunset: &sunset},
		{Name: "inventory", State: gatehouse.StateDraft, Path: "/inventory", OpenAPI: `{"openapi":"3.1.0","info":{"title":"Inventory","version":"1"},"paths":{}}`},
		{Name: "old-search", State: gatehouse.StateRetired, Path: "/search"},
	}
	for _, a := range apis {
		if len(a.Upstream.Targets) == 0 {
			a.Upstream = gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "https://" + a.Name + ".internal:8443"}}}
		}
		_, err := e.st.CreateAPI(ctx, a)
		must(err)
		d.apis = append(d.apis, a.Name)
	}
	for _, p := range []*gatehouse.Plan{
		{Name: "free", Description: "For trying things out.", APIs: []string{"weather-forecasts"}, Approval: gatehouse.ApprovalAuto,
			RateLimit: &gatehouse.RateLimit{Limit: 10, Window: gatehouse.Duration(time.Second)}},
		{Name: "gold", Description: "Production traffic, reviewed by us.", APIs: []string{"payments", "weather-forecasts"}, Approval: gatehouse.ApprovalManual,
			Quota: &gatehouse.Quota{Limit: 1_000_000, Period: gatehouse.PeriodMonth}},
	} {
		_, err := e.st.CreatePlan(ctx, p)
		must(err)
		d.plans = append(d.plans, p.Name)
	}
	for i, st := range []string{gatehouse.DeveloperActive, gatehouse.DeveloperActive, gatehouse.DeveloperPending, gatehouse.DeveloperPending, gatehouse.DeveloperBlocked} {
		email := fmt.Sprintf("dev%d@example.com", i+1)
		_, err := e.st.CreateDeveloper(ctx, &gatehouse.Developer{Email: email, Name: []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Mallory"}[i], Status: st})
		must(err)
		d.devs = append(d.devs, email)
	}
	for i, name := range []string{"checkout-web", "checkout-ios", "weather-widget"} {
		_, err := e.st.CreateApp(ctx, &gatehouse.App{Name: name, Developer: d.devs[i%2], Description: "The " + name + " client."})
		must(err)
		d.apps = append(d.apps, name)
		for k := range 2 {
			_, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
			key, err := e.st.CreateKey(ctx, &gatehouse.Key{App: name, Name: fmt.Sprintf("key-%d", k+1), Prefix: prefix, Hash: hash})
			must(err)
			if k == 1 && i == 0 {
				_, err = e.st.RevokeKey(ctx, key.ID)
				must(err)
			}
		}
	}
	for _, s := range []struct{ app, plan string }{{"checkout-web", "gold"}, {"checkout-ios", "gold"}, {"weather-widget", "free"}} {
		sub, err := e.st.CreateSubscription(ctx, &gatehouse.Subscription{App: s.app, Plan: s.plan})
		must(err)
		d.subs = append(d.subs, sub.ID)
	}
	now := time.Now().UTC()
	must(e.st.CreateSession(context.Background(), sessionOf("reset_request", d.devs[1], now)))

	hook, err := e.st.CreateWebhook(context.Background(), &alerts.Webhook{ID: "pager", Name: "On-call pager", URL: "https://hooks.example.com/gatehouse",
		Secret: "0123456789abcdef0123", Enabled: true, Events: []alerts.State{}, CreatedAt: now, UpdatedAt: now})
	must(err)
	d.webhook = hook.ID
	rule := &alerts.Rule{ID: "payments-errors", Name: "Payments error rate", Kind: alerts.KindErrorRate, API: "payments", Threshold: 0.05,
		Severity: alerts.SeverityCritical, Enabled: true, Webhooks: []string{"pager"}, CreatedAt: now, UpdatedAt: now}
	rule.Normalize()
	_, err = e.st.CreateAlertRule(context.Background(), rule)
	must(err)
	d.rule = rule.ID
	fired := &alerts.Event{ID: "ev1", Rule: rule.ID, RuleName: rule.Name, Kind: rule.Kind, Severity: rule.Severity, Subject: "payments", API: "payments",
		State: alerts.StateFiring, Value: 0.12, Threshold: 0.05, StartedAt: now.Add(-10 * time.Minute), At: now.Add(-9 * time.Minute),
		Message: "error rate of payments is 12% (threshold 5%)"}
	must(e.st.AppendAlertEvent(context.Background(), fired))
	must(e.st.AppendDelivery(context.Background(), &alerts.Delivery{ID: "dlv1", Attempt: 1, Webhook: "pager", Event: "ev1", EventType: "firing",
		URL: hook.URL, At: now.Add(-9 * time.Minute), StatusCode: 200, DurationMS: 42, Success: true}))

	// An hour of traffic: two APIs, three apps, some errors.
	var rows []analytics.Rollup
	start := now.Truncate(time.Minute).Add(-60 * time.Minute)
	for m := range 60 {
		for i, api := range []string{"payments", "weather-forecasts"} {
			for j, app := range d.apps {
				n := int64(20 + (m*7+i*13+j*5)%40)
				rows = append(rows, analytics.Rollup{Start: start.Add(time.Duration(m) * time.Minute), Res: analytics.Minute, Node: "n1",
					Dims:  analytics.Dims{API: api, App: app, StatusClass: 2},
					Count: n, LatencySum: time.Duration(n) * 35 * time.Millisecond})
				if (m+j)%9 == 0 {
					rows = append(rows, analytics.Rollup{Start: start.Add(time.Duration(m) * time.Minute), Res: analytics.Minute, Node: "n1",
						Dims: analytics.Dims{API: api, App: app, StatusClass: 5}, Count: 3, Errors: 3})
				}
			}
		}
	}
	must(e.st.WriteRollups(context.Background(), rows))
	return d
}

// gatewayStatus is a data plane serving the published APIs, one target down.
func gatewayStatus() *gatehouse.GatewayStatus {
	return &gatehouse.GatewayStatus{Revision: 42, LoadedAt: time.Now(), APIs: []gatehouse.APIStatus{
		{Name: "payments", State: gatehouse.StatePublished, Targets: []gatehouse.TargetStatus{
			{URL: "https://payments.internal:8443", Weight: 100, Healthy: true, Breaker: "closed", Available: true, InFlight: 3},
			{URL: "https://payments-b.internal:8443", Weight: 100, Healthy: false, Breaker: "open", ConsecutiveFailures: 7},
		}},
		{Name: "weather-forecasts", State: gatehouse.StatePublished, Targets: []gatehouse.TargetStatus{
			{URL: "https://weather-forecasts.internal:8443", Weight: 100, Healthy: true, Breaker: "closed", Available: true}}},
	}}
}

// fakeLive streams one "second" event every 200 ms until the client leaves.
func fakeLive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		fmt.Fprintf(w, "event: second\ndata: {\"node\":\"n1\",\"time\":%q,\"count\":%d,\"errors\":%d,\"p50_ms\":12.5,\"p99_ms\":%d}\n\n",
			time.Now().UTC().Format(time.RFC3339), 100+i%17*3, i%4, 80+i%11*5)
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

// sessionOf is a session row of kind for subject, such as a reset request.
func sessionOf(kind, subject string, now time.Time) *session.Session {
	return &session.Session{ID: gatehouse.NewID("rr"), Kind: kind, Subject: subject, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}
