package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
)

func TestExpected(t *testing.T) {
	tests := []struct {
		limit, burst int64
		window, d    time.Duration
		want         float64
	}{
		{2000, 0, time.Second, 20 * time.Second, 42000},         // burst defaults to the limit
		{2000, 2000, time.Second, 20 * time.Second, 42000},      // the same, said
		{2000, 500, time.Second, 20 * time.Second, 40500},       // a smaller burst
		{2000, 1, time.Second, 20 * time.Second, 40001},         // no bursts
		{60, 0, time.Minute, 30 * time.Second, 90},              // 30 in half a minute + 60
		{1000, 0, time.Second, 19999 * time.Millisecond, 20999}, // D as measured
		{3, 0, time.Second, 0, 3},                               // one request: the burst
	}
	for _, tt := range tests {
		if got := expected(tt.limit, tt.burst, tt.window, tt.d); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("expected(%d, %d, %s, %s) = %v, want %v", tt.limit, tt.burst, tt.window, tt.d, got, tt.want)
		}
	}
}

func TestErrorPct(t *testing.T) {
	tests := []struct {
		allowed  int64
		expected float64
		want     float64
	}{
		{42000, 42000, 0},
		{42420, 42000, 1},
		{41160, 42000, -2},
		{84000, 42000, 100}, // each of two nodes counting alone
		{5, 0, 0},           // nothing expected: no figure
	}
	for _, tt := range tests {
		if got := errorPct(tt.allowed, tt.expected); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("errorPct(%d, %v) = %v, want %v", tt.allowed, tt.expected, got, tt.want)
		}
	}
}

func TestRefillTime(t *testing.T) {
	c := Config{Limit: 2000, Window: time.Second}
	if got := c.RefillTime(); got != time.Second {
		t.Errorf("RefillTime = %s, want 1s", got)
	}
	c.Burst = 500
	if got := c.RefillTime(); got != 250*time.Millisecond {
		t.Errorf("RefillTime with burst 500 = %s, want 250ms", got)
	}
}

// fakeWorker is a sender that sent n requests evenly from first to last.
func fakeWorker(start time.Time, first, last time.Duration, ok, limited int64, other map[int]int64, errs int64) *worker {
	w := &worker{ok: ok, limited: limited, other: other, errors: errs, first: start.Add(first), last: start.Add(last)}
	w.sent = ok + limited + errs + sum(other)
	for range w.sent {
		w.reqs = append(w.reqs, record{latency: time.Millisecond, sent: time.Millisecond, remaining: -1})
	}
	return w
}

