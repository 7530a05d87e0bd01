package analytics

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// AggregatorOptions configure an Aggregator.
type AggregatorOptions struct {
	Store Store
	// Node is written into Rollup.Node and RequestRecord.Node.
	Node string
	// FlushInterval is how often Start's loop writes partial rows (default 5s).
	FlushInterval time.Duration
	// BatchRows is the most rows per WriteRollups / WriteRequests call (default 1000).
	BatchRows int
	// MaxPendingRows bounds the rows kept for retry while the store fails (default
	// 100,000); past it the oldest are dropped and counted in DroppedRows.
	MaxPendingRows int
	// RequestSampleRate is the fraction (0..1) of KindRequest events written to the raw
	// request log; 0, the default, turns it off.
	RequestSampleRate float64
	// MaxPendingRequests bounds the raw records waiting for a flush (default 10,000); past
	// it records are dropped and counted in DroppedRequests.
	MaxPendingRequests int
	Clock              func() time.Time // nil: time.Now
	Logger             *slog.Logger     // nil discards
}

// Aggregator is the Sink that counts events into per-minute rollups keyed by (minute,
// Dims). Every FlushInterval it appends what it counted since the last flush to the Store
// as partial rows and forgets it; rows that fail to write are kept and retried. Queries
// see the rows not yet written through Pending (Query does this consistently).
type Aggregator struct {
	store     Store
	node      string
	interval  time.Duration
	batchRows int
	maxRows   int
	rate      float64
	maxReqs   int
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex // counting state; held by Consume per batch
	entries  map[aggKey]*aggEntry
	free     []*aggEntry
	retry    []Rollup // failed writes, oldest first
	inflight []Rollup // being written now
	reqs     []RequestRecord
	reqRetry []RequestRecord
	dropRows uint64
	dropReqs uint64

	// flushMu orders commits against readers: a flush holds it exclusively from the
	// store write until the written rows leave inflight, a query holds it shared while it
	// reads the store and Pending, so it sees every row exactly once.
	flushMu  sync.RWMutex
	flushing sync.Mutex // one flush at a time
}

type aggKey struct {
	minute int64 // unix seconds, aligned
	Dims
}

type aggEntry struct {
	Rollup
	lat, ups *Sketch
}

// NewAggregator returns an aggregator writing to opts.Store.
func NewAggregator(opts AggregatorOptions) *Aggregator {
	a := &Aggregator{
		store:     opts.Store,
		node:      opts.Node,
		interval:  opts.FlushInterval,
		batchRows: opts.BatchRows,
		maxRows:   opts.MaxPendingRows,
		rate:      min(max(opts.RequestSampleRate, 0), 1),
		maxReqs:   opts.MaxPendingRequests,
		now:       opts.Clock,
		log:       opts.Logger,
		entries:   make(map[aggKey]*aggEntry),
	}
	if a.interval <= 0 {
		a.interval = 5 * time.Second
	}
	if a.batchRows <= 0 {
		a.batchRows = 1000
	}
	if a.maxRows <= 0 {
		a.maxRows = 100_000
	}
	if a.maxReqs <= 0 {
		a.maxReqs = 10_000
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Consume counts a batch (Sink).
func (a *Aggregator) Consume(batch []Event) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range batch {
		e := &batch[i]
		sec := EventEnd(e, now).Unix()
		k := aggKey{minute: sec - ((sec%60)+60)%60, Dims: DimsOf(e)}
		en := a.entries[k]
		if en == nil {
			en = a.newEntry()
			en.Start = time.Unix(k.minute, 0).UTC()
			en.Dims = k.Dims
			a.entries[k] = en
		}
		en.Count++
		if e.Status >= 500 {
			en.Errors++
		}
		if e.Status == 429 {
			en.RateLimited++
		}
		if e.RejectedBy != "" {
			en.Rejected++
		}
		if e.Cache == "HIT" {
			en.CacheHits++
		}
		en.BytesIn += e.BytesIn
		en.BytesOut += e.BytesOut
		en.LatencySum += max(e.Latency, 0)
		en.lat.Add(e.Latency)
		if e.UpstreamLatency > 0 {
			en.ups.Add(e.UpstreamLatency)
		}
		if a.rate > 0 && e.Kind == KindRequest && (a.rate >= 1 || rand.Float64() < a.rate) {
			if len(a.reqs) < a.maxReqs {
				a.reqs = append(a.reqs, RequestRecord{Event: *e, Node: a.node})
			} else {
				a.dropReqs++
			}
		}
	}
}

func (a *Aggregator) newEntry() *aggEntry {
	if n := len(a.free); n > 0 {
		en := a.free[n-1]
		a.free = a.free[:n-1]
		return en
	}
	return &aggEntry{lat: new(Sketch), ups: new(Sketch)}
}

// rowOf encodes en as a partial row.
func (a *Aggregator) rowOf(en *aggEntry) Rollup {
	r := en.Rollup
	r.Res, r.Node = Minute, a.node
	if en.lat.Count() > 0 {
		r.Latency, _ = en.lat.MarshalBinary()
	}
	if en.ups.Count() > 0 {
		r.Upstream, _ = en.ups.MarshalBinary()
	}
	return r
}

// Pending returns copies of the minute rows not yet in the store: counted since the last
// flush, being written, or waiting for a retry.
func (a *Aggregator) Pending() []Rollup {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Rollup, 0, len(a.retry)+len(a.inflight)+len(a.entries))
	out = append(out, a.retry...)
	out = append(out, a.inflight...)
	for _, en := range a.entries {
		out = append(out, a.rowOf(en))
	}
	return out
}

