package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/alerts/alertstest"
)

const hookSecret = "s3cret-s3cret-s3cret"

// received is one request a test receiver accepted.
type received struct {
	typ, delivery string
	event         alerts.Event
}

// receiver is a webhook endpoint that checks signatures and can fail its first requests.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	failures int // answer this many more requests with 503
	attempts []string
	got      []received
}

func newReceiver(t *testing.T, failures int) *receiver {
	rc := &receiver{t: t, failures: failures, secret: hookSecret}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secret := rc.secret
		rc.mu.Unlock()
		if err := alerts.VerifySignature(secret, r.Header.Get(alerts.HeaderTimestamp), body, r.Header.Get(alerts.HeaderSignature)); err != nil {
			t.Errorf("receiver: %v (headers %v)", err, r.Header)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts = append(rc.attempts, r.Header.Get(alerts.HeaderDelivery))
		if rc.failures > 0 {
			rc.failures--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev alerts.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver: body %s: %v", body, err)
		}
		rc.got = append(rc.got, received{typ: r.Header.Get(alerts.HeaderEvent), delivery: r.Header.Get(alerts.HeaderDelivery), event: ev})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// harness is an engine over a scripted source, a manual clock and a memory store, with its
// publishes captured and its webhook workers running.
type harness struct {
	t     *testing.T
	clock *alertstest.Clock
	src   *alertstest.Source
	store *alerts.MemoryStore
	e     *alerts.Engine

	mu        sync.Mutex
	published []alerts.Event
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, store *alerts.MemoryStore) *harness {
	t.Helper()
	if store == nil {
		store = alerts.NewMemoryStore()
	}
	h := &harness{t: t, clock: alertstest.NewClock(t0), src: alertstest.NewSource(), store: store}
	e, err := alerts.New(alerts.Options{
		Store:  store,
		Source: h.src,
		Publish: func(ctx context.Context, channel string, event []byte) error {
			if channel != alerts.DefaultChannel {
				t.Errorf("published to %q", channel)
			}
			var ev alerts.Event
			if err := json.Unmarshal(event, &ev); err != nil {
				t.Errorf("published %s: %v", event, err)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.published = append(h.published, ev)
			return nil
		},
		Interval:          time.Hour, // tests call Evaluate
		Now:               h.clock.Now,
		WebhookBackoff:    time.Millisecond,
		WebhookMaxBackoff: 5 * time.Millisecond,
		WebhookAttempts:   4,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	done := e.Start(ctx)
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *harness) pubs() []alerts.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.published)
}

// eval advances the clock by d and evaluates.
func (h *harness) eval(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	if err := h.e.Evaluate(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) addRule(r alerts.Rule) {
	h.t.Helper()
	r.Enabled = true
	r.Normalize()
	if err := r.Validate(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.CreateAlertRule(h.t.Context(), &r); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) addWebhook(id, url string) {
	h.t.Helper()
	w := alerts.Webhook{ID: id, URL: url, Secret: hookSecret, Enabled: true}
	w.Normalize()
	if err := w.Validate(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.CreateWebhook(h.t.Context(), &w); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) log() []*alerts.Event {
	h.t.Helper()
	page, err := h.store.AlertEvents(h.t.Context(), alerts.EventFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(page.Items) // oldest first
	return page.Items
}

// waitFor polls cond until it holds, failing after 10s: webhook deliveries are
// asynchronous, and the deadline is far beyond their millisecond backoffs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func states(evs []alerts.Event) []alerts.State {
	out := make([]alerts.State, len(evs))
	for i, e := range evs {
		out[i] = e.State
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) gatehouse.Duration { return gatehouse.Duration(d) }

// TestScriptedUpstreamFailure is the scenario of the issue: the upstream of an API starts
// failing, the error rate rises, the alert goes pending, fires after `for`, stays firing
// while the rate flaps around the threshold, and resolves once it has been clearly back
// for resolve_for. Each transition appears exactly once on the channel, at the webhook
// and in the alert log.
func TestScriptedUpstreamFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rc := newReceiver(t, 0)
	h.addWebhook("ops", rc.srv.URL)
	h.addRule(alerts.Rule{ID: "orders-errors", Name: "Orders errors", Kind: alerts.KindErrorRate, API: "orders",
		Window: dur(time.Minute), Threshold: 0.10, ResolveThreshold: ptr(0.05), For: dur(30 * time.Second),
		ResolveFor: ptr(dur(30 * time.Second)), MinRequests: 20, Severity: alerts.SeverityCritical, Webhooks: []string{"ops"}})

	rate := func(errors int64) {
		h.src.SetWindow("orders", time.Minute, alerts.Window{Requests: 200, Errors: errors})
	}
	firing := func() int { return len(h.e.Firing()) }

	rate(2) // 1%: healthy
	h.eval(10 * time.Second)
	failStart := h.clock.Now().Add(10 * time.Second)
	for i, step := range []struct {
		errors     int64
		wantFiring int
		note       string
	}{
		{100, 0, "50%: pending"},
		{100, 0, "pending 10s"},
		{100, 0, "pending 20s"},
		{100, 1, "pending 30s = for: fires"},
		{16, 1, "8%: in the band, stays firing"},
		{40, 1, "20%: firing"},
		{8, 1, "4%: clearly back, resolving"},
		{24, 1, "12%: back up before resolve_for, firing again (no event)"},
		{8, 1, "4%: resolving again"},
		{6, 1, "3%: resolving 10s"},
		{6, 1, "3%: resolving 20s"},
		{6, 0, "3%: resolving 30s = resolve_for: resolved"},
		{6, 0, "stays resolved"},
	} {
		rate(step.errors)
		h.eval(10 * time.Second)
		if got := firing(); got != step.wantFiring {
			t.Fatalf("step %d (%s): %d firing, want %d", i, step.note, got, step.wantFiring)
		}
	}

	// The channel: exactly one firing, then one resolved.
	pubs := h.pubs()
	if got := states(pubs); !slices.Equal(got, []alerts.State{alerts.StateFiring, alerts.StateResolved}) {
		t.Fatalf("published %v", got)
	}
	fire, res := pubs[0], pubs[1]
	if fire.Rule != "orders-errors" || fire.Subject != "orders" || fire.API != "orders" || fire.Value != 0.5 ||
		fire.Threshold != 0.1 || fire.Severity != alerts.SeverityCritical || fire.Message == "" {
		t.Errorf("firing event %+v", fire)
	}
	if !fire.StartedAt.Equal(failStart) || !fire.At.Equal(failStart.Add(30*time.Second)) {
		t.Errorf("firing started_at %v at %v; failure started %v", fire.StartedAt, fire.At, failStart)
	}
	if !res.StartedAt.Equal(fire.StartedAt) || res.Value != 0.03 || res.ID == fire.ID {
		t.Errorf("resolved event %+v", res)
	}
	t.Logf("firing: %s", fire.Message)
	t.Logf("resolved: %s", res.Message)

	// The alert log: the same two events.
	log := h.log()
	if len(log) != 2 || log[0].ID != fire.ID || log[1].ID != res.ID {
		t.Fatalf("alert log %+v", log)
	}

	// The webhook: the same two, signed (the receiver checks), once each.
	waitFor(t, "two webhook deliveries", func() bool { return h.e.DeliveryStats().Succeeded == 2 })
	got := rc.received()
	// Deliveries run in parallel and may arrive out of order: receivers order by `at`.
	slices.SortFunc(got, func(a, b received) int { return a.event.At.Compare(b.event.At) })
	if len(got) != 2 || got[0].typ != "firing" || got[1].typ != "resolved" ||
		got[0].event.ID != fire.ID || got[1].event.ID != res.ID || got[0].delivery == got[1].delivery {
		t.Fatalf("receiver got %+v", got)
	}
	if st := h.e.DeliveryStats(); st.Queued != 2 || st.Attempts != 2 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("delivery stats %+v", st)
	}
}

func TestMinRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.addRule(alerts.Rule{ID: "e", Kind: alerts.KindErrorRate, Threshold: 0.1})
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 3, Errors: 3}) // 100% of 3 requests
	h.eval(time.Second)
	h.eval(time.Second)
	if n := len(h.pubs()); n != 0 {
		t.Fatalf("3 requests fired %d events", n)
	}
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 10, Errors: 3}) // the default minimum
	h.eval(time.Second)
	if got := states(h.pubs()); !slices.Equal(got, []alerts.State{alerts.StateFiring}) || h.pubs()[0].Subject != "*" {
		t.Fatalf("published %+v", h.pubs())
	}
	// Traffic stopping is too little data: the alert resolves.
	h.src.SetWindow("", time.Minute, alerts.Window{})
	h.eval(time.Second)
	if got := states(h.pubs()); !slices.Equal(got, []alerts.State{alerts.StateFiring, alerts.StateResolved}) {
		t.Fatalf("published %v", got)
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rc := newReceiver(t, 2) // 503, 503, then 204
	h.addWebhook("flaky", rc.srv.URL)
	h.addRule(alerts.Rule{ID: "lat", Kind: alerts.KindLatency, Threshold: 100, Webhooks: []string{"flaky"}})
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 50, P95: 250 * time.Millisecond})
	h.eval(time.Second)

	waitFor(t, "a successful delivery", func() bool { return h.e.DeliveryStats().Succeeded == 1 })
	page, err := h.store.Deliveries(t.Context(), alerts.DeliveryFilter{Webhook: "flaky"})
	if err != nil {
		t.Fatal(err)
	}
	ds := page.Items
	if len(ds) != 3 {
		t.Fatalf("%d delivery log entries, want 3: %+v", len(ds), ds)
	}
	slices.Reverse(ds)
	for i, d := range ds {
		if d.Attempt != i+1 || d.ID != ds[0].ID || d.Webhook != "flaky" || d.EventType != "firing" || d.Event != h.pubs()[0].ID {
			t.Errorf("attempt %d: %+v", i+1, d)
		}
		last := i == 2
		if d.Success != last || (d.StatusCode == 204) != last || (d.NextRetry == nil) != last {
			t.Errorf("attempt %d: success %v, status %d, next retry %v", i+1, d.Success, d.StatusCode, d.NextRetry)
		}
		if !last && (d.Error != "HTTP 503" || !d.NextRetry.After(d.At)) {
			t.Errorf("attempt %d: error %q, at %v, next retry %v", i+1, d.Error, d.At, d.NextRetry)
		}
	}
	rc.mu.Lock()
	attempts := slices.Clone(rc.attempts)
	rc.mu.Unlock()
	if len(attempts) != 3 || attempts[0] != ds[0].ID || attempts[2] != ds[0].ID {
		t.Errorf("receiver saw delivery ids %v, want %s three times", attempts, ds[0].ID)
	}
	if st := h.e.DeliveryStats(); st.Attempts != 3 || st.Succeeded != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rc := newReceiver(t, 100)
	h.addWebhook("dead", rc.srv.URL)
	h.addRule(alerts.Rule{ID: "lat", Kind: alerts.KindLatency, Threshold: 100, Webhooks: []string{"dead"}})
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 50, P95: time.Second})
	h.eval(time.Second)
	waitFor(t, "the delivery to fail", func() bool { return h.e.DeliveryStats().Failed == 1 })
	page, _ := h.store.Deliveries(t.Context(), alerts.DeliveryFilter{})
	if len(page.Items) != 4 || page.Items[0].Attempt != 4 || page.Items[0].NextRetry != nil {
		t.Errorf("delivery log %+v", page.Items)
	}
}

