package dashboard

import (
	"cmp"
	"encoding/csv"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/chart"
)

// measureInfo names a measure for people, with its unit.
type measureInfo struct {
	Key, Label, Unit string
}

var measureInfos = []measureInfo{
	{analytics.MeasureCount, "Requests", "req"},
	{analytics.MeasureErrors, "Errors (5xx)", "req"},
	{analytics.MeasureErrorRate, "Error rate", "ratio"},
	{analytics.MeasureRateLimited, "Rate limited (429)", "req"},
	{analytics.MeasureRejected, "Rejected by a policy", "req"},
	{analytics.MeasureCacheHits, "Cache hits", "req"},
	{analytics.MeasureBytesIn, "Bytes in", "B"},
	{analytics.MeasureBytesOut, "Bytes out", "B"},
	{analytics.MeasureLatencyMean, "Latency, mean", "ms"},
	{analytics.MeasureLatencyP50, "Latency p50", "ms"},
	{analytics.MeasureLatencyP95, "Latency p95", "ms"},
	{analytics.MeasureLatencyP99, "Latency p99", "ms"},
	{analytics.MeasureUpstreamP50, "Upstream p50", "ms"},
	{analytics.MeasureUpstreamP95, "Upstream p95", "ms"},
	{analytics.MeasureUpstreamP99, "Upstream p99", "ms"},
}

func measureOf(key string) measureInfo {
	for _, m := range measureInfos {
		if m.Key == key {
			return m
		}
	}
	return measureInfo{Key: key, Label: key}
}

type option struct{ Value, Label string }

var dimensionOptions = []option{
	{"", "Nothing (one line)"},
	{analytics.DimAPI, "API"},
	{analytics.DimRoute, "Route"},
	{analytics.DimApp, "App"},
	{analytics.DimDeveloper, "Developer"},
	{analytics.DimPlan, "Plan"},
	{analytics.DimStatusClass, "Status class"},
	{analytics.DimKind, "Kind"},
}

var rangeOptions = []option{
	{"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"custom", "From … to (UTC)"},
}

var rangeSpans = map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

var statusOptions = []option{{"", "Any"}, {"2", "2xx"}, {"3", "3xx"}, {"4", "4xx"}, {"5", "5xx"}, {"1", "1xx"}, {"0", "No status"}}

// explorer is the analytics form, as read from the query string.
type explorer struct {
	Measures []string
	By       string
	API, App string
	Status   string
	Range    string
	From, To string // datetime-local values, UTC

	from, to time.Time
	interval time.Duration
}

const localLayout = "2006-01-02T15:04"

// maxChartSeries is how many groups a chart draws (the palette's size); the table and
// the CSV have them all.
const maxChartSeries = chart.Palette

// maxTableRows bounds the table on the page; the CSV has every row.
const maxTableRows = 500

func parseExplorer(q url.Values, now time.Time) (*explorer, error) {
	e := &explorer{By: q.Get("by"), API: strings.TrimSpace(q.Get("api")), App: strings.TrimSpace(q.Get("app")),
		Status: q.Get("status"), Range: q.Get("range"), From: q.Get("from"), To: q.Get("to")}
	for _, m := range q["m"] {
		if !slices.Contains(analytics.Measures, m) {
			return e, invalid("m", "unknown measure "+strconv.Quote(m))
		}
		if !slices.Contains(e.Measures, m) {
			e.Measures = append(e.Measures, m)
		}
	}
	if len(e.Measures) == 0 {
		e.Measures = []string{analytics.MeasureCount, analytics.MeasureErrors}
	}
	if !slices.ContainsFunc(dimensionOptions, func(o option) bool { return o.Value == e.By }) {
		return e, invalid("by", "unknown dimension "+strconv.Quote(e.By))
	}
	if !slices.ContainsFunc(statusOptions, func(o option) bool { return o.Value == e.Status }) {
		return e, invalid("status", "must be a status class")
	}
	if e.Range == "" {
		e.Range = "1h"
		if e.From != "" || e.To != "" {
			e.Range = "custom"
		}
	}
	now = now.UTC()
	if span, ok := rangeSpans[e.Range]; ok {
		e.from, e.to = now.Add(-span), now
	} else if e.Range == "custom" {
		var err error
		if e.from, err = time.Parse(localLayout, e.From); err != nil {
			return e, invalid("from", "must be a date and time, like 2026-01-31T09:00")
		}
		e.to = now
		if e.To != "" {
			if e.to, err = time.Parse(localLayout, e.To); err != nil {
				return e, invalid("to", "must be a date and time, like 2026-01-31T17:00")
			}
		}
		if !e.from.Before(e.to) {
			return e, invalid("to", "must be after from")
		}
		if e.to.Sub(e.from) > 400*24*time.Hour {
			return e, invalid("from", "the range may be at most 400 days")
		}
	} else {
		return e, invalid("range", "unknown range "+strconv.Quote(e.Range))
	}
	if e.From == "" {
		e.From = e.from.Format(localLayout)
	}
	if e.To == "" {
		e.To = e.to.Format(localLayout)
	}
	e.interval = pickInterval(e.to.Sub(e.from))
	return e, nil
}

// pickInterval chooses a round bucket size giving at most about 120 points.
func pickInterval(span time.Duration) time.Duration {
	for _, iv := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
		2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/iv <= 120 {
			return iv
		}
	}
	return 7 * 24 * time.Hour
}