// DroppedRows is how many rows were discarded because the store kept failing.
func (a *Aggregator) DroppedRows() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropRows
}

// DroppedRequests is how many sampled raw records were discarded (buffer full or store
// failing).
func (a *Aggregator) DroppedRequests() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropReqs
}

// Start runs the flush loop until ctx ends. It does not flush on the way out: after
// Recorder.Close, call Flush with a context of its own.
func (a *Aggregator) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(a.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.Flush(ctx); err != nil && ctx.Err() == nil {
					a.log.Warn("analytics flush failed; will retry", "err", err)
				}
			}
		}
	}()
}

// Flush writes everything counted so far (and earlier failed rows) to the store.
func (a *Aggregator) Flush(ctx context.Context) error {
	a.flushing.Lock()
	defer a.flushing.Unlock()

	a.mu.Lock()
	rows := a.retry
	a.retry = nil
	for k, en := range a.entries {
		rows = append(rows, a.rowOf(en))
		delete(a.entries, k)
		en.lat.Reset()
		en.ups.Reset()
		lat, ups := en.lat, en.ups
		*en = aggEntry{lat: lat, ups: ups}
		a.free = append(a.free, en)
	}
	a.inflight = rows
	reqs := append(a.reqRetry, a.reqs...)
	a.reqs, a.reqRetry = nil, nil
	a.mu.Unlock()

	var errRows error
	a.flushMu.Lock()
	done := 0
	for done < len(rows) {
		n := min(len(rows)-done, a.batchRows)
		if errRows = a.store.WriteRollups(ctx, rows[done:done+n]); errRows != nil {
			break
		}
		done += n
	}
	a.mu.Lock()
	a.inflight = nil
	if failed := rows[done:]; len(failed) > 0 {
		a.retry = append(failed, a.retry...)
		if over := len(a.retry) - a.maxRows; over > 0 {
			a.dropRows += uint64(over)
			a.retry = append([]Rollup(nil), a.retry[over:]...)
		}
	}
	a.mu.Unlock()
	a.flushMu.Unlock()

	var errReqs error
	done = 0
	for done < len(reqs) {
		n := min(len(reqs)-done, a.batchRows)
		if errReqs = a.store.WriteRequests(ctx, reqs[done:done+n]); errReqs != nil {
			break
		}
		done += n
	}
	if failed := reqs[done:]; len(failed) > 0 {
		a.mu.Lock()
		keep := min(len(failed), a.maxReqs)
		a.dropReqs += uint64(len(failed) - keep)
		a.reqRetry = append([]RequestRecord(nil), failed[len(failed)-keep:]...)
		a.mu.Unlock()
	}
	return errors.Join(errRows, errReqs)
}

// readConsistent runs fn, which reads the store, with the pending rows, while no flush
// can commit: every row is either in the store or in pending, never both.
func (a *Aggregator) readConsistent(fn func(pending []Rollup) error) error {
	if a == nil {
		return fn(nil)
	}
	a.flushMu.RLock()
	defer a.flushMu.RUnlock()
	return fn(a.Pending())
}

// lockWrites keeps this node's flushes from committing (compaction of the minutes it may
// still write to).
func (a *Aggregator) lockWrites() {
	if a != nil {
		a.flushMu.Lock()
	}
}

func (a *Aggregator) unlockWrites() {
	if a != nil {
		a.flushMu.Unlock()
	}
}
