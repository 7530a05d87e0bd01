package analyticstest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// testConcurrent: writers, readers, a compactor and pruners at once (run it under -race);
// every write counts and nothing deadlocks.
func testConcurrent(t *testing.T, s analytics.Store) {
	const workers, rounds, rowsPer, recsPer = 8, 10, 50, 20
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				rows := make([]analytics.Rollup, rowsPer)
				for i := range rows {
					rows[i] = analytics.Rollup{Start: t0.Add(time.Duration(i%5) * time.Minute), Res: analytics.Minute,
						Node: fmt.Sprintf("w%d", w), Dims: analytics.Dims{API: fmt.Sprintf("api-%d", i%3)}, Count: 1, Latency: seq(16)}
				}
				recs := make([]analytics.RequestRecord, recsPer)
				for i := range recs {
					recs[i] = analytics.RequestRecord{Node: fmt.Sprintf("w%d", w), Event: analytics.Event{
						Time: t0.Add(time.Duration(r*recsPer+i) * time.Millisecond), TraceID: fmt.Sprintf("%d-%d-%d", w, r, i)}}
				}
				if err := s.WriteRollups(ctx, rows); err != nil {
					t.Errorf("worker %d: WriteRollups: %v", w, err)
					return
				}
				if err := s.WriteRequests(ctx, recs); err != nil {
					t.Errorf("worker %d: WriteRequests: %v", w, err)
					return
				}
				if _, err := s.ReadRollups(ctx, analytics.RollupQuery{Res: analytics.Minute, From: t0, To: t0.Add(time.Hour), APIs: []string{"api-1"}}); err != nil {
					t.Errorf("worker %d: ReadRollups: %v", w, err)
					return
				}
				if _, _, err := s.ReadRequests(ctx, analytics.RequestQuery{Limit: 50}); err != nil {
					t.Errorf("worker %d: ReadRequests: %v", w, err)
					return
				}
			}
		})
	}
	// A compactor on the hour rows and pruners of what nobody writes, meanwhile.
	wg.Go(func() {
		for r := range rounds {
			row := analytics.Rollup{Start: t0, Res: analytics.Hour, Count: int64(r + 1)}
			if err := s.ReplaceRollups(ctx, analytics.Hour, t0, t0.Add(time.Hour), []analytics.Rollup{row}); err != nil {
				t.Errorf("ReplaceRollups: %v", err)
				return
			}
			if _, err := s.PruneRollups(ctx, analytics.Day, t0); err != nil {
				t.Errorf("PruneRollups: %v", err)
				return
			}
			if _, err := s.PruneRequests(ctx, t0.Add(-time.Hour)); err != nil {
				t.Errorf("PruneRequests: %v", err)
				return
			}
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	rows := readRollups(t, s, all(analytics.Minute))
	var sum int64
	for _, r := range rows {
		sum += r.Count
	}
	if want := int64(workers * rounds * rowsPer); len(rows) != int(want) || sum != want {
		t.Errorf("%d minute rows counting %d, want %d", len(rows), sum, want)
	}
	sameRollups(t, "hour rows", []analytics.Rollup{{Start: t0, Res: analytics.Hour, Count: rounds}}, readRollups(t, s, all(analytics.Hour)))
	recs, _ := readAllRequests(t, s, analytics.RequestQuery{Limit: 1000})
	if got := len(ids(t, recs)); got != workers*rounds*recsPer {
		t.Errorf("%d request records, want %d", got, workers*rounds*recsPer)
	}
}
