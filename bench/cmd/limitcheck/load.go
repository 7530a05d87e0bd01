package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
	"github.com/gatehouse-dev/gatehouse/bench/internal/loadgen"
)

// Config is one load run.
type Config struct {
	URLs        []string // one per node: every request is a GET of the node's URL
	Rate        float64  // requests per second, all nodes together
	Duration    time.Duration
	Connections int // per node: keep-alive connections, and goroutines sending on them
	Header      http.Header
	Timeout     time.Duration // per request

	// The policy under test, for the expected count.
	Limit  int64
	Window time.Duration
	Burst  int64 // 0: Limit
	// Warmup is sent first, uncounted, and followed by a pause of Settle, which must be at
	// least burst × window / limit for the bucket to be full again when the measured
	// Duration starts (0: no warm-up).
	Warmup, Settle time.Duration

	// MaxError is the PASS threshold: |error %| ≤ MaxError.
	MaxError float64
	// Trace, when set, names a CSV file to write every request to: node, due, sent,
	// latency (µs from the start) and status, to see when the limiter let requests through.
	Trace string
	// CPU, when set, reads the CPU time of the machine, of these processes and of Redis
	// around the measured run.
	CPU *cpuuse.Probe
}

// maxErrorSamples is how many distinct transport errors and unexpected responses a node
// keeps to print.
const maxErrorSamples = 5

// worker is one sender's counts, merged into its node's when the run ends, so the hot
// path shares nothing.
type worker struct {
	sent, ok, limited, errors int64
	other                     map[int]int64 // status → count, for anything but 200 and 429
	samples                   []string
	first, last               time.Time // the first and last request this worker sent
	reqs                      []record
}

// record is one request: when it was due and sent (from the start of the run), how long
// its answer took, the status (0: a transport error), and the remaining count of a 200's
// RateLimit header (-1: none).
type record struct {
	due, sent, latency time.Duration
	status             int
	remaining          int64
}

func (w *worker) sample(s string) {
	if len(w.samples) < maxErrorSamples {
		w.samples = append(w.samples, s)
	}
}

// Run sends the load and summarizes it: first Warmup of the same load, uncounted, to open
// every connection (ours to the nodes, the nodes' to the origin and to Redis) and warm the
// processes; then a pause of Settle so that the bucket is full again; then Duration,
// measured. Without the warm-up the first requests wait on connection set-up, tens of
// milliseconds on a busy machine: the limiter sees the start of the load late, and the
// count comes out that many milliseconds' worth of requests short.
//
// Requests are scheduled at Rate from a phase's start (request i at start + i/Rate, to node
// i mod N) whatever the answers do (open loop); the pacer hands each due request to one of
// the node's senders, and each sender notes when it actually sent it. ctx ends the run
// early (the summary then covers what was sent).
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	clients := make([]*http.Client, len(cfg.URLs))
	for i := range clients {
		clients[i] = loadgen.NewClient(cfg.Connections, cfg.Timeout)
		defer clients[i].CloseIdleConnections()
	}
	if cfg.Warmup > 0 {
		warm := load(ctx, cfg, clients, cfg.Warmup)
		// A warm-up that failed says the nodes are not up: the measured run would say so
		// again, with numbers; a warm-up's errors are not the limiter's.
		for _, ws := range warm {
			for _, w := range ws {
				if w.errors > 0 || len(w.other) > 0 {
					return nil, fmt.Errorf("warm-up: %d transport errors, %d other answers, such as %q",
						w.errors, sum(w.other), firstOr(w.samples))
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cfg.Settle):
		}
	}

	var cpu0 cpuuse.Sample
	if cfg.CPU != nil {
		var err error
		if cpu0, err = cfg.CPU.Read(); err != nil {
			return nil, fmt.Errorf("reading CPU use: %w", err)
		}
	}
	self0, err := cpuuse.SelfCPU()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	results := load(ctx, cfg, clients, cfg.Duration)
	wall := time.Since(t0)
	self1, err := cpuuse.SelfCPU()
	if err != nil {
		return nil, err
	}
	cpu := self1 - self0
	var use *cpuuse.Use
	if cfg.CPU != nil {
		cpu1, err := cfg.CPU.Read()
		if err != nil {
			return nil, fmt.Errorf("reading CPU use (did a process exit?): %w", err)
		}
		use = cfg.CPU.Between(cpu0, cpu1, cpu)
	}

	if cfg.Trace != "" {
		if err := writeTrace(cfg.Trace, results); err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
	}
	s := summarize(cfg, t0, results)
	s.ClientCPUSeconds = cpu.Seconds()
	if wall > 0 {
		s.ClientCPUCores = cpu.Seconds() / wall.Seconds()
	}
	s.CPU = use
	s.addClientWarnings()
	return s, nil
}

