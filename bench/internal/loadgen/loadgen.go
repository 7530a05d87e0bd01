// Package loadgen is the open-loop load machinery the bench tools share (limitcheck,
// loadcount): an HTTP client over a fixed number of keep-alive connections, a pacer that
// hands out requests at a fixed rate whatever the answers do, quantiles of durations, and
// a tiny origin that answers 200 "hello\n".
package loadgen

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// NewClient is an HTTP/1.1 client that keeps at most conns keep-alive connections to a
// host, never goes through a proxy from the environment (the benches run on loopback),
// never follows a redirect (an unexpected answer, to be counted as such) and gives up on a
// request after timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Pace schedules total requests at rate per second from start (request i is due at
// start + i/rate) and calls dispatch(i, due) for each as soon as it is due, due measured
// from start; it returns how many it dispatched, fewer than total when ctx ended first.
// dispatch usually sends on a sender's channel: when that blocks, the pacer falls behind
// and catches up by count, so the rate over the run stays exact while the send lag (sent −
// due, noted by the senders) shows it. Sleeps are coarse (the runtime's timers, about a
// millisecond), so requests leave in small groups.
func Pace(ctx context.Context, start time.Time, rate float64, total int64, dispatch func(i int64, due time.Duration)) int64 {
	period := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var i int64
	for i < total {
		due := min(int64(float64(time.Since(start))/period)+1, total)
		for ; i < due; i++ {
			dispatch(i, time.Duration(float64(i)*period))
		}
		if i >= total {
			break
		}
		timer.Reset(time.Duration(float64(i)*period) - time.Since(start))
		select {
		case <-ctx.Done():
			return i
		case <-timer.C:
		}
	}
	return i
}

// Quantiles of a set of durations, in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// QuantilesOf returns the p50, p99 and maximum of ds (nearest rank below), leaving ds as
// it is.
func QuantilesOf(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return Quantiles{P50: At(ds, 0.50), P99: At(ds, 0.99), Max: At(ds, 1)}
}

// At is the q quantile (0..1) of sorted, in milliseconds: the element at rank
// q × (len − 1), rounded down. 0 for none.
func At(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// AchievedRate is the rate of n requests sent over d, first to last: n−1 intervals.
func AchievedRate(n int64, d time.Duration) float64 {
	if n < 2 || d <= 0 {
		return 0
	}
	return float64(n-1) / d.Seconds()
}

// HeaderFlag is a flag.Func that adds a request header given as "Name: value" to h.
func HeaderFlag(h http.Header) func(string) error {
	return func(s string) error {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf(`want "Name: value", got %q`, s)
		}
		h.Add(name, strings.TrimSpace(value))
		return nil
	}
}

// StatusList is counts by status as "200 ×5, 503 ×1", in order of status; "none" when
// there are none.
func StatusList(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
