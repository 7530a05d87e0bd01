package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit/limittest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/quota/quotatest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// The test policies set the client IP (X-Test-IP) and the identity (X-Test-App,
// X-Test-Key, X-Test-Subject, X-Test-Plan) from headers; every request passes them.
var reg = policy.NewRegistry(Type, limittest.EdgeType, limittest.CallerType)

// clock is the injected env.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock        { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func at(s string) time.Time              { t, _ := time.Parse(time.RFC3339, s); return t }
func seconds(d time.Duration) string     { return strconv.FormatInt(int64(d/time.Second), 10) }
func cfg(limit int64, period string) string {
	return fmt.Sprintf(`{"limit":%d,"period":%q}`, limit, period)
}

// node is one gateway's counters: a Local over its own connection to a SQLite file.
type node struct {
	*quota.Local
	store *sqlite.Store
}

func (n node) close(t *testing.T) {
	t.Helper()
	if err := n.Local.Close(); err != nil {
		t.Error(err)
	}
	if err := n.store.Close(); err != nil {
		t.Error(err)
	}
}

func openNode(t *testing.T, path string, clk *clock) node {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := quota.NewLocal(st, quota.LocalOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	n := node{l, st}
	t.Cleanup(func() { _ = n.Local.Close(); _ = n.store.Close() })
	return n
}

func newNode(t *testing.T, clk *clock) node {
	return openNode(t, filepath.Join(t.TempDir(), "gatehouse.db"), clk)
}

// backends are the counters the behaviour tests run on: Local over SQLite always, Redis
// when GATEHOUSE_TEST_REDIS is set.
func backends(t *testing.T, clk *clock) map[string]policy.Quotas {
	t.Helper()
	b := map[string]policy.Quotas{"local": newNode(t, clk).Local}
	if url := os.Getenv("GATEHOUSE_TEST_REDIS"); url != "" {
		r, err := quota.NewRedis(url, quotatest.RedisPrefix(t, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		b["redis"] = r
	}
	return b
}

type server struct {
	*httptest.Server
	upstream *atomic.Int64 // requests that reached the upstream
}

// serve runs the quota configs (after the test edge and caller policies) in front of an
// upstream that counts requests.
func serve(t *testing.T, q policy.Quotas, clk *clock, api string, plans []*gatehouse.Plan, configs ...string) server {
	t.Helper()
	return serveEnv(t, &policy.Env{Quotas: q, Now: clk.now, API: &gatehouse.API{Name: api, Path: "/", State: gatehouse.StatePublished}}, plans, configs...)
}

func serveEnv(t *testing.T, env *policy.Env, plans []*gatehouse.Plan, configs ...string) server {
	t.Helper()
	specs := []gatehouse.PolicySpec{{Type: "test-edge"}, {Type: "test-caller"}}
	for _, c := range configs {
		specs = append(specs, gatehouse.PolicySpec{Type: "quota", Config: json.RawMessage(c)})
	}
	var hits atomic.Int64
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		policytest.Echo(w, r)
	})
	return server{policytest.Serve(t, reg, env, specs, plans, upstream), &hits}
}

type result struct {
	status int
	code   string
	header http.Header
}

func (r result) is(status int, code string) bool { return r.status == status && r.code == code }

func (r result) String() string {
	return fmt.Sprintf("%d %s (limit %q remaining %q reset %q retry-after %q)", r.status, r.code,
		r.header.Get("X-Quota-Limit"), r.header.Get("X-Quota-Remaining"), r.header.Get("X-Quota-Reset"), r.header.Get("Retry-After"))
}

// get sends a request with the given headers ("Name: value").
func get(t *testing.T, srv server, headers ...string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/things", nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		var doc struct{ Code string }
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("status %d with a body that is not a problem document: %q", resp.StatusCode, body)
		}
		r.code = doc.Code
	}
	return r
}

