package quota

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Usage is one app's use of one quota in its current period, as the quota policy last saw
// it on this node (with Redis counters, the count is the shared one).
type Usage struct {
	Scope  string    `json:"scope"` // the quota's counter scope (a plan's: "plan:<name>")
	API    string    `json:"api"`
	App    string    `json:"app"`
	Plan   string    `json:"plan,omitempty"`
	Period string    `json:"period"`
	Used   int64     `json:"used"`
	Limit  int64     `json:"limit"`
	Reset  time.Time `json:"reset"` // when the period ends
}

// Tracker keeps the latest Usage per quota scope and app, for the analytics API ("quota
// usage per app") and quota alerts. Report is on the request path: after an app's first
// request in a scope it is a map read and three atomic stores.
type Tracker struct {
	m sync.Map // usageKey → *usageEntry
}

type usageKey struct{ scope, app string }

type usageEntry struct {
	api, plan, period string
	used, limit       atomic.Int64
	reset             atomic.Int64 // unix nanos
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker { return &Tracker{} }

// Report records that app has used used of limit in scope's period ending at reset.
func (t *Tracker) Report(scope, api, app, plan, period string, used, limit int64, reset time.Time) {
	k := usageKey{scope, app}
	v, ok := t.m.Load(k)
	if !ok {
		// Copy the strings: the caller's may live in pooled buffers.
		e := &usageEntry{api: strings.Clone(api), plan: strings.Clone(plan), period: period}
		v, _ = t.m.LoadOrStore(usageKey{strings.Clone(scope), strings.Clone(app)}, e)
	}
	e := v.(*usageEntry)
	e.used.Store(used)
	e.limit.Store(limit)
	e.reset.Store(reset.UnixNano())
}

// Snapshot returns the usage of app ("" for every app) in periods that have not ended by
// now, most used first (by share of the limit). Ended periods are forgotten.
func (t *Tracker) Snapshot(app string, now time.Time) []Usage {
	var out []Usage
	t.m.Range(func(key, value any) bool {
		k, e := key.(usageKey), value.(*usageEntry)
		reset := time.Unix(0, e.reset.Load())
		if !now.Before(reset) {
			t.m.CompareAndDelete(key, value)
			return true
		}
		if app == "" || k.app == app {
			out = append(out, Usage{Scope: k.scope, API: e.api, App: k.app, Plan: e.plan, Period: e.period,
				Used: e.used.Load(), Limit: e.limit.Load(), Reset: reset.UTC()})
		}
		return true
	})
	slices.SortFunc(out, func(a, b Usage) int {
		// Compare used/limit without division: a.used*b.limit vs b.used*a.limit.
		l, r := float64(a.Used)*float64(b.Limit), float64(b.Used)*float64(a.Limit)
		switch {
		case l > r:
			return -1
		case l < r:
			return 1
		}
		return strings.Compare(a.App+a.Scope, b.App+b.Scope)
	})
	return out
}
