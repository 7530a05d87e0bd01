package analyticstest

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/google/go-cmp/cmp"
)

// seq is n bytes running through every byte value, NUL and 0xff included.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// odd are names that must round-trip: non-ASCII, quotes, SQL, separators, long.
var odd = []string{"заказы", "アプリ/é", "plan 🚀", `it's "quoted"`, "'; DROP TABLE analytics_rollups; --",
	"a|b:c,d%_*", string(bytes.Repeat([]byte("x"), 2000))}

func testRollupRoundTrip(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	rows := []analytics.Rollup{
		{ // every field set, extreme integers
			Start: t0, Res: analytics.Minute, Node: "node-1",
			Dims: analytics.Dims{Kind: analytics.KindConnection, API: "orders", Route: "get-order", App: "shop",
				Developer: "dev@example.com", Plan: "gold", StatusClass: 2},
			Count: 1<<40 + 1, Errors: 2, RateLimited: 3, Rejected: 4, CacheHits: 5, BytesIn: 1 << 62,
			BytesOut: math.MaxInt64, LatencySum: 3*time.Hour + 7*time.Nanosecond,
			Latency: seq(300), Upstream: []byte{0, 1, 0xff},
		},
		{Start: t0, Res: analytics.Minute}, // every field zero but the bucket
		{ // a message row with odd names, written in another zone
			Start: t0.Add(time.Minute).In(ny), Res: analytics.Minute, Node: odd[0],
			Dims: analytics.Dims{Kind: analytics.KindMessage, API: odd[0], Route: odd[1], App: odd[2],
				Developer: odd[3], Plan: odd[4], StatusClass: 5},
			Count: 1, LatencySum: time.Nanosecond, Upstream: seq(1),
		},
		{Start: t0, Res: analytics.Hour, Node: "node-2", Dims: analytics.Dims{API: odd[5], Route: odd[6], StatusClass: 4},
			Count: 9, Errors: 9, Latency: seq(1 << 16)},
		{Start: t0, Res: analytics.Day, Node: "node-3", Dims: analytics.Dims{Kind: analytics.KindRequest, StatusClass: 1},
			Count: math.MaxInt64, LatencySum: math.MaxInt64},
	}
	check(t, s.WriteRollups(ctx, nil))
	check(t, s.WriteRollups(ctx, []analytics.Rollup{}))
	check(t, s.WriteRollups(ctx, rows))

	sameRollups(t, "minute rows", rows[:3], readRollups(t, s, all(analytics.Minute)))
	sameRollups(t, "hour rows", rows[3:4], readRollups(t, s, all(analytics.Hour)))
	sameRollups(t, "day rows", rows[4:], readRollups(t, s, all(analytics.Day)))

	for _, r := range readRollups(t, s, all(analytics.Minute)) {
		if !r.Start.Equal(r.Start.Truncate(time.Microsecond)) {
			t.Errorf("start %v gained sub-microsecond digits", r.Start)
		}
	}
	// Filters match the odd names exactly.
	q := all(analytics.Minute)
	q.APIs, q.Routes, q.Apps, q.Developers, q.Plans = []string{odd[0]}, []string{odd[1]}, []string{odd[2]}, []string{odd[3]}, []string{odd[4]}
	sameRollups(t, "rows by odd names", rows[2:3], readRollups(t, s, q))
	q = all(analytics.Hour)
	q.APIs, q.Routes = []string{odd[5]}, []string{odd[6]}
	sameRollups(t, "rows by odd names", rows[3:4], readRollups(t, s, q))

	// Nothing at a resolution nobody wrote, nor in an empty store's range.
	if got := readRollups(t, s, all("week")); len(got) != 0 {
		t.Errorf("rows at an unwritten resolution: %v", got)
	}
	if got := readRollups(t, s, analytics.RollupQuery{Res: analytics.Minute, From: t0.AddDate(1, 0, 0), To: t0.AddDate(2, 0, 0)}); len(got) != 0 {
		t.Errorf("rows outside the range: %v", got)
	}
}

