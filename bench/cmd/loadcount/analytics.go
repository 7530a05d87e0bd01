package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Admin reads a node's admin listener: the analytics totals of one API and /metrics.
type Admin struct {
	Base   string // http://host:port
	Token  string // an admin token
	API    string // the API's name
	Client *http.Client
}

// Totals is the part of GET /v1/analytics/totals this tool reads.
type Totals struct {
	From        string  `json:"from"`
	To          string  `json:"to"`
	Count       int64   `json:"count"`
	Errors      int64   `json:"errors"`
	RateLimited int64   `json:"rate_limited"`
	Rejected    int64   `json:"rejected"`
	LatencyP50  float64 `json:"latency_p50"`
	LatencyP99  float64 `json:"latency_p99"`
}

// totals asks for the API's totals over [from, to); the node aligns both to the minute.
func (a *Admin) totals(ctx context.Context, from, to time.Time) (Totals, error) {
	q := url.Values{}
	q.Set("api", a.API)
	q.Set("from", from.UTC().Format(time.RFC3339Nano))
	q.Set("to", to.UTC().Format(time.RFC3339Nano))
	var t Totals
	body, err := a.get(ctx, "/v1/analytics/totals?"+q.Encode())
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("totals: %w", err)
	}
	return t, nil
}

// Recorder is the node's analytics recorder counters from /metrics.
type Recorder struct {
	Recorded int64 `json:"recorded"`
	Dropped  int64 `json:"dropped"`
}

// recorder reads gatehouse_analytics_events_{recorded,dropped}_total from /metrics.
func (a *Admin) recorder(ctx context.Context) (Recorder, error) {
	body, err := a.get(ctx, "/metrics")
	if err != nil {
		return Recorder{}, err
	}
	return parseRecorder(string(body))
}

// parseRecorder finds the recorder's two counters in a Prometheus text exposition.
func parseRecorder(text string) (Recorder, error) {
	var r Recorder
	found := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		var dst *int64
		switch {
		case !ok:
			continue
		case name == "gatehouse_analytics_events_recorded_total":
			dst = &r.Recorded
		case name == "gatehouse_analytics_events_dropped_total":
			dst = &r.Dropped
		default:
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return r, fmt.Errorf("/metrics: %s: %w", name, err)
		}
		*dst = int64(f)
		found++
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if found != 2 {
		return r, fmt.Errorf("/metrics: want gatehouse_analytics_events_recorded_total and _dropped_total, found %d of them", found)
	}
	return r, nil
}

func (a *Admin) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	return body, nil
}

// Poll is how the query API caught up with the load.
type Poll struct {
	Want  int64  `json:"want"`  // baseline + the load's answers
	Last  Totals `json:"last"`  // the last answer
	Equal bool   `json:"equal"` // Last.Count == Want
	// UntilEqualS is from the last answer of the load to the first query that counted
	// them all; -1 when none did.
	UntilEqualS float64 `json:"until_equal_s"`
	Polls       int     `json:"polls"`
	// Over is true when a count went past Want: counts only grow, so it never equals.
	Over bool `json:"over,omitempty"`
}

// poll queries the totals every interval until the count is want, goes past it, or
// timeout passes; since is when the load's last answer came.
func poll(ctx context.Context, a *Admin, from, to time.Time, want int64, since time.Time, interval, timeout time.Duration) (Poll, error) {
	p := Poll{Want: want, UntilEqualS: -1}
	deadline := time.Now().Add(timeout)
	for {
		t, err := a.totals(ctx, from, to)
		at := time.Now()
		if err != nil {
			return p, err
		}
		p.Polls++
		p.Last = t
		switch {
		case t.Count == want:
			p.Equal = true
			p.UntilEqualS = at.Sub(since).Seconds()
			return p, nil
		case t.Count > want:
			p.Over = true
			return p, nil
		case at.After(deadline):
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(interval):
		}
	}
}
