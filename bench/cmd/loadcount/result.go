package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

// Result is one run, printed as JSON.
type Result struct {
	Label   string `json:"label"` // the scenario, for the report
	URL     string `json:"url"`
	API     string `json:"api"`
	Started string `json:"started"` // RFC 3339, UTC

	TargetRPS          float64 `json:"target_rps"`
	RequestedDurationS float64 `json:"requested_duration_s"`
	Connections        int     `json:"connections"`

	// What the generator counted: every request sent, and how each ended.
	Sent            int64            `json:"sent"`
	Answered        int64            `json:"answered"` // any status
	Statuses        map[string]int64 `json:"statuses"`
	Status5xx       int64            `json:"status_5xx"`
	TransportErrors int64            `json:"transport_errors"` // no answer at all
	ErrorSamples    []string         `json:"error_samples,omitempty"`

	// D: from the first to the last request sent, and the rate achieved over it.
	DurationS   float64           `json:"duration_s"`
	AchievedRPS float64           `json:"achieved_rps"`
	SendLagMs   loadgen.Quantiles `json:"send_lag_ms"` // how late requests left against the schedule
	LatencyMs   loadgen.Quantiles `json:"latency_ms"`  // client-side, sent to answer read

	ClientCPUCores float64     `json:"client_cpu_cores"`
	CPU            *cpuuse.Use `json:"cpu,omitempty"` // with -pid: the node's and origin's cores

	// What the query API said: GET /v1/analytics/totals?api=API over [From, To), the
	// load's first request minus a minute to its last answer plus a minute (the node
	// aligns them to whole minutes).
	From string `json:"from"`
	To   string `json:"to"`
	// Baseline is the count over the same range before the load (anything else that hit
	// the API, such as a probe): Expected = Baseline + Answered.
	Baseline       int64 `json:"baseline"`
	Expected       int64 `json:"expected"`
	AnalyticsCount int64 `json:"analytics_count"` // the last answer's count
	// AnalyticsErrors is the query's errors (status ≥ 500) less the baseline's, against
	// the generator's 5xx.
	AnalyticsErrors int64   `json:"analytics_errors"`
	Equal           bool    `json:"equal"`
	UntilEqualS     float64 `json:"until_equal_s"` // from the load's last answer; -1: never
	Polls           int     `json:"polls"`
	// StillEqual is the count again RecheckS after it was equal, once the node has written
	// its rollups to the store: the flushed rows and the unflushed ones add up to no more
	// and no less. Nil when not checked.
	RecheckS   float64 `json:"recheck_s,omitempty"`
	RecheckCnt int64   `json:"recheck_count,omitempty"`
	StillEqual *bool   `json:"still_equal,omitempty"`
	// The node's recorder over the run (/metrics): events recorded and dropped.
	Recorded *int64 `json:"events_recorded,omitempty"`
	Dropped  *int64 `json:"events_dropped,omitempty"`

	Problems []string `json:"problems,omitempty"` // why a run is not EQUAL
	Warnings []string `json:"warnings,omitempty"`
}

// newResult fills the generator's side of a result.
func newResult(cfg LoadConfig, l *Load) *Result {
	r := &Result{
		URL:                cfg.URL,
		Started:            l.Start.UTC().Format(time.RFC3339),
		TargetRPS:          cfg.Rate,
		RequestedDurationS: cfg.Duration.Seconds(),
		Connections:        cfg.Connections,
		Sent:               l.Sent,
		Answered:           l.Answered(),
		Statuses:           statusKeys(l.Statuses),
		Status5xx:          l.Class(500, 599),
		TransportErrors:    l.Errors,
		ErrorSamples:       l.Samples,
		SendLagMs:          loadgen.QuantilesOf(l.Lags),
		LatencyMs:          loadgen.QuantilesOf(l.Lats),
		UntilEqualS:        -1,
	}
	d := l.Last.Sub(l.First)
	r.DurationS = d.Seconds()
	r.AchievedRPS = loadgen.AchievedRate(l.Sent, d)
	return r
}