// wantHeaders checks the X-Quota-* headers (and Retry-After, "" for none).
func wantHeaders(t *testing.T, r result, limit, remaining, reset, retryAfter string) {
	t.Helper()
	for _, h := range [][2]string{{"X-Quota-Limit", limit}, {"X-Quota-Remaining", remaining}, {"X-Quota-Reset", reset}, {"Retry-After", retryAfter}} {
		if got := r.header.Values(h[0]); len(got) > 1 || r.header.Get(h[0]) != h[1] {
			t.Errorf("%s = %q, want %q", h[0], got, h[1])
		}
	}
}

func TestExactLimitThenRejected(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	for name, q := range backends(t, clk) {
		t.Run(name, func(t *testing.T) {
			srv := serve(t, q, clk, "orders", nil, cfg(3, "day"))
			const reset = "43200" // noon to midnight UTC
			for i := 1; i <= 3; i++ {
				r := get(t, srv)
				if r.status != http.StatusOK {
					t.Fatalf("request %d: %v", i, r)
				}
				wantHeaders(t, r, "3", strconv.Itoa(3-i), reset, "")
			}
			for range 3 { // rejections count nothing and keep saying so
				r := get(t, srv)
				if !r.is(http.StatusTooManyRequests, "quota_exceeded") {
					t.Fatalf("request over the limit: %v, want 429 quota_exceeded", r)
				}
				wantHeaders(t, r, "3", "0", reset, reset)
			}
			if n := srv.upstream.Load(); n != 3 {
				t.Errorf("upstream saw %d requests, want 3", n)
			}
		})
	}
}

func TestPeriodRollover(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T23:59:30Z"))
	srv := serve(t, newNode(t, clk), clk, "orders", nil, cfg(1, "day"))
	if r := get(t, srv); r.status != http.StatusOK || r.header.Get("X-Quota-Reset") != "30" {
		t.Fatalf("first request: %v", r)
	}
	clk.advance(29*time.Second + 500*time.Millisecond)
	r := get(t, srv)
	if !r.is(http.StatusTooManyRequests, "quota_exceeded") {
		t.Fatalf("second request: %v", r)
	}
	wantHeaders(t, r, "1", "0", "1", "1") // half a second left: rounded up
	clk.advance(500 * time.Millisecond)   // midnight: a new day
	r = get(t, srv)
	if r.status != http.StatusOK {
		t.Fatalf("after midnight: %v", r)
	}
	wantHeaders(t, r, "1", "0", "86400", "")
	if r := get(t, srv); r.status != http.StatusTooManyRequests {
		t.Fatalf("second request of the new day: %v", r)
	}
}

