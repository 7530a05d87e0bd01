package quota

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// LocalOptions tune Local; the zero value is the default.
type LocalOptions struct {
	// FlushInterval is how often counts taken here are added to the store: at most this
	// much is lost if the process dies without Close. Default 1s.
	FlushInterval time.Duration
	// Retention: counters of periods that started longer ago than this are deleted from
	// the store, hourly. Default 40 days (longer than the longest period, a month);
	// negative disables pruning.
	Retention time.Duration
	// Timeout bounds each store call made in the background: loading a counter, a flush, a
	// prune. Default 10s.
	Timeout time.Duration
	// Now is the clock that decides when a period is over and what to prune. Default
	// time.Now.
	Now func() time.Time
	// Logger receives flush and prune failures. Default: discard.
	Logger *slog.Logger
}

// Local is a policy.Quotas counting in memory and persisting through a CounterStore.
//
// Lock order: flushMu, then a shard's mu. Counts change under a shard's read lock (they are
// atomics), so that removing an entry, under the write lock, never loses a count.
type Local struct {
	store   CounterStore
	opt     LocalOptions
	seed    maphash.Seed
	shards  [shardCount]shard
	closed  atomic.Bool
	flushMu sync.Mutex
	deltas  []sqlstore.CounterDelta // reused by flush, under flushMu
	taken   []*entry                // the entry of each delta, under flushMu

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

const shardCount = 64 // a power of two

type shard struct {
	mu sync.RWMutex
	m  map[counterKey]*entry
	_  [32]byte // pads a shard to 64 bytes: neighbouring shards' locks stay off one cache line
}

// counterKey names a counter: its key and period start in Unix microseconds (what the
// store keeps of a time).
type counterKey struct {
	key   string
	start int64
}

// entry is one counter in memory. It is usable once ready is set; until then, the first
// Take is loading it and the others wait on loaded.
type entry struct {
	count   atomic.Int64 // stored when loaded + taken here since
	pending atomic.Int64 // taken here and not yet flushed
	ready   atomic.Bool
	start   time.Time
	end     int64 // Unix microseconds: the entry can go once the clock passes it
	loaded  chan struct{}
	err     error // why loading failed; written before loaded is closed
}

// NewLocal returns a Local over store and starts its flusher, which runs until Close.
func NewLocal(store CounterStore, opt LocalOptions) (*Local, error) {
	if store == nil {
		return nil, errors.New("quota: a counter store is required")
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.Retention == 0 {
		opt.Retention = 40 * 24 * time.Hour
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Local{store: store, opt: opt, seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range l.shards {
		l.shards[i].m = map[counterKey]*entry{}
	}
	go l.run(opt.Now()) // the first prune is an hour from now
	return l, nil
}

func (l *Local) shard(k counterKey) *shard {
	h := maphash.String(l.seed, k.key) ^ uint64(k.start)
	return &l.shards[h&(shardCount-1)]
}

// Take implements policy.Quotas. The first Take of a counter in a period loads it from
// the store (once, however many requests arrive together); later ones touch memory only.
func (l *Local) Take(ctx context.Context, key string, start, end time.Time, limit, n int64) (int64, bool, error) {
	if n < 0 {
		return 0, false, ErrNegative
	}
	k := counterKey{key, start.UnixMicro()}
	sh := l.shard(k)
	for {
		sh.mu.RLock()
		if l.closed.Load() {
			sh.mu.RUnlock()
			return 0, false, ErrClosed
		}
		e := sh.m[k]
		if e != nil && e.ready.Load() {
			used, ok := e.take(limit, n)
			sh.mu.RUnlock()
			return used, ok, nil
		}
		sh.mu.RUnlock()
		if e == nil {
			e = l.load(ctx, sh, k, start, end)
		}
		select {
		case <-e.loaded:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
		if e.err != nil {
			return 0, false, e.err
		}
		// Loaded: take under the read lock, from the top. (If the entry went meanwhile, as
		// a past period does after a flush, this loads the flushed count again.)
	}
}

// take adds n unless that passes limit, and returns the count.
func (e *entry) take(limit, n int64) (int64, bool) {
	for {
		c := e.count.Load()
		if c+n > limit {
			return c, false
		}
		if e.count.CompareAndSwap(c, c+n) {
			e.pending.Add(n)
			return c + n, true
		}
	}
}

// load returns the entry of k, creating it and loading it from the store if it is
// missing. Only the caller that creates the entry loads it; others wait on loaded.
func (l *Local) load(ctx context.Context, sh *shard, k counterKey, start, end time.Time) *entry {
	sh.mu.Lock()
	if e := sh.m[k]; e != nil {
		sh.mu.Unlock()
		return e
	}
	e := &entry{start: start, end: end.UnixMicro(), loaded: make(chan struct{})}
	k.key = strings.Clone(k.key) // the caller may reuse the key's memory (see the package doc)
	sh.m[k] = e
	sh.mu.Unlock()

	// The load serves every waiter, so one caller giving up must not fail it for the rest.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opt.Timeout)
	n, err := l.store.LoadCounter(lctx, k.key, start)
	cancel()
	if err != nil {
		e.err = fmt.Errorf("quota: loading counter: %w", err)
		sh.mu.Lock()
		delete(sh.m, k) // the next request tries again
		sh.mu.Unlock()
	} else {
		e.count.Store(n)
		e.ready.Store(true)
	}
	close(e.loaded)
	return e
}

// Flush adds the counts taken since the last flush to the store, then forgets counters of
// periods that are over. On failure the counts stay pending for the next flush.
func (l *Local) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.deltas, l.taken = l.deltas[:0], l.taken[:0]
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for k, e := range sh.m {
			if !e.ready.Load() {
				continue
			}
			if d := e.pending.Swap(0); d != 0 {
				l.deltas = append(l.deltas, sqlstore.CounterDelta{Key: k.key, Start: e.start, Delta: d})
				l.taken = append(l.taken, e)
			}
		}
		sh.mu.RUnlock()
	}
	if len(l.deltas) > 0 {
		if err := l.store.AddCounters(ctx, l.deltas); err != nil {
			for i, e := range l.taken {
				e.pending.Add(l.deltas[i].Delta)
			}
			clear(l.taken) // drop references to entries that may go
			return fmt.Errorf("quota: flushing %d counters: %w", len(l.deltas), err)
		}
	}
	clear(l.taken)

	// Periods that are over: their counts are in the store (pending is 0 under the write
	// lock, which no Take holds), so a late request for one loads it again, correctly.
	now := l.opt.Now().UnixMicro()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.ready.Load() && e.end <= now && e.pending.Load() == 0 {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// run flushes every FlushInterval and prunes the store hourly, until Close.
func (l *Local) run(lastPrune time.Time) {
	defer close(l.done)
	t := time.NewTicker(l.opt.FlushInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		err := l.Flush(ctx)
		// Log changes of state, not every failed second of an outage.
		switch {
		case err != nil && !failing:
			l.opt.Logger.Warn("quota counters not saved; retrying", "err", err)
		case err == nil && failing:
			l.opt.Logger.Info("quota counters saved again")
		}
		failing = err != nil
		if now := l.opt.Now(); l.opt.Retention > 0 && now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			if n, err := l.store.PruneCounters(ctx, now.Add(-l.opt.Retention)); err != nil {
				l.opt.Logger.Warn("pruning quota counters", "err", err)
			} else if n > 0 {
				l.opt.Logger.Debug("pruned quota counters", "deleted", n)
			}
		}
		cancel()
	}
}

// Close stops the flusher and flushes what is pending. Takes fail with ErrClosed from now
// on. It is idempotent; it does not close the store.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		// A Take checks closed under a shard's read lock: once each write lock has been
		// held, no Take that missed the flag is still adding to a counter.
		for i := range l.shards {
			l.shards[i].mu.Lock()
			l.shards[i].mu.Unlock()
		}
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		defer cancel()
		l.closeErr = l.Flush(ctx)
	})
	return l.closeErr
}