func (e *explorer) query() analytics.SeriesQuery {
	q := analytics.SeriesQuery{From: e.from, To: e.to, Interval: e.interval, Measures: e.Measures}
	if e.By != "" {
		q.GroupBy = []string{e.By}
	}
	if e.API != "" {
		q.Filters.APIs = []string{e.API}
	}
	if e.App != "" {
		q.Filters.Apps = []string{e.App}
	}
	if e.Status != "" {
		n, _ := strconv.Atoi(e.Status)
		q.Filters.StatusClasses = []int{n}
	}
	return q
}

// params is the query string of the current form, for the CSV link.
func (e *explorer) params() string {
	v := url.Values{"m": e.Measures}
	for k, s := range map[string]string{"by": e.By, "api": e.API, "app": e.App, "status": e.Status, "range": e.Range} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if e.Range == "custom" {
		v.Set("from", e.From)
		v.Set("to", e.To)
	}
	return v.Encode()
}

type tableRow struct {
	Time   time.Time
	Group  string
	Values []float64
}

type analyticsData struct {
	Enabled    bool
	Form       *explorer
	Err        *formErr
	Measures   []measureInfo // every measure, for the form
	Chosen     []measureInfo // the measures asked for, in order
	Dimensions []option
	Ranges     []option
	Statuses   []option
	Charts     []template.HTML
	Rows       []tableRow
	Truncated  int // rows not shown
	Groups     int
	Interval   string
	CSV        string
}

func (d *analyticsData) Selected(m string) bool { return slices.Contains(d.Form.Measures, m) }

func (s *server) analyticsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	d := &analyticsData{Enabled: s.o.Query != nil, Measures: measureInfos, Dimensions: dimensionOptions,
		Ranges: rangeOptions, Statuses: statusOptions}
	e, err := parseExplorer(r.URL.Query(), s.o.Now())
	d.Form = e
	for _, m := range e.Measures {
		d.Chosen = append(d.Chosen, measureOf(m))
	}
	if err == nil && d.Enabled {
		var res *analytics.SeriesResult
		if res, err = s.o.Query.Series(r.Context(), e.query()); err == nil {
			s.fillAnalytics(d, e, res)
		}
	}
	if err != nil {
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
	}
	d.CSV = "/ui/analytics.csv?" + e.params()
	status := http.StatusOK
	if d.Err != nil {
		status = http.StatusBadRequest
	}
	s.showStatus(w, r, c, status, "analytics.html", "Analytics", "analytics", d)
	return nil
}

