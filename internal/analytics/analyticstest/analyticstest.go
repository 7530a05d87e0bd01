// Package analyticstest is the conformance suite of analytics.Store: every implementation
// (the SQL store on each engine, the in-memory store) runs Run from its own tests and must
// pass all of it. It checks the behaviour documented on the interface, never an
// implementation's internals.
//
// Beyond the interface's comments, the suite pins what callers rely on:
//   - times come back as the same instants, to the microsecond at least (stores may
//     truncate below it); durations and every integer come back exactly;
//   - an empty sketch may come back nil; a non-empty one comes back byte for byte;
//   - a RollupQuery's range is [From, To) as written (a zero To selects nothing); a zero
//     From or To of a RequestQuery leaves that side of the range open;
//   - ReplaceRollups rejects (EInvalid, changing nothing) rows that are not at res or
//     whose Start is outside [from, to): such a row would survive the next replacement
//     of its own range and be counted twice;
//   - ReadRequests fails on a Limit outside 1..1000 and on a malformed cursor; the last
//     page has an empty cursor;
//   - a call whose context is canceled fails as EUnavailable or with the context's error,
//     never as anything else;
//   - after Close (when the store is an io.Closer), every method is EUnavailable.
//
// It is imported only by tests.
package analyticstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the suite. open returns a new, empty store for one test and arranges for it to
// be closed in t.Cleanup; if the store is an io.Closer, Close must be idempotent, as the
// Closed test closes it itself. Tests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) analytics.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s analytics.Store)
	}{
		{"RollupRoundTrip", testRollupRoundTrip},
		{"RollupBlobs", testRollupBlobs},
		{"RollupFilters", testRollupFilters},
		{"RollupTimeRange", testRollupTimeRange},
		{"RollupPartialRows", testRollupPartialRows},
		{"RollupInputNotModified", testRollupInputNotModified},
		{"ReplaceRollups", testReplaceRollups},
		{"ReplaceRollupsRejects", testReplaceRollupsRejects},
		{"PruneRollups", testPruneRollups},
		{"RollupLargeBatch", testRollupLargeBatch},
		{"RequestRoundTrip", testRequestRoundTrip},
		{"RequestOddStrings", testRequestOddStrings},
		{"RequestPaging", testRequestPaging},
		{"RequestPagingWhileWriting", testRequestPagingWhileWriting},
		{"RequestFilters", testRequestFilters},
		{"RequestLimits", testRequestLimits},
		{"RequestCursor", testRequestCursor},
		{"PruneRequests", testPruneRequests},
		{"RequestLargeBatch", testRequestLargeBatch},
		{"NotConfiguration", testNotConfiguration},
		{"Concurrent", testConcurrent},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 is a fixed bucket start, so that the suite does not depend on the clock.
var t0 = time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC)

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// rollupKey orders rollups by every field, for comparing multisets.
func rollupKey(r analytics.Rollup) string {
	return fmt.Sprintf("%s|%s|%s|%d|%q|%q|%q|%q|%q|%d|%d|%d|%d|%d|%d|%d|%d|%d|%x|%x",
		r.Start.UTC().Format(time.RFC3339Nano), r.Res, r.Node, r.Kind, r.API, r.Route, r.App, r.Developer, r.Plan,
		r.StatusClass, r.Count, r.Errors, r.RateLimited, r.Rejected, r.CacheHits, r.BytesIn, r.BytesOut,
		r.LatencySum, r.Latency, r.Upstream)
}

// cmpOpts compares what stores return with what was written: nil and empty sketches
// alike (cmp compares times with their Equal method: as instants, whatever the zone).
func cmpOpts() cmp.Options {
	return cmp.Options{cmpopts.EquateEmpty()}
}

// sameRollups fails unless got and want hold the same rows, in any order.
func sameRollups(t *testing.T, what string, want, got []analytics.Rollup) {
	t.Helper()
	keys := func(rows []analytics.Rollup) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = rollupKey(r)
		}
		slices.Sort(out)
		return out
	}
	wk, gk := keys(want), keys(got)
	if slices.Equal(wk, gk) {
		return
	}
	if len(wk) != len(gk) {
		t.Errorf("%s: got %d rows, want %d", what, len(gk), len(wk))
	}
	// Show the difference as rows: sorted by key, and compared as cmpOpts says.
	want, got = slices.Clone(want), slices.Clone(got)
	byKey := func(a, b analytics.Rollup) int { return strings.Compare(rollupKey(a), rollupKey(b)) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	d := cmp.Diff(want, got, cmpOpts())
	if len(d) > 4000 {
		d = d[:4000] + "\n..."
	}
	t.Errorf("%s (-want +got):\n%s", what, d)
}

func readRollups(t *testing.T, s analytics.Store, q analytics.RollupQuery) []analytics.Rollup {
	t.Helper()
	got, err := s.ReadRollups(t.Context(), q)
	check(t, err)
	return got
}

// all is a query for every row at res.
func all(res analytics.Resolution) analytics.RollupQuery {
	return analytics.RollupQuery{Res: res, From: t0.AddDate(-10, 0, 0), To: t0.AddDate(10, 0, 0)}
}

