package alerts

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Kind is what a rule measures.
type Kind string

// Rule kinds. The value each one compares with its threshold is given in brackets.
const (
	// KindErrorRate: errors / requests over the window [ratio, 0..1].
	KindErrorRate Kind = "error_rate"
	// KindLatency: a latency percentile over the window [milliseconds].
	KindLatency Kind = "latency"
	// KindRateLimited: 429 responses over the window [ratio of requests, or a count].
	KindRateLimited Kind = "rate_limited"
	// KindTrafficSpike: the request rate of the window against the rate of the baseline
	// period before it [ratio, above 1].
	KindTrafficSpike Kind = "traffic_spike"
	// KindTrafficDrop: as KindTrafficSpike, firing when the ratio falls to the threshold
	// or below [ratio, 0..1].
	KindTrafficDrop Kind = "traffic_drop"
	// KindUpstreamHealth: unhealthy targets per API [any, a count, or a ratio of targets].
	KindUpstreamHealth Kind = "upstream_health"
	// KindQuota: used / limit per app and API quota [ratio].
	KindQuota Kind = "quota"
)

// Kinds lists every rule kind.
func Kinds() []Kind {
	return []Kind{KindErrorRate, KindLatency, KindRateLimited, KindTrafficSpike, KindTrafficDrop, KindUpstreamHealth, KindQuota}
}

// Severity tells people how urgent an alert is. It is carried in events, not acted on.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Measures of rate_limited and upstream_health rules.
const (
	MeasureRatio = "ratio" // rate_limited (default): 429s / requests; upstream_health: unhealthy / targets
	MeasureCount = "count" // rate_limited: 429s in the window; upstream_health: unhealthy targets
	MeasureAny   = "any"   // upstream_health (default): fires while any target is unhealthy
)

// Defaults applied by Normalize.
const (
	DefaultWindow      = time.Minute
	DefaultBaseline    = time.Hour
	DefaultPercentile  = "p95"
	DefaultMinRequests = 10
)