// TestWebhookFilters: disabled webhooks and webhooks not taking a state get nothing.
func TestWebhookFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	all, firingOnly, off := newReceiver(t, 0), newReceiver(t, 0), newReceiver(t, 0)
	h.addWebhook("all", all.srv.URL)
	h.addWebhook("firing-only", firingOnly.srv.URL)
	h.addWebhook("off", off.srv.URL)
	ctx := t.Context()
	w, _ := h.store.Webhook(ctx, "firing-only")
	w.Events = []alerts.State{alerts.StateFiring}
	_, _ = h.store.UpdateWebhook(ctx, w)
	w, _ = h.store.Webhook(ctx, "off")
	w.Enabled = false
	_, _ = h.store.UpdateWebhook(ctx, w)
	h.addRule(alerts.Rule{ID: "r", Kind: alerts.KindRateLimited, Measure: alerts.MeasureCount, Threshold: 5,
		Webhooks: []string{"all", "firing-only", "off", "deleted"}})
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 50, RateLimited: 9})
	h.eval(time.Second)
	h.src.SetWindow("", time.Minute, alerts.Window{Requests: 50})
	h.eval(time.Second)
	waitFor(t, "deliveries", func() bool { return h.e.DeliveryStats().Succeeded == 3 })
	if len(all.received()) != 2 || len(firingOnly.received()) != 1 || len(off.received()) != 0 {
		t.Errorf("received %d, %d, %d", len(all.received()), len(firingOnly.received()), len(off.received()))
	}
}