// TestCalendar checks where periods start and end: limit 1, a request at "at" passes and
// reports reset; one a second before the end is rejected; one at the end passes.
func TestCalendar(t *testing.T) {
	t.Parallel()
	const h = time.Hour
	tests := []struct {
		name   string
		config string
		at     string
		reset  time.Duration // until the period ends
	}{
		{"UTC day", `{"limit":1,"period":"day"}`, "2026-01-15T10:00:00Z", 14 * h},
		{"New York winter day starts at 05:00 UTC", `{"limit":1,"period":"day","timezone":"America/New_York"}`, "2026-01-15T04:00:00Z", h},
		{"New York summer day starts at 04:00 UTC", `{"limit":1,"period":"day","timezone":"America/New_York"}`, "2026-07-15T03:00:00Z", h},
		{"New York day with the spring DST jump lasts 23h", `{"limit":1,"period":"day","timezone":"America/New_York"}`, "2026-03-08T05:00:00Z", 23 * h},
		{"New York day with the autumn DST fall-back lasts 25h", `{"limit":1,"period":"day","timezone":"America/New_York"}`, "2026-11-01T04:00:00Z", 25 * h},
		// 2026-01-18 is a Sunday: its week ends at Monday 00:00 New York, 05:00 UTC.
		{"week ends on Monday local midnight", `{"limit":1,"period":"week","timezone":"America/New_York"}`, "2026-01-19T03:00:00Z", 2 * h},
		{"week starts on Monday", `{"limit":1,"period":"week"}`, "2026-01-19T00:00:00Z", 7 * 24 * h},
		{"month ends on the 1st local midnight", `{"limit":1,"period":"month","timezone":"America/New_York"}`, "2026-02-01T04:30:00Z", 30 * time.Minute},
		{"February", `{"limit":1,"period":"month"}`, "2026-02-01T00:00:00Z", 28 * 24 * h},
		{"month across DST (Europe/Paris, March: 31 days less an hour)", `{"limit":1,"period":"month","timezone":"Europe/Paris"}`, "2026-02-28T23:00:00Z", 31*24*h - h},
		{"hour in a half-hour zone starts at :30 UTC", `{"limit":1,"period":"hour","timezone":"Asia/Kolkata"}`, "2026-01-15T10:30:00Z", h},
		{"hour", `{"limit":1,"period":"hour"}`, "2026-01-15T10:59:00Z", time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := at(tc.at)
			clk := newClock(start)
			srv := serve(t, newNode(t, clk), clk, "orders", nil, tc.config)
			r := get(t, srv)
			if r.status != http.StatusOK || r.header.Get("X-Quota-Reset") != seconds(tc.reset) {
				t.Fatalf("at %s: %v, want 200 with reset %s", tc.at, r, seconds(tc.reset))
			}
			clk.set(start.Add(tc.reset - time.Second))
			if r := get(t, srv); !r.is(http.StatusTooManyRequests, "quota_exceeded") || r.header.Get("Retry-After") != "1" {
				t.Fatalf("a second before the end: %v, want 429 with Retry-After 1", r)
			}
			clk.set(start.Add(tc.reset))
			if r := get(t, srv); r.status != http.StatusOK {
				t.Fatalf("at the end (a new period): %v, want 200", r)
			}
		})
	}
}

func TestBy(t *testing.T) {
	t.Parallel()
	type req struct {
		headers []string
		status  int
	}
	tests := []struct {
		by   string
		reqs []req
	}{
		{"", []req{ // consumer: the app, else the subject, else the IP
			{[]string{"X-Test-App: a"}, 200},
			{[]string{"X-Test-App: a"}, 429},
			{[]string{"X-Test-App: b"}, 200},
			{[]string{"X-Test-Subject: alice"}, 200},
			{[]string{"X-Test-Subject: alice"}, 429},
			{nil, 200}, // anonymous: 127.0.0.1
			{[]string{"X-Test-IP: 10.0.0.1"}, 200},
			{nil, 429},
			{[]string{"X-Test-App: 127.0.0.1"}, 200}, // an app named like an IP is still an app
		}},
		{"app", []req{
			{[]string{"X-Test-App: a", "X-Test-Key: k1"}, 200},
			{[]string{"X-Test-App: a", "X-Test-Key: k2"}, 429},
			{[]string{"X-Test-Subject: alice"}, 200}, // no app: the IP
			{[]string{"X-Test-Subject: bob"}, 429},
		}},
		{"key", []req{
			{[]string{"X-Test-App: a", "X-Test-Key: k1"}, 200},
			{[]string{"X-Test-App: a", "X-Test-Key: k2"}, 200},
			{[]string{"X-Test-App: b", "X-Test-Key: k1"}, 429},
		}},
		{"ip", []req{
			{[]string{"X-Test-App: a"}, 200},
			{[]string{"X-Test-App: b"}, 429},
			{[]string{"X-Test-IP: ::1"}, 200},
		}},
		{"header:X-Tenant", []req{
			{[]string{"X-Tenant: t1"}, 200},
			{[]string{"X-Tenant: t1", "X-Test-App: other"}, 429},
			{[]string{"X-Tenant: t2"}, 200},
			{[]string{"X-Tenant: " + strings.Repeat("x", 5000)}, 200},
			{nil, 200}, // missing: the IP
			{[]string{"X-Test-App: a"}, 429},
		}},
	}
	for _, tc := range tests {
		t.Run("by="+tc.by, func(t *testing.T) {
			t.Parallel()
			clk := newClock(at("2026-06-10T12:00:00Z"))
			srv := serve(t, newNode(t, clk), clk, "orders", nil, fmt.Sprintf(`{"limit":1,"period":"day","by":%q}`, tc.by))
			for i, rq := range tc.reqs {
				if r := get(t, srv, rq.headers...); r.status != rq.status {
					t.Errorf("request %d %q: %v, want %d", i+1, rq.headers, r, rq.status)
				}
			}
		})
	}
}

