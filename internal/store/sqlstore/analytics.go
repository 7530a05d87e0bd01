package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// Analytics (rollups and the raw request log) lives in analytics_rollups and
// analytics_requests. Like usage counters it is not configuration: writing it bumps no
// revision, writes no audit entry, sends no change notice and does not queue behind
// configuration writes (writeSem).
//
// Both engines store what Go holds, with two normalisations:
//   - times are UTC, truncated to the microsecond (what every engine stores exactly), and
//     range bounds compare with the stored times exactly (ceilMicro);
//   - strings are made valid UTF-8 without NUL bytes (PostgreSQL text accepts nothing
//     else, and a header value may be anything), each bad byte becoming U+FFFD; filter
//     values get the same treatment, so filtering by the value written still matches.
//
// Durations (latency_sum, latency, upstream_latency) are integer nanoseconds, exactly a
// time.Duration. Empty sketches ([]byte{}) are stored as NULL and read back as nil.

var _ analytics.Store = (*Store)(nil)

const (
	rollupCols = "start, res, node, kind, api, route, app, developer, plan, status_class, " +
		"count, errors, rate_limited, rejected, cache_hits, bytes_in, bytes_out, latency_sum, latency, upstream"
	rollupWidth = 20

	requestCols = "time, node, kind, api, route, method, status, app, developer, key_id, plan, " +
		"client_ip, user_agent, channel, bytes_in, bytes_out, latency, upstream_latency, " +
		"cache, rejected_by, reject_code, trace_id"
	requestWidth = 22

	// insertParams bounds the parameters of one INSERT, far below every engine's limit
	// (SQLite 32766, PostgreSQL 65535): 500 rollups or 454 requests a statement.
	insertParams = 10000

	// filterParams bounds the parameters of one query's filters. Past it a query is
	// EInvalid rather than an engine error.
	filterParams = 30000
)

// MaxRequestLimit is the largest page of the request log: RequestQuery.Limit is 1..1000.
const MaxRequestLimit = 1000

// requestSort is the request log's order (newest first) and the shape of its cursor.
var requestSort = []sortCol{{"time", keyTime}, {"id", keyInt}}

// WriteRollups appends rows in one transaction: all of them or, on error, none. Errors
// are EUnavailable (store closed, unreachable or busy, ctx done) or EInternal; on error
// the caller may retry the same rows.
func (s *Store) WriteRollups(ctx context.Context, rows []analytics.Rollup) error {
	if len(rows) == 0 {
		return nil
	}
	return s.analyticsTx(ctx, "writing rollups", func(tx *sql.Tx) error {
		return s.insertRollups(ctx, tx, rows)
	})
}

// ReadRollups returns the rows q selects, in no particular order, never nil. The range is
// [From, To) as written: a zero To selects nothing.
func (s *Store) ReadRollups(ctx context.Context, q analytics.RollupQuery) ([]analytics.Rollup, error) {
	if s.closed.Load() {
		return nil, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	var f analyticsFilters
	f.eq("res", analyticsText(string(q.Res)))
	f.add("start >= ?", s.d.Time(ceilMicro(q.From)))
	f.add("start < ?", s.d.Time(ceilMicro(q.To)))
	f.in("kind", analyticsInts(q.Kinds))
	f.in("api", analyticsTexts(q.APIs))
	f.in("route", analyticsTexts(q.Routes))
	f.in("app", analyticsTexts(q.Apps))
	f.in("developer", analyticsTexts(q.Developers))
	f.in("plan", analyticsTexts(q.Plans))
	f.in("status_class", analyticsInts(q.StatusClasses))
	if err := f.check("rollup query"); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+rollupCols+" FROM analytics_rollups"+f.where()), f.args...)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading rollups: %w", err))
	}
	defer rows.Close()
	out := []analytics.Rollup{}
	for rows.Next() {
		var (
			r                 analytics.Rollup
			start             dbTime
			res               string
			kind              int64
			latencySum        int64
			latency, upstream []byte
		)
		if err := rows.Scan(&start, &res, &r.Node, &kind, &r.API, &r.Route, &r.App, &r.Developer, &r.Plan,
			&r.StatusClass, &r.Count, &r.Errors, &r.RateLimited, &r.Rejected, &r.CacheHits, &r.BytesIn,
			&r.BytesOut, &latencySum, &latency, &upstream); err != nil {
			return nil, s.fail(ctx, fmt.Errorf("reading rollups: %w", err))
		}
		r.Start, r.Res, r.Kind, r.LatencySum = start.t, analytics.Resolution(res), analytics.Kind(kind), time.Duration(latencySum)
		r.Latency, r.Upstream = sketchOf(latency), sketchOf(upstream)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading rollups: %w", err))
	}
	return out, nil
}

