package analyticstest

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/google/go-cmp/cmp"
)

var (
	apis     = []string{"orders", "users", "заказы"}
	apps     = []string{"shop", "mobile", "", "アプリ", "partner"}
	statuses = []int{200, 404, 500, 429, 0, 101}
)

// record is the i-th record of a log whose records come three to a second: ties in time
// are common. Its TraceID is unique.
func record(i int) analytics.RequestRecord {
	return analytics.RequestRecord{
		Node: fmt.Sprintf("node-%d", i%2),
		Event: analytics.Event{
			Kind:    analytics.Kind(i % 3),
			Time:    t0.Add(time.Duration(i/3) * time.Second),
			API:     apis[i%len(apis)],
			Route:   fmt.Sprintf("route-%d", i%4),
			Method:  []string{"GET", "POST"}[i%2],
			Status:  statuses[i%len(statuses)],
			App:     apps[i%len(apps)],
			KeyID:   fmt.Sprintf("key_%d", i%7),
			TraceID: fmt.Sprintf("%032x", i),
			BytesIn: int64(i), BytesOut: int64(i * 10), Latency: time.Duration(i) * time.Millisecond,
		},
	}
}

// records returns records lo..hi-1, in an order unrelated to their times (7919 is prime:
// stepping by it visits every index once).
func records(lo, hi int) []analytics.RequestRecord {
	n := hi - lo
	out := make([]analytics.RequestRecord, 0, n)
	for k := range n {
		out = append(out, record(lo+k*7919%n))
	}
	return out
}

func write(t *testing.T, s analytics.Store, recs []analytics.RequestRecord) {
	t.Helper()
	check(t, s.WriteRequests(t.Context(), recs))
}

func testRequestRoundTrip(t *testing.T, s analytics.Store) {
	ny, err := time.LoadLocation("America/New_York")
	check(t, err)
	recs := []analytics.RequestRecord{
		{Node: "node-1", Event: analytics.Event{
			Kind: analytics.KindRequest, Time: t0.Add(123456 * time.Microsecond), API: "orders", Route: "get-order",
			Method: "PATCH", Status: 503, App: "shop", Developer: "dev@example.com", KeyID: "key_123", Plan: "gold",
			ClientIP: "2001:db8::1", UserAgent: "curl/8.5.0", Channel: "",
			BytesIn: math.MaxInt64, BytesOut: 1 << 40, Latency: 90 * time.Second, UpstreamLatency: 3*time.Millisecond + 7,
			Cache: "MISS", RejectedBy: "rate-limit", RejectCode: "rate_limited", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		}},
		{Node: "ノード", Event: analytics.Event{
			Kind: analytics.KindConnection, Time: t0.In(ny), API: odd[0], Route: odd[1], Method: "GET", Status: 101,
			App: odd[2], Developer: odd[3], KeyID: odd[4], Plan: odd[5], ClientIP: "203.0.113.9", UserAgent: odd[6],
			Channel: "room/é 🚀", Latency: 3 * time.Hour, TraceID: "b",
		}},
		{Node: "n", Event: analytics.Event{Kind: analytics.KindMessage, Time: t0, Channel: "c", BytesOut: 12, TraceID: "c"}},
		{Event: analytics.Event{Time: t0.Add(-time.Hour)}}, // every field zero but the time
	}
	write(t, s, nil)
	write(t, s, recs)
	got, _ := readAllRequests(t, s, analytics.RequestQuery{Limit: 10})
	byTrace := func(a, b analytics.RequestRecord) int { return strings.Compare(a.TraceID, b.TraceID) }
	want := slices.Clone(recs)
	slices.SortFunc(want, byTrace)
	slices.SortFunc(got, byTrace)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
	for _, r := range got {
		if r.Time.Location() != time.UTC && r.Time.Location() != time.Local && r.Time.Location() != ny {
			t.Errorf("time %v in an unexpected zone", r.Time)
		}
	}

	// Times keep the microsecond at least.
	fine := t0.Add(time.Hour + 1500*time.Nanosecond)
	write(t, s, []analytics.RequestRecord{{Event: analytics.Event{Time: fine, TraceID: "fine"}}})
	page, _, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 1})
	check(t, err)
	if len(page) != 1 || page[0].TraceID != "fine" {
		t.Fatalf("newest record: %+v", page)
	}
	if got := page[0].Time; !got.Equal(fine) && !got.Equal(fine.Truncate(time.Microsecond)) {
		t.Errorf("time %v came back as %v", fine, got)
	}
}