// TestRestart: an engine started on a log that shows an alert firing takes it as firing:
// it does not fire it again, and resolves it once.
func TestRestart(t *testing.T) {
	t.Parallel()
	store := alerts.NewMemoryStore()
	h1 := newHarness(t, store)
	h1.addRule(alerts.Rule{ID: "up", Kind: alerts.KindUpstreamHealth})
	h1.src.SetTargets(alerts.TargetHealth{API: "orders", Target: "http://10.0.0.1", Healthy: false})
	h1.eval(time.Second)
	if got := states(h1.pubs()); !slices.Equal(got, []alerts.State{alerts.StateFiring}) {
		t.Fatalf("first engine published %v", got)
	}

	h2 := newHarness(t, store) // a new process on the same store
	h2.src.SetTargets(alerts.TargetHealth{API: "orders", Target: "http://10.0.0.1", Healthy: false})
	h2.eval(time.Second)
	h2.eval(time.Second)
	if n := len(h2.pubs()); n != 0 {
		t.Fatalf("the restarted engine published %v", h2.pubs())
	}
	if f := h2.e.Firing(); len(f) != 1 || f[0].ID != h1.pubs()[0].ID {
		t.Fatalf("firing after restart: %+v", f)
	}
	h2.src.SetTargets(alerts.TargetHealth{API: "orders", Target: "http://10.0.0.1", Healthy: true})
	h2.eval(time.Second)
	if got := states(h2.pubs()); !slices.Equal(got, []alerts.State{alerts.StateResolved}) || h2.pubs()[0].StartedAt != h1.pubs()[0].StartedAt {
		t.Fatalf("restarted engine published %+v", h2.pubs())
	}
	if got := len(h2.log()); got != 2 {
		t.Errorf("log has %d events, want 2", got)
	}
}