// ReplaceRollups deletes the rows at res with Start in [from, to) and writes rows, in one
// transaction. Every row must be at res with its Start in [from, to), or the call is
// EInvalid and changes nothing: a row outside would survive the next replacement of its
// own range and be counted twice.
//
// It is atomic, not a compare-and-swap: rows written to the range after the caller read
// it are deleted too. Compaction must run on one node at a time, over buckets no node
// still flushes into.
func (s *Store) ReplaceRollups(ctx context.Context, res analytics.Resolution, from, to time.Time, rows []analytics.Rollup) error {
	lo, hi := ceilMicro(from), ceilMicro(to)
	var p gatehouse.Problems
	for i, r := range rows {
		if r.Res != res {
			p.Addf(fmt.Sprintf("rows[%d].res", i), "is %q, not the replaced resolution %q", r.Res, res)
		}
		if st := r.Start.UTC().Truncate(time.Microsecond); st.Before(lo) || !st.Before(hi) {
			p.Addf(fmt.Sprintf("rows[%d].start", i), "%s is outside the replaced range [%s, %s)",
				cursorTime(r.Start), cursorTime(from), cursorTime(to))
		}
	}
	if err := p.Err("rollup replacement"); err != nil {
		return err
	}
	return s.analyticsTx(ctx, "replacing rollups", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM analytics_rollups WHERE res = ? AND start >= ? AND start < ?"),
			analyticsText(string(res)), s.d.Time(lo), s.d.Time(hi)); err != nil {
			return err
		}
		return s.insertRollups(ctx, tx, rows)
	})
}

// PruneRollups deletes the rows at res with Start before before, returning how many.
func (s *Store) PruneRollups(ctx context.Context, res analytics.Resolution, before time.Time) (int64, error) {
	return s.pruneAnalytics(ctx, "rollups", s.q("DELETE FROM analytics_rollups WHERE res = ? AND start < ?"),
		analyticsText(string(res)), s.d.Time(ceilMicro(before)))
}

// WriteRequests appends records in one transaction: all of them or, on error, none.
func (s *Store) WriteRequests(ctx context.Context, recs []analytics.RequestRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.analyticsTx(ctx, "writing request records", func(tx *sql.Tx) error {
		return s.insertValues(ctx, tx, "INSERT INTO analytics_requests ("+requestCols+") VALUES ", requestWidth, len(recs),
			func(args []any, i int) []any {
				r := &recs[i]
				return append(args, s.d.Time(r.Time.UTC().Truncate(time.Microsecond)), analyticsText(r.Node), int64(r.Kind),
					analyticsText(r.API), analyticsText(r.Route), analyticsText(r.Method), int64(r.Status), analyticsText(r.App), analyticsText(r.Developer),
					analyticsText(r.KeyID), analyticsText(r.Plan), analyticsText(r.ClientIP), analyticsText(r.UserAgent), analyticsText(r.Channel),
					r.BytesIn, r.BytesOut, int64(r.Latency), int64(r.UpstreamLatency),
					analyticsText(r.Cache), analyticsText(r.RejectedBy), analyticsText(r.RejectCode), analyticsText(r.TraceID))
			})
	})
}

