package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

const hour = "from=2025-03-10T09:00:00Z&to=2025-03-10T10:00:00Z"

// loaded is an env with 600 known events over t0's hour: the first half flushed to the
// store, the rest still pending in the aggregator (queries must see both).
func loaded(t *testing.T, o envOptions) (*env, []analytics.Event) {
	e := newEnv(t, o)
	evs := traffic(600)
	e.record(evs[:300])
	e.flush()
	e.record(evs[300:])
	return e, evs
}

func all(*analytics.Event) bool { return true }

func TestTotalsExact(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	for _, c := range []struct {
		query string
		keep  func(*analytics.Event) bool
	}{
		{"", all},
		{"&app=alpha", func(x *analytics.Event) bool { return x.App == "alpha" }},
		{"&app=alpha,beta&api=orders", func(x *analytics.Event) bool { return x.App != "gamma" && x.API == "orders" }},
		{"&app=alpha&app=beta", func(x *analytics.Event) bool { return x.App != "gamma" }},
		{"&developer=dev-gamma", func(x *analytics.Event) bool { return x.App == "gamma" }},
		{"&plan=gold", func(x *analytics.Event) bool { return x.Plan == "gold" }},
		{"&route=GET+/users", func(x *analytics.Event) bool { return x.API == "users" }},
		{"&status_class=5xx", func(x *analytics.Event) bool { return x.Status >= 500 }},
		{"&status_class=4,5", func(x *analytics.Event) bool { return x.Status >= 400 }},
		{"&status_class=none", func(x *analytics.Event) bool { return x.Status == 0 }},
		{"&kind=message", func(x *analytics.Event) bool { return x.Kind == analytics.KindMessage }},
		{"&kind=request&status_class=2xx&api=orders", func(x *analytics.Event) bool {
			return x.Kind == analytics.KindRequest && x.Status/100 == 2 && x.API == "orders"
		}},
	} {
		var got TotalsAnswer
		e.getJSON("/v1/analytics/totals?"+hour+c.query, &got)
		n, errs := count(evs, c.keep)
		if strings.Contains(c.query, "kind=") {
			n, errs = countKinds(evs, c.keep)
		}
		if got.Count != n || got.Errors != errs {
			t.Errorf("totals%s: count %d errors %d, want %d %d", c.query, got.Count, got.Errors, n, errs)
		}
		if n > 0 && (got.LatencyP99Ms <= 0 || got.LatencyP50Ms > got.LatencyP99Ms) {
			t.Errorf("totals%s: percentiles p50 %v p99 %v", c.query, got.LatencyP50Ms, got.LatencyP99Ms)
		}
		if !got.From.Equal(t0) || !got.To.Equal(t0.Add(time.Hour)) {
			t.Errorf("totals%s: range %v..%v", c.query, got.From, got.To)
		}
	}
}

func TestTotalsCSV(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	n, errs := count(evs, func(x *analytics.Event) bool { return x.App == "beta" })
	for _, hdr := range [][]string{nil, {"Accept", "text/csv"}, {"Accept", "application/json;q=0.5, text/csv"}} {
		path := "/v1/analytics/totals?" + hour + "&app=beta"
		if hdr == nil {
			path += "&format=csv"
		}
		rows, res := e.getCSV(path, hdr...)
		if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="gatehouse-totals-20250310T090000Z-20250310T100000Z.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		if got := rows[1][column(t, rows[0], "count")]; got != strconv.FormatInt(n, 10) {
			t.Errorf("count %s, want %d", got, n)
		}
		if got := rows[1][column(t, rows[0], "errors")]; got != strconv.FormatInt(errs, 10) {
			t.Errorf("errors %s, want %d", got, errs)
		}
		for _, m := range analytics.Measures {
			column(t, rows[0], m)
		}
	}
	// format=json wins over Accept; q=0 is a refusal.
	res := e.get("/v1/analytics/totals?format=json", "Accept", "text/csv")
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("format=json: %s", ct)
	}
	res = e.get("/v1/analytics/totals", "Accept", "text/csv;q=0, application/json")
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("text/csv;q=0: %s", ct)
	}
}