func TestSummarize(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := Config{URLs: []string{"http://a/", "http://b/"}, Rate: 5000, Duration: 20 * time.Second,
		Connections: 2, Limit: 2000, Window: time.Second, MaxError: 2}
	// Two nodes, two senders each; the first request at 0, the last at 20 s: 100,001
	// requests, expected 2000 × 20 + 2000 = 42,000.
	results := [][]*worker{
		{fakeWorker(start, 0, 19*time.Second, 10000, 15000, nil, 0), fakeWorker(start, time.Second, 20*time.Second, 11000, 14001, nil, 0)},
		{fakeWorker(start, 0, 20*time.Second, 10500, 14500, nil, 0), fakeWorker(start, 0, 20*time.Second, 10920, 14080, nil, 0)},
	}
	s := summarize(cfg, start, results)
	if s.Sent != 100001 || s.OK != 42420 || s.Limited != 57581 || s.Other != 0 || s.Errors != 0 {
		t.Fatalf("counts: %+v", s.Counts)
	}
	if s.DurationS != 20 || s.Expected != 42000 || math.Abs(s.ErrorPct-1) > 1e-9 {
		t.Errorf("D %v, expected %v, error %v%%; want 20, 42000, +1%%", s.DurationS, s.Expected, s.ErrorPct)
	}
	if math.Abs(s.AchievedRPS-5000) > 1e-9 {
		t.Errorf("achieved %v req/s, want 5000", s.AchievedRPS)
	}
	if !s.Valid || !s.Pass || s.Verdict() != "PASS" {
		t.Errorf("valid %v pass %v (%v), want a PASS", s.Valid, s.Pass, s.Invalid)
	}
	if n := s.Nodes[0]; n.Sent != 50001 || n.OK != 21000 || n.Limited != 29001 || n.DurationS != 20 {
		t.Errorf("node 1: %+v", n)
	}
	if n := s.Nodes[1]; n.Sent != 50000 || n.OK != 21420 || n.URL != "http://b/" {
		t.Errorf("node 2: %+v", n)
	}
	if s.Burst != 2000 || s.Started != "2026-01-02T03:04:05Z" {
		t.Errorf("burst %d, started %s", s.Burst, s.Started)
	}

	// Outside the tolerance: a FAIL, still valid.
	cfg.MaxError = 0.5
	if s := summarize(cfg, start, results); !s.Valid || s.Pass || s.Verdict() != "FAIL" {
		t.Errorf("+1%% with max 0.5%%: valid %v pass %v", s.Valid, s.Pass)
	}
	cfg.MaxError = 2

	// A 503 or a transport error makes the run invalid, whatever the count.
	bad := [][]*worker{
		{fakeWorker(start, 0, 20*time.Second, 21000, 29000, map[int]int64{503: 2}, 0)},
		{fakeWorker(start, 0, 20*time.Second, 21000, 29000, nil, 1)},
	}
	bad[1][0].samples = []string{"connection refused"}
	s = summarize(cfg, start, bad)
	if s.Valid || s.Pass || s.Verdict() != "INVALID" || len(s.Invalid) != 2 {
		t.Fatalf("errors: valid %v, invalid %q", s.Valid, s.Invalid)
	}
	if s.Other != 2 || s.OtherStatuses["503"] != 2 || s.Errors != 1 || s.Nodes[0].Other != 2 || s.Nodes[1].Errors != 1 {
		t.Errorf("errors counted as %+v", s.Counts)
	}
	if !strings.Contains(s.Invalid[0], "connection refused") || !strings.Contains(s.Invalid[1], "503 ×2") {
		t.Errorf("invalid reasons: %q", s.Invalid)
	}

	// RateLimit headers: a 200 that found the bucket full past the first 100 ms means the
	// load paused long enough to waste allowance.
	refilled := [][]*worker{{fakeWorker(start, 0, 20*time.Second, 42000, 58001, nil, 0)}}
	reqs := refilled[0][0].reqs
	for i := range reqs {
		reqs[i].remaining = 5
	}
	reqs[0].remaining, reqs[0].sent = 1999, 0 // the first request: the bucket starts full
	if s := summarize(cfg, start, refilled); !s.Valid || s.BucketRefills != 0 {
		t.Errorf("a full bucket at the start: valid %v, refills %d (%q)", s.Valid, s.BucketRefills, s.Invalid)
	}
	reqs[7].remaining, reqs[7].sent = 1999, 5*time.Second
	if s := summarize(cfg, start, refilled); s.Valid || s.BucketRefills != 1 || !strings.Contains(s.Invalid[0], "full again 1 time") {
		t.Errorf("a refill: valid %v, refills %d (%q)", s.Valid, s.BucketRefills, s.Invalid)
	}

	// The load not delivered: 4000 req/s of the 5000 asked.
	short := [][]*worker{{fakeWorker(start, 0, 20*time.Second, 42000, 38001, nil, 0)}}
	if s := summarize(cfg, start, short); s.Valid || !strings.Contains(s.Invalid[0], "not delivered") {
		t.Errorf("4000 of 5000 req/s: valid %v (%q)", s.Valid, s.Invalid)
	}

	// Without RateLimit headers, a stall as long as the refill time could hide a refill.
	stalled := [][]*worker{{fakeWorker(start, 0, 20*time.Second, 42000, 58001, nil, 0)}}
	stalled[0][0].reqs[3].sent = stalled[0][0].reqs[3].due + 1500*time.Millisecond
	if s := summarize(cfg, start, stalled); s.Valid || !strings.Contains(s.Invalid[0], "refill time") {
		t.Errorf("a 1.5 s stall: valid %v (%q)", s.Valid, s.Invalid)
	}

	// Offered below the limit: GCRA lets everything through; no figure.
	slow := [][]*worker{{fakeWorker(start, 0, 20*time.Second, 30001, 0, nil, 0)}}
	if s := summarize(cfg, start, slow); s.Valid {
		t.Errorf("1500 req/s against 2000/s: valid")
	}
}

