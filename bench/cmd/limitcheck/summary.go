package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

// Summary is a run's result, printed as JSON.
type Summary struct {
	Started string `json:"started"` // RFC 3339, UTC

	TargetRPS          float64 `json:"target_rps"`
	RequestedDurationS float64 `json:"requested_duration_s"`
	ConnectionsPerNode int     `json:"connections_per_node"`
	WarmupS            float64 `json:"warmup_s"` // sent first, uncounted
	SettleS            float64 `json:"settle_s"` // the pause after the warm-up: the bucket refills

	// The policy under test.
	Limit   int64   `json:"limit"`
	WindowS float64 `json:"window_s"`
	Burst   int64   `json:"burst"`

	// D: from the first to the last request sent, and the rate achieved over it.
	DurationS   float64 `json:"duration_s"`
	AchievedRPS float64 `json:"achieved_rps"`

	Counts
	// Expected is limit × D / window + burst; ErrorPct is (allowed − expected) / expected
	// in percent, allowed being the 200s.
	Expected    float64 `json:"expected"`
	ErrorPct    float64 `json:"error_pct"`
	MaxErrorPct float64 `json:"max_error_pct"`
	Pass        bool    `json:"pass"` // |ErrorPct| ≤ MaxErrorPct, and Valid

	// BucketRefills counts the 200s, past the run's first 100 ms, whose RateLimit header
	// says the bucket had been full (r ≥ burst − 1): the load had paused long enough to
	// refill it, allowance went unused, and the expected count no longer applies. -1 when
	// the answers carry no RateLimit header.
	BucketRefills int64 `json:"bucket_refills"`

	// Valid is false when the counts say nothing about the limiter; Invalid says why.
	Valid    bool     `json:"valid"`
	Invalid  []string `json:"invalid,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// SendLagMs: how late requests left against their schedule; LatencyMs: how long the
	// answers took. Both over every request sent.
	SendLagMs loadgen.Quantiles `json:"send_lag_ms"`
	LatencyMs loadgen.Quantiles `json:"latency_ms"`
	// The load tool's own CPU time over the run, and its average in cores: near the
	// machine's core count, the tool rather than the nodes may have set the pace.
	ClientCPUSeconds float64 `json:"client_cpu_s"`
	ClientCPUCores   float64 `json:"client_cpu_cores"`
	// CPU is where the machine's CPU went over the run (with -pid and -redis).
	CPU *cpuuse.Use `json:"cpu,omitempty"`

	Nodes []NodeSummary `json:"nodes"`
}

// Counts are the answers to a node's requests, or to all of them.
type Counts struct {
	Sent    int64 `json:"sent"`
	OK      int64 `json:"ok_200"`      // allowed
	Limited int64 `json:"limited_429"` // rejected by the limit
	Other   int64 `json:"other"`       // any other status
	Errors  int64 `json:"errors"`      // transport errors: no answer at all
	// OtherStatuses counts Other by status code.
	OtherStatuses map[string]int64 `json:"other_statuses,omitempty"`
	ErrorSamples  []string         `json:"error_samples,omitempty"`
}

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.OK += o.OK
	c.Limited += o.Limited
	c.Other += o.Other
	c.Errors += o.Errors
	for k, v := range o.OtherStatuses {
		if c.OtherStatuses == nil {
			c.OtherStatuses = map[string]int64{}
		}
		c.OtherStatuses[k] += v
	}
	for _, s := range o.ErrorSamples {
		if len(c.ErrorSamples) < maxErrorSamples && !slices.Contains(c.ErrorSamples, s) {
			c.ErrorSamples = append(c.ErrorSamples, s)
		}
	}
}

// NodeSummary is one node's share of the run.
type NodeSummary struct {
	URL string `json:"url"`
	Counts
	DurationS   float64 `json:"duration_s"`
	AchievedRPS float64 `json:"achieved_rps"`
}

// expected is how many requests GCRA lets through over d when they arrive faster than the
// limit and the bucket starts full: the burst at once, then limit per window.
func expected(limit, burst int64, window, d time.Duration) float64 {
	if burst == 0 {
		burst = limit
	}
	return float64(limit)*d.Seconds()/window.Seconds() + float64(burst)
}

// errorPct is (allowed − expected) / expected, in percent.
func errorPct(allowed int64, expected float64) float64 {
	if expected == 0 {
		return 0
	}
	return 100 * (float64(allowed) - expected) / expected
}

// summarize merges the workers' counts, per node (results[i] are node i's workers) and in
// total, and checks the run.
func summarize(cfg Config, start time.Time, results [][]*worker) *Summary {
	burst := cfg.Burst
	if burst == 0 {
		burst = cfg.Limit
	}
	s := &Summary{
		Started:            start.UTC().Format(time.RFC3339),
		TargetRPS:          cfg.Rate,
		RequestedDurationS: cfg.Duration.Seconds(),
		ConnectionsPerNode: cfg.Connections,
		WarmupS:            cfg.Warmup.Seconds(),
		SettleS:            cfg.Settle.Seconds(),
		Limit:              cfg.Limit,
		WindowS:            cfg.Window.Seconds(),
		Burst:              burst,
		MaxErrorPct:        cfg.MaxError,
	}
	var first, last time.Time
	var lags, lats []time.Duration
	s.BucketRefills = -1
	for i, ws := range results {
		ns := NodeSummary{URL: cfg.URLs[i]}
		var nfirst, nlast time.Time
		for _, w := range ws {
			other := map[string]int64{}
			for code, n := range w.other {
				other[strconv.Itoa(code)] += n
			}
			ns.add(Counts{Sent: w.sent, OK: w.ok, Limited: w.limited, Errors: w.errors,
				Other: sum(w.other), OtherStatuses: other, ErrorSamples: w.samples})
			if !w.first.IsZero() && (nfirst.IsZero() || w.first.Before(nfirst)) {
				nfirst = w.first
			}
			if w.last.After(nlast) {
				nlast = w.last
			}
			for _, r := range w.reqs {
				lags = append(lags, r.sent-r.due)
				lats = append(lats, r.latency)
				if r.remaining >= 0 {
					s.BucketRefills = max(s.BucketRefills, 0)
					// The bucket is full when the run starts; 100 ms in, at any rate
					// worth measuring, it no longer is, and a refill takes far longer.
					if r.remaining >= burst-1 && r.sent > 100*time.Millisecond {
						s.BucketRefills++
					}
				}
			}
		}
		if !nfirst.IsZero() {
			d := nlast.Sub(nfirst)
			ns.DurationS = d.Seconds()
			ns.AchievedRPS = loadgen.AchievedRate(ns.Sent, d)
			if first.IsZero() || nfirst.Before(first) {
				first = nfirst
			}
			if nlast.After(last) {
				last = nlast
			}
		}
		s.add(ns.Counts)
		s.Nodes = append(s.Nodes, ns)
	}
	d := last.Sub(first)
	s.DurationS = d.Seconds()
	s.AchievedRPS = loadgen.AchievedRate(s.Sent, d)
	s.Expected = expected(cfg.Limit, burst, cfg.Window, d)
	s.ErrorPct = errorPct(s.OK, s.Expected)
	s.SendLagMs = loadgen.QuantilesOf(lags)
	s.LatencyMs = loadgen.QuantilesOf(lats)
	s.check()
	return s
}

func sum(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// check sets Valid, Invalid, Pass and the warnings about the load.
func (s *Summary) check() {
	if s.Errors > 0 {
		s.Invalid = append(s.Invalid, fmt.Sprintf("%d transport error(s), such as %q", s.Errors, firstOr(s.ErrorSamples)))
	}
	if s.Other > 0 {
		s.Invalid = append(s.Invalid, fmt.Sprintf("%d response(s) neither 200 nor 429: %s", s.Other, loadgen.StatusList(s.OtherStatuses)))
	}
	if s.Sent < 2 || s.DurationS <= 0 {
		s.Invalid = append(s.Invalid, fmt.Sprintf("only %d request(s) sent", s.Sent))
	} else if limitRate := float64(s.Limit) / s.WindowS; s.AchievedRPS <= limitRate {
		// Below the limit GCRA allows everything: the expected count does not apply.
		s.Invalid = append(s.Invalid, fmt.Sprintf("offered %.0f req/s, not above the limit's %.0f req/s", s.AchievedRPS, limitRate))
	}
	if s.BucketRefills > 0 {
		s.Invalid = append(s.Invalid, fmt.Sprintf("the bucket was full again %d time(s) during the run (RateLimit r ≥ burst − 1): "+
			"the load stalled long enough to leave allowance unused, so the expected count does not apply", s.BucketRefills))
	}
	if s.Sent >= 2 && s.AchievedRPS < 0.95*s.TargetRPS {
		s.Invalid = append(s.Invalid, fmt.Sprintf("achieved %.0f req/s, %.0f%% below the target %.0f: the load was not delivered",
			s.AchievedRPS, 100*(1-s.AchievedRPS/s.TargetRPS), s.TargetRPS))
	}
	if refill := float64(s.Burst) * s.WindowS / float64(s.Limit) * 1000; s.BucketRefills < 0 && s.SendLagMs.Max >= refill {
		s.Invalid = append(s.Invalid, fmt.Sprintf("requests left up to %.0f ms late, no less than the bucket's refill time (%.0f ms), "+
			"and without RateLimit headers a refill cannot be ruled out", s.SendLagMs.Max, refill))
	}
	s.Valid = len(s.Invalid) == 0
	s.Pass = s.Valid && abs(s.ErrorPct) <= s.MaxErrorPct
	if s.Valid && s.AchievedRPS < 0.99*s.TargetRPS {
		s.Warnings = append(s.Warnings, fmt.Sprintf("achieved %.0f req/s, %.1f%% below the target %.0f", s.AchievedRPS,
			100*(1-s.AchievedRPS/s.TargetRPS), s.TargetRPS))
	}
	if s.SendLagMs.P99 > 10 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("p99 send lag %.1f ms: requests left late, in bunches", s.SendLagMs.P99))
	}
}

// addClientWarnings warns when the load tool was busy enough to have set the pace, and
// when other work took a good part of the machine.
func (s *Summary) addClientWarnings() {
	if s.ClientCPUCores > 0.8 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the load tool used %.2f cores on average: it may have been a bottleneck", s.ClientCPUCores))
	}
	if c := s.CPU; c != nil && c.NCPU > 0 && c.OthersCores > 0.15*float64(c.NCPU) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("other work kept %.2f of the %d cores busy during the run", c.OthersCores, c.NCPU))
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func firstOr(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

// Verdict is PASS, FAIL or INVALID.
func (s *Summary) Verdict() string {
	switch {
	case !s.Valid:
		return "INVALID"
	case s.Pass:
		return "PASS"
	default:
		return "FAIL"
	}
}

// Line is the summary in one line for people.
func (s *Summary) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: allowed %d, expected %.0f (%d/%gs over %.3f s + burst %d), error %+.2f%% (limit ±%g%%); sent %d at %.0f req/s (target %.0f), %d 429",
		s.Verdict(), s.OK, s.Expected, s.Limit, s.WindowS, s.DurationS, s.Burst, s.ErrorPct, s.MaxErrorPct,
		s.Sent, s.AchievedRPS, s.TargetRPS, s.Limited)
	if s.Other > 0 || s.Errors > 0 {
		fmt.Fprintf(&b, ", %d other, %d transport errors", s.Other, s.Errors)
	}
	for i, n := range s.Nodes {
		fmt.Fprintf(&b, "; node %d: %d sent, %d 200, %d 429", i+1, n.Sent, n.OK, n.Limited)
		if n.Other > 0 || n.Errors > 0 {
			fmt.Fprintf(&b, ", %d other, %d errors", n.Other, n.Errors)
		}
	}
	if c := s.CPU; c != nil {
		fmt.Fprintf(&b, "; CPU: machine %.2f of %d cores, others %.2f", c.MachineCores, c.NCPU, c.OthersCores)
	}
	for _, w := range s.Warnings {
		b.WriteString("; warning: " + w)
	}
	for _, r := range s.Invalid {
		b.WriteString("; invalid: " + r)
	}
	return b.String()
}