// TestHeaderValuesNotStored: a "by" header may carry a credential; counters keep a hash.
func TestHeaderValuesNotStored(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	rec := &recorder{}
	srv := serve(t, rec, clk, "orders", nil, `{"limit":5,"period":"day","by":"header:X-Api-Key"}`)
	get(t, srv, "X-Api-Key: s3cret-value")
	if len(rec.keys) != 1 || strings.Contains(rec.keys[0], "s3cret") {
		t.Fatalf("keys %q: want one, without the header's value", rec.keys)
	}
	if want := "orders:quota:hdr#"; !strings.HasPrefix(rec.keys[0], want) {
		t.Errorf("key %q, want prefix %q", rec.keys[0], want)
	}
}

// recorder is a policy.Quotas that allows everything and records keys and periods.
type recorder struct {
	keys   []string
	starts []time.Time
}

func (r *recorder) Take(_ context.Context, key string, start, _ time.Time, _, n int64) (int64, bool, error) {
	r.keys = append(r.keys, strings.Clone(key))
	r.starts = append(r.starts, start)
	return n, true, nil
}

// TestRestart is the quota across a restart: counters spent before the node stops carry
// on after it starts again over the same store.
func TestRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	clk := newClock(at("2026-06-10T12:00:00Z"))
	n1 := openNode(t, path, clk)
	srv := serve(t, n1, clk, "orders", nil, cfg(3, "day"))
	for i := range 2 {
		if r := get(t, srv, "X-Test-App: a"); r.status != http.StatusOK {
			t.Fatalf("request %d: %v", i+1, r)
		}
	}
	srv.Close()
	n1.close(t) // graceful: flushes

	n2 := openNode(t, path, clk)
	srv = serve(t, n2, clk, "orders", nil, cfg(3, "day"))
	r := get(t, srv, "X-Test-App: a")
	if r.status != http.StatusOK {
		t.Fatalf("after the restart: %v", r)
	}
	wantHeaders(t, r, "3", "0", "43200", "")
	if r := get(t, srv, "X-Test-App: a"); !r.is(http.StatusTooManyRequests, "quota_exceeded") {
		t.Fatalf("after the restart, over the limit: %v", r)
	}
	if r := get(t, srv, "X-Test-App: b"); r.status != http.StatusOK {
		t.Fatalf("another app: %v", r)
	}
}

// failing is a policy.Quotas whose backend is down.
type failing struct{}

func (failing) Take(context.Context, string, time.Time, time.Time, int64, int64) (int64, bool, error) {
	return 0, false, errors.New("redis: connection refused")
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	srv := serve(t, failing{}, clk, "orders", nil, cfg(3, "day"))
	for range 2 {
		r := get(t, srv)
		if !r.is(http.StatusServiceUnavailable, "quota_unavailable") {
			t.Fatalf("%v, want 503 quota_unavailable", r)
		}
		wantHeaders(t, r, "", "", "", "1")
	}
	if n := srv.upstream.Load(); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
	// A closed Local fails the same way.
	n := newNode(t, clk)
	srv = serve(t, n, clk, "orders", nil, cfg(3, "day"))
	n.close(t)
	if r := get(t, srv); !r.is(http.StatusServiceUnavailable, "quota_unavailable") {
		t.Fatalf("closed counters: %v, want 503 quota_unavailable", r)
	}
}

