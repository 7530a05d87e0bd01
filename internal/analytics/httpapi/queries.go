package httpapi

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// invalid is a 400 naming one parameter.
func invalid(field, format string, args ...any) error {
	var p gatehouse.Problems
	p.Addf(field, format, args...)
	return p.Err("analytics query")
}

// SeriesAnswer is the body of GET /v1/analytics/series: the engine's result with the
// dimensions and measures asked for, in order (the CSV columns).
type SeriesAnswer struct {
	*analytics.SeriesResult
	GroupBy  []string `json:"group_by"`
	Measures []string `json:"measures"`
}

func (a *API) series(w http.ResponseWriter, r *http.Request, app string) {
	if a.q == nil {
		a.notFound(w, r, "analytics queries are not enabled on this node")
		return
	}
	p := newParams(r, seriesSpec, a.now().UTC())
	from, to := p.timeRange()
	f := p.filters(app)
	groupBy := dedupe(p.list("group_by"))
	if len(groupBy) > maxGroupBy {
		p.addf("group_by", "at most %d dimensions", maxGroupBy)
	}
	measures := dedupe(p.list("measures"))
	if len(measures) == 0 {
		measures = defaultMeasures
	}
	var iv time.Duration
	if s := p.get("interval"); s != "" {
		d, err := parseDuration(s)
		switch {
		case err != nil:
			p.addf("interval", "must be a duration such as 1m, 15m, 1h or 1d")
		case d < time.Minute || d%time.Minute != 0:
			p.addf("interval", "must be a whole number of minutes, at least 1m")
		default:
			iv = d
		}
	}
	asCSV := p.wantCSV(r)
	if err := p.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if iv == 0 {
		iv = defaultInterval(from, to)
	}
	if n := buckets(to.Sub(from), iv); n > maxPoints {
		a.fail(w, r, invalid("interval", "%d points per series; at most %d (widen the interval or shorten the range)", n, maxPoints))
		return
	}
	res, err := a.q.Series(r.Context(), analytics.SeriesQuery{
		From: from, To: to, Interval: iv, GroupBy: groupBy, Filters: f, Measures: measures,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Series == nil {
		res.Series = []analytics.Series{}
	}
	if len(res.Series) > 0 && len(res.Series)*len(res.Series[0].Points) > maxTotalPoints {
		a.fail(w, r, invalid("group_by", "%d series of %d points; at most %d points in all (add filters or widen the interval)",
			len(res.Series), len(res.Series[0].Points), maxTotalPoints))
		return
	}
	if groupBy == nil {
		groupBy = []string{}
	}
	if !asCSV {
		a.writeJSON(w, r, SeriesAnswer{SeriesResult: res, GroupBy: groupBy, Measures: measures})
		return
	}
	header := append(append([]string{"start"}, groupBy...), measures...)
	a.writeCSV(w, "series", from, to, header, func(emit func([]string)) {
		row := make([]string, len(header))
		for _, s := range res.Series {
			for _, pt := range s.Points {
				row = row[:0]
				row = append(row, stamp(pt.Start))
				for _, d := range groupBy {
					row = append(row, text(s.Group[d]))
				}
				for _, m := range measures {
					row = append(row, num(pt.Values[m]))
				}
				emit(row)
			}
		}
	})
}

// TopAnswer is the body of GET /v1/analytics/top.
type TopAnswer struct {
	From    time.Time            `json:"from"`
	To      time.Time            `json:"to"`
	By      string               `json:"by"`
	Measure string               `json:"measure"`
	Items   []analytics.TopEntry `json:"items"`
}

func (a *API) top(w http.ResponseWriter, r *http.Request, app string) {
	if a.q == nil {
		a.notFound(w, r, "analytics queries are not enabled on this node")
		return
	}
	p := newParams(r, topSpec, a.now().UTC())
	from, to := p.timeRange()
	f := p.filters(app)
	by := p.get("by")
	if by == "" {
		p.addf("by", "required: api, app, route, developer, plan, status_class or kind")
	}
	measure := p.get("measure")
	if measure == "" {
		measure = analytics.MeasureCount
	}
	n := p.intParam("n", defaultTopN, 1, maxTopN)
	asCSV := p.wantCSV(r)
	if err := p.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	items, err := a.q.Top(r.Context(), analytics.TopQuery{From: from, To: to, By: by, Measure: measure, N: n, Filters: f})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if items == nil {
		items = []analytics.TopEntry{}
	}
	from, to = minuteRange(from, to)
	if !asCSV {
		a.writeJSON(w, r, TopAnswer{From: from, To: to, By: by, Measure: measure, Items: items})
		return
	}
	header := append([]string{"rank", by, "value"}, analytics.Measures...)
	a.writeCSV(w, "top", from, to, header, func(emit func([]string)) {
		row := make([]string, 0, len(header))
		for i := range items {
			e := &items[i]
			row = append(row[:0], strconv.Itoa(i+1), text(e.Key), num(e.Value))
			for _, m := range analytics.Measures {
				row = append(row, num(e.Stats.Measure(m)))
			}
			emit(row)
		}
	})
}

// TotalsAnswer is the body of GET /v1/analytics/totals: every measure over the range
// (minute-aligned: from down, to up).
type TotalsAnswer struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	analytics.Stats
}

func (a *API) totals(w http.ResponseWriter, r *http.Request, app string) {
	if a.q == nil {
		a.notFound(w, r, "analytics queries are not enabled on this node")
		return
	}
	p := newParams(r, totalsSpec, a.now().UTC())
	from, to := p.timeRange()
	f := p.filters(app)
	asCSV := p.wantCSV(r)
	if err := p.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.q.Totals(r.Context(), analytics.TotalsQuery{From: from, To: to, Filters: f})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	from, to = minuteRange(from, to)
	if !asCSV {
		a.writeJSON(w, r, TotalsAnswer{From: from, To: to, Stats: st})
		return
	}
	header := append([]string{"from", "to"}, analytics.Measures...)
	a.writeCSV(w, "totals", from, to, header, func(emit func([]string)) {
		row := []string{stamp(from), stamp(to)}
		for _, m := range analytics.Measures {
			row = append(row, num(st.Measure(m)))
		}
		emit(row)
	})
}

// RequestItem is one record of the raw request log.
type RequestItem struct {
	Time              time.Time `json:"time"`
	Node              string    `json:"node,omitempty"`
	Kind              string    `json:"kind"`
	API               string    `json:"api,omitempty"`
	Route             string    `json:"route,omitempty"`
	Method            string    `json:"method,omitempty"`
	Status            int       `json:"status"`
	App               string    `json:"app,omitempty"`
	Developer         string    `json:"developer,omitempty"`
	KeyID             string    `json:"key_id,omitempty"`
	Plan              string    `json:"plan,omitempty"`
	ClientIP          string    `json:"client_ip,omitempty"`
	UserAgent         string    `json:"user_agent,omitempty"`
	Channel           string    `json:"channel,omitempty"`
	BytesIn           int64     `json:"bytes_in"`
	BytesOut          int64     `json:"bytes_out"`
	LatencyMs         float64   `json:"latency_ms"`
	UpstreamLatencyMs float64   `json:"upstream_latency_ms"`
	Cache             string    `json:"cache,omitempty"`
	RejectedBy        string    `json:"rejected_by,omitempty"`
	RejectCode        string    `json:"reject_code,omitempty"`
	TraceID           string    `json:"trace_id,omitempty"`
}

var requestColumns = []string{
	"time", "node", "kind", "api", "route", "method", "status", "app", "developer", "key_id", "plan",
	"client_ip", "user_agent", "channel", "bytes_in", "bytes_out", "latency_ms", "upstream_latency_ms",
	"cache", "rejected_by", "reject_code", "trace_id",
}

func (it *RequestItem) row(dst []string) []string {
	return append(dst[:0], stamp(it.Time), text(it.Node), it.Kind, text(it.API), text(it.Route), text(it.Method),
		strconv.Itoa(it.Status), text(it.App), text(it.Developer), text(it.KeyID), text(it.Plan),
		text(it.ClientIP), text(it.UserAgent), text(it.Channel),
		strconv.FormatInt(it.BytesIn, 10), strconv.FormatInt(it.BytesOut, 10),
		num(it.LatencyMs), num(it.UpstreamLatencyMs),
		text(it.Cache), text(it.RejectedBy), text(it.RejectCode), text(it.TraceID))
}

func requestItem(r *analytics.RequestRecord) RequestItem {
	e := &r.Event
	return RequestItem{
		Time: e.Time.UTC(), Node: r.Node, Kind: e.Kind.String(), API: e.API, Route: e.Route, Method: e.Method,
		Status: e.Status, App: e.App, Developer: e.Developer, KeyID: e.KeyID, Plan: e.Plan,
		ClientIP: e.ClientIP, UserAgent: e.UserAgent, Channel: e.Channel,
		BytesIn: e.BytesIn, BytesOut: e.BytesOut,
		LatencyMs: ms(e.Latency), UpstreamLatencyMs: ms(e.UpstreamLatency),
		Cache: e.Cache, RejectedBy: e.RejectedBy, RejectCode: e.RejectCode, TraceID: e.TraceID,
	}
}

// RequestPage is the body of GET /v1/analytics/requests.
type RequestPage struct {
	Items []RequestItem `json:"items"`
	Next  string        `json:"next,omitempty"`
}

func (a *API) requests(w http.ResponseWriter, r *http.Request, _ string) {
	if a.store == nil {
		a.notFound(w, r, "the raw request log is not available on this node (no analytics store is configured)")
		return
	}
	now := a.now().UTC()
	p := newParams(r, requestsSpec, now)
	from, to := p.optionalRange()
	limit := p.intParam("limit", defaultLimit, 1, maxRequestLimit)
	after := p.get("after")
	if len(after) > maxValueLen {
		p.addf("after", "not a cursor from this endpoint")
	}
	q := analytics.RequestQuery{From: from, To: to, APIs: p.list("api"), Apps: p.list("app"), Limit: limit, Before: after}
	for _, s := range p.list("status") {
		st, err := strconv.Atoi(s)
		if err != nil || st < 100 || st > 599 {
			p.addf("status", "%q is not an HTTP status (100..599)", s)
			continue
		}
		q.Statuses = append(q.Statuses, st)
	}
	asCSV := p.wantCSV(r)
	if err := p.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	recs, next, err := a.store.ReadRequests(r.Context(), q)
	if err != nil {
		if after != "" && gatehouse.ErrorCode(err) == gatehouse.EInvalid {
			err = invalid("after", "not a cursor from this endpoint")
		}
		a.fail(w, r, err)
		return
	}
	items := make([]RequestItem, len(recs))
	for i := range recs {
		items[i] = requestItem(&recs[i])
	}
	if next != "" {
		v := r.URL.Query()
		v.Set("after", next)
		u := url.URL{Path: r.URL.Path, RawQuery: v.Encode()}
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
	}
	if !asCSV {
		a.writeJSON(w, r, RequestPage{Items: items, Next: next})
		return
	}
	if to.IsZero() {
		to = now
	}
	a.writeCSV(w, "requests", from, to, requestColumns, func(emit func([]string)) {
		row := make([]string, 0, len(requestColumns))
		for i := range items {
			row = items[i].row(row)
			emit(row)
		}
	})
}

// writeCSV answers text/csv with a header row, as an attachment named after the kind of
// answer and its range (a zero from is "start").
func (a *API) writeCSV(w http.ResponseWriter, kind string, from, to time.Time, header []string, rows func(emit func([]string))) {
	f := "start"
	if !from.IsZero() {
		f = fileStamp(from)
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="gatehouse-`+kind+"-"+f+"-"+fileStamp(to)+`.csv"`)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	rows(func(row []string) { _ = cw.Write(row) }) // a failed write is a client gone
	cw.Flush()
}

// minuteRange is the range the engine answers for Top and Totals: from down, to up to
// the minute.
func minuteRange(from, to time.Time) (time.Time, time.Time) {
	from = from.UTC().Truncate(time.Minute)
	to = to.UTC()
	if t := to.Truncate(time.Minute); !t.Equal(to) {
		to = t.Add(time.Minute)
	}
	return from, to
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func stamp(t time.Time) string     { return t.UTC().Format(time.RFC3339Nano) }
func fileStamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
func num(v float64) string         { return strconv.FormatFloat(v, 'f', -1, 64) }
func ms(d time.Duration) float64   { return float64(d) / 1e6 }

// text makes a string safe for a spreadsheet: a cell starting with =, +, -, @, tab or CR
// would be read as a formula (CSV injection), so it gets a leading apostrophe. Only
// strings that may come from clients or configuration pass through here, never numbers.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
