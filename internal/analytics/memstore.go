package analytics

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// MemoryStore is a Store in memory, safe for concurrent use. Tests use it, and a node that
// wants analytics without persistence may too (with the Compactor's retention bounding its
// memory); everything is lost on restart.
type MemoryStore struct {
	mu         sync.RWMutex
	rows       []Rollup
	reqs       []memRecord
	seq        int64
	failWrites error // see SetFailWrites
}

type memRecord struct {
	RequestRecord
	seq int64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// SetFailWrites makes writes fail with err until called with nil (for tests).
func (m *MemoryStore) SetFailWrites(err error) {
	m.mu.Lock()
	m.failWrites = err
	m.mu.Unlock()
}

// Len is the number of rollup rows at res (for tests and metrics).
func (m *MemoryStore) Len(res Resolution) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for i := range m.rows {
		if m.rows[i].Res == res {
			n++
		}
	}
	return n
}

func cloneRollup(r Rollup) Rollup {
	r.Start = r.Start.UTC()
	r.Latency = slices.Clone(r.Latency)
	r.Upstream = slices.Clone(r.Upstream)
	return r
}

// WriteRollups appends rows.
func (m *MemoryStore) WriteRollups(ctx context.Context, rows []Rollup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrites != nil {
		return m.failWrites
	}
	for _, r := range rows {
		m.rows = append(m.rows, cloneRollup(r))
	}
	return nil
}

// RollupMatches reports whether r is selected by q (resolution, range and dims).
func RollupMatches(q *RollupQuery, r *Rollup) bool {
	if r.Res != q.Res || r.Start.Before(q.From) || !r.Start.Before(q.To) {
		return false
	}
	return dimsMatch(q, &r.Dims)
}

func dimsMatch(q *RollupQuery, d *Dims) bool {
	return in(q.Kinds, d.Kind) && in(q.APIs, d.API) && in(q.Routes, d.Route) &&
		in(q.Apps, d.App) && in(q.Developers, d.Developer) && in(q.Plans, d.Plan) &&
		in(q.StatusClasses, d.StatusClass)
}

func in[T comparable](list []T, v T) bool { return len(list) == 0 || slices.Contains(list, v) }

// ReadRollups returns copies of the selected rows.
func (m *MemoryStore) ReadRollups(ctx context.Context, q RollupQuery) ([]Rollup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Rollup
	for i := range m.rows {
		if RollupMatches(&q, &m.rows[i]) {
			out = append(out, cloneRollup(m.rows[i]))
		}
	}
	return out, nil
}

// ReplaceRollups deletes the rows at res in [from, to) and appends rows, atomically.
func (m *MemoryStore) ReplaceRollups(ctx context.Context, res Resolution, from, to time.Time, rows []Rollup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A row outside the replaced range would survive the next replacement of its own
	// range and be counted twice.
	for i := range rows {
		if rows[i].Res != res || rows[i].Start.Before(from) || !rows[i].Start.Before(to) {
			return gatehouse.Errorf(gatehouse.EInvalid, "analytics: replacement row %d (%s at %s) outside %s rows [%s, %s)",
				i, rows[i].Res, rows[i].Start.Format(time.RFC3339Nano), res, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = slices.DeleteFunc(m.rows, func(r Rollup) bool {
		return r.Res == res && !r.Start.Before(from) && r.Start.Before(to)
	})
	for _, r := range rows {
		m.rows = append(m.rows, cloneRollup(r))
	}
	return nil
}

// PruneRollups deletes rows at res that start before t.
func (m *MemoryStore) PruneRollups(ctx context.Context, res Resolution, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.rows)
	m.rows = slices.DeleteFunc(m.rows, func(r Rollup) bool { return r.Res == res && r.Start.Before(before) })
	return int64(n - len(m.rows)), nil
}

// WriteRequests appends raw records.
func (m *MemoryStore) WriteRequests(ctx context.Context, recs []RequestRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrites != nil {
		return m.failWrites
	}
	for _, r := range recs {
		m.seq++
		r.Time = r.Time.UTC()
		m.reqs = append(m.reqs, memRecord{RequestRecord: r, seq: m.seq})
	}
	return nil
}

// cursor is "unixnano.seq" of the last record of a page.
func memCursor(r *memRecord) string {
	return strconv.FormatInt(r.Time.UnixNano(), 10) + "." + strconv.FormatInt(r.seq, 10)
}

// after reports whether r sorts after the cursor position (newest first).
func memAfter(r *memRecord, ns, seq int64) bool {
	t := r.Time.UnixNano()
	return t < ns || (t == ns && r.seq < seq)
}

// ReadRequests returns a page of matching records, newest first.
func (m *MemoryStore) ReadRequests(ctx context.Context, q RequestQuery) ([]RequestRecord, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		return nil, "", gatehouse.Errorf(gatehouse.EInvalid, "analytics: request limit %d out of 1..1000", q.Limit)
	}
	var curNS, curSeq int64
	if q.Before != "" {
		a, b, ok := strings.Cut(q.Before, ".")
		var err1, err2 error
		curNS, err1 = strconv.ParseInt(a, 10, 64)
		curSeq, err2 = strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, "", gatehouse.Errorf(gatehouse.EInvalid, "analytics: bad cursor %q", q.Before)
		}
	}
	m.mu.RLock()
	var sel []*memRecord
	for i := range m.reqs {
		r := &m.reqs[i]
		if !q.From.IsZero() && r.Time.Before(q.From) || !q.To.IsZero() && !r.Time.Before(q.To) {
			continue
		}
		if !in(q.APIs, r.API) || !in(q.Apps, r.App) || !in(q.Statuses, r.Status) {
			continue
		}
		if q.Before != "" && !memAfter(r, curNS, curSeq) {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortFunc(sel, func(a, b *memRecord) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return -c
		}
		return -cmp.Compare(a.seq, b.seq)
	})
	next := ""
	if len(sel) > limit {
		sel = sel[:limit]
		next = memCursor(sel[limit-1])
	}
	out := make([]RequestRecord, len(sel))
	for i, r := range sel {
		out[i] = r.RequestRecord
	}
	m.mu.RUnlock()
	return out, next, nil
}

// PruneRequests deletes records older than t.
func (m *MemoryStore) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.reqs)
	m.reqs = slices.DeleteFunc(m.reqs, func(r memRecord) bool { return r.Time.Before(before) })
	return int64(n - len(m.reqs)), nil
}