// ReadRequests returns a page of records, newest first (by time, then by insertion), and
// the cursor of the next page, "" on the last. A zero From or To leaves that side of the
// range open. A Limit outside 1..MaxRequestLimit is EInvalid on field "limit".
//
// The cursor is opaque to callers (base64url of the last record's time and id); it is
// stable, and paging with it neither repeats nor skips a record, whatever is written
// meanwhile: records newer than the first page do not appear in later pages. A malformed
// cursor is EInvalid on field "before".
func (s *Store) ReadRequests(ctx context.Context, q analytics.RequestQuery) ([]analytics.RequestRecord, string, error) {
	if s.closed.Load() {
		return nil, "", gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	limit := q.Limit
	if limit < 1 || limit > MaxRequestLimit {
		return nil, "", &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid request query",
			Fields: []gatehouse.FieldError{{Field: "limit", Message: fmt.Sprintf("must be 1..%d", MaxRequestLimit)}}}
	}
	var f analyticsFilters
	s.analyticsRange(&f, "time", q.From, q.To)
	f.in("api", analyticsTexts(q.APIs))
	f.in("app", analyticsTexts(q.Apps))
	f.in("status", analyticsInts(q.Statuses))
	if q.Before != "" {
		key, err := decodeCursor(q.Before, requestSort)
		if err != nil {
			return nil, "", &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid request query", Err: err,
				Fields: []gatehouse.FieldError{{Field: "before", Message: "is not a cursor returned by ReadRequests"}}}
		}
		// Row values compare lexicographically: exactly "older than the last record".
		f.add("(time, id) < (?, ?)", s.d.Time(key[0].(time.Time)), key[1])
	}
	if err := f.check("request query"); err != nil {
		return nil, "", err
	}
	query := "SELECT id, " + requestCols + " FROM analytics_requests" + f.where() + " ORDER BY time DESC, id DESC LIMIT ?"
	rows, err := s.db.QueryContext(ctx, s.q(query), append(f.args, limit+1)...)
	if err != nil {
		return nil, "", s.fail(ctx, fmt.Errorf("reading request records: %w", err))
	}
	defer rows.Close()
	out := make([]analytics.RequestRecord, 0, min(limit, 64))
	var next string
	var lastID int64
	for rows.Next() {
		if len(out) == limit { // the extra row: there is a next page
			next = requestCursor(out[limit-1].Time, lastID)
			break
		}
		var (
			r                                     analytics.RequestRecord
			id, kind, status, latency, upstreamNs int64
			at                                    dbTime
		)
		if err := rows.Scan(&id, &at, &r.Node, &kind, &r.API, &r.Route, &r.Method, &status, &r.App, &r.Developer,
			&r.KeyID, &r.Plan, &r.ClientIP, &r.UserAgent, &r.Channel, &r.BytesIn, &r.BytesOut, &latency, &upstreamNs,
			&r.Cache, &r.RejectedBy, &r.RejectCode, &r.TraceID); err != nil {
			return nil, "", s.fail(ctx, fmt.Errorf("reading request records: %w", err))
		}
		r.Time, r.Kind, r.Status = at.t, analytics.Kind(kind), int(status)
		r.Latency, r.UpstreamLatency = time.Duration(latency), time.Duration(upstreamNs)
		out = append(out, r)
		lastID = id
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.fail(ctx, fmt.Errorf("reading request records: %w", err))
	}
	return out, next, nil
}

// PruneRequests deletes the records older than before, returning how many.
func (s *Store) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	return s.pruneAnalytics(ctx, "request records", s.q("DELETE FROM analytics_requests WHERE time < ?"), s.d.Time(ceilMicro(before)))
}

// analyticsTx runs fn in a transaction of the write pool, outside the configuration
// write path (no revision, no writeSem).
func (s *Store) analyticsTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("%s: beginning: %w", what, err))
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return s.fail(ctx, fmt.Errorf("%s: %w", what, err))
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, fmt.Errorf("%s: committing: %w", what, err))
	}
	return nil
}

func (s *Store) pruneAnalytics(ctx context.Context, what, query string, args ...any) (int64, error) {
	if s.closed.Load() {
		return 0, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	res, err := s.wdb.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("pruning %s: %w", what, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("pruning %s: %w", what, err))
	}
	return n, nil
}

