package analytics

import (
	"context"
	"testing"
	"time"
)

// TestCompactorDaysAndRetention: two and a half days of traffic; day rows for the
// complete days, retention applied only behind the coarse rows, answers unchanged.
func TestCompactorDaysAndRetention(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	store := NewMemoryStore()
	agg := NewAggregator(AggregatorOptions{Store: store, Clock: clock.Now})
	comp := NewCompactor(CompactorOptions{Store: store, Aggregator: agg, Clock: clock.Now,
		MinuteRetention: 12 * time.Hour, HourRetention: 36 * time.Hour, RequestRetention: -1})
	q := NewQuery(QueryOptions{Store: store, Aggregator: agg})
	end := t0.Add(60 * time.Hour)
	var n int64
	for ts := t0; ts.Before(end); ts = ts.Add(7 * time.Minute) {
		clock.Set(ts)
		agg.Consume([]Event{{Time: ts, API: "a", Status: 200, Latency: time.Duration(n%50+1) * time.Millisecond}})
		n++
		if ts.Minute() < 7 {
			if err := agg.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := comp.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Set(end.Add(3 * time.Minute))
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := comp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	minWM, hourWM, dayWM := comp.Watermarks()
	if !dayWM.Equal(t0.Add(48*time.Hour)) || !hourWM.Equal(end) || !minWM.Equal(end.Add(time.Minute)) {
		t.Fatalf("watermarks %v %v %v", minWM, hourWM, dayWM)
	}
	if store.Len(Day) != 2 {
		t.Fatalf("%d day rows", store.Len(Day))
	}
	// Minute rows older than 12 h and hour rows older than 36 h are gone.
	if rows, _ := store.ReadRollups(ctx, RollupQuery{Res: Minute, From: t0, To: end.Add(-12*time.Hour - time.Minute)}); len(rows) != 0 {
		t.Fatalf("%d minute rows past retention", len(rows))
	}
	if rows, _ := store.ReadRollups(ctx, RollupQuery{Res: Hour, From: t0, To: end.Add(-37 * time.Hour)}); len(rows) != 0 {
		t.Fatalf("%d hour rows past retention", len(rows))
	}
	tot, err := q.Totals(ctx, TotalsQuery{From: t0, To: end})
	if err != nil || tot.Count != n {
		t.Fatalf("total %d, want %d (%v)", tot.Count, n, err)
	}
	res, err := q.Series(ctx, SeriesQuery{From: t0, To: end, Interval: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, p := range res.Series[0].Points {
		sum += p.Values["count"]
	}
	if res.Resolution != Day || len(res.Series[0].Points) != 3 || sum != float64(n) {
		t.Fatalf("day series: %s, %d points, sum %v of %d", res.Resolution, len(res.Series[0].Points), sum, n)
	}

	// A new compactor (a restart) resumes after the existing coarse rows.
	c2 := NewCompactor(CompactorOptions{Store: store, Clock: clock.Now})
	if err := c2.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, h, d := c2.Watermarks(); !h.Equal(hourWM) || !d.Equal(dayWM) {
		t.Fatalf("restart watermarks %v %v", h, d)
	}
	if store.Len(Day) != 2 {
		t.Fatalf("%d day rows after restart", store.Len(Day))
	}
}
