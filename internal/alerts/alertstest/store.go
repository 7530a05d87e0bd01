package alertstest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// RunStore is the conformance suite of alerts.Store. open returns an empty store, closed
// by the test's cleanup.
func RunStore(t *testing.T, open func(t *testing.T) alerts.Store) {
	t.Run("Rules", func(t *testing.T) { t.Parallel(); testRules(t, open(t)) })
	t.Run("Webhooks", func(t *testing.T) { t.Parallel(); testWebhooks(t, open(t)) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, open(t)) })
	t.Run("Firing", func(t *testing.T) { t.Parallel(); testFiring(t, open(t)) })
	t.Run("Deliveries", func(t *testing.T) { t.Parallel(); testDeliveries(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { t.Parallel(); testPrune(t, open(t)) })
}

// base is a fixed time with microseconds, which every store keeps exactly.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if gatehouse.ErrorCode(err) != code {
		t.Errorf("%s: err = %v, want code %s", what, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testRules(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	rules, err := s.AlertRules(ctx)
	if err != nil || len(rules) != 0 {
		t.Fatalf("empty store lists %v, %v", rules, err)
	}
	rt := 0.02
	b := &alerts.Rule{ID: "b", Name: "Errors", Kind: alerts.KindErrorRate, API: "orders", Window: gatehouse.Duration(time.Minute),
		Threshold: 0.05, ResolveThreshold: &rt, For: gatehouse.Duration(30 * time.Second), MinRequests: 20,
		Severity: alerts.SeverityCritical, Enabled: true, Webhooks: []string{"w1", "w2"}, CreatedAt: base, UpdatedAt: base}
	a := &alerts.Rule{ID: "a", Kind: alerts.KindQuota, App: "shop", Threshold: 0.9, Severity: alerts.SeverityInfo,
		CreatedAt: base, UpdatedAt: base}
	for _, r := range []*alerts.Rule{b, a} {
		got, err := s.CreateAlertRule(ctx, r)
		must(t, err)
		same(t, "created rule", got, r)
	}
	_, err = s.CreateAlertRule(ctx, &alerts.Rule{ID: "a", Kind: alerts.KindLatency})
	wantCode(t, "creating a taken id", err, gatehouse.EConflict)

	got, err := s.AlertRule(ctx, "b")
	must(t, err)
	same(t, "read rule", got, b)
	_, err = s.AlertRule(ctx, "zz")
	wantCode(t, "reading a missing rule", err, gatehouse.ENotFound)

	rules, err = s.AlertRules(ctx)
	must(t, err)
	same(t, "listed rules", rules, []*alerts.Rule{a, b})

	upd := *b
	upd.Threshold, upd.Webhooks = 0.1, nil
	upd.CreatedAt, upd.UpdatedAt = base.Add(time.Hour), base.Add(time.Hour) // CreatedAt is kept
	got, err = s.UpdateAlertRule(ctx, &upd)
	must(t, err)
	want := upd
	want.CreatedAt = base
	same(t, "updated rule", got, &want)
	got, err = s.AlertRule(ctx, "b")
	must(t, err)
	same(t, "reread updated rule", got, &want)
	_, err = s.UpdateAlertRule(ctx, &alerts.Rule{ID: "zz"})
	wantCode(t, "updating a missing rule", err, gatehouse.ENotFound)

	must(t, s.DeleteAlertRule(ctx, "a"))
	wantCode(t, "deleting it again", s.DeleteAlertRule(ctx, "a"), gatehouse.ENotFound)
	rules, err = s.AlertRules(ctx)
	must(t, err)
	same(t, "rules after delete", rules, []*alerts.Rule{&want})

	// Zero times become now.
	before := time.Now().Add(-time.Second)
	got, err = s.CreateAlertRule(ctx, &alerts.Rule{ID: "c", Kind: alerts.KindLatency})
	must(t, err)
	if got.CreatedAt.Before(before) || got.UpdatedAt.Before(before) {
		t.Errorf("zero times stored as %v, %v", got.CreatedAt, got.UpdatedAt)
	}
}

func testWebhooks(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	w1 := &alerts.Webhook{ID: "w1", Name: "ops", URL: "https://example.com/hook", Secret: "0123456789abcdef-secret",
		Enabled: true, Events: []alerts.State{alerts.StateFiring}, CreatedAt: base, UpdatedAt: base}
	w0 := &alerts.Webhook{ID: "w0", URL: "http://127.0.0.1:9/x", Secret: "another-secret-0123", CreatedAt: base, UpdatedAt: base}
	for _, w := range []*alerts.Webhook{w1, w0} {
		got, err := s.CreateWebhook(ctx, w)
		must(t, err)
		same(t, "created webhook", got, w)
	}
	_, err := s.CreateWebhook(ctx, &alerts.Webhook{ID: "w1"})
	wantCode(t, "creating a taken id", err, gatehouse.EConflict)
	got, err := s.Webhook(ctx, "w1")
	must(t, err)
	same(t, "read webhook (secret included)", got, w1)
	_, err = s.Webhook(ctx, "nope")
	wantCode(t, "reading a missing webhook", err, gatehouse.ENotFound)
	hooks, err := s.Webhooks(ctx)
	must(t, err)
	same(t, "listed webhooks", hooks, []*alerts.Webhook{w0, w1})

	upd := *w1
	upd.URL, upd.CreatedAt, upd.UpdatedAt = "https://example.com/other", time.Time{}, base.Add(time.Minute)
	got, err = s.UpdateWebhook(ctx, &upd)
	must(t, err)
	upd.CreatedAt = base
	same(t, "updated webhook", got, &upd)
	_, err = s.UpdateWebhook(ctx, &alerts.Webhook{ID: "nope"})
	wantCode(t, "updating a missing webhook", err, gatehouse.ENotFound)

	// Deleting a webhook deletes its delivery log.
	must(t, s.AppendDelivery(ctx, &alerts.Delivery{ID: "d1", Attempt: 1, Webhook: "w1", Event: "e1", EventType: "firing", At: base}))
	must(t, s.AppendDelivery(ctx, &alerts.Delivery{ID: "d2", Attempt: 1, Webhook: "w0", Event: "e1", EventType: "firing", At: base}))
	must(t, s.DeleteWebhook(ctx, "w1"))
	wantCode(t, "deleting it again", s.DeleteWebhook(ctx, "w1"), gatehouse.ENotFound)
	page, err := s.Deliveries(ctx, alerts.DeliveryFilter{})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != "d2" {
		t.Errorf("deliveries after deleting w1: %+v", page.Items)
	}
}

func event(i int, rule, subject, api string, state alerts.State) *alerts.Event {
	at := base.Add(time.Duration(i) * time.Minute)
	return &alerts.Event{ID: fmt.Sprintf("ev%02d", i), Rule: rule, RuleName: "Rule " + rule, Kind: alerts.KindErrorRate,
		Severity: alerts.SeverityWarning, Subject: subject, API: api, State: state, Value: 0.25, Threshold: 0.1,
		StartedAt: at.Add(-30 * time.Second), At: at, Message: "msg " + rule}
}

func ids(evs []*alerts.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testEvents(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	evs := []*alerts.Event{
		event(0, "r1", "orders", "orders", alerts.StateFiring),
		event(1, "r2", "*", "", alerts.StateFiring),
		event(2, "r1", "orders", "orders", alerts.StateResolved),
		event(3, "r3", "shop/orders", "orders", alerts.StateFiring),
		event(4, "r2", "*", "", alerts.StateResolved),
	}
	for _, e := range evs {
		must(t, s.AppendAlertEvent(ctx, e))
	}
	wantCode(t, "appending a taken id", s.AppendAlertEvent(ctx, event(0, "r9", "x", "", alerts.StateFiring)), gatehouse.EConflict)

	page, err := s.AlertEvents(ctx, alerts.EventFilter{})
	must(t, err)
	same(t, "all events newest first", page.Items, []*alerts.Event{evs[4], evs[3], evs[2], evs[1], evs[0]})
	if page.Next != "" {
		t.Errorf("one page has next %q", page.Next)
	}

	for _, c := range []struct {
		name string
		f    alerts.EventFilter
		want []string
	}{
		{"rule", alerts.EventFilter{Rule: "r1"}, []string{"ev02", "ev00"}},
		{"state", alerts.EventFilter{State: alerts.StateFiring}, []string{"ev03", "ev01", "ev00"}},
		{"api", alerts.EventFilter{API: "orders"}, []string{"ev03", "ev02", "ev00"}},
		{"since", alerts.EventFilter{Since: base.Add(2 * time.Minute)}, []string{"ev04", "ev03", "ev02"}},
		{"until", alerts.EventFilter{Until: base.Add(2 * time.Minute)}, []string{"ev01", "ev00"}},
		{"since and until", alerts.EventFilter{Since: base.Add(time.Minute), Until: base.Add(3*time.Minute + time.Nanosecond)}, []string{"ev03", "ev02", "ev01"}},
		{"several", alerts.EventFilter{API: "orders", State: alerts.StateFiring}, []string{"ev03", "ev00"}},
		{"none", alerts.EventFilter{Rule: "nope"}, []string{}},
	} {
		page, err := s.AlertEvents(ctx, c.f)
		must(t, err)
		same(t, "filter "+c.name, ids(page.Items), c.want)
	}

	// Pages of two walk the whole log once, newest first.
	var all []string
	f := alerts.EventFilter{ListOptions: gatehouse.ListOptions{Limit: 2}}
	for range 10 {
		page, err := s.AlertEvents(ctx, f)
		must(t, err)
		all = append(all, ids(page.Items)...)
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	same(t, "paged events", all, []string{"ev04", "ev03", "ev02", "ev01", "ev00"})

	// Paging with a filter.
	f = alerts.EventFilter{ListOptions: gatehouse.ListOptions{Limit: 1}, API: "orders"}
	page, err = s.AlertEvents(ctx, f)
	must(t, err)
	f.After = page.Next
	page, err = s.AlertEvents(ctx, f)
	must(t, err)
	same(t, "second filtered page", ids(page.Items), []string{"ev02"})

	_, err = s.AlertEvents(ctx, alerts.EventFilter{ListOptions: gatehouse.ListOptions{After: "garbage!"}})
	wantCode(t, "bad cursor", err, gatehouse.EInvalid)
}

func testFiring(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	got, err := s.FiringAlerts(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	evs := []*alerts.Event{
		event(0, "r1", "orders", "orders", alerts.StateFiring),
		event(1, "r1", "users", "users", alerts.StateFiring),
		event(2, "r2", "orders", "orders", alerts.StateFiring),
		event(3, "r1", "orders", "orders", alerts.StateResolved),
		event(4, "r3", "*", "", alerts.StateFiring),
		event(5, "r3", "*", "", alerts.StateResolved),
		event(6, "r3", "*", "", alerts.StateFiring),
	}
	for _, e := range evs {
		must(t, s.AppendAlertEvent(ctx, e))
	}
	got, err = s.FiringAlerts(ctx)
	must(t, err)
	same(t, "firing alerts", got, []*alerts.Event{evs[1], evs[2], evs[6]})
}

func testDeliveries(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	next := base.Add(2 * time.Second)
	ds := []*alerts.Delivery{
		{ID: "d1", Attempt: 1, Webhook: "w1", Event: "e1", EventType: "firing", URL: "https://example.com", At: base,
			StatusCode: 503, Error: "HTTP 503", DurationMS: 12.5, NextRetry: &next},
		{ID: "d1", Attempt: 2, Webhook: "w1", Event: "e1", EventType: "firing", URL: "https://example.com", At: next,
			StatusCode: 200, DurationMS: 3, Success: true},
		{ID: "d2", Attempt: 1, Webhook: "w2", Event: "e1", EventType: "firing", URL: "https://example.org", At: next,
			Error: "connection refused"},
		{ID: "d3", Attempt: 1, Webhook: "w1", Event: "e2", EventType: "resolved", URL: "https://example.com", At: next.Add(time.Minute),
			StatusCode: 204, Success: true},
	}
	for _, d := range ds {
		must(t, s.AppendDelivery(ctx, d))
	}
	page, err := s.Deliveries(ctx, alerts.DeliveryFilter{})
	must(t, err)
	same(t, "all deliveries newest first", page.Items, []*alerts.Delivery{ds[3], ds[2], ds[1], ds[0]})
	page, err = s.Deliveries(ctx, alerts.DeliveryFilter{Webhook: "w1"})
	must(t, err)
	same(t, "deliveries of w1", page.Items, []*alerts.Delivery{ds[3], ds[1], ds[0]})
	page, err = s.Deliveries(ctx, alerts.DeliveryFilter{Webhook: "w1", Event: "e1"})
	must(t, err)
	same(t, "deliveries of w1 for e1", page.Items, []*alerts.Delivery{ds[1], ds[0]})

	f := alerts.DeliveryFilter{ListOptions: gatehouse.ListOptions{Limit: 3}}
	page, err = s.Deliveries(ctx, f)
	must(t, err)
	if len(page.Items) != 3 || page.Next == "" {
		t.Fatalf("first page of 3: %d items, next %q", len(page.Items), page.Next)
	}
	f.After = page.Next
	page, err = s.Deliveries(ctx, f)
	must(t, err)
	same(t, "second page", page.Items, []*alerts.Delivery{ds[0]})
	if page.Next != "" {
		t.Errorf("last page has next %q", page.Next)
	}
}

func testPrune(t *testing.T, s alerts.Store) {
	ctx := t.Context()
	evs := []*alerts.Event{
		event(0, "r1", "orders", "orders", alerts.StateFiring),   // old, superseded: pruned
		event(1, "r2", "*", "", alerts.StateFiring),              // old but still firing: kept
		event(2, "r1", "orders", "orders", alerts.StateResolved), // old but latest of r1/orders: kept
		event(3, "r3", "x", "", alerts.StateFiring),              // old, superseded: pruned
		event(9, "r3", "x", "", alerts.StateResolved),            // new: kept
	}
	for _, e := range evs {
		must(t, s.AppendAlertEvent(ctx, e))
	}
	must(t, s.AppendDelivery(ctx, &alerts.Delivery{ID: "d1", Attempt: 1, Webhook: "w", Event: "ev00", EventType: "firing", At: base}))
	must(t, s.AppendDelivery(ctx, &alerts.Delivery{ID: "d2", Attempt: 1, Webhook: "w", Event: "ev09", EventType: "resolved", At: base.Add(9 * time.Minute)}))
	n, err := s.PruneAlertLog(ctx, base.Add(5*time.Minute))
	must(t, err)
	if n != 3 {
		t.Errorf("pruned %d rows, want 3", n)
	}
	page, err := s.AlertEvents(ctx, alerts.EventFilter{})
	must(t, err)
	same(t, "events after pruning", ids(page.Items), []string{"ev09", "ev02", "ev01"})
	firing, err := s.FiringAlerts(ctx)
	must(t, err)
	same(t, "firing after pruning", ids(firing), []string{"ev01"})
	dp, err := s.Deliveries(ctx, alerts.DeliveryFilter{})
	must(t, err)
	if len(dp.Items) != 1 || dp.Items[0].ID != "d2" {
		t.Errorf("deliveries after pruning: %+v", dp.Items)
	}
}
