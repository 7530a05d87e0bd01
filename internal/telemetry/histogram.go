package telemetry

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the request latency histograms:
// 0.5ms to 30s.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram is one series of a histogram with fixed bucket upper bounds. Observations are
// atomic; a scrape may see an observation in _count and not yet in _sum, never the
// buckets and _count disagreeing (the count is the buckets' total).
type Histogram struct {
	upper  []float64       // shared by the vec's series
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // first bound >= v: buckets are "le"
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count and Sum report the totals.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sum.Load()) }

// HistogramVec is a histogram with labels.
type HistogramVec struct {
	v   *vec[Histogram]
	les []string // formatted upper bounds, then "+Inf"
}

func newHistogramVec(name, help string, limit int, buckets []float64, labels []string) *HistogramVec {
	if len(buckets) == 0 {
		buckets = LatencyBuckets
	}
	upper := slices.Clone(buckets)
	for i, b := range upper {
		if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && b <= upper[i-1] {
			panic(fmt.Sprintf("telemetry: histogram %s: buckets must be finite and increasing", name))
		}
	}
	les := make([]string, 0, len(upper)+1)
	for _, b := range upper {
		les = append(les, strconv.FormatFloat(b, 'g', -1, 64))
	}
	les = append(les, "+Inf")
	init := func(h *Histogram) {
		h.upper = upper
		h.counts = make([]atomic.Uint64, len(upper)+1)
	}
	return &HistogramVec{v: newVec(name, help, "histogram", limit, labels, init), les: les}
}

// With returns the series for the label values, in the order the labels were declared.
func (h *HistogramVec) With(values ...string) *Histogram { return h.v.with(values) }

// Len reports the number of series; Folds how many label sets went over the cap.
func (h *HistogramVec) Len() int      { return h.v.Len() }
func (h *HistogramVec) Folds() uint64 { return h.v.Folds() }

func (h *HistogramVec) collect(w *Writer) {
	v := h.v
	f := w.family(v.name)
	f.typ, f.help = v.typ, escapeHelp(v.help)
	b := f.body
	for _, e := range v.snapshot() {
		var cum uint64
		for i := range e.m.counts {
			cum += e.m.counts[i].Load()
			b = appendSeriesName(b, v.name+"_bucket", v.labels, &e.key, "le", h.les[i])
			b = append(b, ' ')
			b = strconv.AppendUint(b, cum, 10)
			b = append(b, '\n')
		}
		b = appendSeriesName(b, v.name+"_sum", v.labels, &e.key, "", "")
		b = append(b, ' ')
		b = appendFloat(b, e.m.Sum())
		b = append(b, '\n')
		b = appendSeriesName(b, v.name+"_count", v.labels, &e.key, "", "")
		b = append(b, ' ')
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
	}
	f.body = b
}

func (h *HistogramVec) base() metricBase { return h.v }
