package alerts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// DefaultChannel is the realtime channel alerts are published to.
const DefaultChannel = "gatehouse.alerts"

// Options configure an Engine. Store and Source are required; zero values elsewhere mean
// the defaults given.
type Options struct {
	Store  Store
	Source Source
	// Publish sends one event (JSON) to a realtime channel. Nil publishes nothing.
	Publish func(ctx context.Context, channel string, event []byte) error
	// Channel is where events are published; default DefaultChannel.
	Channel string
	// Interval between evaluations; default 1s.
	Interval time.Duration
	// RuleRefresh is how often rules are reread from the store, to see other nodes'
	// writes; default 10s. Writes through this engine's API apply at the next evaluation.
	RuleRefresh time.Duration
	Logger      *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HTTPClient sends webhooks; default a client that does not follow redirects.
	HTTPClient *http.Client

	// Retention is how long the alert and delivery logs are kept; default 90 days,
	// negative keeps them for ever. The latest event of each alert is always kept.
	Retention time.Duration

	// WebhookAttempts is the most attempts per delivery; default 5.
	WebhookAttempts int
	// WebhookBackoff is the wait after the first failed attempt, doubled after each
	// further one (with ±20% jitter) up to WebhookMaxBackoff; defaults 1s and 5m.
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	// WebhookTimeout bounds one attempt; default 10s.
	WebhookTimeout time.Duration
	// WebhookWorkers is how many deliveries are in flight at most; default 4.
	WebhookWorkers int
	// WebhookQueue is how many deliveries may wait; default 1000. Past it they are
	// dropped and counted (DeliveryStats.Dropped).
	WebhookQueue int
}

func (o *Options) defaults() {
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.RuleRefresh <= 0 {
		o.RuleRefresh = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			// A redirect would send a signed alert somewhere nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Retention == 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	if o.WebhookAttempts <= 0 {
		o.WebhookAttempts = 5
	}
	if o.WebhookBackoff <= 0 {
		o.WebhookBackoff = time.Second
	}
	if o.WebhookMaxBackoff <= 0 {
		o.WebhookMaxBackoff = 5 * time.Minute
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookWorkers <= 0 {
		o.WebhookWorkers = 4
	}
	if o.WebhookQueue <= 0 {
		o.WebhookQueue = 1000
	}
}

// Engine evaluates rules and sends alerts. Its methods are safe for concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger
	disp *dispatcher

	rulesDirty atomic.Bool // set by API writes: reread rules at the next evaluation

	mu       sync.Mutex // evaluation state below
	restored bool
	rules    []*Rule
	rulesAt  time.Time
	alerts   map[string]map[string]*alert // rule id → subject → state
}

// New returns an engine; Start runs it.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Source == nil {
		return nil, errors.New("alerts: Options.Store and Options.Source are required")
	}
	opts.defaults()
	e := &Engine{opts: opts, log: opts.Logger, alerts: map[string]map[string]*alert{}}
	e.disp = &dispatcher{e: e, queue: make(chan *delivery, opts.WebhookQueue)}
	return e, nil
}

// Channel is the realtime channel events are published to.
func (e *Engine) Channel() string { return e.opts.Channel }

// Start runs the webhook workers and evaluates the rules every Interval (the first time
// one Interval after Start) until ctx ends. The returned channel is closed when every
// goroutine has stopped. Deliveries still queued or waiting to retry then are dropped.
func (e *Engine) Start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range e.opts.WebhookWorkers {
		wg.Go(func() { e.disp.run(ctx) })
	}
	wg.Go(func() { e.loop(ctx) })
	go func() {
		wg.Wait()
		e.disp.stopped.Store(true)
		close(done)
	}()
	return done
}

func (e *Engine) loop(ctx context.Context) {
	if err := e.restore(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("alerts: reading firing alerts from the log; retrying at the next evaluation", "err", err)
	}
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	e.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			e.prune(ctx)
		case <-t.C:
			if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("alerts: evaluation", "err", err)
			}
		}
	}
}

// pruneEvery is how often the logs are pruned to Retention.
const pruneEvery = time.Hour

