package chart

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// render draws c and parses the result, failing the test if it is not well-formed or
// uses anything outside the allowed markup.
func render(t testing.TB, c Chart) (*node, string) {
	t.Helper()
	out := string(Line(c))
	root, err := parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return root, out
}

// hostileNames are strings that would be markup, attribute break-outs or invalid XML
// if they were not escaped.
var hostileNames = []string{
	`</svg><script>alert(1)</script>`,
	`" onload="x`,
	`'><svg onload=alert(1)>`,
	`</title></desc></text></figure><img src=x onerror=alert(1)>`,
	`&lt;already escaped&gt; &amp; &#34;`,
	"]]><![CDATA[x",
	"<!-- comment --> <?pi?>",
	"ctl\x00\x01\x1b\x7f\u0085\uFFFE bad\xff utf-8",
	"{{.}} ${x} \u202egnp.exe \U0001F600",
}

func TestLineWellFormed(t *testing.T) {
	day := 24 * time.Hour
	hourly := times(t0, time.Hour, 24)
	ramp := func(n int, f func(i int) float64) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return vs
	}
	tests := []struct {
		name   string
		c      Chart
		paths  int // series paths
		dots   int
		empty  bool
		xLabel []string // the x labels, if checked
	}{
		{name: "zero chart", c: Chart{}, empty: true},
		{name: "times, no series", c: Chart{Times: hourly}, empty: true},
		{name: "series, no times", c: Chart{Series: []Series{{Name: "a", Values: []float64{1, 2}}}}, paths: 0, empty: true},
		{name: "all NaN", c: Chart{Times: hourly, Series: []Series{{Name: "a", Values: ramp(24, func(int) float64 { return nan })}}}, empty: true},
		{name: "all zero", c: Chart{Times: hourly, Series: []Series{{Name: "a", Values: make([]float64, 24)}}}, paths: 1},
		{name: "one series", c: Chart{Title: "Requests", Unit: "req", Times: hourly, Series: []Series{{Name: "requests", Values: ramp(24, func(i int) float64 { return float64(i * i) })}}}, paths: 1,
			xLabel: []string{"09:00", "12:00", "15:00", "18:00", "21:00", "00:00", "03:00", "06:00"}},
		{name: "single point", c: Chart{Times: hourly[:1], Series: []Series{{Name: "a", Values: []float64{42}}}}, paths: 1, dots: 1, xLabel: []string{"09:00"}},
		{name: "lone values between gaps", c: Chart{Times: hourly[:5], Series: []Series{{Name: "a", Values: []float64{1, nan, 3, math.Inf(1), 5}}}}, paths: 1, dots: 3},
		{name: "negative", c: Chart{Times: hourly[:3], Series: []Series{{Name: "delta", Values: []float64{-5, 3, -1}}}}, paths: 1},
		{name: "huge", c: Chart{Times: hourly[:3], Series: []Series{{Name: "a", Values: []float64{math.MaxFloat64, -math.MaxFloat64, 1e300}}}}, paths: 1},
		{name: "tiny", c: Chart{Times: hourly[:3], Series: []Series{{Name: "a", Values: []float64{5e-324, 0, math.SmallestNonzeroFloat64}}}}, paths: 1},
		{name: "short and long series", c: Chart{Times: hourly[:4], Series: []Series{{Name: "short", Values: []float64{1}}, {Name: "long", Values: []float64{1, 2, 3, 4, 5, 6}}}}, paths: 2, dots: 1},
		{name: "a week", c: Chart{Times: times(t0, day, 8), Series: []Series{{Name: "a", Values: ramp(8, func(i int) float64 { return float64(i) })}}}, paths: 1,
			xLabel: []string{"Mar 15", "Mar 16", "Mar 17", "Mar 18", "Mar 19", "Mar 20", "Mar 21"}},
		{name: "unsorted times", c: Chart{Times: []time.Time{t0.Add(time.Hour), t0, t0.Add(2 * time.Hour)}, Series: []Series{{Name: "a", Values: []float64{1, 2, 3}}}}, paths: 1},
		{name: "same time twice", c: Chart{Times: []time.Time{t0, t0}, Series: []Series{{Name: "a", Values: []float64{1, 2}}}}, paths: 1},
		{name: "far times", c: Chart{Times: []time.Time{time.Unix(-1<<62, 0), time.Unix(1<<62, 0)}, Series: []Series{{Name: "a", Values: []float64{1, 2}}}}, paths: 1},
		{name: "zero time", c: Chart{Times: []time.Time{{}, {}}, Series: []Series{{Name: "a", Values: []float64{1, 2}}}}, paths: 1},
		{name: "tiny viewBox", c: Chart{Width: 1, Height: 1, Times: hourly, Series: []Series{{Name: "a", Values: make([]float64, 24)}}}, paths: 1},
		{name: "negative viewBox", c: Chart{Width: -5, Height: -5, Times: hourly, Series: []Series{{Name: "a", Values: make([]float64, 24)}}}, paths: 1},
		{name: "huge viewBox", c: Chart{Width: math.MaxInt, Height: math.MaxInt, Times: hourly, Series: []Series{{Name: "a", Values: make([]float64, 24)}}}, paths: 1},
		{name: "unnamed series", c: Chart{Times: hourly, Series: []Series{{Values: make([]float64, 24)}, {}}}, paths: 2},
		{name: "hostile", c: Chart{Title: strings.Join(hostileNames, " "), Unit: hostileNames[1], ID: hostileNames[1], Times: hourly[:2],
			Series: []Series{{Name: hostileNames[0], Values: []float64{1, 2}}, {Name: hostileNames[7], Values: []float64{2, 1}}}}, paths: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, out := render(t, tt.c)
			if root.name != "figure" || root.attrs["class"] != "chart" || root.attrs["id"] == "" {
				t.Errorf("root <%s %v>", root.name, root.attrs)
			}
			svg := root.first("svg")
			id := root.attrs["id"]
			if svg.attrs["role"] != "img" || svg.attrs["aria-labelledby"] != id+"-title" || svg.attrs["aria-describedby"] != id+"-desc" {
				t.Errorf("svg attrs %v (figure id %q)", svg.attrs, id)
			}
			if got := svg.first("title"); got.attrs["id"] != id+"-title" || got.text.Len() == 0 {
				t.Errorf("title %v %q", got.attrs, got.text.String())
			}
			if got := svg.first("desc"); got.attrs["id"] != id+"-desc" || got.text.Len() == 0 {
				t.Errorf("desc %v %q", got.attrs, got.text.String())
			}
			if got := len(root.classed("chart-line")); got != tt.paths {
				t.Errorf("%d series paths, want %d", got, tt.paths)
			}
			if got := len(root.classed("chart-dot")); got != tt.dots {
				t.Errorf("%d dots, want %d", got, tt.dots)
			}
			empty := root.classed("chart-empty")
			if tt.empty != (len(empty) == 1) {
				t.Errorf("empty message: %q, want it: %v", texts(empty), tt.empty)
			}
			if tt.empty && (texts(empty)[0] != NoData || len(root.classed("chart-grid")) != 0) {
				t.Errorf("empty chart: %s", out)
			}
			if !tt.empty && len(root.classed("chart-grid")[0].named("line")) < 2 {
				t.Errorf("fewer than two gridlines: %s", out)
			}
			if tt.xLabel != nil {
				if got := texts(root.classed("chart-xaxis")[0].named("text")); !slices.Equal(got, tt.xLabel) {
					t.Errorf("x labels %q, want %q", got, tt.xLabel)
				}
			}
			if legend := root.classed("chart-legend"); len(tt.c.Series) > 0 && (len(legend) != 1 || len(legend[0].named("li")) != len(tt.c.Series)) {
				t.Errorf("legend does not list the %d series", len(tt.c.Series))
			}
			if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
				t.Errorf("NaN or Inf in the output")
			}
		})
	}
}