// Rule is one alerting rule. In JSON, durations are Go duration strings ("1m", "30s").
//
// Hysteresis: a rule fires when its value breaches Threshold (>= it, or <= it for
// traffic_drop) for For. Once firing it resolves only when the value is clearly back,
// strictly past ResolveThreshold (below it, or above it for traffic_drop), for
// ResolveFor; in between it stays firing. Too little data (fewer than MinRequests
// requests, no targets, no baseline) counts as back.
type Rule struct {
	// ID is unique; chosen by the server ("rule_...") when empty on create.
	ID string `json:"id"`
	// Name is for people; defaults to ID.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// API restricts the rule to one API; empty means all APIs together (error_rate,
	// latency, rate_limited, traffic_*) or each API on its own (upstream_health, quota).
	API string `json:"api,omitempty"`
	// App restricts a quota rule to one app; empty means each app on its own.
	App string `json:"app,omitempty"`
	// Window is what error_rate, latency, rate_limited and traffic_* measure over;
	// default 1m.
	Window gatehouse.Duration `json:"window,omitempty"`
	// Baseline is the period traffic_* compare the window with (the baseline period ends
	// where the window starts); default 1h, and longer than Window.
	Baseline gatehouse.Duration `json:"baseline,omitempty"`
	// Percentile of a latency rule: p50, p95 (default) or p99.
	Percentile string `json:"percentile,omitempty"`
	// Measure of a rate_limited rule: ratio (default) or count; of an upstream_health
	// rule: any (default), count or ratio. Other kinds take none.
	Measure string `json:"measure,omitempty"`
	// Threshold is the value that fires the rule (see Kind for units). An upstream_health
	// rule measuring any takes none (it is 1).
	Threshold float64 `json:"threshold"`
	// ResolveThreshold is the value the rule must be clearly back past to resolve;
	// defaults to Threshold. Set it below Threshold (above, for traffic_drop) for a
	// band in which a firing alert stays firing.
	ResolveThreshold *float64 `json:"resolve_threshold,omitempty"`
	// For is how long the threshold must be breached before the rule fires; 0 fires at
	// the first breaching evaluation.
	For gatehouse.Duration `json:"for,omitempty"`
	// ResolveFor is how long the value must stay back before the alert resolves;
	// defaults to For.
	ResolveFor *gatehouse.Duration `json:"resolve_for,omitempty"`
	// MinRequests is the fewest requests in the window (for traffic_drop: expected from
	// the baseline) for the request-based kinds to judge at all; 0 means 10.
	MinRequests int64 `json:"min_requests,omitempty"`
	// Severity: info, warning (default) or critical.
	Severity Severity `json:"severity,omitempty"`
	// Enabled rules are evaluated. The admin API defaults it to true.
	Enabled bool `json:"enabled"`
	// Webhooks are the ids of the webhooks notified when the rule fires or resolves.
	Webhooks []string `json:"webhooks,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// windowed reports whether the kind measures over Window.
func (k Kind) windowed() bool {
	switch k {
	case KindErrorRate, KindLatency, KindRateLimited, KindTrafficSpike, KindTrafficDrop:
		return true
	}
	return false
}

// below reports whether the rule fires on low values rather than high ones.
func (r *Rule) below() bool { return r.Kind == KindTrafficDrop }

// breaches reports whether v is past the firing threshold.
func (r *Rule) breaches(v float64) bool {
	if r.below() {
		return v <= r.Threshold
	}
	return v >= r.Threshold
}

// clears reports whether v is clearly back, past the resolve threshold.
func (r *Rule) clears(v float64) bool {
	rt := r.resolveThreshold()
	if r.below() {
		return v > rt
	}
	return v < rt
}

func (r *Rule) resolveThreshold() float64 {
	if r.ResolveThreshold != nil {
		return *r.ResolveThreshold
	}
	return r.Threshold
}

func (r *Rule) resolveFor() time.Duration {
	if r.ResolveFor != nil {
		return r.ResolveFor.D()
	}
	return r.For.D()
}

func (r *Rule) minRequests() int64 {
	if r.MinRequests <= 0 {
		return DefaultMinRequests
	}
	return r.MinRequests
}

func (r *Rule) window() time.Duration {
	if r.Window <= 0 {
		return DefaultWindow
	}
	return r.Window.D()
}

func (r *Rule) baseline() time.Duration {
	if r.Baseline <= 0 {
		return DefaultBaseline
	}
	return r.Baseline.D()
}

// Normalize fills defaults in place. Validate expects a normalized rule.
func (r *Rule) Normalize() {
	if r.Name == "" {
		r.Name = r.ID
	}
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if r.Kind.windowed() && r.Window == 0 {
		r.Window = gatehouse.Duration(DefaultWindow)
	}
	switch r.Kind {
	case KindTrafficSpike, KindTrafficDrop:
		if r.Baseline == 0 {
			r.Baseline = gatehouse.Duration(DefaultBaseline)
		}
	case KindLatency:
		if r.Percentile == "" {
			r.Percentile = DefaultPercentile
		}
	case KindRateLimited:
		if r.Measure == "" {
			r.Measure = MeasureRatio
		}
	case KindUpstreamHealth:
		if r.Measure == "" {
			r.Measure = MeasureAny
		}
		if r.Measure == MeasureAny {
			one := 1.0
			r.Threshold, r.ResolveThreshold = 1, &one
		}
	}
	if r.usesRequests() && r.MinRequests == 0 {
		r.MinRequests = DefaultMinRequests
	}
	if r.ResolveThreshold == nil {
		rt := r.Threshold
		r.ResolveThreshold = &rt
	}
	if r.ResolveFor == nil {
		rf := r.For
		r.ResolveFor = &rf
	}
	if r.Webhooks == nil {
		r.Webhooks = []string{}
	}
}

// usesRequests reports whether MinRequests applies.
func (r *Rule) usesRequests() bool {
	switch r.Kind {
	case KindErrorRate, KindLatency, KindTrafficSpike, KindTrafficDrop:
		return true
	case KindRateLimited:
		return r.Measure != MeasureCount
	}
	return false
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// maxDuration bounds windows and holds: the engine keeps no more history than a day.
const maxDuration = 24 * time.Hour

// Validate checks a normalized rule and returns an EInvalid *gatehouse.Error naming each
// bad field by its JSON name.
func (r *Rule) Validate() error {
	var p gatehouse.Problems
	if !idPattern.MatchString(r.ID) {
		p.Addf("id", "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	if len(r.Name) > 200 {
		p.Addf("name", "must be at most 200 characters")
	}
	if !slices.Contains(Kinds(), r.Kind) {
		p.Addf("kind", "must be one of %v", Kinds())
	}
	if r.App != "" && r.Kind != KindQuota {
		p.Addf("app", "applies to quota rules only")
	}
	if r.Kind.windowed() {
		checkDuration(&p, "window", r.Window.D(), time.Second, maxDuration)
	} else if r.Window != 0 {
		p.Addf("window", "does not apply to %s rules", r.Kind)
	}
	if r.Kind == KindTrafficSpike || r.Kind == KindTrafficDrop {
		checkDuration(&p, "baseline", r.Baseline.D(), time.Second, 7*maxDuration)
		if r.Baseline.D() <= r.Window.D() {
			p.Addf("baseline", "must be longer than window (%s)", r.Window)
		}
	} else if r.Baseline != 0 {
		p.Addf("baseline", "applies to traffic_spike and traffic_drop rules only")
	}
	if r.Kind == KindLatency {
		if !slices.Contains([]string{"p50", "p95", "p99"}, r.Percentile) {
			p.Addf("percentile", "must be p50, p95 or p99")
		}
	} else if r.Percentile != "" {
		p.Addf("percentile", "applies to latency rules only")
	}
	switch r.Kind {
	case KindRateLimited:
		if r.Measure != MeasureRatio && r.Measure != MeasureCount {
			p.Addf("measure", "must be ratio or count")
		}
	case KindUpstreamHealth:
		if r.Measure != MeasureAny && r.Measure != MeasureCount && r.Measure != MeasureRatio {
			p.Addf("measure", "must be any, count or ratio")
		}
	default:
		if r.Measure != "" {
			p.Addf("measure", "applies to rate_limited and upstream_health rules only")
		}
	}
	lo, hi, unit := r.thresholdRange()
	zeroOK := r.Kind == KindTrafficDrop // "traffic stopped altogether"
	if math.IsNaN(r.Threshold) || r.Threshold < lo || r.Threshold > hi || r.Threshold == 0 && !zeroOK {
		p.Addf("threshold", "must be %s", unit)
	}
	if rt := r.resolveThreshold(); math.IsNaN(rt) || math.IsInf(rt, 0) || rt < 0 {
		p.Addf("resolve_threshold", "must be a number, 0 or more")
	} else if r.below() && rt < r.Threshold {
		p.Addf("resolve_threshold", "must be at least threshold (%g): traffic_drop resolves when the ratio rises past it", r.Threshold)
	} else if !r.below() && rt > r.Threshold {
		p.Addf("resolve_threshold", "must be at most threshold (%g): the rule resolves when the value falls below it", r.Threshold)
	}
	checkDuration(&p, "for", r.For.D(), 0, maxDuration)
	checkDuration(&p, "resolve_for", r.resolveFor(), 0, maxDuration)
	if r.MinRequests < 0 {
		p.Addf("min_requests", "must be 0 or more")
	} else if r.MinRequests != 0 && !r.usesRequests() {
		p.Addf("min_requests", "does not apply to %s rules measuring %s", r.Kind, r.measureName())
	}
	if !slices.Contains([]Severity{SeverityInfo, SeverityWarning, SeverityCritical}, r.Severity) {
		p.Addf("severity", "must be info, warning or critical")
	}
	for i, id := range r.Webhooks {
		switch {
		case !idPattern.MatchString(id):
			p.Addf(fmt.Sprintf("webhooks[%d]", i), "is not a webhook id")
		case slices.Index(r.Webhooks, id) < i:
			p.Addf(fmt.Sprintf("webhooks[%d]", i), "is listed twice")
		}
	}
	if len(r.Webhooks) > 20 {
		p.Addf("webhooks", "lists more than 20 webhooks")
	}
	return p.Err("alert rule")
}

func (r *Rule) measureName() string {
	if r.Measure == "" {
		return "the default"
	}
	return r.Measure
}

// thresholdRange is the allowed threshold: [lo, hi], excluding 0 when lo is 0.
func (r *Rule) thresholdRange() (lo, hi float64, unit string) {
	switch r.Kind {
	case KindErrorRate:
		return 0, 1, "a ratio above 0 and at most 1 (0.05 is 5%)"
	case KindLatency:
		return 0, 3_600_000, "a number of milliseconds above 0"
	case KindRateLimited:
		if r.Measure == MeasureCount {
			return 1, math.MaxInt32, "a count of 1 or more"
		}
		return 0, 1, "a ratio above 0 and at most 1"
	case KindTrafficSpike:
		return 1.01, 1e6, "a ratio above 1 (3 is three times the baseline rate)"
	case KindTrafficDrop:
		return 0, 0.99, "a ratio from 0 to below 1 (0.2 is a fifth of the baseline rate)"
	case KindUpstreamHealth:
		if r.Measure == MeasureRatio {
			return 0, 1, "a ratio above 0 and at most 1"
		}
		return 1, 10_000, "a count of 1 or more"
	case KindQuota:
		return 0, 100, "a ratio above 0 (0.9 is 90% of the quota used)"
	}
	return math.Inf(-1), math.Inf(1), "a number"
}

// checkDuration checks lo <= d <= hi.
func checkDuration(p *gatehouse.Problems, field string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.Addf(field, "must be from %s to %s", gatehouse.Duration(lo), gatehouse.Duration(hi))
	}
}