func groupLabel(g map[string]string, by string) string {
	if by == "" {
		return "All traffic"
	}
	v := g[by]
	switch {
	case v == "" && by == analytics.DimStatusClass:
		return "no status"
	case v == "":
		return "(none)"
	}
	return v
}

func (s *server) fillAnalytics(d *analyticsData, e *explorer, res *analytics.SeriesResult) {
	d.Interval = gatehouse.Duration(e.interval).String()
	series := res.Series
	d.Groups = len(series)
	// The chart draws the busiest groups by the first measure.
	first := e.Measures[0]
	total := func(s analytics.Series) float64 {
		var t float64
		for _, p := range s.Points {
			t += p.Values[first]
		}
		return t
	}
	ranked := slices.Clone(series)
	slices.SortStableFunc(ranked, func(a, b analytics.Series) int { return cmp.Compare(total(b), total(a)) })
	if len(ranked) > maxChartSeries {
		ranked = ranked[:maxChartSeries]
	}
	var times []time.Time
	if len(series) > 0 {
		for _, p := range series[0].Points {
			times = append(times, p.Start)
		}
	}
	for i, m := range e.Measures {
		info := measureOf(m)
		// A narrower viewBox than the default keeps the labels legible in half a page.
		ch := chart.Chart{Title: info.Label, Unit: info.Unit, Times: times, ID: "chart-" + strconv.Itoa(i), Width: 560, Height: 260}
		for _, sr := range ranked {
			vals := make([]float64, len(sr.Points))
			for j, p := range sr.Points {
				vals[j] = p.Values[m]
			}
			ch.Series = append(ch.Series, chart.Series{Name: groupLabel(sr.Group, e.By), Values: vals})
		}
		d.Charts = append(d.Charts, chart.Line(ch))
	}
	n := 0
	for _, row := range analyticsRows(e, res) {
		if n >= maxTableRows {
			d.Truncated++
			continue
		}
		d.Rows = append(d.Rows, row)
		n++
	}
}

// analyticsRows flattens a result into one row per bucket and group, newest first;
// buckets with no events in any measure are left out.
func analyticsRows(e *explorer, res *analytics.SeriesResult) []tableRow {
	var rows []tableRow
	for _, sr := range res.Series {
		label := groupLabel(sr.Group, e.By)
		for _, p := range sr.Points {
			vals := make([]float64, len(e.Measures))
			empty := true
			for i, m := range e.Measures {
				v := p.Values[m]
				if math.IsNaN(v) || math.IsInf(v, 0) {
					v = 0
				}
				vals[i] = v
				empty = empty && v == 0
			}
			if !empty {
				rows = append(rows, tableRow{Time: p.Start, Group: label, Values: vals})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b tableRow) int {
		return cmp.Or(b.Time.Compare(a.Time), strings.Compare(a.Group, b.Group))
	})
	return rows
}

// analyticsCSV answers the explorer's query as CSV, every row.
func (s *server) analyticsCSV(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.o.Query == nil {
		return gatehouse.Errorf(gatehouse.ENotFound, "Analytics are not enabled on this node.")
	}
	e, err := parseExplorer(r.URL.Query(), s.o.Now())
	if err != nil {
		return err
	}
	res, err := s.o.Query.Series(r.Context(), e.query())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="gatehouse-analytics.csv"`)
	cw := csv.NewWriter(w)
	head := []string{"time"}
	if e.By != "" {
		head = append(head, e.By)
	}
	head = append(head, e.Measures...)
	_ = cw.Write(head)
	for _, sr := range res.Series {
		for _, p := range sr.Points {
			rec := []string{p.Start.UTC().Format(time.RFC3339)}
			if e.By != "" {
				rec = append(rec, csvCell(sr.Group[e.By]))
			}
			for _, m := range e.Measures {
				rec = append(rec, strconv.FormatFloat(p.Values[m], 'f', -1, 64))
			}
			_ = cw.Write(rec)
		}
	}
	cw.Flush()
	return nil
}

// csvCell defuses a cell that a spreadsheet would run as a formula (OWASP's CSV
// injection advice): a leading = + - @, tab or carriage return gets a quote before it.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
