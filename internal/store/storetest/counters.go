package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// CounterStore is a store with the usage counters quotas persist (sqlstore.Store's).
type CounterStore interface {
	gatehouse.Store
	LoadCounter(ctx context.Context, key string, start time.Time) (int64, error)
	AddCounters(ctx context.Context, deltas []sqlstore.CounterDelta) error
	PruneCounters(ctx context.Context, before time.Time) (int64, error)
}

// RunCounters is the conformance suite of usage counters; open is as for Run.
func RunCounters(t *testing.T, open func(t *testing.T) CounterStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s CounterStore)
	}{
		{"RoundTrip", testCountersRoundTrip},
		{"TimesNormalised", testCountersTimes},
		{"NotConfiguration", testCountersNotConfiguration},
		{"LargeBatch", testCountersLargeBatch},
		{"Prune", testCountersPrune},
		{"Concurrent", testCountersConcurrent},
		{"Closed", testCountersClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// day is a fixed period start, so that the suite does not depend on the clock.
var day = time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC)

func wantCount(t *testing.T, s CounterStore, key string, start time.Time, want int64) {
	t.Helper()
	got, err := s.LoadCounter(t.Context(), key, start)
	check(t, err)
	if got != want {
		t.Errorf("counter %q at %v = %d, want %d", key, start, got, want)
	}
}

func testCountersRoundTrip(t *testing.T, s CounterStore) {
	ctx := t.Context()
	wantCount(t, s, "missing", day, 0)
	check(t, s.AddCounters(ctx, nil))
	check(t, s.AddCounters(ctx, []sqlstore.CounterDelta{
		{Key: "a", Start: day, Delta: 3},
		{Key: "b", Start: day, Delta: 1},
		{Key: "a", Start: day.AddDate(0, 0, 1), Delta: 7},
		{Key: "a", Start: day, Delta: 2}, // the same counter twice in one call: summed
		{Key: "zero", Start: day, Delta: 0},
	}))
	wantCount(t, s, "a", day, 5)
	wantCount(t, s, "b", day, 1)
	wantCount(t, s, "a", day.AddDate(0, 0, 1), 7)
	wantCount(t, s, "zero", day, 0)

	// Adding goes on from the stored count.
	check(t, s.AddCounters(ctx, []sqlstore.CounterDelta{{Key: "a", Start: day, Delta: 10}}))
	wantCount(t, s, "a", day, 15)

	// Keys are opaque: separators, quotes, non-ASCII and long keys round-trip.
	odd := []string{"plan:gold|app:x", `it's "quoted"`, "ключ/é", strings.Repeat("k", 1000), ""}
	for i, k := range odd {
		check(t, s.AddCounters(ctx, []sqlstore.CounterDelta{{Key: k, Start: day, Delta: int64(i + 1)}}))
	}
	for i, k := range odd {
		wantCount(t, s, k, day, int64(i+1))
	}
}

// testCountersTimes: a period start is an instant; its zone and sub-microsecond digits do
// not make another counter.
func testCountersTimes(t *testing.T, s CounterStore) {
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	check(t, s.AddCounters(t.Context(), []sqlstore.CounterDelta{{Key: "k", Start: day.In(ny), Delta: 1}}))
	check(t, s.AddCounters(t.Context(), []sqlstore.CounterDelta{{Key: "k", Start: day.Add(100 * time.Nanosecond), Delta: 1}}))
	wantCount(t, s, "k", day, 2)
	wantCount(t, s, "k", day.In(ny), 2)
	wantCount(t, s, "k", day.Add(time.Second), 0)
}

// testCountersNotConfiguration: counters bump no revision, write no audit entry and send no
// change notice.
func testCountersNotConfiguration(t *testing.T, s CounterStore) {
	ch := s.Subscribe(t.Context())
	createAPI(t, s, &gatehouse.API{Name: "a"})
	catchUp(t, s, ch)
	before := snapshot(t, s)
	check(t, s.AddCounters(t.Context(), []sqlstore.CounterDelta{{Key: "k", Start: day, Delta: 1}}))
	_, err := s.PruneCounters(t.Context(), day.AddDate(1, 0, 0))
	check(t, err)
	if after := snapshot(t, s); after != before {
		t.Errorf("counters changed the revision or the audit: before %+v, after %+v", before, after)
	}
	quiet(t, ch)
}

func testCountersLargeBatch(t *testing.T, s CounterStore) {
	const n = 1000 // several INSERT chunks
	deltas := make([]sqlstore.CounterDelta, 0, n)
	for i := range n {
		deltas = append(deltas, sqlstore.CounterDelta{Key: fmt.Sprintf("k%04d", i), Start: day, Delta: int64(i + 1)})
	}
	check(t, s.AddCounters(t.Context(), deltas))
	check(t, s.AddCounters(t.Context(), deltas))
	for _, i := range []int{0, 299, 300, 301, 999} {
		wantCount(t, s, fmt.Sprintf("k%04d", i), day, 2*int64(i+1))
	}
}

func testCountersPrune(t *testing.T, s CounterStore) {
	ctx := t.Context()
	starts := []time.Time{day.AddDate(0, 0, -2), day.AddDate(0, 0, -1), day, day.AddDate(0, 0, 1)}
	for _, st := range starts {
		check(t, s.AddCounters(ctx, []sqlstore.CounterDelta{{Key: "a", Start: st, Delta: 1}, {Key: "b", Start: st, Delta: 1}}))
	}
	n, err := s.PruneCounters(ctx, day) // strictly before: day itself stays
	check(t, err)
	if n != 4 {
		t.Errorf("pruned %d counters, want 4", n)
	}
	wantCount(t, s, "a", starts[0], 0)
	wantCount(t, s, "b", starts[1], 0)
	wantCount(t, s, "a", day, 1)
	wantCount(t, s, "b", starts[3], 1)
	n, err = s.PruneCounters(ctx, day)
	check(t, err)
	if n != 0 {
		t.Errorf("pruning again deleted %d counters, want 0", n)
	}
}

// testCountersConcurrent: flushes from several goroutines (or nodes) on the same counters
// all count.
func testCountersConcurrent(t *testing.T, s CounterStore) {
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				// Opposite key orders from alternate workers: sorting must prevent deadlocks.
				d := []sqlstore.CounterDelta{{Key: "x", Start: day, Delta: 1}, {Key: "y", Start: day, Delta: 2}}
				if w%2 == 1 {
					d[0], d[1] = d[1], d[0]
				}
				if err := s.AddCounters(t.Context(), d); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	wantCount(t, s, "x", day, workers*rounds)
	wantCount(t, s, "y", day, 2*workers*rounds)
}

func testCountersClosed(t *testing.T, s CounterStore) {
	check(t, s.Close())
	_, err := s.LoadCounter(t.Context(), "k", day)
	wantCode(t, err, gatehouse.EUnavailable)
	wantCode(t, s.AddCounters(t.Context(), []sqlstore.CounterDelta{{Key: "k", Start: day, Delta: 1}}), gatehouse.EUnavailable)
	_, err = s.PruneCounters(t.Context(), day)
	wantCode(t, err, gatehouse.EUnavailable)

	// A canceled call fails as unavailable too, never as an internal error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.LoadCounter(ctx, "k", day)
	wantCode(t, err, gatehouse.EUnavailable)
}