// readAllRequests pages through q with its Limit and returns every record, checking that
// every page but the last is full, that the last has no cursor, and that records come
// newest first.
func readAllRequests(t *testing.T, s analytics.Store, q analytics.RequestQuery) ([]analytics.RequestRecord, int) {
	t.Helper()
	var (
		out   []analytics.RequestRecord
		pages int
	)
	for {
		page, next, err := s.ReadRequests(t.Context(), q)
		check(t, err)
		pages++
		if len(page) > q.Limit {
			t.Fatalf("page %d has %d records, limit %d", pages, len(page), q.Limit)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		if len(page) != q.Limit {
			t.Fatalf("page %d has %d records and a next cursor, want %d", pages, len(page), q.Limit)
		}
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		q.Before = next
	}
	checkNewestFirst(t, out)
	return out, pages
}

func checkNewestFirst(t *testing.T, recs []analytics.RequestRecord) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.After(recs[i-1].Time) {
			t.Fatalf("record %d (%v) is newer than record %d (%v): want newest first",
				i, recs[i].Time, i-1, recs[i-1].Time)
		}
	}
}

// ids returns the TraceIDs of recs (the suite's records carry unique ones), failing on a
// duplicate.
func ids(t *testing.T, recs []analytics.RequestRecord) map[string]bool {
	t.Helper()
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if seen[r.TraceID] {
			t.Fatalf("record %s returned twice", r.TraceID)
		}
		seen[r.TraceID] = true
	}
	return seen
}

func sameIDs(t *testing.T, what string, want []analytics.RequestRecord, got map[string]bool) {
	t.Helper()
	w := ids(t, want)
	var missing, extra []string
	for id := range w {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !w[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s: %d records missing %.5v, %d unexpected %.5v", what, len(missing), missing, len(extra), extra)
	}
}

// revisioned is what stores that also hold configuration offer (sqlstore).
type revisioned interface {
	Revision(ctx context.Context) (int64, error)
}

// testNotConfiguration: in a store that also holds configuration, analytics bumps no
// revision.
func testNotConfiguration(t *testing.T, s analytics.Store) {
	rs, ok := s.(revisioned)
	if !ok {
		t.Skip("store has no configuration revision")
	}
	ctx := t.Context()
	before, err := rs.Revision(ctx)
	check(t, err)
	check(t, s.WriteRollups(ctx, []analytics.Rollup{{Start: t0, Res: analytics.Minute, Count: 1}}))
	check(t, s.ReplaceRollups(ctx, analytics.Minute, t0, t0.Add(time.Minute), nil))
	_, err = s.PruneRollups(ctx, analytics.Minute, t0)
	check(t, err)
	check(t, s.WriteRequests(ctx, []analytics.RequestRecord{{Event: analytics.Event{Time: t0}}}))
	_, err = s.PruneRequests(ctx, t0)
	check(t, err)
	after, err := rs.Revision(ctx)
	check(t, err)
	if after != before {
		t.Errorf("analytics writes moved the revision from %d to %d", before, after)
	}
}

// testClosed: after Close, every method fails as unavailable; a canceled call succeeds or
// fails as unavailable or with the context's error, never as an internal error.
func testClosed(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range []error{
		s.WriteRollups(canceled, []analytics.Rollup{{Start: t0, Res: analytics.Minute}}),
		func() error { _, err := s.ReadRollups(canceled, all(analytics.Minute)); return err }(),
		func() error { _, _, err := s.ReadRequests(canceled, analytics.RequestQuery{Limit: 10}); return err }(),
	} {
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.EUnavailable && !errors.Is(err, context.Canceled) {
			t.Errorf("a canceled call: %v (code %q), want success or %q", err, gatehouse.ErrorCode(err), gatehouse.EUnavailable)
		}
	}

	c, ok := s.(io.Closer)
	if !ok {
		t.Skip("store cannot be closed")
	}
	check(t, c.Close())
	rows := []analytics.Rollup{{Start: t0, Res: analytics.Minute, Count: 1}}
	recs := []analytics.RequestRecord{{Event: analytics.Event{Time: t0}}}
	wantCode(t, s.WriteRollups(ctx, rows), gatehouse.EUnavailable)
	_, err := s.ReadRollups(ctx, all(analytics.Minute))
	wantCode(t, err, gatehouse.EUnavailable)
	wantCode(t, s.ReplaceRollups(ctx, analytics.Minute, t0, t0.Add(time.Minute), rows), gatehouse.EUnavailable)
	_, err = s.PruneRollups(ctx, analytics.Minute, t0)
	wantCode(t, err, gatehouse.EUnavailable)
	wantCode(t, s.WriteRequests(ctx, recs), gatehouse.EUnavailable)
	_, _, err = s.ReadRequests(ctx, analytics.RequestQuery{Limit: 10})
	wantCode(t, err, gatehouse.EUnavailable)
	_, err = s.PruneRequests(ctx, t0)
	wantCode(t, err, gatehouse.EUnavailable)
}