// cleaned is what a store that keeps only valid UTF-8 without NUL may make of s.
func cleaned(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// testRequestOddStrings: header values may be any bytes. Storing them never fails the
// batch; they come back as written or with each bad sequence replaced by U+FFFD, and
// filtering by the value written finds them.
func testRequestOddStrings(t *testing.T, s analytics.Store) {
	ua, api, app := "Mozilla/5.0 \xff\xfe(Latin-1 \xe9)", "api\x00nul", "app\xc3"
	rec := analytics.RequestRecord{Node: "n\xff", Event: analytics.Event{Time: t0, API: api, App: app, UserAgent: ua,
		ClientIP: "1.2.3.4\x00", TraceID: "t"}}
	write(t, s, []analytics.RequestRecord{rec, record(1)})
	page, _, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 10, APIs: []string{api}, Apps: []string{app}})
	check(t, err)
	if len(page) != 1 {
		t.Fatalf("filtering by the odd values found %d records, want 1", len(page))
	}
	got := page[0]
	for _, f := range []struct{ name, got, want string }{
		{"user agent", got.UserAgent, ua}, {"api", got.API, api}, {"app", got.App, app},
		{"node", got.Node, rec.Node}, {"client ip", got.ClientIP, rec.ClientIP},
	} {
		if f.got != f.want && f.got != cleaned(f.want) {
			t.Errorf("%s %q came back as %q", f.name, f.want, f.got)
		}
	}

	// The same for rollup dimensions.
	row := analytics.Rollup{Start: t0, Res: analytics.Minute, Node: "n", Dims: analytics.Dims{API: api, App: app, Route: ua}, Count: 1}
	check(t, s.WriteRollups(t.Context(), []analytics.Rollup{row}))
	q := all(analytics.Minute)
	q.APIs, q.Apps, q.Routes = []string{api}, []string{app}, []string{ua}
	rows := readRollups(t, s, q)
	if len(rows) != 1 || rows[0].Count != 1 {
		t.Fatalf("filtering rollups by the odd values: %+v", rows)
	}
	if r := rows[0]; r.API != api && r.API != cleaned(api) || r.Route != ua && r.Route != cleaned(ua) {
		t.Errorf("rollup dims came back as %q, %q", r.API, r.Route)
	}
}

// testRequestPaging: every record exactly once, newest first, whatever the page size;
// ties in time do not make records repeat or vanish.
func testRequestPaging(t *testing.T, s analytics.Store) {
	const n = 250
	all := records(0, n)
	for c := range slices.Chunk(all, 50) {
		write(t, s, c)
	}
	for _, limit := range []int{1, 7, 50, 249, 250, 1000} {
		got, pages := readAllRequests(t, s, analytics.RequestQuery{Limit: limit})
		sameIDs(t, fmt.Sprintf("limit %d", limit), all, ids(t, got))
		if want := (n + limit - 1) / limit; pages != want {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
}

// testRequestPagingWhileWriting: records written while a reader pages do not make it see
// a record twice or miss one that was there when it started; newer ones do not appear.
func testRequestPagingWhileWriting(t *testing.T, s analytics.Store) {
	first := records(0, 120)
	write(t, s, first)
	q := analytics.RequestQuery{Limit: 10}
	page, next, err := s.ReadRequests(t.Context(), q)
	check(t, err)
	if len(page) != 10 || next == "" {
		t.Fatalf("first page: %d records, cursor %q", len(page), next)
	}
	seen := ids(t, page)
	last := page[len(page)-1]

	// Newer records, older ones, and ties with the last record of the page.
	var more []analytics.RequestRecord
	for i := range 30 {
		r := record(1000 + i)
		switch i % 3 {
		case 0:
			r.Time = t0.Add(time.Hour)
		case 1:
			r.Time = t0.Add(-time.Hour)
		case 2:
			r.Time = last.Time
		}
		more = append(more, r)
	}
	write(t, s, more)

	var rest []analytics.RequestRecord
	for next != "" {
		q.Before = next
		page, next, err = s.ReadRequests(t.Context(), q)
		check(t, err)
		rest = append(rest, page...)
	}
	checkNewestFirst(t, rest)
	for id := range ids(t, rest) {
		if seen[id] {
			t.Fatalf("record %s seen twice", id)
		}
		seen[id] = true
	}
	for _, r := range first {
		if !seen[r.TraceID] {
			t.Errorf("record %s (at %v) was never returned", r.TraceID, r.Time)
		}
	}
	for _, r := range more {
		if r.Time.After(last.Time) && seen[r.TraceID] {
			t.Errorf("record %s, newer than the first page, was returned on a later one", r.TraceID)
		}
	}
}

func requestMatches(q analytics.RequestQuery, r analytics.RequestRecord) bool {
	return (q.From.IsZero() || !r.Time.Before(q.From)) && (q.To.IsZero() || r.Time.Before(q.To)) &&
		(len(q.APIs) == 0 || slices.Contains(q.APIs, r.API)) &&
		(len(q.Apps) == 0 || slices.Contains(q.Apps, r.App)) &&
		(len(q.Statuses) == 0 || slices.Contains(q.Statuses, r.Status))
}

func testRequestFilters(t *testing.T, s analytics.Store) {
	const n = 300
	all := records(0, n)
	write(t, s, all)
	sec := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for name, q := range map[string]analytics.RequestQuery{
		"none":               {},
		"one api":            {APIs: []string{"users"}},
		"two apis":           {APIs: []string{"orders", "заказы"}},
		"unknown api":        {APIs: []string{"nope"}},
		"apps":               {Apps: []string{"shop", ""}},
		"status":             {Statuses: []int{500}},
		"statuses":           {Statuses: []int{429, 0, 101}},
		"range":              {From: sec(10), To: sec(20)},
		"range off the tick": {From: sec(10).Add(time.Nanosecond), To: sec(20).Add(time.Nanosecond)},
		"open start":         {To: sec(5)},
		"open end":           {From: sec(95)},
		"empty range":        {From: sec(20), To: sec(20)},
		"combined":           {From: sec(10), To: sec(80), APIs: []string{"orders", "users"}, Apps: []string{"shop", "mobile", "アプリ"}, Statuses: []int{200, 404, 500}},
	} {
		var want []analytics.RequestRecord
		for _, r := range all {
			if requestMatches(q, r) {
				want = append(want, r)
			}
		}
		q.Limit = 13
		got, _ := readAllRequests(t, s, q)
		sameIDs(t, name, want, ids(t, got))
	}
}

func testRequestLimits(t *testing.T, s analytics.Store) {
	page, next, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 10})
	check(t, err)
	if len(page) != 0 || next != "" {
		t.Errorf("empty log: %d records, cursor %q", len(page), next)
	}
	write(t, s, records(0, 1200))
	for _, limit := range []int{1, 2, 999, 1000} {
		page, next, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: limit})
		check(t, err)
		if len(page) != limit || next == "" {
			t.Errorf("limit %d: %d records, cursor %q", limit, len(page), next)
		}
	}
	for _, limit := range []int{0, -5, 1001, math.MaxInt32, math.MinInt32} {
		if page, _, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: limit}); err == nil {
			t.Errorf("limit %d: %d records, want an error", limit, len(page))
		}
	}
}

