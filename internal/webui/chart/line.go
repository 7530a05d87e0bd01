package chart

import (
	"html/template"
	"math"
	"strconv"
	"time"
)

// Series is one line of a chart: a value for each of the chart's Times, matched by
// index. NaN (or ±Inf) is a bucket without data, drawn as a gap.
type Series struct {
	Name   string
	Values []float64
}

// Chart is what Line draws.
type Chart struct {
	Title  string
	Unit   string      // of the values, e.g. "req", "ms", "%"; shown by the axis and the table
	Times  []time.Time // bucket starts, ascending; values past len(Times) are not drawn
	Series []Series
	// Width and Height are the SVG's viewBox, 720×240 when zero; the drawing scales to
	// the width of its box (chart.css), so they set proportions and text size.
	Width, Height int
	// ID is the figure's id (its <title> and <desc> get ID-title and ID-desc). Only
	// letters, digits, '-' and '_' are kept; without any, one is derived from the chart.
	ID string
}

// NoData is what an empty chart says.
const NoData = "No data in this period"

// Palette is the number of series classes (s0 … s5); series past it reuse them, dashed.
const Palette = 6

const (
	defaultWidth, defaultHeight = 720, 240
	minWidth, minHeight         = 200, 100
	maxSize                     = 10000
	// The plot's margins, in viewBox units: y labels left, the unit above them, x labels
	// below, and half an x label's width at the right.
	padLeft, padRight, padTop, padBottom = 52, 24, 20, 24
	dotRadius                            = 3
)

// frame is a chart's viewBox and the plot area inside it.
type frame struct {
	w, h           int
	x0, x1, y0, y1 float64 // left, right, top, bottom of the plot
}

func newFrame(w, h int) frame {
	if w <= 0 {
		w = defaultWidth
	}
	if h <= 0 {
		h = defaultHeight
	}
	w, h = min(max(w, minWidth), maxSize), min(max(h, minHeight), maxSize)
	return frame{w: w, h: h, x0: padLeft, x1: float64(w - padRight), y0: padTop, y1: float64(h - padBottom)}
}