func TestSeries(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	var got SeriesAnswer
	e.getJSON("/v1/analytics/series?"+hour+"&interval=15m", &got)
	if got.IntervalSeconds != 900 || len(got.Series) != 1 || len(got.Series[0].Points) != 4 {
		t.Fatalf("series: %+v", got)
	}
	if !slices.Equal(got.Measures, defaultMeasures) || len(got.GroupBy) != 0 {
		t.Fatalf("measures %v group_by %v", got.Measures, got.GroupBy)
	}
	for i, p := range got.Series[0].Points {
		start := t0.Add(time.Duration(i) * 15 * time.Minute)
		n, errs := count(evs, func(x *analytics.Event) bool {
			end := analytics.EventEnd(x, time.Time{})
			return !end.Before(start) && end.Before(start.Add(15*time.Minute))
		})
		if !p.Start.Equal(start) || p.Values["count"] != float64(n) || p.Values["errors"] != float64(errs) {
			t.Errorf("point %d: %v %v, want %v count %d errors %d", i, p.Start, p.Values, start, n, errs)
		}
		if _, ok := p.Values["latency_p95"]; !ok {
			t.Errorf("point %d: no latency_p95", i)
		}
	}

	// Grouped by app, two measures, filtered to one API.
	got = SeriesAnswer{}
	e.getJSON("/v1/analytics/series?"+hour+"&interval=1h&group_by=app&measures=count,errors&api=orders", &got)
	if len(got.Series) != 3 {
		t.Fatalf("%d series", len(got.Series))
	}
	for _, s := range got.Series {
		app := s.Group["app"]
		n, errs := count(evs, func(x *analytics.Event) bool { return x.App == app && x.API == "orders" })
		if len(s.Points) != 1 || s.Points[0].Values["count"] != float64(n) || s.Points[0].Values["errors"] != float64(errs) || len(s.Points[0].Values) != 2 {
			t.Errorf("app %q: %+v, want count %d errors %d", app, s.Points, n, errs)
		}
	}

	// Two dimensions, as CSV.
	rows, res := e.getCSV("/v1/analytics/series?" + hour + "&interval=30m&group_by=app,status_class&measures=count&format=csv")
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="gatehouse-series-20250310T090000Z-20250310T100000Z.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !slices.Equal(rows[0], []string{"start", "app", "status_class", "count"}) {
		t.Fatalf("header %v", rows[0])
	}
	sums := map[string]int64{}
	for _, r := range rows[1:] {
		v, err := strconv.ParseInt(r[3], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sums[r[1]+"/"+r[2]] += v
	}
	for _, app := range []string{"alpha", "beta", "gamma"} {
		for _, sc := range []int{0, 2, 4, 5} {
			n, _ := count(evs, func(x *analytics.Event) bool { return x.App == app && x.Status/100 == sc })
			key := app + "/" + strconv.Itoa(sc) + "xx"
			if sc == 0 {
				key = app + "/none"
			}
			if sums[key] != n {
				t.Errorf("%s: %d, want %d", key, sums[key], n)
			}
		}
	}
	// Every group has every bucket (2 buckets of 30 minutes).
	if (len(rows)-1)%2 != 0 {
		t.Errorf("%d rows", len(rows)-1)
	}
}

func TestSeriesDefaultInterval(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct {
		from string
		want time.Duration
	}{
		{"", time.Minute}, // the last hour
		{"-6h", 5 * time.Minute},
		{"-24h", 5 * time.Minute},
		{"-3d", 15 * time.Minute},
		{"-7d", time.Hour},
		{"-30d", 6 * time.Hour},
		{"-90d", 24 * time.Hour},
		{"-700d", 3 * 24 * time.Hour},
	} {
		var got SeriesAnswer
		path := "/v1/analytics/series?measures=count"
		if c.from != "" {
			path += "&from=" + c.from
		}
		e.getJSON(path, &got)
		if got.IntervalSeconds != int64(c.want/time.Second) {
			t.Errorf("from %q: interval %ds, want %v", c.from, got.IntervalSeconds, c.want)
		}
		if n := len(got.Series[0].Points); n > targetPoints+1 {
			t.Errorf("from %q: %d points", c.from, n)
		}
	}
}