func (e *Engine) prune(ctx context.Context) {
	if e.opts.Retention < 0 {
		return
	}
	n, err := e.opts.Store.PruneAlertLog(ctx, e.opts.Now().Add(-e.opts.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		e.log.Warn("alerts: pruning the alert log", "err", err)
	case n > 0:
		e.log.Info("alerts: pruned the alert log", "rows", n, "retention", e.opts.Retention)
	}
}

// restore takes the alerts the log shows firing as firing, once.
func (e *Engine) restore(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.restoreLocked(ctx)
}

func (e *Engine) restoreLocked(ctx context.Context) error {
	if e.restored {
		return nil
	}
	evs, err := e.opts.Store.FiringAlerts(ctx)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		a := &alert{phase: phaseFiring, startedAt: ev.StartedAt, value: ev.Value, api: ev.API, fired: *ev,
			// Until the rule is read, what the event says of it; a rule since deleted
			// resolves with this (without webhooks, which the event does not name).
			rule: &Rule{ID: ev.Rule, Name: ev.RuleName, Kind: ev.Kind, Severity: ev.Severity, Threshold: ev.Threshold}}
		e.subjects(ev.Rule)[ev.Subject] = a
	}
	e.restored = true
	if len(evs) > 0 {
		e.log.Info("alerts: restored firing alerts from the log", "count", len(evs))
	}
	return nil
}

func (e *Engine) subjects(rule string) map[string]*alert {
	m := e.alerts[rule]
	if m == nil {
		m = map[string]*alert{}
		e.alerts[rule] = m
	}
	return m
}

// Evaluate runs one evaluation of every enabled rule at Now, sending the events of the
// alerts that fire or resolve. Start calls it every Interval; tests call it directly.
// Until the firing alerts have been read from the log, it evaluates nothing (so that a
// restart cannot fire an alert twice) and returns the error.
func (e *Engine) Evaluate(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.restoreLocked(ctx); err != nil {
		return err
	}
	now := e.opts.Now()
	rules, err := e.loadRules(ctx, now)
	if err != nil {
		e.log.Warn("alerts: reading rules; evaluating the last ones read", "err", err)
	}
	active := make(map[string]bool, len(rules))
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		active[r.ID] = true
		e.evalRule(ctx, r, now)
	}
	// Alerts of rules deleted or disabled resolve: the log must not show them firing
	// for ever, nor a restart restore them.
	for id, subs := range e.alerts {
		if active[id] {
			continue
		}
		for subject, a := range subs {
			if a.phase == phaseFiring || a.phase == phaseResolving {
				e.emit(ctx, a.rule, subject, a, StateResolved, now, "the rule was deleted or disabled")
			}
		}
		delete(e.alerts, id)
	}
	return nil
}

// loadRules returns the rules, rereading them when stale. On error it returns the last
// rules read, and the error.
func (e *Engine) loadRules(ctx context.Context, now time.Time) ([]*Rule, error) {
	if e.rules != nil && !e.rulesDirty.Load() && now.Sub(e.rulesAt) < e.opts.RuleRefresh && !now.Before(e.rulesAt) {
		return e.rules, nil
	}
	e.rulesDirty.Store(false)
	rules, err := e.opts.Store.AlertRules(ctx)
	if err != nil {
		e.rulesDirty.Store(true)
		return e.rules, err
	}
	for _, r := range rules {
		r.Normalize() // rules written by older versions get today's defaults
	}
	e.rules, e.rulesAt = rules, now
	return rules, nil
}

// evalRule measures r and steps the alert of every subject it measured, and of every
// subject it had an alert for and did not measure (no data).
func (e *Engine) evalRule(ctx context.Context, r *Rule, now time.Time) {
	subs := e.subjects(r.ID)
	seen := map[string]bool{}
	for _, s := range e.measure(r) {
		seen[s.subject] = true
		a := subs[s.subject]
		if a == nil {
			a = &alert{}
		}
		e.stepAlert(ctx, r, s, a, now)
		if a.phase == phaseOK {
			delete(subs, s.subject)
		} else {
			subs[s.subject] = a
		}
	}
	for subject, a := range subs {
		if seen[subject] {
			continue
		}
		e.stepAlert(ctx, r, sample{subject: subject, api: a.api, detail: "no data"}, a, now)
		if a.phase == phaseOK {
			delete(subs, subject)
		}
	}
}

