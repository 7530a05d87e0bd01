package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRecorder(t *testing.T) {
	text := "# HELP gatehouse_analytics_events_recorded_total Events.\n# TYPE gatehouse_analytics_events_recorded_total counter\n" +
		"gatehouse_analytics_events_recorded_total 1.2e+06\ngatehouse_analytics_events_dropped_total 3\n" +
		"gatehouse_analytics_events_dropped_total_other 9\n"
	r, err := parseRecorder(text)
	if err != nil || r.Recorded != 1200000 || r.Dropped != 3 {
		t.Errorf("parseRecorder = %+v, %v", r, err)
	}
	if _, err := parseRecorder("gatehouse_analytics_events_recorded_total 5\n"); err == nil {
		t.Error("no dropped counter: no error")
	}
	if _, err := parseRecorder("gatehouse_analytics_events_recorded_total x\ngatehouse_analytics_events_dropped_total 0\n"); err == nil {
		t.Error("a bad value: no error")
	}
}

// fakeNode is a gateway and its admin listener in one: it answers the load with status,
// counts what it answered, and reports count+skew in the totals (skew < 0: events lost),
// after lag has passed since the last request.
type fakeNode struct {
	status      int
	skew        int64
	lag         time.Duration
	count, errs atomic.Int64
	last        atomic.Int64 // unix nanoseconds of the last request
	queries     atomic.Int64
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/analytics/totals":
		f.queries.Add(1)
		q := r.URL.Query()
		if r.Header.Get("Authorization") != "Bearer tok" || q.Get("api") != "a" || q.Get("from") == "" || q.Get("to") == "" {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		n, e := f.count.Load(), f.errs.Load()
		if time.Since(time.Unix(0, f.last.Load())) < f.lag {
			n, e = n/2, e/2 // not all in yet
		} else if n > 0 {
			n += f.skew
		}
		fmt.Fprintf(w, `{"count": %d, "errors": %d}`, n, e)
	case "/metrics":
		fmt.Fprintf(w, "gatehouse_analytics_events_recorded_total %d\ngatehouse_analytics_events_dropped_total 0\n", f.count.Load())
	default:
		f.count.Add(1)
		if f.status >= 500 {
			f.errs.Add(1)
		}
		f.last.Store(time.Now().UnixNano())
		w.WriteHeader(f.status)
		io.WriteString(w, "hello\n")
	}
}

func runFake(t *testing.T, f *fakeNode) *Result {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := Check{Admin: Admin{Base: srv.URL, Token: "tok", API: "a", Client: srv.Client()},
		Timeout: 2 * time.Second, Interval: 10 * time.Millisecond, Recheck: 20 * time.Millisecond}
	cfg := LoadConfig{URL: srv.URL + "/a/", Rate: 2000, Duration: 250 * time.Millisecond, Connections: 8,
		Header: http.Header{"X-Api-Key": {"k"}}, Timeout: 5 * time.Second}
	r, err := c.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunEqual(t *testing.T) {
	f := &fakeNode{status: 200, lag: 50 * time.Millisecond}
	r := runFake(t, f)
	if r.Sent != 500 || r.Answered != 500 || r.Statuses["200"] != 500 || r.TransportErrors != 0 {
		t.Fatalf("counts: sent %d, answered %d, %v, %d errors", r.Sent, r.Answered, r.Statuses, r.TransportErrors)
	}
	if !r.Equal || !r.OK() || r.Verdict() != "EQUAL" || r.AnalyticsCount != 500 || r.Baseline != 0 || r.Expected != 500 {
		t.Errorf("want EQUAL at 500: %s", r.Line())
	}
	if r.UntilEqualS <= 0 || r.Polls < 2 {
		t.Errorf("equal after %.3f s, %d polls: the fake holds half back for 50 ms", r.UntilEqualS, r.Polls)
	}
	if r.StillEqual == nil || !*r.StillEqual || r.Recorded == nil || *r.Recorded != 500 || *r.Dropped != 0 {
		t.Errorf("recheck %v, recorded %v", r.StillEqual, r.Recorded)
	}
	if r.AchievedRPS < 500 || r.AchievedRPS > 2500 { // about 2000, on a busy machine less
		t.Errorf("achieved %.0f req/s, want about 2000", r.AchievedRPS)
	}
}

func TestRunNotEqual(t *testing.T) {
	// One event lost: the count never reaches the answers.
	f := &fakeNode{status: 200, skew: -1}
	r := runFake(t, f)
	if r.Equal || r.OK() || r.Verdict() != "NOT EQUAL" || r.AnalyticsCount != 499 || r.UntilEqualS != -1 {
		t.Fatalf("want NOT EQUAL at 499: %s", r.Line())
	}
	if !strings.Contains(r.Problems[0], "counted 499") || !strings.Contains(r.Problems[0], "-1") {
		t.Errorf("problem: %q", r.Problems)
	}

	// One counted twice: past the answers, so no more polling.
	f = &fakeNode{status: 200, skew: 1}
	if r := runFake(t, f); r.Equal || r.AnalyticsCount != 501 || r.Polls != 1 {
		t.Errorf("one too many: equal %v, count %d, %d polls", r.Equal, r.AnalyticsCount, r.Polls)
	}
}

func TestRunErrors(t *testing.T) {
	// 503s are answers, counted, and the analytics errors must match them.
	f := &fakeNode{status: 503}
	r := runFake(t, f)
	if !r.OK() || r.Status5xx != 500 || r.AnalyticsErrors != 500 {
		t.Errorf("503s: %s", r.Line())
	}
	// Any of the warnings: a slow machine adds one about the achieved rate.
	if !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "503 ×500") }) {
		t.Errorf("warnings: %q", r.Warnings)
	}
}