// load sends one phase of d at cfg.Rate over the clients (one per node) with
// cfg.Connections senders each, and returns each node's senders.
func load(ctx context.Context, cfg Config, clients []*http.Client, d time.Duration) [][]*worker {
	n := len(clients)
	total := int64(cfg.Rate * d.Seconds())
	jobs := make([]chan time.Duration, n) // per node: when each request is due, from start
	results := make([][]*worker, n)
	var wg sync.WaitGroup
	start := time.Now() // the schedule's zero; the first request is due at once
	for k := range n {
		// A second's worth of queue: the pacer never waits on a slow node unless a whole
		// second is behind, which the send lag would show.
		jobs[k] = make(chan time.Duration, int(cfg.Rate/float64(n))+1)
		expect := int(total)/(n*cfg.Connections) + 16
		for range cfg.Connections {
			w := &worker{other: map[int]int64{}, reqs: make([]record, 0, expect)}
			results[k] = append(results[k], w)
			wg.Go(func() { send(clients[k], cfg.URLs[k], cfg.Header, start, jobs[k], w) })
		}
	}

	loadgen.Pace(ctx, start, cfg.Rate, total, func(i int64, due time.Duration) { jobs[i%int64(n)] <- due })
	for _, c := range jobs {
		close(c)
	}
	wg.Wait()
	return results
}

// send is one sender: it takes due requests, sends them one at a time on its node's
// client, and counts the answers.
func send(client *http.Client, url string, hdr http.Header, start time.Time, jobs <-chan time.Duration, w *worker) {
	for due := range jobs {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			w.sent++
			w.errors++
			w.sample(err.Error())
			w.reqs = append(w.reqs, record{due: due, sent: time.Since(start), remaining: -1})
			continue
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		t := time.Now()
		w.sent++
		if w.first.IsZero() {
			w.first = t
		}
		w.last = t
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		r := record{due: due, sent: t.Sub(start), latency: time.Since(t), remaining: -1}
		if err == nil {
			r.status = resp.StatusCode
			if r.status == http.StatusOK {
				r.remaining = remainingOf(resp.Header.Get("RateLimit"))
			}
		}
		w.reqs = append(w.reqs, r)
		switch {
		case err != nil:
			w.errors++
			w.sample(err.Error())
		case resp.StatusCode == http.StatusOK:
			w.ok++
		case resp.StatusCode == http.StatusTooManyRequests:
			w.limited++
		default:
			w.other[resp.StatusCode]++
			w.sample(fmt.Sprintf("%s %s", resp.Proto, resp.Status))
		}
	}
}

// writeTrace writes every request, in the order they were sent, as CSV.
func writeTrace(path string, results [][]*worker) error {
	type row struct {
		node int
		record
	}
	var rows []row
	for k, ws := range results {
		for _, w := range ws {
			for _, r := range w.reqs {
				rows = append(rows, row{k + 1, r})
			}
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.sent, b.sent) })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintln(bw, "node,due_us,sent_us,latency_us,status")
	for _, r := range rows {
		fmt.Fprintf(bw, "%d,%d,%d,%d,%d\n", r.node, r.due.Microseconds(), r.sent.Microseconds(), r.latency.Microseconds(), r.status)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// remainingOf is the r parameter of the first member of a RateLimit header
// (draft-ietf-httpapi-ratelimit-headers: `"policy";r=42;t=25`), or -1.
func remainingOf(v string) int64 {
	if v == "" {
		return -1
	}
	member, _, _ := strings.Cut(v, ",")
	for _, param := range strings.Split(member, ";")[1:] {
		if val, ok := strings.CutPrefix(strings.TrimSpace(param), "r="); ok {
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return -1
}