func TestHeadersOff(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	srv := serve(t, newNode(t, clk), clk, "orders", nil, `{"limit":1,"period":"day","headers":false}`)
	wantHeaders(t, get(t, srv), "", "", "", "")
	r := get(t, srv)
	if !r.is(http.StatusTooManyRequests, "quota_exceeded") {
		t.Fatalf("%v", r)
	}
	wantHeaders(t, r, "", "", "", "43200") // Retry-After always
}

// TestPlanQuota: a plan's quota counts per app across every API of the plan, runs before
// the API's own, and the headers advertise whichever runs out first.
func TestPlanQuota(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	q := newNode(t, clk)
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"orders", "billing"}, Quota: &gatehouse.Quota{Limit: 3, Period: gatehouse.PeriodDay}}
	orders := serve(t, q, clk, "orders", []*gatehouse.Plan{gold}, cfg(10, "day"))
	billing := serve(t, q, clk, "billing", []*gatehouse.Plan{gold}, cfg(10, "day"))
	app := []string{"X-Test-App: a", "X-Test-Plan: gold"}

	r := get(t, orders, app...)
	wantHeaders(t, r, "3", "2", "43200", "") // the plan's: 2 left, against the API's 9
	get(t, billing, app...)
	r = get(t, orders, app...)
	wantHeaders(t, r, "3", "0", "43200", "")
	r = get(t, billing, app...)
	if !r.is(http.StatusTooManyRequests, "quota_exceeded") {
		t.Fatalf("fourth request across the plan's APIs: %v", r)
	}
	wantHeaders(t, r, "3", "0", "43200", "43200")
	// Another app of the plan has its own count; the API quota counted only what passed.
	if r := get(t, orders, "X-Test-App: b", "X-Test-Plan: gold"); r.status != http.StatusOK {
		t.Fatalf("another app: %v", r)
	}
	// Without the plan (no subscription decided one), only the API's quota applies.
	r = get(t, orders, "X-Test-App: a")
	if r.status != http.StatusOK {
		t.Fatalf("outside the plan: %v", r)
	}
	wantHeaders(t, r, "10", "7", "43200", "")
}

// TestRouteQuotaCountsApart: a quota set on a route does not share the API's counters.
func TestRouteQuotaCountsApart(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	q := newNode(t, clk)
	api := &gatehouse.API{Name: "orders", Path: "/", State: gatehouse.StatePublished}
	apiLevel := serveEnv(t, &policy.Env{Quotas: q, Now: clk.now, API: api}, nil, cfg(2, "day"))
	route := &gatehouse.Route{Name: "export", Path: "/export", Policies: []gatehouse.PolicySpec{{Type: "quota", Config: json.RawMessage(cfg(1, "day"))}}}
	routeLevel := serveEnv(t, &policy.Env{Quotas: q, Now: clk.now, API: api, Route: route}, nil, cfg(1, "day"))
	// Another route without its own quota shares the API's.
	plain := serveEnv(t, &policy.Env{Quotas: q, Now: clk.now, API: api, Route: &gatehouse.Route{Path: "/other"}}, nil, cfg(2, "day"))

	if r := get(t, apiLevel); r.status != http.StatusOK {
		t.Fatal(r)
	}
	if r := get(t, routeLevel); r.status != http.StatusOK || r.header.Get("X-Quota-Remaining") != "0" {
		t.Fatalf("route quota: %v, want its own count", r)
	}
	if r := get(t, plain); r.status != http.StatusOK || r.header.Get("X-Quota-Remaining") != "0" {
		t.Fatalf("route without a quota: %v, want the API's count", r)
	}
	if r := get(t, apiLevel); r.status != http.StatusTooManyRequests {
		t.Fatalf("API quota after 2: %v", r)
	}
}