// testRollupBlobs: nil sketches come back empty, non-empty ones byte for byte, whichever
// of the two is set.
func testRollupBlobs(t *testing.T, s analytics.Store) {
	cases := []struct{ latency, upstream []byte }{
		{nil, nil},
		{seq(10), nil},
		{nil, seq(10)},
		{[]byte{0}, []byte{0xff}},
		{[]byte{}, seq(3)}, // an empty sketch may come back nil
		{seq(100000), seq(70000)},
	}
	var rows []analytics.Rollup
	for i, c := range cases {
		rows = append(rows, analytics.Rollup{Start: t0, Res: analytics.Minute, Count: int64(i), Latency: c.latency, Upstream: c.upstream})
	}
	check(t, s.WriteRollups(t.Context(), rows))
	got := readRollups(t, s, all(analytics.Minute))
	if len(got) != len(cases) {
		t.Fatalf("got %d rows, want %d", len(got), len(cases))
	}
	for _, r := range got {
		c := cases[r.Count]
		if !bytes.Equal(r.Latency, c.latency) || !bytes.Equal(r.Upstream, c.upstream) {
			t.Errorf("row %d: sketches %d/%d bytes, want %d/%d", r.Count, len(r.Latency), len(r.Upstream), len(c.latency), len(c.upstream))
		}
		if c.latency == nil && r.Latency != nil || c.upstream == nil && r.Upstream != nil {
			t.Errorf("row %d: a nil sketch came back non-nil: %v, %v", r.Count, r.Latency, r.Upstream)
		}
	}
}

// grid writes rows over every combination of a few dimension values, at two resolutions,
// and returns them.
func grid(t *testing.T, s analytics.Store) []analytics.Rollup {
	t.Helper()
	var rows []analytics.Rollup
	i := 0
	for _, res := range []analytics.Resolution{analytics.Minute, analytics.Hour} {
		for _, kind := range []analytics.Kind{analytics.KindRequest, analytics.KindConnection, analytics.KindMessage} {
			for _, api := range []string{"a", "b", "c"} {
				for _, sc := range []int{0, 2, 5} {
					for _, route := range []string{"r1", "r2"} {
						i++
						rows = append(rows, analytics.Rollup{
							Start: t0.Add(time.Duration(i%4) * time.Hour), Res: res, Node: fmt.Sprintf("n%d", i%2),
							Dims: analytics.Dims{Kind: kind, API: api, Route: route, App: []string{"x", "y", "z", ""}[i%4],
								Developer: []string{"d1", "d2", "d3"}[i%3], Plan: []string{"p1", "p2"}[i%2], StatusClass: sc},
							Count: int64(i), Errors: int64(i % 3), BytesOut: int64(i * 100), LatencySum: time.Duration(i) * time.Millisecond,
						})
					}
				}
			}
		}
	}
	check(t, s.WriteRollups(t.Context(), rows))
	return rows
}

// matches is the reference semantics of RollupQuery.
func matches(q analytics.RollupQuery, r analytics.Rollup) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	return r.Res == q.Res &&
		!r.Start.Before(q.From) && r.Start.Before(q.To) &&
		(len(q.Kinds) == 0 || slices.Contains(q.Kinds, r.Kind)) &&
		in(q.APIs, r.API) && in(q.Routes, r.Route) && in(q.Apps, r.App) &&
		in(q.Developers, r.Developer) && in(q.Plans, r.Plan) &&
		(len(q.StatusClasses) == 0 || slices.Contains(q.StatusClasses, r.StatusClass))
}

func filterRollups(q analytics.RollupQuery, rows []analytics.Rollup) []analytics.Rollup {
	var out []analytics.Rollup
	for _, r := range rows {
		if matches(q, r) {
			out = append(out, r)
		}
	}
	return out
}