func TestLineEscaping(t *testing.T) {
	for i, h := range hostileNames {
		c := Chart{Title: h, Unit: h, ID: h, Times: times(t0, time.Minute, 3),
			Series: []Series{{Name: h, Values: []float64{1, nan, 3}}, {Name: "b", Values: []float64{2, 2, 2}}}}
		root, out := render(t, c)
		clean := string(appendText(nil, h)) // what survives: the text, without what XML forbids
		want, err := parse("<span>" + clean + "</span>")
		if err != nil {
			t.Fatal(err)
		}
		text := want.text.String()
		for _, where := range []*node{root.first("title"), root.classed("chart-title")[0], root.classed("chart-name")[0], root.classed("chart-unit")[0]} {
			if got := where.text.String(); got != text {
				t.Errorf("%d: <%s class=%q> = %q, want the name as text %q", i, where.name, where.attrs["class"], got, text)
			}
		}
		if !strings.Contains(root.first("desc").text.String(), text) {
			t.Errorf("%d: the description does not name the series as text", i)
		}
		if got := root.first("th").text.String(); got != "Time (UTC)" {
			t.Errorf("%d: first header %q", i, got)
		}
		if got := root.named("th")[1].text.String(); got != text+" ("+text+")" {
			t.Errorf("%d: series header %q", i, got)
		}
		for _, bad := range []string{"<script", "<svg onload", "<img", `" onload`, "<!--", "<![CDATA["} {
			if strings.Contains(out, bad) {
				t.Errorf("%d: output contains %q", i, bad)
			}
		}
		if strings.ContainsAny(root.attrs["id"], `"'<> `) {
			t.Errorf("%d: id %q", i, root.attrs["id"])
		}
	}
}

