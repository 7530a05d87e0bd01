package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one `wrk --latency` run printed.
type wrkResult struct {
	Requests int64         // requests completed in the run
	Duration time.Duration // as wrk measured it (a little longer than -d)
	RPS      float64       // wrk's Requests/sec
	P50      time.Duration
	P75      time.Duration
	P90      time.Duration
	P99      time.Duration

	Non2xx     int64 // "Non-2xx or 3xx responses": status >= 400
	ConnectErr int64
	ReadErr    int64
	WriteErr   int64
	TimeoutErr int64
}

// Errors is every failed request or socket error wrk reported.
func (w wrkResult) Errors() int64 {
	return w.Non2xx + w.ConnectErr + w.ReadErr + w.WriteErr + w.TimeoutErr
}

// ErrorSummary says which errors wrk reported, for a loud message.
func (w wrkResult) ErrorSummary() string {
	var parts []string
	for _, e := range []struct {
		name string
		n    int64
	}{
		{"non-2xx/3xx responses", w.Non2xx},
		{"connect errors", w.ConnectErr},
		{"read errors", w.ReadErr},
		{"write errors", w.WriteErr},
		{"timeouts", w.TimeoutErr},
	} {
		if e.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", e.n, e.name))
		}
	}
	return strings.Join(parts, ", ")
}

var (
	reRequests   = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+[a-z]+)`)
	reRPS        = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	rePercentile = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+[a-z]+)\s*$`)
	reSocketErr  = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
	reNon2xx     = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)\s*$`)
)

// parseWrk reads the text wrk 4.x prints with --latency. The request count, rate and the
// 50th and 99th percentiles must be there; error lines are optional (wrk omits them when
// they are zero).
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var errs []error

	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
		d, err := time.ParseDuration(m[2])
		if err != nil {
			errs = append(errs, fmt.Errorf("run duration %q: %w", m[2], err))
		}
		r.Duration = d
	} else {
		errs = append(errs, errors.New(`no "N requests in T" line`))
	}
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	} else {
		errs = append(errs, errors.New(`no "Requests/sec:" line`))
	}

	// The percentiles follow "Latency Distribution"; the same shapes do not occur above it.
	dist := out
	if i := strings.Index(out, "Latency Distribution"); i >= 0 {
		dist = out[i:]
	} else {
		errs = append(errs, errors.New(`no "Latency Distribution" section (run wrk with --latency)`))
	}
	seen := map[string]bool{}
	for _, m := range rePercentile.FindAllStringSubmatch(dist, -1) {
		d, err := time.ParseDuration(m[2])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%% latency %q: %w", m[1], m[2], err))
			continue
		}
		seen[m[1]] = true
		switch m[1] {
		case "50":
			r.P50 = d
		case "75":
			r.P75 = d
		case "90":
			r.P90 = d
		case "99":
			r.P99 = d
		}
	}
	for _, p := range []string{"50", "99"} {
		if !seen[p] {
			errs = append(errs, fmt.Errorf("no %s%% latency line", p))
		}
	}

	if m := reSocketErr.FindStringSubmatch(out); m != nil {
		r.ConnectErr, _ = strconv.ParseInt(m[1], 10, 64)
		r.ReadErr, _ = strconv.ParseInt(m[2], 10, 64)
		r.WriteErr, _ = strconv.ParseInt(m[3], 10, 64)
		r.TimeoutErr, _ = strconv.ParseInt(m[4], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("unexpected wrk output: %w", err)
	}
	return r, nil
}