func TestRelativeTimes(t *testing.T) {
	e, evs := loaded(t, envOptions{}) // now is t0+2h
	total := int64(len(evs))
	for _, c := range []struct {
		query string
		want  int64
	}{
		{"from=-2h", total},
		{"from=now-2h&to=now", total},
		{"from=-1d", total},
		{"from=-1w", total},
		{"from=-90m&to=-1h", 300}, // 09:30..10:00
		{"from=-1h", 0},           // the default range is empty too
		{"", 0},
		{"from=2025-03-10", total},
		{"from=2025-03-10T10:00:00%2B01:00&to=2025-03-10T09:30:00Z", 300}, // 09:00Z..09:30Z
	} {
		var got TotalsAnswer
		e.getJSON("/v1/analytics/totals?kind=request,connection,message&"+c.query, &got)
		if got.Count != c.want {
			t.Errorf("%s: count %d, want %d", c.query, got.Count, c.want)
		}
	}
	var got TotalsAnswer
	e.getJSON("/v1/analytics/totals?from=-90m&to=-1h", &got)
	if !got.From.Equal(t0.Add(30*time.Minute)) || !got.To.Equal(t0.Add(time.Hour)) {
		t.Errorf("range %v..%v", got.From, got.To)
	}
}

func TestTop(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	var got TopAnswer
	e.getJSON("/v1/analytics/top?"+hour+"&by=app", &got)
	if got.By != "app" || got.Measure != "count" || len(got.Items) != 3 {
		t.Fatalf("top: %+v", got)
	}
	for i, it := range got.Items {
		n, errs := count(evs, func(x *analytics.Event) bool { return x.App == it.Key })
		if it.Value != float64(n) || it.Stats.Count != n || it.Stats.Errors != errs {
			t.Errorf("%s: %v %+v, want %d", it.Key, it.Value, it.Stats, n)
		}
		if i > 0 && it.Value > got.Items[i-1].Value {
			t.Errorf("not in order: %+v", got.Items)
		}
	}

	// Top errors by route, one entry.
	got = TopAnswer{}
	e.getJSON("/v1/analytics/top?"+hour+"&by=route&measure=errors&n=1", &got)
	if len(got.Items) != 1 {
		t.Fatalf("n=1: %+v", got.Items)
	}
	_, errs := count(evs, func(x *analytics.Event) bool { return x.Route == got.Items[0].Key })
	if got.Items[0].Value != float64(errs) {
		t.Errorf("top errors: %+v, want %d", got.Items[0], errs)
	}
	_, other := count(evs, func(x *analytics.Event) bool { return x.Route != got.Items[0].Key })
	if other > errs {
		t.Errorf("top errors %q has %d, the other route %d", got.Items[0].Key, errs, other)
	}

	// Status classes, as CSV.
	rows, res := e.getCSV("/v1/analytics/top?"+hour+"&by=status_class", "Accept", "text/csv")
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="gatehouse-top-20250310T090000Z-20250310T100000Z.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if rows[0][0] != "rank" || rows[0][1] != "status_class" || rows[0][2] != "value" {
		t.Fatalf("header %v", rows[0])
	}
	ci := column(t, rows[0], "count")
	seen := 0
	for _, r := range rows[1:] {
		sc := 0
		if r[1] != "none" {
			sc = int(r[1][0] - '0')
		}
		n, _ := count(evs, func(x *analytics.Event) bool { return x.Status/100 == sc })
		if r[2] != strconv.FormatInt(n, 10) || r[ci] != r[2] {
			t.Errorf("%s: %v, want %d", r[1], r, n)
		}
		seen++
	}
	if seen != 3 { // 2xx, 4xx, 5xx: "none" is the realtime messages, which are not requests
		t.Errorf("%d status classes", seen)
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct {
		path, field string
	}{
		{"/v1/analytics/series?measures=count,bogus", "measures"},
		{"/v1/analytics/series?from=yesterday", "from"},
		{"/v1/analytics/series?to=10:00", "to"},
		{"/v1/analytics/series?from=-", "from"},
		{"/v1/analytics/series?from=now-", "from"},
		{"/v1/analytics/series?from=-5x", "from"},
		{"/v1/analytics/series?from=--5m", "from"},
		{"/v1/analytics/series?from=now&to=-1h", "from"},
		{"/v1/analytics/series?from=-1h&to=-1h", "from"},
		{"/v1/analytics/series?from=-3y", "from"},
		{"/v1/analytics/totals?from=0001-01-01T00:00:00Z", "from"},
		{"/v1/analytics/totals?from=2025-01-01&to=9999-12-31T23:59:59Z", "to"},
		{"/v1/analytics/series?from=-800d", "from"},
		{"/v1/analytics/series?from=2020-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", "from"},
		{"/v1/analytics/series?interval=30s", "interval"},
		{"/v1/analytics/series?interval=90s", "interval"},
		{"/v1/analytics/series?interval=soon", "interval"},
		{"/v1/analytics/series?interval=-5m", "interval"},
		{"/v1/analytics/series?interval=1m&from=-7d", "interval"}, // 10,081 points
		{"/v1/analytics/series?group_by=api,app,route,plan,developer", "group_by"},
		{"/v1/analytics/series?group_by=colour", "group_by"},
		{"/v1/analytics/series?status_class=6xx", "status_class"},
		{"/v1/analytics/series?status_class=20x", "status_class"},
		{"/v1/analytics/series?kind=datagram", "kind"},
		{"/v1/analytics/series?colour=red", "colour"},
		{"/v1/analytics/series?from=-1h&from=-2h", "from"},
		{"/v1/analytics/series?format=xml", "format"},
		{"/v1/analytics/series?app=" + strings.Repeat("a", 600), "app"},
		{"/v1/analytics/series?app=" + strings.Repeat("a,", 101), "app"},
		{"/v1/analytics/top", "by"},
		{"/v1/analytics/top?by=colour", "by"},
		{"/v1/analytics/top?by=app&measure=bogus", "measure"},
		{"/v1/analytics/top?by=app&n=0", "n"},
		{"/v1/analytics/top?by=app&n=1001", "n"},
		{"/v1/analytics/top?by=app&n=ten", "n"},
		{"/v1/analytics/top?by=app&interval=1h", "interval"},
		{"/v1/analytics/totals?group_by=app", "group_by"},
		{"/v1/analytics/totals?to=-3d&from=now", "from"},
		{"/v1/analytics/requests?limit=0", "limit"},
		{"/v1/analytics/requests?limit=1001", "limit"},
		{"/v1/analytics/requests?status=99", "status"},
		{"/v1/analytics/requests?status=ok", "status"},
		{"/v1/analytics/requests?after=garbage", "after"},
		{"/v1/analytics/requests?from=now&to=-1h", "from"},
		{"/v1/analytics/requests?route=x", "route"},
		{"/v1/analytics/live?app=x", "app"},
		{"/v1/analytics/live?api=a&api=b", "api"},
	} {
		d := e.getProblem(c.path, http.StatusBadRequest)
		if d.Code != "invalid" || d.Type != "https://gatehouse.dev/problems/invalid" {
			t.Errorf("%s: %+v", c.path, d)
			continue
		}
		if len(d.Errors) == 0 || d.Errors[0].Field != c.field || d.Errors[0].Message == "" {
			t.Errorf("%s: errors %+v, want field %q", c.path, d.Errors, c.field)
		}
	}
	// Several problems are reported together.
	d := e.getProblem("/v1/analytics/top?by=app&n=0&from=x&colour=red", http.StatusBadRequest)
	var fields []string
	for _, f := range d.Errors {
		fields = append(fields, f.Field)
	}
	slices.Sort(fields)
	if !slices.Equal(fields, []string{"colour", "from", "n"}) {
		t.Errorf("fields %v", fields)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{
		"/v1/analytics/series", "/v1/analytics/top?by=app", "/v1/analytics/totals",
		"/v1/analytics/requests", "/v1/analytics/live",
	} {
		res := e.get(path, "Authorization", "")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
			t.Errorf("%s without a token: %d %s", path, res.StatusCode, body)
		}
		if res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", path)
		}
		e.getProblem(path, http.StatusUnauthorized, "Authorization", "Bearer nope")
		d := e.getProblem(path, http.StatusForbidden, "Authorization", forbiddenToken)
		if d.Code != "forbidden" || d.Detail != "this token may not read analytics" {
			t.Errorf("%s forbidden: %+v", path, d)
		}
	}
	// Only GET (and HEAD) are routed.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/analytics/totals", nil)
	req.Header.Set("Authorization", goodToken)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