// check sets Equal's reasons and the warnings.
func (r *Result) check() {
	r.Problems = nil
	if !r.Equal {
		r.Problems = append(r.Problems, fmt.Sprintf("the query API counted %d, the generator %d answers (+ baseline %d): %+d",
			r.AnalyticsCount, r.Answered, r.Baseline, r.AnalyticsCount-r.Expected))
	}
	if r.StillEqual != nil && !*r.StillEqual {
		r.Problems = append(r.Problems, fmt.Sprintf("%.0f s later, after the rollups were flushed, the count was %d (%+d)",
			r.RecheckS, r.RecheckCnt, r.RecheckCnt-r.Expected))
	}
	if r.AnalyticsErrors != r.Status5xx {
		r.Problems = append(r.Problems, fmt.Sprintf("the query API counted %d errors (status ≥ 500), the generator %d 5xx answers",
			r.AnalyticsErrors, r.Status5xx))
	}
	if r.Dropped != nil && *r.Dropped > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("the recorder dropped %d events (gatehouse_analytics_events_dropped_total)", *r.Dropped))
	}
	if r.TransportErrors > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d requests had no answer (such as %q): the gateway may or may not have counted them",
			r.TransportErrors, first(r.ErrorSamples)))
	}
	if r.Sent >= 2 && r.AchievedRPS < 0.99*r.TargetRPS {
		r.Warnings = append(r.Warnings, fmt.Sprintf("achieved %.0f req/s, %.1f%% below the target %.0f", r.AchievedRPS,
			100*(1-r.AchievedRPS/r.TargetRPS), r.TargetRPS))
	}
	if r.Answered > 0 && r.Statuses["200"] != r.Answered {
		r.Warnings = append(r.Warnings, "not every answer was a 200: "+loadgen.StatusList(r.Statuses))
	}
	if r.ClientCPUCores > 0.8 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the load tool used %.2f cores on average: it may have set the pace", r.ClientCPUCores))
	}
}

// OK is a run whose counts all agree.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Verdict is EQUAL or NOT EQUAL.
func (r *Result) Verdict() string {
	if r.OK() {
		return "EQUAL"
	}
	return "NOT EQUAL"
}

// Line is the result in one line for people.
func (r *Result) Line() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s", r.Verdict())
	if r.Label != "" {
		p(" (%s)", r.Label)
	}
	p(": sent %d at %.0f req/s (target %.0f) over %.3f s; answered %d (%s), %d transport errors; ",
		r.Sent, r.AchievedRPS, r.TargetRPS, r.DurationS, r.Answered, loadgen.StatusList(r.Statuses), r.TransportErrors)
	p("analytics count %d vs %d", r.AnalyticsCount, r.Expected)
	if r.Baseline != 0 {
		p(" (baseline %d + answered %d)", r.Baseline, r.Answered)
	}
	if r.Equal {
		p(", equal %.2f s after the last answer", r.UntilEqualS)
	}
	if r.StillEqual != nil {
		p(", %d %.0f s later", r.RecheckCnt, r.RecheckS)
	}
	p("; analytics errors %d vs 5xx %d", r.AnalyticsErrors, r.Status5xx)
	if r.Dropped != nil {
		p("; events dropped %d", *r.Dropped)
	}
	p("; latency p50 %.2f / p99 %.2f / max %.2f ms; send lag p99 %.2f ms", r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.Max, r.SendLagMs.P99)
	if c := r.CPU; c != nil {
		for _, pc := range c.Procs {
			p("; %s %.2f cores", pc.Label, pc.Cores)
		}
	}
	for _, w := range r.Warnings {
		p("; warning: %s", w)
	}
	for _, x := range r.Problems {
		p("; %s", x)
	}
	return b.String()
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}