// TestScope: policies with one explicit scope share counters, across APIs.
func TestScope(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	rec := &recorder{}
	srv := serve(t, rec, clk, "orders", nil, `{"limit":2,"period":"day","scope":"shared"}`, cfg(5, "hour"))
	get(t, srv, "X-Test-App: a")
	want := []string{"shared:app:a", "orders:quota#2:app:a"}
	if fmt.Sprint(rec.keys) != fmt.Sprint(want) {
		t.Errorf("keys %q, want %q", rec.keys, want)
	}
	if want := []time.Time{at("2026-06-10T00:00:00Z"), at("2026-06-10T12:00:00Z")}; !rec.starts[0].Equal(want[0]) || !rec.starts[1].Equal(want[1]) {
		t.Errorf("period starts %v, want %v", rec.starts, want)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		config string
		errs   []string // substrings of the error; none: valid
	}{
		{`{"limit":1,"period":"hour"}`, nil},
		{`{"limit":100,"period":"month","timezone":"Asia/Tokyo","by":"header:X-Tenant","scope":"s","headers":false}`, nil},
		{`{"limit":1,"period":"week","timezone":"UTC","by":"key"}`, nil},
		{`{}`, []string{"limit:", "period: required"}},
		{`{"limit":-1,"period":"year"}`, []string{"limit: must be greater than 0", `period: unknown value "year"`}},
		{`{"limit":1,"period":"day","timezone":"Mars/Olympus"}`, []string{`timezone: unknown time zone "Mars/Olympus"`}},
		{`{"limit":1,"period":"day","timezone":"Local"}`, []string{"timezone: name a zone"}},
		{`{"limit":1,"period":"day","timezone":"../../etc/passwd"}`, []string{"timezone:"}},
		{`{"limit":1,"period":"day","by":"route"}`, []string{`by: unknown value "route"`}},
		{`{"limit":1,"period":"day","by":"header:bad name"}`, []string{"by:"}},
		{`{"limit":1,"period":"day","scope":"` + strings.Repeat("s", 300) + `"}`, []string{"scope: longer than 256"}},
		{`{"limit":1,"period":"day","per":"app"}`, []string{`unknown field "per"`}},
		{`{"limit":"ten","period":"day"}`, []string{"limit: must be an integer"}},
		{`{"limit":1,"period":"day","headers":"yes"}`, []string{"headers: must be a boolean"}},
	}
	for _, tc := range tests {
		_, err := Type.Decode(json.RawMessage(tc.config))
		if len(tc.errs) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.config, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: valid, want errors %q", tc.config, tc.errs)
			continue
		}
		for _, want := range tc.errs {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tc.config, err, want)
			}
		}
	}
}

// TestPlanConfig: what the framework derives from a plan's quota decodes and validates.
func TestPlanConfig(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"limit": 1000, "period": gatehouse.PeriodMonth, "by": "app", "scope": "plan:gold"})
	if _, err := Type.Decode(raw); err != nil {
		t.Fatal(err)
	}
}

func TestNewNeedsQuotas(t *testing.T) {
	_, err := policytest.Build(t, reg, &policy.Env{}, []gatehouse.PolicySpec{{Type: "quota", Config: json.RawMessage(cfg(1, "day"))}}, nil, policytest.Echo)
	if err == nil || !strings.Contains(err.Error(), "no quota counters") {
		t.Errorf("building without env.Quotas: %v", err)
	}
}

