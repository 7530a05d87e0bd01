package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

// LoadConfig is the load: GETs of one URL at Rate per second for Duration, open-loop,
// over Connections keep-alive connections (one sender goroutine each).
type LoadConfig struct {
	URL         string
	Rate        float64
	Duration    time.Duration
	Connections int
	Header      http.Header
	Timeout     time.Duration // per request; a timeout is a transport error
}

// maxErrorSamples is how many distinct transport errors a run keeps to print.
const maxErrorSamples = 5

// sender is one connection's counts, merged when the load ends, so the hot path shares
// nothing.
type sender struct {
	sent, errors int64
	statuses     map[int]int64
	samples      []string
	first, last  time.Time       // the first and last request it sent
	done         time.Time       // when its last answer (or error) came
	lags, lats   []time.Duration // per request: sent − due, and the answer's latency
}

// Load is what the generator saw: every request sent and how it ended.
type Load struct {
	Start    time.Time // the schedule's zero
	First    time.Time // the first request sent
	Last     time.Time // the last request sent
	Done     time.Time // the last answer in
	Sent     int64
	Statuses map[int]int64 // answers by status
	Errors   int64         // transport errors: no answer
	Samples  []string
	Lags     []time.Duration
	Lats     []time.Duration
}

// Answered is the answers of any status: each is one request the gateway completed.
func (l *Load) Answered() int64 {
	var n int64
	for _, v := range l.Statuses {
		n += v
	}
	return n
}

// Class is the answers with a status in [lo, hi].
func (l *Load) Class(lo, hi int) int64 {
	var n int64
	for code, v := range l.Statuses {
		if code >= lo && code <= hi {
			n += v
		}
	}
	return n
}

// runLoad sends the load and waits for every answer. ctx ends it early: what was sent is
// still answered and counted.
func runLoad(ctx context.Context, cfg LoadConfig) *Load {
	client := loadgen.NewClient(cfg.Connections, cfg.Timeout)
	defer client.CloseIdleConnections()
	total := int64(cfg.Rate * cfg.Duration.Seconds())
	// A second's worth of queue: the pacer waits on the senders only when the gateway is a
	// whole second behind, which the send lag shows.
	jobs := make(chan time.Duration, int(cfg.Rate)+1)
	senders := make([]*sender, cfg.Connections)
	expect := int(total)/cfg.Connections + 16
	var wg sync.WaitGroup
	start := time.Now()
	for i := range senders {
		s := &sender{statuses: map[int]int64{}, lags: make([]time.Duration, 0, expect), lats: make([]time.Duration, 0, expect)}
		senders[i] = s
		wg.Go(func() { s.run(client, cfg, start, jobs) })
	}
	loadgen.Pace(ctx, start, cfg.Rate, total, func(_ int64, due time.Duration) { jobs <- due })
	close(jobs)
	wg.Wait()
	return merge(start, senders)
}

// run sends the due requests one at a time and counts how each ended.
func (s *sender) run(client *http.Client, cfg LoadConfig, start time.Time, jobs <-chan time.Duration) {
	for due := range jobs {
		t := time.Now()
		s.sent++
		if s.first.IsZero() {
			s.first = t
		}
		s.last = t
		req, err := http.NewRequest(http.MethodGet, cfg.URL, nil)
		var resp *http.Response
		if err == nil {
			for k, v := range cfg.Header {
				req.Header[k] = v
			}
			resp, err = client.Do(req)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil {
				s.statuses[resp.StatusCode]++
			} else {
				err = fmt.Errorf("reading the body of a %d: %w", resp.StatusCode, err)
			}
		}
		s.done = time.Now()
		s.lags = append(s.lags, t.Sub(start)-due)
		s.lats = append(s.lats, s.done.Sub(t))
		if err != nil {
			s.errors++
			if len(s.samples) < maxErrorSamples {
				s.samples = append(s.samples, err.Error())
			}
		}
	}
}

func merge(start time.Time, senders []*sender) *Load {
	l := &Load{Start: start, Statuses: map[int]int64{}}
	for _, s := range senders {
		l.Sent += s.sent
		l.Errors += s.errors
		for code, n := range s.statuses {
			l.Statuses[code] += n
		}
		for _, e := range s.samples {
			if len(l.Samples) < maxErrorSamples && !slices.Contains(l.Samples, e) {
				l.Samples = append(l.Samples, e)
			}
		}
		if s.sent == 0 {
			continue
		}
		if l.First.IsZero() || s.first.Before(l.First) {
			l.First = s.first
		}
		l.Last = later(l.Last, s.last)
		l.Done = later(l.Done, s.done)
		l.Lags = append(l.Lags, s.lags...)
		l.Lats = append(l.Lats, s.lats...)
	}
	return l
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// statusKeys are the statuses as JSON keys ("200").
func statusKeys(m map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for code, n := range m {
		out[strconv.Itoa(code)] = n
	}
	return out
}