func TestReport(t *testing.T) {
	still := true
	dropped := int64(0)
	r := &Result{Label: "no policies", API: "plain", TargetRPS: 20000, RequestedDurationS: 60, Connections: 128,
		Sent: 1200000, Answered: 1200000, Statuses: map[string]int64{"200": 1200000}, DurationS: 60, AchievedRPS: 20000,
		Baseline: 1, Expected: 1200001, AnalyticsCount: 1200001, Equal: true, UntilEqualS: 0.02,
		RecheckS: 6, RecheckCnt: 1200001, StillEqual: &still, Dropped: &dropped}
	r.check()
	dir := t.TempDir()
	res := filepath.Join(dir, "r.json")
	b, _ := json.Marshal(r)
	os.WriteFile(res, b, 0o644)
	meta := filepath.Join(dir, "meta.env")
	os.WriteFile(meta, []byte("date=2026-01-02 03:04 UTC\nnproc=2\ncommand=bench/analytics-load.sh\n"), 0o644)
	doc := filepath.Join(dir, "b.md")
	os.WriteFile(doc, []byte("# B\n\n"+markerStart+"\nold\n"+markerEnd+"\nafter\n"), 0o644)
	var out strings.Builder
	if err := realMain(context.Background(), []string{"report", "-meta", meta, "-docs", doc, res}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| no policies | 1200000 | 20000 | 1200000 (200 ×1200000) | 0 | 1200001 | yes, yes 6 s later | 0.02 s |",
		"**EQUAL** no policies", "20000 requests per second for 60 seconds", "(+ 1 before the load)", "Command: `bench/analytics-load.sh`"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	got, _ := os.ReadFile(doc)
	if strings.Contains(string(got), "old") || !strings.HasSuffix(string(got), markerEnd+"\nafter\n") || !strings.Contains(string(got), "**EQUAL**") {
		t.Errorf("doc:\n%s", got)
	}
}

func TestValidate(t *testing.T) {
	ok := func() (LoadConfig, Check) {
		return LoadConfig{URL: "http://127.0.0.1:1/a/", Rate: 20000, Duration: time.Minute, Connections: 128, Timeout: time.Second},
			Check{Admin: Admin{Base: "http://127.0.0.1:2", Token: "t", API: "a"}, Timeout: time.Second, Interval: time.Millisecond}
	}
	if cfg, c := ok(); validate(cfg, c) != nil {
		t.Fatalf("valid: %v", validate(cfg, c))
	}
	bad := []func(*LoadConfig, *Check){
		func(l *LoadConfig, _ *Check) { l.URL = "127.0.0.1:1" },
		func(_ *LoadConfig, c *Check) { c.Admin.Base = "" },
		func(_ *LoadConfig, c *Check) { c.Admin.API = "" },
		func(_ *LoadConfig, c *Check) { c.Admin.Token = "" },
		func(l *LoadConfig, _ *Check) { l.Rate = 0 },
		func(l *LoadConfig, _ *Check) { l.Connections = 0 },
		func(_ *LoadConfig, c *Check) { c.Recheck = -1 },
		func(l *LoadConfig, _ *Check) { l.Rate, l.Duration = 1, time.Millisecond },
	}
	for i, f := range bad {
		cfg, c := ok()
		f(&cfg, &c)
		if validate(cfg, c) == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}