func TestRequestLog(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	e.flush() // raw records reach the store on flush
	var reqs []*analytics.Event
	for i := range evs {
		if evs[i].Kind == analytics.KindRequest {
			reqs = append(reqs, &evs[i])
		}
	}
	seen := map[time.Time]bool{}
	path := "/v1/analytics/requests?limit=100"
	pages := 0
	for {
		var page RequestPage
		res := e.getJSON(path, &page)
		pages++
		for i, it := range page.Items {
			if seen[it.Time] {
				t.Fatalf("%v seen twice", it.Time)
			}
			seen[it.Time] = true
			if i > 0 && it.Time.After(page.Items[i-1].Time) {
				t.Fatal("not newest first")
			}
			if it.Node != "n1" || it.Kind != "request" || it.ClientIP != "192.0.2.1" || it.LatencyMs <= 0 {
				t.Fatalf("item %+v", it)
			}
		}
		if page.Next == "" {
			if res.Header.Get("Link") != "" {
				t.Error("Link on the last page")
			}
			break
		}
		link := res.Header.Get("Link")
		if !strings.HasPrefix(link, "</v1/analytics/requests?") || !strings.HasSuffix(link, `>; rel="next"`) ||
			!strings.Contains(link, "after="+url.QueryEscape(page.Next)) || !strings.Contains(link, "limit=100") {
			t.Fatalf("Link %q", link)
		}
		path = "/v1/analytics/requests?limit=100&after=" + url.QueryEscape(page.Next)
	}
	if len(seen) != len(reqs) || pages != (len(reqs)+99)/100 {
		t.Fatalf("%d records in %d pages, want %d", len(seen), pages, len(reqs))
	}

	// Filters.
	var page RequestPage
	e.getJSON("/v1/analytics/requests?app=alpha&status=503,404&limit=1000", &page)
	n, _ := count(evs, func(x *analytics.Event) bool {
		return x.Kind == analytics.KindRequest && x.App == "alpha" && (x.Status == 503 || x.Status == 404)
	})
	if int64(len(page.Items)) != n || page.Next != "" {
		t.Fatalf("filtered: %d items, want %d", len(page.Items), n)
	}
	for _, it := range page.Items {
		if it.App != "alpha" || (it.Status != 503 && it.Status != 404) {
			t.Fatalf("filtered: %+v", it)
		}
	}
	page = RequestPage{}
	e.getJSON("/v1/analytics/requests?from=2025-03-10T09:00:00Z&to=2025-03-10T09:06:00Z&api=orders", &page)
	n, _ = count(evs, func(x *analytics.Event) bool {
		return x.Kind == analytics.KindRequest && x.API == "orders" && x.Time.Before(t0.Add(6*time.Minute))
	})
	if int64(len(page.Items)) != n {
		t.Fatalf("range: %d items, want %d", len(page.Items), n)
	}

	// CSV: one page, the cursor in the Link header.
	rows, res := e.getCSV("/v1/analytics/requests?limit=10&format=csv")
	if !slices.Equal(rows[0], requestColumns) || len(rows) != 11 {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
	}
	if res.Header.Get("Link") == "" {
		t.Error("csv: no Link")
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="gatehouse-requests-start-20250310T110000Z.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if rows[1][column(t, rows[0], "node")] != "n1" {
		t.Errorf("csv row %v", rows[1])
	}
}

