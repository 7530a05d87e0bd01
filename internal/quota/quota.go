// Package quota implements policy.Quotas, the per-period request counters behind the
// quota policy, in two backends:
//
//   - Local counts in memory and persists through the store (usage_counters): each
//     counter is loaded once per period on first use and flushed as deltas every second,
//     and on Close. A node that is killed loses at most the last interval of counts.
//     Several nodes on one PostgreSQL each add their own deltas, but a node only sees its
//     own count plus what was stored when it first used the counter: quotas are then exact
//     per node and approximate across nodes. Exact quotas across nodes need Redis.
//   - Redis keeps each counter in Redis and checks and increments it in one round trip
//     (a Lua script), so every node sees the same count.
//
// Keys passed to Take may be backed by memory the caller reuses once Take returns (the
// quota policy builds them in pooled buffers so that its hot path does not allocate):
// every backend here copies a key before keeping it.
package quota

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// CounterStore is where Local persists counters: internal/store/sqlstore.Store (embedded
// by the sqlite and postgres stores) implements it.
type CounterStore interface {
	// LoadCounter returns the stored count of key for the period starting at start, 0 if
	// there is none.
	LoadCounter(ctx context.Context, key string, start time.Time) (int64, error)
	// AddCounters adds every delta in one transaction (all or none).
	AddCounters(ctx context.Context, deltas []sqlstore.CounterDelta) error
	// PruneCounters deletes the counters of periods that started before before.
	PruneCounters(ctx context.Context, before time.Time) (int64, error)
}

var _ CounterStore = (*sqlstore.Store)(nil)

// Errors Take returns besides the backends' own.
var (
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("quota: counters are closed")
	// ErrNegative: n < 0; quotas only count up.
	ErrNegative = errors.New("quota: negative n")
)

var (
	_ policy.Quotas = (*Local)(nil)
	_ policy.Quotas = (*Redis)(nil)
)