// TestRuleDeleted: deleting or disabling a rule resolves its firing alerts.
func TestRuleDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.addRule(alerts.Rule{ID: "q", Kind: alerts.KindQuota, Threshold: 0.5})
	h.src.SetQuotas(alerts.QuotaUse{App: "shop", Plan: "gold", Used: 90, Limit: 100, Period: "day"})
	h.eval(time.Second)
	if err := h.store.DeleteAlertRule(t.Context(), "q"); err != nil {
		t.Fatal(err)
	}
	h.eval(time.Minute) // past RuleRefresh
	pubs := h.pubs()
	if got := states(pubs); !slices.Equal(got, []alerts.State{alerts.StateFiring, alerts.StateResolved}) {
		t.Fatalf("published %v", got)
	}
	if pubs[1].Message != "the rule was deleted or disabled" {
		t.Errorf("message %q", pubs[1].Message)
	}
}

// TestKinds: each rule kind fires on a breach and resolves on recovery, for its subject.
func TestKinds(t *testing.T) {
	t.Parallel()
	window := func(api string, w alerts.Window) func(*alertstest.Source) {
		return func(s *alertstest.Source) { s.SetWindow(api, time.Minute, w) }
	}
	// traffic sets a current minute of cur requests after 59 minutes of 100 a minute.
	traffic := func(cur int64) func(*alertstest.Source) {
		return func(s *alertstest.Source) {
			s.SetWindow("orders", time.Minute, alerts.Window{Requests: cur})
			s.SetWindow("orders", time.Hour, alerts.Window{Requests: 59*100 + cur})
		}
	}
	targets := func(healthy ...bool) func(*alertstest.Source) {
		return func(s *alertstest.Source) {
			var ts []alerts.TargetHealth
			for i, ok := range healthy {
				ts = append(ts, alerts.TargetHealth{API: "orders", Target: string(rune('a' + i)), Healthy: ok})
			}
			ts = append(ts, alerts.TargetHealth{API: "users", Target: "u", Healthy: true})
			s.SetTargets(ts...)
		}
	}
	quota := func(used int64) func(*alertstest.Source) {
		return func(s *alertstest.Source) {
			s.SetQuotas(alerts.QuotaUse{App: "shop", Plan: "gold", API: "orders", Used: used, Limit: 1000, Period: "day"},
				alerts.QuotaUse{App: "other", Plan: "gold", API: "orders", Used: 10, Limit: 1000, Period: "day"})
		}
	}
	for _, c := range []struct {
		name          string
		rule          alerts.Rule
		breach, clear func(*alertstest.Source)
		subject       string
		value         float64
	}{
		{"latency p95", alerts.Rule{Kind: alerts.KindLatency, API: "orders", Threshold: 500},
			window("orders", alerts.Window{Requests: 100, P50: 20 * time.Millisecond, P95: 800 * time.Millisecond, P99: time.Second}),
			window("orders", alerts.Window{Requests: 100, P95: 90 * time.Millisecond}), "orders", 800},
		{"latency p99", alerts.Rule{Kind: alerts.KindLatency, Percentile: "p99", Threshold: 900},
			window("", alerts.Window{Requests: 100, P95: 800 * time.Millisecond, P99: time.Second}),
			window("", alerts.Window{Requests: 100, P95: 800 * time.Millisecond, P99: 850 * time.Millisecond}), "*", 1000},
		{"429 ratio", alerts.Rule{Kind: alerts.KindRateLimited, Threshold: 0.2},
			window("", alerts.Window{Requests: 100, RateLimited: 30}),
			window("", alerts.Window{Requests: 100, RateLimited: 5}), "*", 0.3},
		{"429 count", alerts.Rule{Kind: alerts.KindRateLimited, Measure: alerts.MeasureCount, Threshold: 10},
			window("", alerts.Window{Requests: 5, RateLimited: 12}),
			window("", alerts.Window{Requests: 5, RateLimited: 2}), "*", 12},
		{"traffic spike", alerts.Rule{Kind: alerts.KindTrafficSpike, API: "orders", Threshold: 3},
			traffic(500), traffic(100), "orders", 5},
		{"traffic drop", alerts.Rule{Kind: alerts.KindTrafficDrop, API: "orders", Threshold: 0.2},
			traffic(10), traffic(100), "orders", 0.1},
		{"upstream any", alerts.Rule{Kind: alerts.KindUpstreamHealth},
			targets(true, false, true), targets(true, true, true), "orders", 1},
		{"upstream ratio", alerts.Rule{Kind: alerts.KindUpstreamHealth, API: "orders", Measure: alerts.MeasureRatio, Threshold: 0.5},
			targets(false, false, true, true), targets(false, true, true, true), "orders", 0.5},
		{"upstream target gone", alerts.Rule{Kind: alerts.KindUpstreamHealth, Measure: alerts.MeasureCount, Threshold: 2},
			targets(false, false), func(s *alertstest.Source) { s.SetTargets() }, "orders", 2},
		{"quota", alerts.Rule{Kind: alerts.KindQuota, Threshold: 0.9},
			quota(950), quota(100), "shop/orders", 0.95},
		{"quota of one app", alerts.Rule{Kind: alerts.KindQuota, App: "shop", Threshold: 0.9, ResolveThreshold: ptr(0.8)},
			quota(1000), quota(700), "shop/orders", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			c.rule.ID = "r"
			h.addRule(c.rule)
			c.clear(h.src)
			h.eval(time.Second)
			if n := len(h.pubs()); n != 0 {
				t.Fatalf("fired while clear: %+v", h.pubs())
			}
			c.breach(h.src)
			h.eval(time.Second)
			h.eval(time.Second) // still breaching: nothing more
			c.clear(h.src)
			h.eval(time.Second)
			h.eval(time.Second)
			pubs := h.pubs()
			if got := states(pubs); !slices.Equal(got, []alerts.State{alerts.StateFiring, alerts.StateResolved}) {
				t.Fatalf("published %+v", pubs)
			}
			if pubs[0].Subject != c.subject || pubs[0].Value != c.value || pubs[0].Kind != c.rule.Kind {
				t.Errorf("firing event %+v; want subject %q value %v", pubs[0], c.subject, c.value)
			}
			t.Logf("%s | %s", pubs[0].Message, pubs[1].Message)
		})
	}
}

// TestStart: the engine evaluates on its own every Interval.
func TestStart(t *testing.T) {
	t.Parallel()
	src := alertstest.NewSource()
	src.SetWindow("", time.Minute, alerts.Window{Requests: 100, Errors: 100})
	store := alerts.NewMemoryStore()
	r := alerts.Rule{ID: "e", Kind: alerts.KindErrorRate, Threshold: 0.5, Enabled: true}
	r.Normalize()
	if _, err := store.CreateAlertRule(t.Context(), &r); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	e, err := alerts.New(alerts.Options{Store: store, Source: src, Channel: "ops.alerts", Interval: 5 * time.Millisecond,
		Publish: func(ctx context.Context, channel string, event []byte) error { got <- channel; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := e.Start(ctx)
	select {
	case ch := <-got:
		if ch != "ops.alerts" {
			t.Errorf("published to %q", ch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published within 10s")
	}
	cancel()
	<-done
}

func TestNewRequires(t *testing.T) {
	if _, err := alerts.New(alerts.Options{Source: alertstest.NewSource()}); err == nil {
		t.Error("New without a store succeeded")
	}
}