func testRollupFilters(t *testing.T, s analytics.Store) {
	rows := grid(t, s)
	base := all(analytics.Minute)
	with := func(f func(q *analytics.RollupQuery)) analytics.RollupQuery {
		q := base
		f(&q)
		return q
	}
	queries := map[string]analytics.RollupQuery{
		"none":     base,
		"hour":     all(analytics.Hour),
		"one kind": with(func(q *analytics.RollupQuery) { q.Kinds = []analytics.Kind{analytics.KindConnection} }),
		"two kinds": with(func(q *analytics.RollupQuery) {
			q.Kinds = []analytics.Kind{analytics.KindRequest, analytics.KindMessage}
		}),
		"one api":        with(func(q *analytics.RollupQuery) { q.APIs = []string{"a"} }),
		"two apis":       with(func(q *analytics.RollupQuery) { q.APIs = []string{"c", "a"} }),
		"unknown api":    with(func(q *analytics.RollupQuery) { q.APIs = []string{"nope"} }),
		"api case":       with(func(q *analytics.RollupQuery) { q.APIs = []string{"A"} }),
		"repeated api":   with(func(q *analytics.RollupQuery) { q.APIs = []string{"b", "b"} }),
		"route":          with(func(q *analytics.RollupQuery) { q.Routes = []string{"r2"} }),
		"apps":           with(func(q *analytics.RollupQuery) { q.Apps = []string{"x", ""} }),
		"developer":      with(func(q *analytics.RollupQuery) { q.Developers = []string{"d3"} }),
		"plans":          with(func(q *analytics.RollupQuery) { q.Plans = []string{"p1", "p2"} }),
		"status class 0": with(func(q *analytics.RollupQuery) { q.StatusClasses = []int{0} }),
		"status classes": with(func(q *analytics.RollupQuery) { q.StatusClasses = []int{2, 5} }),
		"unknown class":  with(func(q *analytics.RollupQuery) { q.StatusClasses = []int{3} }),
		"range and api": with(func(q *analytics.RollupQuery) {
			q.From, q.To, q.APIs = t0.Add(time.Hour), t0.Add(3*time.Hour), []string{"b"}
		}),
		"every dimension": with(func(q *analytics.RollupQuery) {
			q.Kinds, q.APIs, q.Routes = []analytics.Kind{analytics.KindRequest, analytics.KindMessage}, []string{"a", "b"}, []string{"r1"}
			q.Apps, q.Developers, q.Plans, q.StatusClasses = []string{"x", "y", "z"}, []string{"d1", "d2"}, []string{"p1", "p2"}, []int{0, 5}
		}),
		"disjoint": with(func(q *analytics.RollupQuery) { q.APIs, q.Kinds = []string{"a"}, []analytics.Kind{7} }),
	}
	nonEmpty := 0
	for name, q := range queries {
		want := filterRollups(q, rows)
		if len(want) > 0 {
			nonEmpty++
		}
		sameRollups(t, name, want, readRollups(t, s, q))
	}
	if nonEmpty < len(queries)-5 {
		t.Fatalf("only %d of %d queries select rows: the grid does not exercise the filters", nonEmpty, len(queries))
	}
}