func TestSummaryLineAndJSON(t *testing.T) {
	start := time.Now()
	cfg := Config{URLs: []string{"http://a/"}, Rate: 5000, Duration: 2 * time.Second, Connections: 1,
		Limit: 1000, Window: time.Second, MaxError: 2}
	s := summarize(cfg, start, [][]*worker{{fakeWorker(start, 0, 2*time.Second, 3000, 7001, nil, 0)}})
	line := s.Line()
	for _, want := range []string{"PASS", "allowed 3000", "expected 3000", "error +0.00%", "sent 10001", "node 1: 10001 sent, 3000 200, 7001 429"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ok_200":3000`, `"limited_429":7001`, `"expected":3000`, `"valid":true`, `"pass":true`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil || back.OK != 3000 || back.Nodes[0].Limited != 7001 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// limiter is an in-process stand-in for a shared limit: the first n requests of every
// node together get 200, the rest 429.
type limiter struct {
	n, seen atomic.Int64
	status  int // answered instead of 429 when set
}

func (l *limiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test") != "yes" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if l.seen.Add(1) <= l.n.Load() {
		w.Write([]byte("hello\n"))
		return
	}
	if l.status != 0 {
		w.WriteHeader(l.status)
		return
	}
	w.WriteHeader(http.StatusTooManyRequests)
}

func TestRun(t *testing.T) {
	l := &limiter{}
	l.n.Store(150)
	a, b := httptest.NewServer(l), httptest.NewServer(l)
	defer a.Close()
	defer b.Close()
	cfg := Config{URLs: []string{a.URL, b.URL}, Rate: 1000, Duration: 500 * time.Millisecond, Connections: 32,
		Header: http.Header{"X-Test": {"yes"}}, Limit: 10, Burst: 1000, Window: time.Second, MaxError: 2, Timeout: 5 * time.Second}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Valid unless the machine stalled the test past the checks on the load (rate, lag),
	// which TestSummarize covers: the counts are what this test is about.
	if s.Sent != 500 || s.OK != 150 || s.Limited != 350 || s.Other != 0 || s.Errors != 0 || s.BucketRefills != -1 {
		t.Fatalf("%s", s.Line())
	}
	if n0, n1 := s.Nodes[0], s.Nodes[1]; n0.Sent != 250 || n1.Sent != 250 || n0.OK+n1.OK != 150 {
		t.Errorf("split: %+v, %+v", n0.Counts, n1.Counts)
	}
	// D is the span of the sends: 499 intervals of 1 ms, give or take the pacer's wake-ups
	// (and much more on a busy machine under -race: only the lower bound is firm).
	if s.DurationS < 0.45 {
		t.Errorf("D = %v s, want about 0.5", s.DurationS)
	}
	if want := expected(10, 1000, time.Second, time.Duration(s.DurationS*float64(time.Second))); math.Abs(s.Expected-want) > 1e-6 {
		t.Errorf("expected %v, want %v", s.Expected, want)
	}
	if want := errorPct(150, s.Expected); s.ErrorPct != want || s.Pass != (math.Abs(want) <= 2) {
		t.Errorf("error %v%%, pass %v; want %v%%", s.ErrorPct, s.Pass, want)
	}
	if s.LatencyMs.Max <= 0 || s.SendLagMs.Max < 0 || s.Nodes[0].URL != a.URL+"/" {
		t.Errorf("latency %+v, lag %+v, url %s", s.LatencyMs, s.SendLagMs, s.Nodes[0].URL)
	}
}

func TestRunWarmupNotCounted(t *testing.T) {
	l := &limiter{}
	l.n.Store(1 << 40)
	srv := httptest.NewServer(l)
	defer srv.Close()
	cfg := Config{URLs: []string{srv.URL}, Rate: 1000, Duration: 200 * time.Millisecond, Connections: 4,
		Header: http.Header{"X-Test": {"yes"}}, Limit: 100, Window: time.Second, MaxError: 2, Timeout: 5 * time.Second,
		Warmup: 100 * time.Millisecond, Settle: 10 * time.Millisecond}
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent != 200 || l.seen.Load() != 300 {
		t.Errorf("sent %d counted, %d in all; want 200 and 300", s.Sent, l.seen.Load())
	}
}

func TestRunInvalid(t *testing.T) {
	l := &limiter{status: http.StatusServiceUnavailable}
	l.n.Store(50)
	srv := httptest.NewServer(l)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused
	defer srv.Close()
	cfg := Config{URLs: []string{srv.URL, deadURL}, Rate: 1000, Duration: 200 * time.Millisecond, Connections: 4,
		Header: http.Header{"X-Test": {"yes"}}, Limit: 100, Window: time.Second, MaxError: 2, Timeout: 5 * time.Second}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Valid || s.Other != 50 || s.OtherStatuses["503"] != 50 || s.Errors != 100 || s.Nodes[1].Errors != 100 {
		t.Errorf("%s", s.Line())
	}

	// realMain: the JSON is written, and the exit is an error.
	out := filepath.Join(t.TempDir(), "run.json")
	var stdout, stderr bytes.Buffer
	l.seen.Store(0)
	err = realMain(context.Background(), []string{"-rate", "1000", "-duration", "100ms", "-warmup", "0",
		"-header", "X-Test: yes", "-limit", "100", "-out", out, srv.URL}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "invalid run") {
		t.Errorf("realMain: %v", err)
	}
	var back Summary
	if b, rerr := os.ReadFile(out); rerr != nil || json.Unmarshal(b, &back) != nil || back.Valid || back.Sent != 100 {
		t.Errorf("-out: %+v, %v", back, rerr)
	}
	if !strings.Contains(stderr.String(), "INVALID") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestRemainingOf(t *testing.T) {
	tests := map[string]int64{
		"":                                    -1,
		`"rate-limit";r=42;t=25`:              42,
		`"rate-limit";t=25;r=0`:               0,
		`"plan:gold:rate-limit";r=7, "x";r=9`: 7,
		`"rate-limit";t=25`:                   -1,
		`"rate-limit";r=x`:                    -1,
		`"rate-limit";r=-3`:                   -1,
	}
	for v, want := range tests {
		if got := remainingOf(v); got != want {
			t.Errorf("remainingOf(%q) = %d, want %d", v, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	good := func() Config {
		return Config{URLs: []string{"http://127.0.0.1:1"}, Rate: 5000, Duration: time.Second, Connections: 1,
			Limit: 1, Window: time.Second, MaxError: 2, Timeout: time.Second}
	}
	c := good()
	if err := c.Check(); err != nil || c.URLs[0] != "http://127.0.0.1:1/" {
		t.Errorf("Check: %v, %v", err, c.URLs)
	}
	for name, mut := range map[string]func(*Config){
		"no urls":     func(c *Config) { c.URLs = nil },
		"bad url":     func(c *Config) { c.URLs = []string{"127.0.0.1:1"} },
		"zero rate":   func(c *Config) { c.Rate = 0 },
		"nan rate":    func(c *Config) { c.Rate = math.NaN() },
		"no conns":    func(c *Config) { c.Connections = 0 },
		"no window":   func(c *Config) { c.Window = 0 },
		"neg burst":   func(c *Config) { c.Burst = -1 },
		"one request": func(c *Config) { c.Rate, c.Duration = 1, time.Second },
		"neg warmup":  func(c *Config) { c.Warmup = -time.Second },
	} {
		c := good()
		mut(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReport(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := Config{URLs: []string{"http://a/", "http://b/"}, Rate: 5000, Duration: 20 * time.Second,
		Connections: 256, Limit: 2000, Window: time.Second, MaxError: 2, Warmup: time.Second, Settle: 1500 * time.Millisecond}
	run := func(ok int64) *Summary {
		s := summarize(cfg, start, [][]*worker{
			{fakeWorker(start, 0, 20*time.Second, ok/2, 50001-ok/2, nil, 0)},
			{fakeWorker(start, 0, 20*time.Second, ok-ok/2, 50000-(ok-ok/2), nil, 0)},
		})
		redis := 0.13
		s.CPU = &cpuuse.Use{NCPU: 2, MachineCores: 1.9, ToolCores: 0.4, RedisCores: &redis, OthersCores: 0.2,
			Procs: []cpuuse.Proc{{Label: "node1", PID: 1, Cores: 0.4}, {Label: "node2", PID: 2, Cores: 0.4}, {Label: "origin", PID: 3, Cores: 0.37}}}
		return s
	}
	dir := t.TempDir()
	var files []string
	for i, ok := range []int64{42021, 41958} {
		b, _ := json.Marshal(run(ok))
		files = append(files, filepath.Join(dir, "run"+string(rune('1'+i))+".json"))
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	meta := filepath.Join(dir, "meta.env")
	os.WriteFile(meta, []byte("# run\ndate=2026-01-02 03:04 UTC\nnproc=2\ncpu_model=Test CPU\nredis=7.0.15\ncommand=bench/redis-limit.sh\npolicy=rate-limit {limit: 2000, window: 1s, by: api}\n"), 0o644)
	doc := filepath.Join(dir, "benchmarks.md")
	os.WriteFile(doc, []byte("# B\n"+markerStart+"\nOLD SECTION\n"+markerEnd+"\ntail\n"), 0o644)

	var stdout, stderr bytes.Buffer
	if err := realMain(context.Background(), append([]string{"report", "-meta", meta, "-docs", doc}, files...), &stdout, &stderr); err != nil {
		t.Fatalf("report: %v\n%s", err, stderr.String())
	}
	b, _ := os.ReadFile(doc)
	got := string(b)
	for _, want := range []string{
		"Measured 2026-01-02 03:04 UTC. 2 Gatehouse processes",
		"`rate-limit {limit: 2000, window: 1s, by: api}`",
		"| 1 | 100001 | 5000 | 20.000 s | 42021 | 42000 | +0.05% | 57980 | 50001 / 21010 / 28991 | 50000 / 21011 / 28989 |",
		"| 2 | 100001 | 5000 | 20.000 s | 41958 | 42000 | -0.10% |",
		"| 1 | 1.90 | 0.40 | 0.40 | 0.37 | 0.13 | 0.40 | 0.20 |",
		"- **PASS** run 1: allowed 42021 vs expected 42000, +0.05%",
		"- **PASS** run 2",
		"- Command: `bench/redis-limit.sh`",
		"\n" + markerEnd + "\ntail\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("document lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "OLD SECTION") {
		t.Error("the old section is still there")
	}

	// An invalid run: printed, an error, the document left alone.
	bad := run(42000)
	bad.Valid, bad.Invalid = false, []string{"3 transport error(s)"}
	bb, _ := json.Marshal(bad)
	os.WriteFile(files[1], bb, 0o644)
	err := realMain(context.Background(), append([]string{"report", "-docs", doc}, files...), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "transport error") {
		t.Errorf("invalid run: %v", err)
	}
	if b2, _ := os.ReadFile(doc); string(b2) != got {
		t.Error("an invalid run changed the document")
	}
}

func TestReplaceSection(t *testing.T) {
	if _, err := replaceSection("no markers", "x"); err == nil {
		t.Error("no markers: no error")
	}
	if _, err := replaceSection(markerEnd+markerStart, "x"); err == nil {
		t.Error("markers reversed: no error")
	}
}
