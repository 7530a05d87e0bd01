package analytics

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// expect is what a set of events should add up to.
type expect struct {
	count, errors, limited, rejected, hits, bytesIn int64
	lat                                             []time.Duration
}

func (x *expect) add(e *Event) {
	x.count++
	if e.Status >= 500 {
		x.errors++
	}
	if e.Status == 429 {
		x.limited++
	}
	if e.RejectedBy != "" {
		x.rejected++
	}
	if e.Cache == "HIT" {
		x.hits++
	}
	x.bytesIn += e.BytesIn
	x.lat = append(x.lat, e.Latency)
}

func (x *expect) check(t *testing.T, what string, s Stats) {
	t.Helper()
	if s.Count != x.count || s.Errors != x.errors || s.RateLimited != x.limited || s.Rejected != x.rejected || s.CacheHits != x.hits || s.BytesIn != x.bytesIn {
		t.Fatalf("%s: got count %d errors %d 429 %d rejected %d hits %d bytes %d; want %d %d %d %d %d %d", what,
			s.Count, s.Errors, s.RateLimited, s.Rejected, s.CacheHits, s.BytesIn,
			x.count, x.errors, x.limited, x.rejected, x.hits, x.bytesIn)
	}
	if x.count == 0 {
		return
	}
	sorted := slices.Sorted(slices.Values(x.lat))
	for _, p := range []struct {
		q   float64
		got float64
	}{{0.5, s.LatencyP50Ms}, {0.95, s.LatencyP95Ms}, {0.99, s.LatencyP99Ms}} {
		want := exactQuantile(sorted, p.q)
		got := time.Duration(p.got * 1e6)
		if e := relErr(got, want); e > SketchAccuracy+accuracySlack {
			t.Fatalf("%s: p%v %v, exact %v (%.3f%%)", what, p.q*100, got, want, 100*e)
		}
	}
}