// testRollupTimeRange: [From, To) exactly, to the nanosecond of the bounds, zero bounds
// included.
func testRollupTimeRange(t *testing.T, s analytics.Store) {
	var rows []analytics.Rollup
	for i := range 10 {
		rows = append(rows, analytics.Rollup{Start: t0.Add(time.Duration(i) * time.Minute), Res: analytics.Minute, Count: int64(i)})
	}
	check(t, s.WriteRollups(t.Context(), rows))
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []int // indexes of rows
	}{
		{"inner", m(2), m(5), []int{2, 3, 4}},
		{"one bucket", m(2), m(3), []int{2}},
		{"from == to", m(2), m(2), nil},
		{"from > to", m(5), m(2), nil},
		{"from just after a start", m(2).Add(time.Nanosecond), m(5), []int{3, 4}},
		{"to just after a start", m(2), m(5).Add(time.Nanosecond), []int{2, 3, 4, 5}},
		{"to just before a start", m(2), m(5).Add(-time.Nanosecond), []int{2, 3, 4}},
		{"from just before a start", m(2).Add(-time.Microsecond), m(3), []int{2}},
		{"bounds in another zone", m(2).In(ny), m(5).In(ny), []int{2, 3, 4}},
		{"all", m(0), m(10), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"zero from: from the beginning", time.Time{}, m(2), []int{0, 1}},
		{"zero to: nothing", m(8), time.Time{}, nil},
		{"both zero: nothing", time.Time{}, time.Time{}, nil},
	} {
		var want []analytics.Rollup
		for _, i := range tc.want {
			want = append(want, rows[i])
		}
		sameRollups(t, tc.name, want, readRollups(t, s, analytics.RollupQuery{Res: analytics.Minute, From: tc.from, To: tc.to}))
	}
}

// testRollupPartialRows: rows are append-only partial aggregates; one key's rows are all
// returned, however and by whomever they were written.
func testRollupPartialRows(t *testing.T, s analytics.Store) {
	dims := analytics.Dims{API: "a", Route: "r", App: "x", StatusClass: 2}
	var want []analytics.Rollup
	var total int64
	for call := range 5 {
		var batch []analytics.Rollup
		for i := range 10 {
			r := analytics.Rollup{Start: t0, Res: analytics.Minute, Node: fmt.Sprintf("node-%d", i%3), Dims: dims, Count: 1}
			if i%4 == 0 { // identical rows in one batch stay distinct rows
				r.Count = int64(call + 1)
			}
			total += r.Count
			batch = append(batch, r)
		}
		check(t, s.WriteRollups(t.Context(), batch))
		want = append(want, batch...)
	}
	got := readRollups(t, s, analytics.RollupQuery{Res: analytics.Minute, From: t0, To: t0.Add(time.Minute), APIs: []string{"a"}})
	sameRollups(t, "partial rows", want, got)
	var sum int64
	for _, r := range got {
		sum += r.Count
	}
	if sum != total {
		t.Errorf("counts add up to %d, want %d", sum, total)
	}
}

func testRollupInputNotModified(t *testing.T, s analytics.Store) {
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	rows := []analytics.Rollup{
		{Start: t0.In(ny).Add(123 * time.Nanosecond), Res: analytics.Minute, Node: "n", Dims: analytics.Dims{API: "a\xff"}, Latency: []byte{}, Upstream: seq(5)},
		{Start: t0, Res: analytics.Minute, Latency: nil},
	}
	before := slices.Clone(rows)
	before[0].Upstream = slices.Clone(rows[0].Upstream)
	check(t, s.WriteRollups(t.Context(), rows))
	check(t, s.ReplaceRollups(t.Context(), analytics.Minute, t0, t0.Add(time.Minute), rows))
	if d := cmp.Diff(before, rows); d != "" || rows[0].Start.Location() != ny || rows[0].Latency == nil {
		t.Errorf("writing modified the caller's rows (-before +after):\n%s", d)
	}
}

