package alerts

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// sample is one measurement of a rule for one subject.
type sample struct {
	subject string
	api     string
	value   float64
	ok      bool   // false: too little data to judge
	detail  string // what the value was computed from, for messages
}

// allAPIs is the subject of rules over all APIs together.
const allAPIs = "*"

// measure computes r's value for every subject it covers now.
func (e *Engine) measure(r *Rule) []sample {
	src := e.opts.Source
	subject := r.API
	if subject == "" {
		subject = allAPIs
	}
	s := sample{subject: subject, api: r.API}
	switch r.Kind {
	case KindErrorRate, KindLatency, KindRateLimited:
		w := src.Window(r.API, r.window())
		s.detail = fmt.Sprintf("%d requests in %s", w.Requests, fmtDur(r.window()))
		if r.usesRequests() && w.Requests < r.minRequests() {
			s.detail = fmt.Sprintf("%d requests in %s, fewer than min_requests %d", w.Requests, fmtDur(r.window()), r.minRequests())
			return []sample{s}
		}
		s.ok = true
		switch {
		case r.Kind == KindErrorRate:
			s.value = float64(w.Errors) / float64(w.Requests)
			s.detail = fmt.Sprintf("%d errors of %d requests in %s", w.Errors, w.Requests, fmtDur(r.window()))
		case r.Kind == KindLatency:
			p := map[string]time.Duration{"p50": w.P50, "p95": w.P95, "p99": w.P99}[r.Percentile]
			s.value = float64(p.Microseconds()) / 1000
		case r.Measure == MeasureCount:
			s.value = float64(w.RateLimited)
			s.detail = fmt.Sprintf("%d 429s in %s", w.RateLimited, fmtDur(r.window()))
		default:
			if w.Requests > 0 {
				s.value = float64(w.RateLimited) / float64(w.Requests)
			}
			s.detail = fmt.Sprintf("%d 429s of %d requests in %s", w.RateLimited, w.Requests, fmtDur(r.window()))
		}
		return []sample{s}

	case KindTrafficSpike, KindTrafficDrop:
		win, base := r.window(), r.baseline()
		cur := src.Window(r.API, win)
		all := src.Window(r.API, base)
		// The baseline period is the part of the baseline window before the current one.
		before := all.Requests - cur.Requests
		expected := float64(before) * float64(win) / float64(base-win)
		s.detail = fmt.Sprintf("%d requests in %s, %.1f expected from the previous %s", cur.Requests, fmtDur(win), expected, fmtDur(base-win))
		enough := cur.Requests
		if r.Kind == KindTrafficDrop {
			enough = int64(expected)
		}
		if before <= 0 || enough < r.minRequests() {
			return []sample{s}
		}
		s.ok, s.value = true, float64(cur.Requests)/expected
		return []sample{s}

	case KindUpstreamHealth:
		type tally struct {
			total     int
			unhealthy []string
		}
		by := map[string]*tally{}
		for _, t := range src.Targets() {
			if r.API != "" && t.API != r.API {
				continue
			}
			c := by[t.API]
			if c == nil {
				c = &tally{}
				by[t.API] = c
			}
			c.total++
			if !t.Healthy {
				c.unhealthy = append(c.unhealthy, t.Target)
			}
		}
		out := make([]sample, 0, len(by))
		for api, c := range by {
			s := sample{subject: api, api: api, ok: true, value: float64(len(c.unhealthy))}
			if r.Measure == MeasureRatio {
				s.value /= float64(c.total)
			}
			slices.Sort(c.unhealthy)
			s.detail = fmt.Sprintf("%d of %d targets unhealthy", len(c.unhealthy), c.total)
			if len(c.unhealthy) > 0 {
				s.detail += ": " + strings.Join(c.unhealthy, ", ")
			}
			out = append(out, s)
		}
		slices.SortFunc(out, func(a, b sample) int { return cmp.Compare(a.subject, b.subject) })
		return out

	case KindQuota:
		var out []sample
		for _, q := range src.Quotas() {
			if q.Limit <= 0 || (r.API != "" && q.API != r.API) || (r.App != "" && q.App != r.App) {
				continue
			}
			subject := q.App
			if q.API != "" {
				subject += "/" + q.API
			}
			out = append(out, sample{subject: subject, api: q.API, ok: true, value: float64(q.Used) / float64(q.Limit),
				detail: fmt.Sprintf("%d of %d per %s on plan %s", q.Used, q.Limit, q.Period, q.Plan)})
		}
		slices.SortFunc(out, func(a, b sample) int { return cmp.Compare(a.subject, b.subject) })
		return out
	}
	return nil
}

// fmtDur formats a duration as rules write it ("1m", not "1m0s").
func fmtDur(d time.Duration) string { return gatehouse.Duration(d).String() }

// quantity names what the rule measures.
func (r *Rule) quantity() string {
	switch r.Kind {
	case KindErrorRate:
		return "error rate"
	case KindLatency:
		return r.Percentile + " latency"
	case KindRateLimited:
		if r.Measure == MeasureCount {
			return "429 responses"
		}
		return "429 ratio"
	case KindTrafficSpike, KindTrafficDrop:
		return "traffic against the baseline"
	case KindUpstreamHealth:
		if r.Measure == MeasureRatio {
			return "share of unhealthy targets"
		}
		return "unhealthy targets"
	case KindQuota:
		return "quota used"
	}
	return string(r.Kind)
}

// format writes a value in the kind's unit.
func (r *Rule) format(v float64) string {
	switch {
	case r.Kind == KindLatency:
		return fmt.Sprintf("%.1fms", v)
	case r.Kind == KindTrafficSpike || r.Kind == KindTrafficDrop:
		return fmt.Sprintf("%.2fx", v)
	case r.Kind == KindUpstreamHealth && r.Measure != MeasureRatio, r.Kind == KindRateLimited && r.Measure == MeasureCount:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g%%", v*100)
}

// message describes a transition for people.
func (r *Rule) message(s sample, state State) string {
	where := "all APIs"
	switch {
	case r.Kind == KindQuota:
		where = "app " + s.subject
	case s.subject != allAPIs:
		where = "API " + s.subject
	}
	op := "≥"
	if r.below() {
		op = "≤"
	}
	if state == StateFiring {
		return fmt.Sprintf("%s: %s on %s is %s, %s %s (%s)", r.Name, r.quantity(), where, r.format(s.value), op, r.format(r.Threshold), s.detail)
	}
	if !s.ok {
		return fmt.Sprintf("%s: resolved on %s: too little data to judge (%s)", r.Name, where, s.detail)
	}
	return fmt.Sprintf("%s: resolved: %s on %s is back to %s (%s)", r.Name, r.quantity(), where, r.format(s.value), s.detail)
}