func TestRequestLogWithoutStore(t *testing.T) {
	e := newEnv(t, envOptions{noStore: true})
	d := e.getProblem("/v1/analytics/requests", http.StatusNotFound)
	if d.Code != "not_found" || !strings.Contains(d.Detail, "request log") {
		t.Errorf("%+v", d)
	}
}

func TestCSVInjection(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.record([]analytics.Event{{Kind: analytics.KindRequest, Time: t0, API: "a", App: "=HYPERLINK(\"x\")", UserAgent: "+cmd", Status: 200}})
	e.flush()
	rows, _ := e.getCSV("/v1/analytics/requests?format=csv")
	if got := rows[1][column(t, rows[0], "app")]; got != `'=HYPERLINK("x")` {
		t.Errorf("app cell %q", got)
	}
	if got := rows[1][column(t, rows[0], "user_agent")]; got != "'+cmd" {
		t.Errorf("user_agent cell %q", got)
	}
	rows, _ = e.getCSV("/v1/analytics/top?" + hour + "&by=app&format=csv")
	if rows[1][1] != `'=HYPERLINK("x")` {
		t.Errorf("top cell %q", rows[1][1])
	}
}

func TestAppUsage(t *testing.T) {
	e, evs := loaded(t, envOptions{})
	e.mux.HandleFunc("GET /portal/apps/{app}/usage/{query}", func(w http.ResponseWriter, r *http.Request) {
		e.api.AppUsage(w, r, r.PathValue("app"))
	})
	e.mux.HandleFunc("GET /portal/usage", func(w http.ResponseWriter, r *http.Request) {
		e.api.AppUsage(w, r, "gamma")
	})
	alpha, alphaErrs := count(evs, func(x *analytics.Event) bool { return x.App == "alpha" })

	var tot TotalsAnswer
	e.getJSON("/portal/apps/alpha/usage/totals?"+hour, &tot)
	if tot.Count != alpha || tot.Errors != alphaErrs {
		t.Errorf("totals %d %d, want %d %d", tot.Count, tot.Errors, alpha, alphaErrs)
	}
	// The same app named again is fine; other filters apply.
	tot = TotalsAnswer{}
	e.getJSON("/portal/apps/alpha/usage/totals?"+hour+"&app=alpha&api=users", &tot)
	if n, _ := count(evs, func(x *analytics.Event) bool { return x.App == "alpha" && x.API == "users" }); tot.Count != n {
		t.Errorf("alpha users %d, want %d", tot.Count, n)
	}

	var top TopAnswer
	e.getJSON("/portal/apps/alpha/usage/top?"+hour+"&by=app", &top)
	if len(top.Items) != 1 || top.Items[0].Key != "alpha" || top.Items[0].Value != float64(alpha) {
		t.Errorf("top %+v", top.Items)
	}
	var ser SeriesAnswer
	e.getJSON("/portal/apps/alpha/usage/series?"+hour+"&group_by=app,api&interval=1h", &ser)
	var sum float64
	for _, s := range ser.Series {
		if s.Group["app"] != "alpha" {
			t.Errorf("series of %+v", s.Group)
		}
		sum += s.Points[0].Values["count"]
	}
	if len(ser.Series) != 2 || sum != float64(alpha) {
		t.Errorf("series: %d, sum %v, want %d", len(ser.Series), sum, alpha)
	}
	rows, _ := e.getCSV("/portal/apps/alpha/usage/top?" + hour + "&by=app&format=csv")
	if len(rows) != 2 || rows[1][1] != "alpha" {
		t.Errorf("csv %v", rows)
	}

	// The query named by a parameter.
	tot = TotalsAnswer{}
	e.getJSON("/portal/usage?query=totals&"+hour, &tot)
	if n, _ := count(evs, func(x *analytics.Event) bool { return x.App == "gamma" }); tot.Count != n {
		t.Errorf("gamma %d, want %d", tot.Count, n)
	}

	for _, c := range []struct{ path, field string }{
		{"/portal/apps/alpha/usage/totals?app=beta", "app"},
		{"/portal/apps/alpha/usage/totals?app=alpha,beta", "app"},
		{"/portal/apps/alpha/usage/requests", "query"},
		{"/portal/apps/alpha/usage/live", "query"},
		{"/portal/usage", "query"},
		{"/portal/usage?query=bogus", "query"},
		{"/portal/apps/alpha/usage/series?measures=nope", "measures"},
	} {
		d := e.getProblem(c.path, http.StatusBadRequest)
		if len(d.Errors) == 0 || d.Errors[0].Field != c.field {
			t.Errorf("%s: %+v", c.path, d)
		}
	}
}