func (e *Engine) stepAlert(ctx context.Context, r *Rule, s sample, a *alert, now time.Time) {
	a.rule = r
	switch a.step(r, s, now) {
	case toFiring:
		e.emit(ctx, r, s.subject, a, StateFiring, now, r.message(s, StateFiring))
	case toResolved:
		e.emit(ctx, r, s.subject, a, StateResolved, now, r.message(s, StateResolved))
	}
}

// emit records an event: the alert log, the realtime channel, the webhooks. A failure of
// one does not stop the others; each is logged.
func (e *Engine) emit(ctx context.Context, r *Rule, subject string, a *alert, state State, now time.Time, msg string) {
	ev := Event{
		ID: gatehouse.NewID("alert"), Rule: r.ID, RuleName: r.Name, Kind: r.Kind, Severity: r.Severity,
		Subject: subject, API: a.api, State: state, Value: finite(a.value), Threshold: r.Threshold,
		StartedAt: stamp(a.startedAt), At: stamp(now), Message: msg,
	}
	if state == StateFiring {
		a.fired = ev
	}
	log := e.log.With("rule", r.ID, "subject", subject, "state", state, "alert", ev.ID)
	log.Info("alerts: " + string(state) + ": " + msg)
	body, err := marshalEvent(&ev)
	if err != nil {
		log.Error("alerts: encoding event", "err", err)
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.opts.Store.AppendAlertEvent(sctx, &ev); err != nil {
		log.Error("alerts: appending to the alert log", "err", err)
	}
	if e.opts.Publish != nil {
		if err := e.opts.Publish(sctx, e.opts.Channel, body); err != nil {
			log.Warn("alerts: publishing to the realtime channel", "channel", e.opts.Channel, "err", err)
		}
	}
	for _, id := range r.Webhooks {
		w, err := e.opts.Store.Webhook(sctx, id)
		if err != nil {
			log.Warn("alerts: reading webhook", "webhook", id, "err", err)
			continue
		}
		if !w.Enabled || !w.wants(state) {
			continue
		}
		d := &delivery{hook: *w, id: newDeliveryID(), typ: string(state), eventID: ev.ID, body: body, attempt: 1}
		if e.disp.enqueue(d) {
			e.disp.n.queued.Add(1)
		}
	}
}

// stamp is t as stored: UTC, microseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// finite keeps JSON encodable.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func marshalEvent(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// Firing returns the alerts firing now (those waiting out resolve_for included), as their
// firing events, oldest first.
func (e *Engine) Firing() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Event{}
	for _, subs := range e.alerts {
		for _, a := range subs {
			if a.phase == phaseFiring || a.phase == phaseResolving {
				out = append(out, a.fired)
			}
		}
	}
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject))
	})
	return out
}

// rulesChanged makes the next evaluation reread the rules.
func (e *Engine) rulesChanged() { e.rulesDirty.Store(true) }

// phase is where an alert is in its state machine.
type phase int

const (
	phaseOK phase = iota
	phasePending
	phaseFiring
	phaseResolving
)

type transition int

const (
	toNothing transition = iota
	toFiring
	toResolved
)

// alert is the state of one rule and subject.
type alert struct {
	phase     phase
	since     time.Time // when pending or resolving began
	startedAt time.Time // when the breach that fired began
	value     float64   // the latest measurement
	api       string
	fired     Event // the firing event, while firing
	rule      *Rule // the latest version seen
}

// step advances the state machine with one measurement at now.
func (a *alert) step(r *Rule, s sample, now time.Time) transition {
	breach := s.ok && r.breaches(s.value)
	clear := !s.ok || r.clears(s.value)
	if s.ok {
		a.value = s.value
	}
	if s.api != "" {
		a.api = s.api
	}
	switch a.phase {
	case phaseOK:
		if !breach {
			return toNothing
		}
		a.phase, a.since = phasePending, now
		fallthrough
	case phasePending:
		if !breach {
			a.phase = phaseOK
			return toNothing
		}
		if now.Sub(a.since) >= r.For.D() {
			a.phase, a.startedAt = phaseFiring, a.since
			return toFiring
		}
	case phaseFiring:
		if !clear {
			return toNothing
		}
		a.phase, a.since = phaseResolving, now
		fallthrough
	case phaseResolving:
		if !clear {
			a.phase = phaseFiring // back in the band or breaching: not resolved after all
			return toNothing
		}
		if now.Sub(a.since) >= r.resolveFor() {
			a.phase = phaseOK
			return toResolved
		}
	}
	return toNothing
}