// testReplaceRollups: only the rows at res in [from, to) are replaced; other buckets and
// other resolutions are untouched.
func testReplaceRollups(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	var minute, others []analytics.Rollup
	for i := range 10 {
		for n := range 3 { // three partial rows per bucket, from three nodes
			minute = append(minute, analytics.Rollup{Start: m(i), Res: analytics.Minute, Node: fmt.Sprintf("n%d", n),
				Dims: analytics.Dims{API: "a"}, Count: 1, Latency: seq(4)})
		}
	}
	// Rows at other resolutions whose starts fall in the replaced range.
	for _, res := range []analytics.Resolution{analytics.Hour, analytics.Day} {
		for _, st := range []time.Time{t0, m(2), m(4)} {
			others = append(others, analytics.Rollup{Start: st, Res: res, Dims: analytics.Dims{API: "a"}, Count: 5})
		}
	}
	check(t, s.WriteRollups(ctx, append(slices.Clone(minute), others...)))

	// Compact [2, 5): one merged row per bucket replaces the three partial ones.
	var merged []analytics.Rollup
	for i := 2; i < 5; i++ {
		merged = append(merged, analytics.Rollup{Start: m(i), Res: analytics.Minute, Node: "compactor",
			Dims: analytics.Dims{API: "a"}, Count: 3, Latency: seq(8)})
	}
	check(t, s.ReplaceRollups(ctx, analytics.Minute, m(2), m(5), merged))
	want := append(slices.Clone(minute[:2*3]), merged...)
	want = append(want, minute[5*3:]...)
	sameRollups(t, "minute rows after replacing [2, 5)", want, readRollups(t, s, all(analytics.Minute)))
	sameRollups(t, "hour rows", others[:3], readRollups(t, s, all(analytics.Hour)))
	sameRollups(t, "day rows", others[3:], readRollups(t, s, all(analytics.Day)))

	// Replacing with nothing deletes the range; bounds compare exactly (the bucket at
	// from is in, the one at to is out), whatever their zone.
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	check(t, s.ReplaceRollups(ctx, analytics.Minute, m(7).In(ny), m(9).In(ny), nil))
	want = slices.DeleteFunc(want, func(r analytics.Rollup) bool { return r.Start.Equal(m(7)) || r.Start.Equal(m(8)) })
	sameRollups(t, "minute rows after emptying [7, 9)", want, readRollups(t, s, all(analytics.Minute)))
	check(t, s.ReplaceRollups(ctx, analytics.Minute, m(0).Add(time.Nanosecond), m(1).Add(-time.Nanosecond), nil))
	sameRollups(t, "minute rows after emptying a range between buckets", want, readRollups(t, s, all(analytics.Minute)))

	// An empty range with no rows is a no-op.
	check(t, s.ReplaceRollups(ctx, analytics.Minute, m(3), m(3), nil))
	sameRollups(t, "minute rows after an empty replacement", want, readRollups(t, s, all(analytics.Minute)))

	// Many rows in one replacement (several statements) are written together.
	var many []analytics.Rollup
	for i := range 1500 {
		many = append(many, analytics.Rollup{Start: m(i % 2), Res: analytics.Minute, Dims: analytics.Dims{API: fmt.Sprintf("api-%d", i)}, Count: 1})
	}
	check(t, s.ReplaceRollups(ctx, analytics.Minute, m(0), m(2), many))
	want = append(slices.DeleteFunc(want, func(r analytics.Rollup) bool { return r.Start.Before(m(2)) }), many...)
	sameRollups(t, "minute rows after a large replacement", want, readRollups(t, s, all(analytics.Minute)))
	sameRollups(t, "hour rows at the end", others[:3], readRollups(t, s, all(analytics.Hour)))
}

// testReplaceRollupsRejects: rows that a replacement would not cover are EInvalid, and the
// call changes nothing.
func testReplaceRollupsRejects(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	m := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	rows := []analytics.Rollup{
		{Start: m(0), Res: analytics.Minute, Count: 1},
		{Start: m(1), Res: analytics.Minute, Count: 2},
		{Start: m(2), Res: analytics.Minute, Count: 3},
	}
	check(t, s.WriteRollups(ctx, rows))
	ok := analytics.Rollup{Start: m(1), Res: analytics.Minute, Count: 10}
	for name, bad := range map[string]analytics.Rollup{
		"start at to":       {Start: m(2), Res: analytics.Minute},
		"start before from": {Start: m(0), Res: analytics.Minute},
		"start far after":   {Start: m(60), Res: analytics.Minute},
		"other resolution":  {Start: m(1), Res: analytics.Hour},
		"no resolution":     {Start: m(1)},
		"start just before": {Start: m(1).Add(-time.Microsecond), Res: analytics.Minute},
	} {
		err := s.ReplaceRollups(ctx, analytics.Minute, m(1), m(2), []analytics.Rollup{ok, bad})
		if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
			t.Errorf("%s: error %v, want %q", name, err, gatehouse.EInvalid)
		}
		sameRollups(t, name+": rows after a rejected replacement", rows, readRollups(t, s, all(analytics.Minute)))
	}
}