// TestPipelineExact feeds 10,000 known events over 150 minutes through Recorder →
// Aggregator → MemoryStore with periodic flushes and compaction on a fake clock, and
// checks counts (exact) and percentiles (within 1%) through Query at minute and hour
// resolution, with the last minutes still unflushed.
func TestPipelineExact(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	store := NewMemoryStore()
	agg := NewAggregator(AggregatorOptions{Store: store, Node: "n1", Clock: clock.Now, BatchRows: 7})
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{agg}, BatchSize: 64})
	comp := NewCompactor(CompactorOptions{Store: store, Aggregator: agg, Node: "n1", Clock: clock.Now})
	q := NewQuery(QueryOptions{Store: store, Aggregator: agg})

	const n = 10_000
	const span = 150 * time.Minute
	r := rand.New(rand.NewPCG(7, 8))
	apps := []string{"alpha", "beta", "gamma"}
	var all expect
	byApp := map[string]*expect{}
	byHour := map[time.Time]*expect{}
	byMinute := map[time.Time]*expect{}
	events := make([]Event, n)
	for i := range events {
		e := Event{
			Kind: KindRequest, Time: t0.Add(time.Duration(i) * span / n), API: []string{"orders", "users"}[i%2],
			Route: "GET /x", Method: "GET", Status: 200, App: apps[i%3], BytesIn: int64(i % 100),
			Latency:         time.Duration(r.ExpFloat64()*20e6) + time.Millisecond,
			UpstreamLatency: time.Millisecond,
		}
		switch {
		case i%10 == 0:
			e.Status = 503
		case i%17 == 0:
			e.Status, e.RejectedBy, e.RejectCode = 429, "rate-limit", "rate_limited"
		case i%5 == 0:
			e.Cache = "HIT"
		}
		events[i] = e
		end := EventEnd(&e, time.Time{})
		all.add(&e)
		for _, p := range []struct {
			m map[time.Time]*expect
			k time.Time
		}{{byHour, end.Truncate(time.Hour)}, {byMinute, end.Truncate(time.Minute)}} {
			if p.m[p.k] == nil {
				p.m[p.k] = &expect{}
			}
			p.m[p.k].add(&e)
		}
		if byApp[e.App] == nil {
			byApp[e.App] = &expect{}
		}
		byApp[e.App].add(&e)
	}
	// Deliver events minute by minute, in completion order as a gateway would.
	slices.SortStableFunc(events, func(a, b Event) int { return EventEnd(&a, time.Time{}).Compare(EventEnd(&b, time.Time{})) })
	next := 0
	for m := t0; m.Before(t0.Add(span + time.Minute)); m = m.Add(time.Minute) {
		clock.Set(m.Add(time.Minute))
		for next < n && EventEnd(&events[next], time.Time{}).Before(m.Add(time.Minute)) {
			rec.Record(&events[next])
			next++
		}
		rec.Drain()
		// Flush every 5 minutes, compact every 10, and leave the last minutes pending.
		if m.Before(t0.Add(span - 5*time.Minute)) {
			if m.Minute()%5 == 0 {
				if err := agg.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if m.Minute()%10 == 0 {
				if err := comp.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if next != n || rec.Dropped() != 0 {
		t.Fatalf("recorded %d, dropped %d", next, rec.Dropped())
	}
	if len(agg.Pending()) == 0 {
		t.Fatal("expected unflushed rows")
	}
	from, to := t0.Add(-time.Hour), t0.Add(span+time.Hour)

	tot, err := q.Totals(ctx, TotalsQuery{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	all.check(t, "totals", tot)
	for app, x := range byApp {
		s, err := q.Totals(ctx, TotalsQuery{From: from, To: to, Filters: Filters{Apps: []string{app}}})
		if err != nil {
			t.Fatal(err)
		}
		x.check(t, "app "+app, s)
	}

	// Hour series: the complete hours come from hour rows.
	if store.Len(Hour) == 0 {
		t.Fatal("compactor built no hour rows")
	}
	checkSeries := func(interval time.Duration, want map[time.Time]*expect, wantRes Resolution) {
		t.Helper()
		res, err := q.Series(ctx, SeriesQuery{From: t0, To: t0.Add(span + 10*time.Minute), Interval: interval,
			Measures: []string{"count", "errors", "latency_p99"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Resolution != wantRes || len(res.Series) != 1 {
			t.Fatalf("resolution %s, %d series", res.Resolution, len(res.Series))
		}
		var sum float64
		for _, p := range res.Series[0].Points {
			x := want[p.Start]
			if x == nil {
				x = &expect{}
			}
			if p.Values["count"] != float64(x.count) || p.Values["errors"] != float64(x.errors) {
				t.Fatalf("%v bucket %v: count %v errors %v, want %d %d", interval, p.Start, p.Values["count"], p.Values["errors"], x.count, x.errors)
			}
			if x.count > 0 {
				exact := exactQuantile(slices.Sorted(slices.Values(x.lat)), 0.99)
				if e := relErr(time.Duration(p.Values["latency_p99"]*1e6), exact); e > SketchAccuracy+accuracySlack {
					t.Fatalf("%v bucket %v: p99 error %.3f%%", interval, p.Start, 100*e)
				}
			}
			sum += p.Values["count"]
		}
		if sum != n {
			t.Fatalf("%v series adds up to %v", interval, sum)
		}
	}
	checkSeries(time.Minute, byMinute, Minute)
	checkSeries(time.Hour, byHour, Hour)

	// Minute rows of closed minutes were merged into one row per dims.
	rows, _ := store.ReadRollups(ctx, RollupQuery{Res: Minute, From: t0, To: t0.Add(time.Hour)})
	if len(rows) == 0 {
		t.Fatal("no minute rows")
	}
	seen := map[string]bool{}
	for _, r := range rows {
		k := fmt.Sprint(r.Start.Unix(), r.Dims)
		if seen[k] {
			t.Fatalf("minute %v still has partial rows for %+v", r.Start, r.Dims)
		}
		seen[k] = true
	}

	// With the minute rows of the first two hours gone, hour queries still add up: they
	// read hour rows there.
	if _, err := store.PruneRollups(ctx, Minute, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkSeries(time.Hour, byHour, Hour)
	tot, _ = q.Totals(ctx, TotalsQuery{From: from, To: to})
	all.check(t, "totals after pruning minutes", tot)

	// Top apps by errors.
	top, err := q.Top(ctx, TopQuery{From: from, To: to, By: DimApp, Measure: MeasureErrors, N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Value < top[1].Value || top[0].Value != float64(byApp[top[0].Key].errors) {
		t.Fatalf("top: %+v", top)
	}

	// Shutdown flushes the rest; the answer does not change.
	rec.Close()
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(agg.Pending()) != 0 {
		t.Fatal("pending after final flush")
	}
	tot, _ = q.Totals(ctx, TotalsQuery{From: from, To: to})
	all.check(t, "totals after final flush", tot)
}

// TestAggregatorRetriesFailedWrites: rows that fail to write stay pending (and in query
// answers) and are written by a later flush; past the bound the oldest are dropped.
func TestAggregatorRetriesFailedWrites(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	store := NewMemoryStore()
	agg := NewAggregator(AggregatorOptions{Store: store, Clock: clock.Now, MaxPendingRows: 3, RequestSampleRate: 1})
	q := NewQuery(QueryOptions{Store: store, Aggregator: agg})
	e := sampleEvent()
	e.Time = t0
	agg.Consume([]Event{e, e})
	store.SetFailWrites(errors.New("disk full"))
	if err := agg.Flush(ctx); err == nil {
		t.Fatal("flush did not report the failure")
	}
	tot, _ := q.Totals(ctx, TotalsQuery{From: t0, To: t0.Add(time.Hour)})
	if tot.Count != 2 {
		t.Fatalf("count %d while the store fails, want 2", tot.Count)
	}
	store.SetFailWrites(nil)
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.Len(Minute) != 1 || len(agg.Pending()) != 0 {
		t.Fatalf("store has %d rows, %d pending", store.Len(Minute), len(agg.Pending()))
	}
	recs, _, err := store.ReadRequests(ctx, RequestQuery{Limit: 10})
	if err != nil || len(recs) != 2 {
		t.Fatalf("raw log: %d records, %v", len(recs), err)
	}
	tot, _ = q.Totals(ctx, TotalsQuery{From: t0, To: t0.Add(time.Hour)})
	if tot.Count != 2 {
		t.Fatalf("count %d after retry, want 2", tot.Count)
	}

	// Bounded: five failing minutes, room for three rows.
	store.SetFailWrites(errors.New("down"))
	for i := range 5 {
		e.Time = t0.Add(time.Duration(i+1) * time.Minute)
		agg.Consume([]Event{e})
		_ = agg.Flush(ctx)
	}
	if got := agg.DroppedRows(); got != 2 || len(agg.Pending()) != 3 {
		t.Fatalf("dropped %d, pending %d; want 2, 3", got, len(agg.Pending()))
	}
}

// TestConcurrentExactCount records from several goroutines on the real clock while the
// aggregator flushes and queries run; at every moment the query count is at most what
// was recorded and never goes down, and at the end it is exact.
func TestConcurrentExactCount(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := NewMemoryStore()
	agg := NewAggregator(AggregatorOptions{Store: store, FlushInterval: 15 * time.Millisecond})
	// The producers record as fast as they can, far above any real rate; the queue holds
	// all of them (on any sharding) so that a slow drain under -race cannot drop one.
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{agg}, DrainInterval: time.Millisecond, QueueSize: 1 << 19})
	q := NewQuery(QueryOptions{Store: store, Aggregator: agg})
	comp := NewCompactor(CompactorOptions{Store: store, Aggregator: agg, Grace: time.Millisecond, Interval: 10 * time.Millisecond})
	rec.Start(ctx)
	agg.Start(ctx)
	comp.Start(ctx)
	from := time.Now().Add(-time.Minute)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			e := sampleEvent()
			e.App = apps4[p]
			for range 20_000 {
				e.Time = time.Now()
				rec.Record(&e)
				sent.Add(1)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last int64
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		case <-time.After(5 * time.Millisecond):
		}
		s, err := q.Totals(ctx, TotalsQuery{From: from, To: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if s.Count < last || s.Count > sent.Load() {
			t.Fatalf("count %d after %d, with %d sent", s.Count, last, sent.Load())
		}
		last = s.Count
	}
	rec.Close()
	if rec.Dropped() != 0 {
		t.Fatalf("%d dropped", rec.Dropped())
	}
	s, _ := q.Totals(ctx, TotalsQuery{From: from, To: time.Now().Add(time.Minute)})
	cancel()
	if err := agg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2, _ := q.Totals(context.Background(), TotalsQuery{From: from, To: time.Now().Add(time.Minute)})
	if s.Count != 80_000 || s2.Count != 80_000 {
		t.Fatalf("count %d before final flush, %d after; want 80000", s.Count, s2.Count)
	}
}

var apps4 = []string{"a", "b", "c", "d"}