// FuzzConfig: no config makes decoding panic, and what validates builds.
func FuzzConfig(f *testing.F) {
	f.Add(`{"limit":1,"period":"day"}`)
	f.Add(`{"limit":5,"period":"week","timezone":"America/New_York","by":"header:X-Tenant","scope":"plan:gold","headers":false}`)
	f.Add(`{"limit":0,"period":"year","timezone":"Local","by":"header:"}`)
	f.Add(`{"timezone":"/etc/localtime"}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := Type.Decode(json.RawMessage(raw))
		if err != nil {
			return
		}
		env := &policy.Env{Quotas: &recorder{}, API: &gatehouse.API{Name: "a"}}
		if _, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "quota"); err != nil {
			t.Fatalf("valid config %s does not build: %v", raw, err)
		}
	})
}

// FuzzHeaders covers what the policy reads from requests and responses: the value of a
// "by" header (hashed into the key) and an X-Quota-Remaining an earlier quota set (parsed
// to keep the most restrictive). Neither may panic; keys are deterministic and never hold
// the header's value; the headers left describe the quota with the fewest remaining.
func FuzzHeaders(f *testing.F) {
	f.Add("tenant-1", "5", int64(3))
	f.Add("", "", int64(0))
	f.Add(strings.Repeat("v", 300), "-1", int64(7))
	f.Add("ключ", "99999999999999999999", int64(1))
	f.Add("x", " 4", int64(4))
	f.Fuzz(func(t *testing.T, value, existing string, remaining int64) {
		cfg, err := Type.Decode(json.RawMessage(`{"limit":10,"period":"day","by":"header:X-Tenant"}`))
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(&policy.Env{Quotas: &recorder{}, API: &gatehouse.API{Name: "a"}}, nil, cfg.(*Config), "quota")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["X-Tenant"] = []string{value}
		c := new(policy.Context)
		c.Reset(httptest.NewRecorder(), r)
		k1 := string(h.(*handler).appendKey(nil, c))
		k2 := string(h.(*handler).appendKey(nil, c))
		if k1 != k2 {
			t.Fatalf("keys differ for one request: %q, %q", k1, k2)
		}
		if hash, ok := strings.CutPrefix(k1, "hdr#"); value != "" && (!ok || len(hash) != 32 || strings.Trim(hash, "0123456789abcdef") != "") {
			t.Fatalf("key %q for header value %q, want hdr#<32 hex digits>", k1, value)
		}
		hdr := c.W.Header()
		if existing != "" {
			hdr["X-Quota-Remaining"] = []string{existing}
		}
		h.(*handler).setHeaders(c, hdr, remaining, "60", false)
		got := hdr.Get("X-Quota-Remaining")
		old, oldErr := strconv.ParseInt(existing, 10, 64)
		switch {
		case existing != "" && oldErr == nil && old <= max(remaining, 0):
			if got != existing || hdr.Get("X-Quota-Limit") != "" {
				t.Fatalf("an earlier, tighter quota's headers replaced: remaining %q", got)
			}
		case got != strconv.FormatInt(max(remaining, 0), 10) || hdr.Get("X-Quota-Limit") != "10" || hdr.Get("X-Quota-Reset") != "60":
			t.Fatalf("existing %q, remaining %d: headers %v", existing, remaining, hdr)
		}
	})
}

// TestUsageReported: every counted request of an app is reported with its scope, plan,
// use and limit, for the analytics API and quota alerts.
func TestUsageReported(t *testing.T) {
	t.Parallel()
	clk := newClock(at("2026-06-10T12:00:00Z"))
	q := newNode(t, clk)
	tr := quota.NewTracker()
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}, Quota: &gatehouse.Quota{Limit: 3, Period: gatehouse.PeriodDay}}
	orders := serveEnv(t, &policy.Env{Quotas: q, Now: clk.now, QuotaUsage: tr,
		API: &gatehouse.API{Name: "orders", Path: "/", State: gatehouse.StatePublished}}, []*gatehouse.Plan{gold}, cfg(10, "day"))
	for range 2 {
		get(t, orders, "X-Test-App: a", "X-Test-Plan: gold")
	}
	get(t, orders) // anonymous: counted, not reported
	got := tr.Snapshot("", clk.now())
	want := map[string][2]int64{"plan:gold": {2, 3}, "orders:quota": {2, 10}}
	if len(got) != 2 {
		t.Fatalf("reported %+v", got)
	}
	for _, u := range got {
		w, ok := want[u.Scope]
		if !ok || u.App != "a" || u.API != "orders" || u.Used != w[0] || u.Limit != w[1] || u.Period != "day" {
			t.Errorf("usage %+v", u)
		}
		if u.Scope == "plan:gold" && u.Plan != "gold" {
			t.Errorf("plan usage without its plan: %+v", u)
		}
	}
}