func testPruneRollups(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	d := func(i int) time.Time { return t0.AddDate(0, 0, i) }
	var rows []analytics.Rollup
	for i := -3; i <= 2; i++ {
		for _, res := range []analytics.Resolution{analytics.Minute, analytics.Hour, analytics.Day} {
			rows = append(rows, analytics.Rollup{Start: d(i), Res: res, Count: 1}, analytics.Rollup{Start: d(i), Res: res, Count: 2})
		}
	}
	check(t, s.WriteRollups(ctx, rows))
	n, err := s.PruneRollups(ctx, analytics.Minute, d(0)) // strictly before: d(0) stays
	check(t, err)
	if n != 6 {
		t.Errorf("pruned %d minute rows, want 6", n)
	}
	n, err = s.PruneRollups(ctx, analytics.Minute, d(0))
	check(t, err)
	if n != 0 {
		t.Errorf("pruning again deleted %d rows, want 0", n)
	}
	n, err = s.PruneRollups(ctx, analytics.Hour, d(-1).Add(time.Nanosecond)) // d(-1) is before it
	check(t, err)
	if n != 6 {
		t.Errorf("pruned %d hour rows, want 6", n)
	}
	n, err = s.PruneRollups(ctx, "week", d(10))
	check(t, err)
	if n != 0 {
		t.Errorf("pruning an unwritten resolution deleted %d rows", n)
	}
	keep := func(res analytics.Resolution, from time.Time) []analytics.Rollup {
		var out []analytics.Rollup
		for _, r := range rows {
			if r.Res == res && !r.Start.Before(from) {
				out = append(out, r)
			}
		}
		return out
	}
	sameRollups(t, "minute rows", keep(analytics.Minute, d(0)), readRollups(t, s, all(analytics.Minute)))
	sameRollups(t, "hour rows", keep(analytics.Hour, d(-1).Add(time.Nanosecond)), readRollups(t, s, all(analytics.Hour)))
	sameRollups(t, "day rows", keep(analytics.Day, d(-100)), readRollups(t, s, all(analytics.Day)))
	n, err = s.PruneRollups(ctx, analytics.Day, d(100))
	check(t, err)
	if n != 12 {
		t.Errorf("pruned %d day rows, want 12", n)
	}
}

// testRollupLargeBatch: one WriteRollups of many rows (many INSERT statements) is written
// whole.
func testRollupLargeBatch(t *testing.T, s analytics.Store) {
	const n = 5000
	rows := make([]analytics.Rollup, 0, n)
	var sum int64
	for i := range n {
		rows = append(rows, analytics.Rollup{
			Start: t0.Add(time.Duration(i%60) * time.Minute), Res: analytics.Minute, Node: "n",
			Dims:  analytics.Dims{API: fmt.Sprintf("api-%d", i%37), Route: fmt.Sprintf("r-%d", i), App: "app", StatusClass: 2},
			Count: int64(i + 1), BytesOut: int64(i), Latency: seq(i % 50),
		})
		sum += int64(i + 1)
	}
	check(t, s.WriteRollups(t.Context(), rows))
	got := readRollups(t, s, all(analytics.Minute))
	var gotSum int64
	for _, r := range got {
		gotSum += r.Count
	}
	if len(got) != n || gotSum != sum {
		t.Fatalf("read %d rows counting %d, want %d counting %d", len(got), gotSum, n, sum)
	}
	sameRollups(t, "large batch", rows, got)
}
