package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Usage counters are what quotas persist: one count per key and period. They are not
// configuration, so writing them bumps no revision, writes no audit entry and sends no
// change notice; they live in their own table, usage_counters, and their writes do not
// queue behind configuration writes (writeSem).

// CounterDelta adds Delta to the counter of Key for the period starting at Start.
type CounterDelta struct {
	Key   string
	Start time.Time
	Delta int64
}

// counterChunk bounds the rows of one INSERT: 3 parameters each stays far below every
// engine's parameter limit (SQLite 32766, PostgreSQL 65535).
const counterChunk = 300

// LoadCounter returns the count of key for the period starting at start, 0 if none was
// ever added. Errors are EUnavailable (store closed or unreachable) or EInternal.
func (s *Store) LoadCounter(ctx context.Context, key string, start time.Time) (int64, error) {
	if s.closed.Load() {
		return 0, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	var n int64
	err := s.db.QueryRowContext(ctx, s.q("SELECT count FROM usage_counters WHERE key = ? AND period_start = ?"),
		key, s.d.Time(*micro(&start))).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("reading usage counter: %w", err))
	}
	return n, nil
}

// AddCounters adds every delta in one transaction: all of them or, on error, none.
// Deltas of the same key and period are summed first. Errors are EUnavailable or
// EInternal; on error the caller may retry the same deltas.
func (s *Store) AddCounters(ctx context.Context, deltas []CounterDelta) error {
	rows := mergeDeltas(deltas)
	if len(rows) == 0 {
		return nil
	}
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("beginning counters write: %w", err))
	}
	defer tx.Rollback() // a no-op after Commit
	for chunk := range slices.Chunk(rows, counterChunk) {
		query, args := s.upsertCounters(chunk)
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return s.fail(ctx, fmt.Errorf("adding usage counters: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, fmt.Errorf("committing usage counters: %w", err))
	}
	return nil
}

// PruneCounters deletes the counters of periods that started before before, and returns
// how many it deleted.
func (s *Store) PruneCounters(ctx context.Context, before time.Time) (int64, error) {
	if s.closed.Load() {
		return 0, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	res, err := s.wdb.ExecContext(ctx, s.q("DELETE FROM usage_counters WHERE period_start < ?"), s.d.Time(*micro(&before)))
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("pruning usage counters: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("pruning usage counters: %w", err))
	}
	return n, nil
}

// mergeDeltas normalises times as the engines store them, sums deltas of one counter and
// drops zeros. The result is sorted by key and period, so that nodes flushing overlapping
// counters at once lock rows in the same order and never deadlock each other.
func mergeDeltas(deltas []CounterDelta) []CounterDelta {
	rows := make([]CounterDelta, 0, len(deltas))
	for _, d := range deltas {
		if d.Delta != 0 {
			d.Start = *micro(&d.Start)
			rows = append(rows, d)
		}
	}
	slices.SortFunc(rows, func(a, b CounterDelta) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), a.Start.Compare(b.Start))
	})
	out := rows[:0]
	for _, d := range rows {
		if n := len(out); n > 0 && out[n-1].Key == d.Key && out[n-1].Start.Equal(d.Start) {
			out[n-1].Delta += d.Delta
			continue
		}
		out = append(out, d)
	}
	return slices.DeleteFunc(out, func(d CounterDelta) bool { return d.Delta == 0 })
}

// upsertCounters is one multi-row INSERT ... ON CONFLICT that adds to existing counts. The
// rows are distinct (mergeDeltas), which PostgreSQL requires of one such statement.
func (s *Store) upsertCounters(rows []CounterDelta) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO usage_counters (key, period_start, count) VALUES ")
	args := make([]any, 0, 3*len(rows))
	for i, d := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, d.Key, s.d.Time(d.Start), d.Delta)
	}
	b.WriteString(" ON CONFLICT (key, period_start) DO UPDATE SET count = usage_counters.count + excluded.count")
	return s.q(b.String()), args
}
