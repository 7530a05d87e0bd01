package quota_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/quota/quotatest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// memStore is an in-memory quota.CounterStore that counts calls and can fail or hold them.
type memStore struct {
	mu      sync.Mutex
	counts  map[memKey]int64
	loads   int
	adds    int
	pruned  []time.Time
	failAdd error
	// failLoad, if set, is returned by the next load (and then cleared).
	failLoad error
	// hold, if set, makes loads wait until it is closed; loading is closed on each load.
	hold    chan struct{}
	loading chan struct{}
}

type memKey struct {
	key   string
	start int64
}

var _ quota.CounterStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{counts: map[memKey]int64{}} }

func (m *memStore) LoadCounter(ctx context.Context, key string, start time.Time) (int64, error) {
	m.mu.Lock()
	m.loads++
	hold, loading := m.hold, m.loading
	err := m.failLoad
	m.failLoad = nil
	m.mu.Unlock()
	if loading != nil {
		close(loading)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[memKey{key, start.UnixMicro()}], nil
}

func (m *memStore) AddCounters(_ context.Context, deltas []sqlstore.CounterDelta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAdd != nil {
		return m.failAdd
	}
	m.adds++
	for _, d := range deltas {
		m.counts[memKey{d.Key, d.Start.UnixMicro()}] += d.Delta
	}
	return nil
}

func (m *memStore) PruneCounters(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruned = append(m.pruned, before)
	return 0, nil
}

func (m *memStore) get(key string, start time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[memKey{key, start.UnixMicro()}]
}

func (m *memStore) stats() (loads, adds int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads, m.adds
}

func newLocal(t testing.TB, s quota.CounterStore, opt quota.LocalOptions) *quota.Local {
	t.Helper()
	l, err := quota.NewLocal(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLocalConformanceMemory(t *testing.T) {
	t.Parallel()
	quotatest.Run(t, func(t *testing.T) quotatest.Opener {
		s := newMemStore()
		return func(t *testing.T) quotatest.Quotas { return newLocal(t, s, quota.LocalOptions{}) }
	})
}

// sqliteLocal is a node: a Local over its own connection to the store file.
type sqliteLocal struct {
	*quota.Local
	st *sqlite.Store
}

func (s sqliteLocal) Close() error { return errors.Join(s.Local.Close(), s.st.Close()) }

func openSQLiteLocal(t *testing.T, path string) sqliteLocal {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := quota.NewLocal(st, quota.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := sqliteLocal{l, st}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestLocalConformanceSQLite includes the quota across a restart: Close, then a new
// store and Local on the same file carry on counting.
func TestLocalConformanceSQLite(t *testing.T) {
	t.Parallel()
	quotatest.Run(t, func(t *testing.T) quotatest.Opener {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return func(t *testing.T) quotatest.Quotas { return openSQLiteLocal(t, path) }
	})
}

var (
	day    = time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC)
	dayEnd = day.AddDate(0, 0, 1)
)

func mustTake(t *testing.T, q *quota.Local, key string, limit, n, wantUsed int64, wantOK bool) {
	t.Helper()
	used, ok, err := q.Take(t.Context(), key, day, dayEnd, limit, n)
	if err != nil || used != wantUsed || ok != wantOK {
		t.Fatalf("Take(%q, %d, %d) = %d, %v, %v; want %d, %v", key, limit, n, used, ok, err, wantUsed, wantOK)
	}
}

// TestLocalLoadsOnce: requests arriving together on a new counter share one load.
func TestLocalLoadsOnce(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	s.counts[memKey{"k", day.UnixMicro()}] = 5
	s.hold, s.loading = make(chan struct{}), make(chan struct{})
	l := newLocal(t, s, quota.LocalOptions{})

	const workers = 32
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			_, ok, err := l.Take(t.Context(), "k", day, dayEnd, 20, 1)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	<-s.loading // the first load is in progress; the others find its entry and wait
	close(s.hold)
	wg.Wait()
	if loads, _ := s.stats(); loads != 1 {
		t.Errorf("%d loads, want 1", loads)
	}
	if got := allowed.Load(); got != 15 {
		t.Errorf("%d allowed over a stored count of 5 and a limit of 20, want 15", got)
	}
}

// TestLocalLoadFailure: a failed load fails the request (the policy answers 503) and the
// next request tries again.
func TestLocalLoadFailure(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	s.failLoad = errors.New("database down")
	l := newLocal(t, s, quota.LocalOptions{})
	if _, _, err := l.Take(t.Context(), "k", day, dayEnd, 5, 1); err == nil {
		t.Fatal("Take succeeded with the store down")
	}
	mustTake(t, l, "k", 5, 1, 1, true)
	if loads, _ := s.stats(); loads != 2 {
		t.Errorf("%d loads, want 2", loads)
	}
}

// TestLocalWaiterGivesUp: a waiting request whose context ends returns; the load it
// waited for still serves the others.
func TestLocalWaiterGivesUp(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	s.hold, s.loading = make(chan struct{}), make(chan struct{})
	l := newLocal(t, s, quota.LocalOptions{})
	first := make(chan error, 1)
	go func() {
		_, _, err := l.Take(t.Context(), "k", day, dayEnd, 5, 1)
		first <- err
	}()
	<-s.loading
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := l.Take(ctx, "k", day, dayEnd, 5, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter with a canceled context: %v, want context.Canceled", err)
	}
	close(s.hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	mustTake(t, l, "k", 5, 1, 2, true)
}

func TestLocalStoredCountCounts(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	s.counts[memKey{"k", day.UnixMicro()}] = 7
	l := newLocal(t, s, quota.LocalOptions{})
	mustTake(t, l, "k", 10, 3, 10, true)
	mustTake(t, l, "k", 10, 1, 10, false)
	// Over the limit already (another node's flush): rejected, never negative remaining.
	s.counts[memKey{"over", day.UnixMicro()}] = 12
	mustTake(t, l, "over", 10, 1, 12, false)
}

// TestLocalFlushFailureKeepsCounts: counts that could not be saved are saved by the next
// flush, added to what came since.
func TestLocalFlushFailureKeepsCounts(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	l := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Hour})
	mustTake(t, l, "k", 10, 3, 3, true)
	s.mu.Lock()
	s.failAdd = errors.New("database down")
	s.mu.Unlock()
	if err := l.Flush(t.Context()); err == nil {
		t.Fatal("Flush succeeded with the store down")
	}
	mustTake(t, l, "k", 10, 2, 5, true)
	s.mu.Lock()
	s.failAdd = nil
	s.mu.Unlock()
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.get("k", day); got != 5 {
		t.Errorf("stored %d, want 5", got)
	}
	// Nothing new: nothing to write.
	_, adds := s.stats()
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, again := s.stats(); again != adds {
		t.Errorf("an idle flush wrote to the store")
	}
}

// clock is a test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }

// TestLocalForgetsEndedPeriods: once a period is over and saved, its counter leaves memory;
// a late request for it loads the saved count again.
func TestLocalForgetsEndedPeriods(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	clk := newClock(day.Add(time.Hour))
	l := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Hour, Now: clk.now})
	mustTake(t, l, "k", 10, 4, 4, true)
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustTake(t, l, "k", 10, 1, 5, true) // still in the period: in memory
	if loads, _ := s.stats(); loads != 1 {
		t.Fatalf("%d loads, want 1", loads)
	}
	clk.set(dayEnd)
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustTake(t, l, "k", 10, 1, 6, true)
	if loads, _ := s.stats(); loads != 2 {
		t.Errorf("%d loads, want 2 (the ended period was forgotten, then loaded again)", loads)
	}
}

func TestLocalCloseFlushes(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	l := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Hour})
	mustTake(t, l, "k", 10, 3, 3, true)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.get("k", day); got != 3 {
		t.Errorf("stored %d after Close, want 3", got)
	}
	if _, _, err := l.Take(t.Context(), "k", day, dayEnd, 10, 1); !errors.Is(err, quota.ErrClosed) {
		t.Errorf("Take after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// waitFor polls cond: background work has no deadline to assert, only a generous bound
// after which the test gives up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLocalFlushesInBackground(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	l := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Millisecond})
	mustTake(t, l, "k", 10, 3, 3, true)
	waitFor(t, "a background flush", func() bool { return s.get("k", day) == 3 })
}

func TestLocalPrunes(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	clk := newClock(day)
	newLocal(t, s, quota.LocalOptions{FlushInterval: time.Millisecond, Retention: 48 * time.Hour, Now: clk.now})
	clk.set(day.Add(time.Hour)) // an hour after start: time to prune
	waitFor(t, "a prune", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pruned) > 0
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := day.Add(time.Hour - 48*time.Hour); !s.pruned[0].Equal(want) {
		t.Errorf("pruned before %v, want %v", s.pruned[0], want)
	}
}

// TestLocalNodes documents what several nodes on one store see: each its own count plus
// what was saved when it first used the counter. Exact quotas across nodes need Redis.
func TestLocalNodes(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	a := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Hour})
	b := newLocal(t, s, quota.LocalOptions{FlushInterval: time.Hour})
	mustTake(t, a, "k", 10, 4, 4, true)
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustTake(t, b, "k", 10, 1, 5, true) // b loads a's saved 4
	mustTake(t, a, "k", 10, 1, 5, true) // a does not see b's take
	for _, n := range []*quota.Local{a, b} {
		if err := n.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.get("k", day); got != 6 {
		t.Errorf("stored %d, want every node's takes: 6", got)
	}
}

func TestNewLocalNeedsStore(t *testing.T) {
	if _, err := quota.NewLocal(nil, quota.LocalOptions{}); err == nil {
		t.Error("NewLocal(nil) succeeded")
	}
}

// BenchmarkLocalTake is the hot path: a counter already in memory.
func BenchmarkLocalTake(b *testing.B) {
	l := newLocal(b, newMemStore(), quota.LocalOptions{FlushInterval: time.Hour})
	ctx := context.Background()
	if _, _, err := l.Take(ctx, "plan:gold|app:acme", day, dayEnd, 1<<62, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := l.Take(ctx, "plan:gold|app:acme", day, dayEnd, 1<<62, 1); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkLocalTakeParallel: many goroutines on a few hundred counters.
func BenchmarkLocalTakeParallel(b *testing.B) {
	l := newLocal(b, newMemStore(), quota.LocalOptions{FlushInterval: time.Hour})
	ctx := context.Background()
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = "app:" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, _, err := l.Take(ctx, keys[i], day, dayEnd, 1<<62, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := l.Take(ctx, keys[i%len(keys)], day, dayEnd, 1<<62, 1); !ok || err != nil {
				b.Error(ok, err)
				return
			}
			i++
		}
	})
}