func TestLineGaps(t *testing.T) {
	c := Chart{Times: times(t0, time.Minute, 9), Series: []Series{
		{Name: "gappy", Values: []float64{1, 2, nan, 4, 5, 6, math.Inf(-1), 8, 9}},
		{Name: "full", Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{Name: "starts late", Values: []float64{nan, nan, 3, 4}},
	}}
	root, _ := render(t, c)
	paths := root.classed("chart-line")
	for i, want := range []int{3, 1, 1} {
		if got := strings.Count(paths[i].attrs["d"], "M"); got != want {
			t.Errorf("series %d: %d subpaths (%q), want %d", i, got, paths[i].attrs["d"], want)
		}
	}
	// x from 52 to 696 by 644/8; the axis runs 0 to 10, so y = 216 - v/10*196.
	if got := paths[1].attrs["d"]; got != "M52 196.4L132.5 176.8 213 157.2 293.5 137.6 374 118 454.5 98.4 535 78.8 615.5 59.2 696 39.6" {
		t.Errorf("full series d = %q", got)
	}
	if got := texts(root.named("td")[:3]); !slices.Equal(got, []string{"1", "1", "—"}) {
		t.Errorf("first row %q", got)
	}
}

func TestLineSeriesClasses(t *testing.T) {
	var series []Series
	for i := range 8 {
		series = append(series, Series{Name: fmt.Sprint("s", i), Values: []float64{float64(i), float64(i + 1)}})
	}
	root, _ := render(t, Chart{Times: times(t0, time.Minute, 2), Series: series})
	want := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s0 chart-alt", "s1 chart-alt"}
	for i, p := range root.classed("chart-line") {
		if got := p.attrs["class"]; got != "chart-line "+want[i] {
			t.Errorf("path %d class %q, want %q", i, got, "chart-line "+want[i])
		}
	}
	for i, sw := range root.classed("chart-swatch") {
		if got := sw.attrs["class"]; got != "chart-swatch "+want[i] || sw.attrs["aria-hidden"] != "true" {
			t.Errorf("swatch %d class %q", i, got)
		}
	}
	if got := len(root.named("tr")); got != 3 {
		t.Errorf("%d table rows, want a header and 2", got)
	}
	if got := len(root.named("tr")[1].named("td")); got != 8 {
		t.Errorf("%d cells in a row, want 8", got)
	}
}

func TestLineYAxis(t *testing.T) {
	tests := []struct {
		values []float64
		unit   string
		want   []string
	}{
		{[]float64{0, 0}, "req", []string{"0", "0.5", "1"}},
		{[]float64{3, 1234}, "req", []string{"0", "500", "1k", "1.5k"}},
		{[]float64{2.1e6, 3.4e6}, "B", []string{"0", "1M", "2M", "3M", "4M"}},
		{[]float64{0.5, 99.2}, "%", []string{"0", "50", "100"}},
		{[]float64{-20, 70}, "", []string{"-50", "0", "50", "100"}},
	}
	for _, tt := range tests {
		root, _ := render(t, Chart{Unit: tt.unit, Times: times(t0, time.Minute, len(tt.values)), Series: []Series{{Name: "a", Values: tt.values}}})
		axis := root.classed("chart-yaxis")[0]
		var got []string
		for _, tx := range axis.named("text") {
			if tx.attrs["class"] != "chart-unit" {
				got = append(got, tx.text.String())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v: y labels %q, want %q", tt.values, got, tt.want)
		}
		if u := axis.classed("chart-unit"); (tt.unit != "") != (len(u) == 1) {
			t.Errorf("%v: unit label %q", tt.values, texts(u))
		}
		if z := root.classed("chart-zero"); len(z) != 1 {
			t.Errorf("%v: %d zero lines", tt.values, len(z))
		}
	}
}

func TestLineTable(t *testing.T) {
	c := Chart{Title: "Latency", Unit: "ms", Times: []time.Time{t0, t0.Add(30 * time.Second)},
		Series: []Series{{Name: "p50", Values: []float64{1.25, nan}}, {Name: "p99", Values: []float64{12345.678, 1e18}}}}
	root, _ := render(t, c)
	details := root.classed("chart-data")
	if len(details) != 1 || details[0].first("summary").text.String() != "Data table" {
		t.Fatalf("no data table")
	}
	var rows [][]string
	for _, tr := range details[0].named("tr") {
		rows = append(rows, texts(tr.all(func(n *node) bool { return n.name == "th" || n.name == "td" })))
	}
	want := [][]string{
		{"Time (UTC)", "p50 (ms)", "p99 (ms)"},
		{"2025-03-14 09:00:00", "1.25", "12345.7"},
		{"2025-03-14 09:00:30", "—", "1e+18"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("table %q, want %q", rows, want)
	}
	if got := root.first("time").attrs["datetime"]; got != "2025-03-14T09:00:00Z" {
		t.Errorf("datetime %q", got)
	}
	desc := root.first("desc").text.String()
	for _, s := range []string{"2 series", "2025-03-14 09:00", "UTC", "ms", "p50: from 1.25 to 1.25, last 1.25.", "p99: from 12.3k to 1E, last 1E."} {
		if !strings.Contains(desc, s) {
			t.Errorf("desc %q lacks %q", desc, s)
		}
	}
}

func TestLineID(t *testing.T) {
	a := Chart{Title: "A", Times: times(t0, time.Minute, 2), Series: []Series{{Name: "x", Values: []float64{1, 2}}}}
	b := a
	b.Title = "B"
	c := a
	c.Series = []Series{{Name: "x", Values: []float64{1, 3}}}
	ra, _ := render(t, a)
	ra2, _ := render(t, a)
	rb, _ := render(t, b)
	rc, _ := render(t, c)
	if ra.attrs["id"] != ra2.attrs["id"] || ra.attrs["id"] == rb.attrs["id"] || ra.attrs["id"] == rc.attrs["id"] {
		t.Errorf("derived ids %q %q %q %q: want stable and distinct", ra.attrs["id"], ra2.attrs["id"], rb.attrs["id"], rc.attrs["id"])
	}
	a.ID = "traffic"
	if r, _ := render(t, a); r.attrs["id"] != "traffic" || r.first("title").attrs["id"] != "traffic-title" {
		t.Errorf("id %q", r.attrs["id"])
	}
}

func TestLineTimesInUTC(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	c := Chart{Times: times(t0.In(zone), time.Hour, 3), Series: []Series{{Name: "a", Values: []float64{1, 2, 3}}}}
	root, _ := render(t, c)
	if got := texts(root.classed("chart-xaxis")[0].named("text")); !slices.Equal(got, []string{"09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00"}) {
		t.Errorf("x labels %q", got)
	}
	if got := root.first("time").text.String(); got != "2025-03-14 09:00" {
		t.Errorf("first time %q", got)
	}
}