func testRequestCursor(t *testing.T, s analytics.Store) {
	write(t, s, records(0, 40))
	p1, c1, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 15})
	check(t, err)
	p2, c2, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 15})
	check(t, err)
	if c1 == "" || c1 != c2 || !slices.EqualFunc(p1, p2, func(a, b analytics.RequestRecord) bool { return a.TraceID == b.TraceID }) {
		t.Errorf("the same query gave different pages or cursors: %q, %q", c1, c2)
	}
	n1, d1, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 15, Before: c1})
	check(t, err)
	n2, d2, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 15, Before: c1})
	check(t, err)
	if d1 != d2 || !slices.EqualFunc(n1, n2, func(a, b analytics.RequestRecord) bool { return a.TraceID == b.TraceID }) {
		t.Errorf("the same cursor gave different pages")
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"%%%", "not a cursor", b64("[]"), b64(`["x"]`), b64(`{"a":1}`), c1 + "x", c1[:len(c1)/2]} {
		if page, _, err := s.ReadRequests(t.Context(), analytics.RequestQuery{Limit: 15, Before: bad}); err == nil {
			t.Errorf("cursor %q: %d records, want an error", bad, len(page))
		}
	}
}

func testPruneRequests(t *testing.T, s analytics.Store) {
	ctx := t.Context()
	var recs []analytics.RequestRecord
	for i := range 10 {
		recs = append(recs, analytics.RequestRecord{Event: analytics.Event{Time: t0.Add(time.Duration(i) * time.Second), TraceID: fmt.Sprint(i)}})
	}
	write(t, s, recs)
	sec := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		before time.Time
		want   int64
	}{
		{sec(5), 5}, // strictly before: the record at 5s stays
		{sec(5), 0},
		{sec(5).Add(time.Nanosecond), 1},
		{t0.AddDate(-1, 0, 0), 0},
	} {
		n, err := s.PruneRequests(ctx, tc.before)
		check(t, err)
		if n != tc.want {
			t.Errorf("pruning before %v deleted %d, want %d", tc.before, n, tc.want)
		}
	}
	got, _ := readAllRequests(t, s, analytics.RequestQuery{Limit: 3})
	sameIDs(t, "records after pruning", recs[6:], ids(t, got))
	n, err := s.PruneRequests(ctx, t0.AddDate(1, 0, 0))
	check(t, err)
	if n != 4 {
		t.Errorf("pruning everything deleted %d, want 4", n)
	}
}

// testRequestLargeBatch: one WriteRequests of many records (many statements) is written
// whole.
func testRequestLargeBatch(t *testing.T, s analytics.Store) {
	all := records(0, 3000)
	write(t, s, all)
	got, pages := readAllRequests(t, s, analytics.RequestQuery{Limit: 1000})
	sameIDs(t, "large batch", all, ids(t, got))
	if pages != 3 {
		t.Errorf("%d pages of 1000, want 3", pages)
	}
}