// insertRollups appends rows within tx.
func (s *Store) insertRollups(ctx context.Context, tx *sql.Tx, rows []analytics.Rollup) error {
	var (
		lastStart time.Time
		lastBound any
	)
	return s.insertValues(ctx, tx, "INSERT INTO analytics_rollups ("+rollupCols+") VALUES ", rollupWidth, len(rows),
		func(args []any, i int) []any {
			r := &rows[i]
			// A batch holds few distinct starts: bind each once (SQLite formats it as text).
			if lastBound == nil || !r.Start.Equal(lastStart) {
				lastStart, lastBound = r.Start, s.d.Time(r.Start.UTC().Truncate(time.Microsecond))
			}
			return append(args, lastBound, analyticsText(string(r.Res)), analyticsText(r.Node), int64(r.Kind),
				analyticsText(r.API), analyticsText(r.Route), analyticsText(r.App), analyticsText(r.Developer), analyticsText(r.Plan), int64(r.StatusClass),
				r.Count, r.Errors, r.RateLimited, r.Rejected, r.CacheHits, r.BytesIn, r.BytesOut,
				int64(r.LatencySum), sketchArg(r.Latency), sketchArg(r.Upstream))
		})
}

// insertValues inserts n rows of width columns with multi-row INSERTs of at most
// insertParams parameters; head is "INSERT INTO t (cols) VALUES ". appendRow appends the
// arguments of row i.
func (s *Store) insertValues(ctx context.Context, tx *sql.Tx, head string, width, n int, appendRow func(args []any, i int) []any) error {
	chunk := insertParams / width
	args := make([]any, 0, min(n, chunk)*width)
	var full string // the statement of a full chunk, built once
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = appendRow(args, i)
		}
		query := full
		if hi-lo < chunk || query == "" {
			query = s.q(insertValuesSQL(head, width, hi-lo))
			if hi-lo == chunk {
				full = query
			}
		}
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}

// insertValuesSQL is head followed by rows tuples of width placeholders.
func insertValuesSQL(head string, width, rows int) string {
	tuple := "(" + strings.Repeat("?, ", width-1) + "?)"
	var b strings.Builder
	b.Grow(len(head) + rows*(len(tuple)+2))
	b.WriteString(head)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// analyticsFilters is the WHERE clause of an analytics query, with ? placeholders, and
// its args.
type analyticsFilters struct {
	conds []string
	args  []any
}

func (f *analyticsFilters) add(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

func (f *analyticsFilters) eq(col string, arg any) { f.add(col+" = ?", arg) }

// in restricts col to vals; no values, no restriction.
func (f *analyticsFilters) in(col string, vals []any) {
	switch len(vals) {
	case 0:
	case 1:
		f.eq(col, vals[0])
	default:
		f.add(col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")", vals...)
	}
}

func (f *analyticsFilters) check(what string) error {
	if len(f.args) > filterParams {
		return gatehouse.Errorf(gatehouse.EInvalid, "invalid %s: %d filter values, at most %d", what, len(f.args), filterParams)
	}
	return nil
}

func (f *analyticsFilters) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// analyticsRange restricts col to [from, to), compared exactly with the stored
// microseconds; a zero bound leaves that side open.
func (s *Store) analyticsRange(f *analyticsFilters, col string, from, to time.Time) {
	if !from.IsZero() {
		f.add(col+" >= ?", s.d.Time(ceilMicro(from)))
	}
	if !to.IsZero() {
		f.add(col+" < ?", s.d.Time(ceilMicro(to)))
	}
}

func analyticsTexts(vals []string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = analyticsText(v)
	}
	return out
}

func analyticsInts[T analytics.Kind | int](vals []T) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = int64(v)
	}
	return out
}

// analyticsText makes s storable as text on every engine: valid UTF-8 without NUL bytes.
func analyticsText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// sketchArg binds an optional encoded sketch: empty is NULL.
func sketchArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// sketchOf is what a scanned sketch column reads back as: nil for NULL (or empty).
func sketchOf(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// requestCursor is the cursor after a record with the given time and id.
func requestCursor(t time.Time, id int64) string {
	return encodeCursor([]string{cursorTime(t), strconv.FormatInt(id, 10)})
}