// failingStore fails every read with err.
type failingStore struct {
	analytics.Store
	err error
}

func (s failingStore) ReadRollups(context.Context, analytics.RollupQuery) ([]analytics.Rollup, error) {
	return nil, s.err
}

func (s failingStore) ReadRequests(context.Context, analytics.RequestQuery) ([]analytics.RequestRecord, string, error) {
	return nil, "", s.err
}

func TestStoreErrors(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{errors.New("disk on fire"), http.StatusInternalServerError, "internal"},
		{gatehouse.Errorf(gatehouse.EUnavailable, "store unavailable"), http.StatusServiceUnavailable, "unavailable"},
	} {
		var logs bytes.Buffer
		st := failingStore{Store: analytics.NewMemoryStore(), err: c.err}
		a := New(Options{
			Query: analytics.NewQuery(analytics.QueryOptions{Store: st}), Store: st,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		mux := http.NewServeMux()
		a.Mount(mux, func(*http.Request) error { return nil })
		for _, path := range []string{"/v1/analytics/totals", "/v1/analytics/series", "/v1/analytics/top?by=app", "/v1/analytics/requests"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			var d problem.Document
			_ = json.Unmarshal(rec.Body.Bytes(), &d)
			if rec.Code != c.status || d.Code != c.code || strings.Contains(rec.Body.String(), "disk on fire") {
				t.Errorf("%s with %v: %d %s", path, c.err, rec.Code, rec.Body)
			}
		}
		if !strings.Contains(logs.String(), c.err.Error()) {
			t.Errorf("%v not logged: %s", c.err, logs.String())
		}
	}
}