// appendSVGStart opens the <svg> with its accessible name and description.
func (f frame) appendSVGStart(b []byte, id, title string, desc func([]byte) []byte) []byte {
	b = append(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 `...)
	b = appendInt(b, f.w)
	b = append(b, ' ')
	b = appendInt(b, f.h)
	b = append(b, `" role="img" aria-labelledby="`...)
	b = append(b, id...)
	b = append(b, `-title" aria-describedby="`...)
	b = append(b, id...)
	b = append(b, `-desc" data-plot="`...)
	b = appendCoord(b, f.x0)
	b = append(b, ' ')
	b = appendCoord(b, f.y0)
	b = append(b, ' ')
	b = appendCoord(b, f.x1-f.x0)
	b = append(b, ' ')
	b = appendCoord(b, f.y1-f.y0)
	b = append(b, `"><title id="`...)
	b = append(b, id...)
	b = append(b, `-title">`...)
	b = appendText(b, title)
	b = append(b, `</title><desc id="`...)
	b = append(b, id...)
	b = append(b, `-desc">`...)
	b = desc(b)
	return append(b, "</desc>"...)
}

// appendGrid draws a horizontal gridline at each fraction of the plot's height (0 at
// the bottom), the one at zero (if any) marked as the baseline.
func (f frame) appendGrid(b []byte, at []float64, zero int) []byte {
	b = append(b, `<g class="chart-grid" stroke="#e5e7eb" stroke-width="1">`...)
	for i, frac := range at {
		y := f.y1 - frac*(f.y1-f.y0)
		b = append(b, `<line`...)
		if i == zero {
			b = append(b, ` class="chart-zero"`...)
		}
		b = append(b, ` x1="`...)
		b = appendCoord(b, f.x0)
		b = append(b, `" y1="`...)
		b = appendCoord(b, y)
		b = append(b, `" x2="`...)
		b = appendCoord(b, f.x1)
		b = append(b, `" y2="`...)
		b = appendCoord(b, y)
		b = append(b, `"/>`...)
	}
	return append(b, "</g>"...)
}

// appendYLabels labels the gridlines (fractions of the height, as for appendGrid); a
// tick index attribute lets live.js relabel them. The unit goes above the labels.
func (f frame) appendYLabels(b []byte, at []float64, labels []string, unit string, indexed bool) []byte {
	b = append(b, `<g class="chart-axis chart-yaxis" fill="#4b5563" font-size="11" text-anchor="end">`...)
	for i, frac := range at {
		b = append(b, `<text`...)
		if indexed {
			b = append(b, ` data-tick="`...)
			b = appendInt(b, i)
			b = append(b, '"')
		}
		b = append(b, ` x="`...)
		b = appendCoord(b, f.x0-6)
		b = append(b, `" y="`...)
		b = appendCoord(b, f.y1-frac*(f.y1-f.y0))
		b = append(b, `" dy="0.32em">`...)
		b = appendText(b, labels[i])
		b = append(b, "</text>"...)
	}
	if unit != "" {
		b = append(b, `<text class="chart-unit" x="`...)
		b = appendCoord(b, f.x0-6)
		b = append(b, `" y="`...)
		b = appendCoord(b, f.y0-8)
		b = append(b, `">`...)
		b = appendText(b, unit)
		b = append(b, "</text>"...)
	}
	return append(b, "</g>"...)
}

// appendXLabels writes labels under the plot at x positions.
func (f frame) appendXLabels(b []byte, xs []float64, labels []string) []byte {
	b = append(b, `<g class="chart-axis chart-xaxis" fill="#4b5563" font-size="11" text-anchor="middle">`...)
	for i, x := range xs {
		b = append(b, `<text x="`...)
		b = appendCoord(b, x)
		b = append(b, `" y="`...)
		b = appendCoord(b, float64(f.h)-8)
		b = append(b, `">`...)
		b = appendText(b, labels[i])
		b = append(b, "</text>"...)
	}
	return append(b, "</g>"...)
}

// appendMessage writes a line of text in the middle of the plot.
func (f frame) appendMessage(b []byte, msg string) []byte {
	b = append(b, `<text class="chart-empty" fill="#4b5563" font-size="13" text-anchor="middle" x="`...)
	b = appendCoord(b, (f.x0+f.x1)/2)
	b = append(b, `" y="`...)
	b = appendCoord(b, (f.y0+f.y1)/2)
	b = append(b, `">`...)
	b = appendText(b, msg)
	return append(b, "</text>"...)
}

// appendPlotStart opens the group of series lines. Its presentation attributes are the
// look without chart.css (which overrides them): lines in the text colour, no fill.
func appendPlotStart(b []byte) []byte {
	return append(b, `<g class="chart-plot" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">`...)
}

// appendSeriesClass writes series i's classes: s0 … s5, and chart-alt (dashed) for the
// second time round the palette and later.
func appendSeriesClass(b []byte, i int) []byte {
	b = append(b, 's')
	b = appendInt(b, i%Palette)
	if i >= Palette {
		b = append(b, " chart-alt"...)
	}
	return b
}

// appendLegend writes the legend list (<ul> with attrs, a constant): a colour swatch and
// a name per series, then what item adds, if anything.
func appendLegend(b []byte, attrs string, names []string, item func(b []byte, i int) []byte) []byte {
	if len(names) == 0 {
		return b
	}
	b = append(b, "<ul "...)
	b = append(b, attrs...)
	b = append(b, '>')
	for i, name := range names {
		b = append(b, `<li><span class="chart-swatch `...)
		b = appendSeriesClass(b, i)
		b = append(b, `" aria-hidden="true"></span><span class="chart-name">`...)
		b = appendText(b, name)
		b = append(b, "</span>"...)
		if item != nil {
			b = item(b, i)
		}
		b = append(b, "</li>"...)
	}
	return append(b, "</ul>"...)
}

// line is a Chart laid out: the times as seconds, the y axis, the plot frame.
type line struct {
	c      Chart
	f      frame
	id     string
	title  string
	names  []string
	at     []float64 // Times in seconds since the Unix epoch
	t0, t1 float64   // the earliest and latest of them
	points int       // finite values drawn
	ticks  []float64
	step   float64
	lo, hi float64 // the y axis: the first and last tick
}

func layoutLine(c Chart) *line {
	l := &line{c: c, f: newFrame(c.Width, c.Height), title: c.Title}
	if l.title == "" {
		l.title = "Chart"
	}
	l.names = make([]string, len(c.Series))
	for i, s := range c.Series {
		l.names[i] = s.Name
		if s.Name == "" {
			l.names[i] = "Series " + strconv.Itoa(i+1)
		}
	}
	l.at = make([]float64, len(c.Times))
	l.t0, l.t1 = math.Inf(1), math.Inf(-1)
	for i, t := range c.Times {
		l.at[i] = secs(t)
		l.t0, l.t1 = min(l.t0, l.at[i]), max(l.t1, l.at[i])
	}
	lo, hi := 0.0, 0.0 // the axis always shows zero
	for _, s := range c.Series {
		for i := range min(len(s.Values), len(c.Times)) {
			if v := s.Values[i]; finite(v) {
				l.points++
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	l.ticks, l.step = niceTicks(lo, hi, max(2, int(l.f.y1-l.f.y0)/40))
	l.lo, l.hi = l.ticks[0], l.ticks[len(l.ticks)-1]
	if !(l.hi > l.lo) { // niceTicks never does this; keep the scale finite regardless
		l.lo, l.hi = 0, 1
	}
	l.id = cleanID(c.ID)
	if l.id == "" {
		parts := append([]string{c.Title, c.Unit, strconv.Itoa(len(c.Times))}, l.names...)
		if len(c.Times) > 0 {
			parts = append(parts, c.Times[0].String())
		}
		values := make([][]float64, len(c.Series))
		for i, s := range c.Series {
			values[i] = s.Values
		}
		l.id = hashID("chart-", parts, values...)
	}
	return l
}

func (l *line) x(t float64) float64 {
	if !(l.t1 > l.t0) {
		return (l.f.x0 + l.f.x1) / 2
	}
	return l.f.x0 + (t-l.t0)/(l.t1-l.t0)*(l.f.x1-l.f.x0)
}

func (l *line) y(v float64) float64 {
	v = clamp(v, l.lo, l.hi)
	return l.f.y1 - (v-l.lo)/(l.hi-l.lo)*(l.f.y1-l.f.y0)
}

// value is series s's value at bucket i, NaN past its end.
func value(s Series, i int) float64 {
	if i < len(s.Values) {
		return s.Values[i]
	}
	return math.NaN()
}

// Line renders c as a line chart: a <figure class="chart"> holding a caption with the
// title and legend, an inline SVG (gridlines at round values, time labels in UTC, one
// path per series with gaps at NaN, a dot for a lone value), and a collapsed data
// table. Text is escaped; the result is safe to put in any html/template page.
func Line(c Chart) template.HTML {
	l := layoutLine(c)
	// About 100 bytes a table row, 30 a value (15 in the table, 15 in a path).
	b := make([]byte, 0, 2048+len(c.Times)*(100+30*len(c.Series)))
	b = append(b, `<figure class="chart" id="`...)
	b = append(b, l.id...)
	b = append(b, `"><figcaption class="chart-caption"><span class="chart-title">`...)
	b = appendText(b, l.title)
	b = append(b, "</span>"...)
	b = appendLegend(b, `class="chart-legend"`, l.names, nil)
	b = append(b, "</figcaption>"...)
	b = l.f.appendSVGStart(b, l.id, l.title, l.appendDesc)
	if l.points == 0 {
		b = l.f.appendMessage(b, NoData)
	} else {
		b = l.appendAxes(b)
		b = l.appendSeries(b)
	}
	b = append(b, "</svg>"...)
	b = l.appendTable(b)
	b = append(b, "</figure>"...)
	return template.HTML(b)
}

// appendDesc describes the chart in words: the period, and each series' range and last
// value.
func (l *line) appendDesc(b []byte) []byte {
	if l.points == 0 {
		return appendText(b, NoData+".")
	}
	b = append(b, "Line chart of "...)
	b = appendInt(b, len(l.c.Series))
	b = append(b, " series from "...)
	b = unixTime(l.t0).AppendFormat(b, "2006-01-02 15:04")
	b = append(b, " to "...)
	b = unixTime(l.t1).AppendFormat(b, "2006-01-02 15:04")
	b = append(b, " UTC"...)
	if l.c.Unit != "" {
		b = append(b, ", values in "...)
		b = appendText(b, l.c.Unit)
	}
	b = append(b, '.')
	for i, s := range l.c.Series {
		lo, hi, last, seen := math.Inf(1), math.Inf(-1), math.NaN(), false
		for j := range min(len(s.Values), len(l.c.Times)) {
			if v := s.Values[j]; finite(v) {
				lo, hi, last, seen = min(lo, v), max(hi, v), v, true
			}
		}
		b = append(b, ' ')
		b = appendText(b, l.names[i])
		if !seen {
			b = append(b, ": no data."...)
			continue
		}
		b = append(b, ": from "...)
		b = append(b, formatCompact(lo)...)
		b = append(b, " to "...)
		b = append(b, formatCompact(hi)...)
		b = append(b, ", last "...)
		b = append(b, formatCompact(last)...)
		b = append(b, '.')
	}
	return b
}

// appendAxes draws the gridlines with their value labels and the time labels.
func (l *line) appendAxes(b []byte) []byte {
	fracs := make([]float64, len(l.ticks))
	labels := make([]string, len(l.ticks))
	zero := -1
	for i, t := range l.ticks {
		fracs[i] = (clamp(t, l.lo, l.hi) - l.lo) / (l.hi - l.lo)
		labels[i] = formatTick(t, l.step)
		if math.Abs(t) < l.step/2 {
			zero = i
		}
	}
	b = l.f.appendGrid(b, fracs, zero)
	b = l.f.appendYLabels(b, fracs, labels, l.c.Unit, false)
	if len(l.at) == 0 {
		return b
	}
	ticks := timeTicks(l.t0, l.t1, max(2, int(l.f.x1-l.f.x0)/70))
	xs := make([]float64, len(ticks))
	texts := make([]string, len(ticks))
	for i, t := range ticks {
		xs[i], texts[i] = l.x(t.at), t.label
	}
	return l.f.appendXLabels(b, xs, texts)
}

// appendSeries draws one path per series, a subpath per run of values between gaps,
// and a dot for each value that has no neighbour to join.
func (l *line) appendSeries(b []byte) []byte {
	b = appendPlotStart(b)
	n := len(l.c.Times)
	for si, s := range l.c.Series {
		b = append(b, `<path class="chart-line `...)
		b = appendSeriesClass(b, si)
		b = append(b, `" d="`...)
		lone := 0 // values alone between gaps, drawn as dots after the path
		for i := 0; i < n; {
			if !finite(value(s, i)) {
				i++
				continue
			}
			j := i // the run of values is i … j
			for j+1 < n && finite(value(s, j+1)) {
				j++
			}
			if j == i {
				lone++
				i++
				continue
			}
			b = append(b, 'M')
			b = l.appendPoint(b, i, value(s, i))
			b = append(b, 'L') // and the rest are implicit line-tos: "M1 2L3 4 5 6"
			for k := i + 1; k <= j; k++ {
				if k > i+1 {
					b = append(b, ' ')
				}
				b = l.appendPoint(b, k, value(s, k))
			}
			i = j + 1
		}
		b = append(b, `"/>`...)
		for i := 0; lone > 0 && i < n; i++ {
			if v := value(s, i); finite(v) && (i == 0 || !finite(value(s, i-1))) && (i+1 >= n || !finite(value(s, i+1))) {
				b = append(b, `<circle class="chart-dot `...)
				b = appendSeriesClass(b, si)
				b = append(b, `" fill="currentColor" stroke="none" cx="`...)
				b = appendCoord(b, l.x(l.at[i]))
				b = append(b, `" cy="`...)
				b = appendCoord(b, l.y(v))
				b = append(b, `" r="`...)
				b = appendInt(b, dotRadius)
				b = append(b, `"/>`...)
			}
		}
	}
	return append(b, "</g>"...)
}

func (l *line) appendPoint(b []byte, i int, v float64) []byte {
	b = appendCoord(b, l.x(l.at[i]))
	b = append(b, ' ')
	return appendCoord(b, l.y(v))
}

// appendTable writes the data as a table in a closed <details>: what a screen reader
// user (or anyone wanting exact numbers) reads instead of the drawing.
func (l *line) appendTable(b []byte) []byte {
	if len(l.c.Times) == 0 || len(l.c.Series) == 0 {
		return b
	}
	layout := "2006-01-02 15:04"
	for _, t := range l.c.Times {
		if t.Second() != 0 {
			layout = "2006-01-02 15:04:05"
			break
		}
	}
	b = append(b, `<details class="chart-data"><summary>Data table</summary><table><thead><tr><th scope="col">Time (UTC)</th>`...)
	for i := range l.c.Series {
		b = append(b, `<th scope="col">`...)
		b = appendText(b, l.names[i])
		if l.c.Unit != "" {
			b = append(b, " ("...)
			b = appendText(b, l.c.Unit)
			b = append(b, ')')
		}
		b = append(b, "</th>"...)
	}
	b = append(b, "</tr></thead><tbody>"...)
	for i, t := range l.c.Times {
		t = t.UTC()
		b = append(b, `<tr><th scope="row"><time datetime="`...)
		b = t.AppendFormat(b, time.RFC3339) // digits and -:TZ only: nothing to escape
		b = append(b, `">`...)
		b = t.AppendFormat(b, layout)
		b = append(b, "</time></th>"...)
		for _, s := range l.c.Series {
			b = append(b, "<td>"...)
			b = appendExact(b, value(s, i))
			b = append(b, "</td>"...)
		}
		b = append(b, "</tr>"...)
	}
	return append(b, "</tbody></table></details>"...)
}
