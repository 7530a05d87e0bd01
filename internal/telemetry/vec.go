package telemetry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// maxLabels bounds the label names of one metric: label values are looked up as a fixed
// array, which costs no allocation.
const maxLabels = 6

// DefaultSeriesLimit caps the distinct label sets of one metric. Past it, new label sets
// are folded into one series whose every label value is OverflowLabelValue, and the folds
// are counted in gatehouse_telemetry_series_overflow_total{metric}.
const DefaultSeriesLimit = 10000

// OverflowLabelValue is the label value of the series that absorbs label sets over the cap.
const OverflowLabelValue = "other"

type labelKey [maxLabels]string

// vec is a metric with labels: one series of T per label set.
type vec[T any] struct {
	name, help, typ string
	labels          []string
	limit           int
	init            func(*T)

	mu     sync.RWMutex
	series map[labelKey]*T
	other  atomic.Pointer[T]
	folds  atomic.Uint64
}

func newVec[T any](name, help, typ string, limit int, labels []string, init func(*T)) *vec[T] {
	if !validMetricName(name) {
		panic(fmt.Sprintf("telemetry: invalid metric name %q", name))
	}
	if len(labels) > maxLabels {
		panic(fmt.Sprintf("telemetry: metric %s has %d labels; at most %d", name, len(labels), maxLabels))
	}
	for i, l := range labels {
		if !validLabelName(l) || l == "le" || l == "quantile" || slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("telemetry: metric %s: invalid or repeated label name %q", name, l))
		}
	}
	if limit <= 0 {
		limit = DefaultSeriesLimit
	}
	return &vec[T]{name: name, help: help, typ: typ, labels: slices.Clone(labels), limit: limit, init: init, series: make(map[labelKey]*T)}
}

// with returns the series for values, creating it (or folding into the overflow series).
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("telemetry: metric %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	var k labelKey
	for i, s := range values {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		k[i] = s
	}
	v.mu.RLock()
	m, n := v.series[k], len(v.series)
	v.mu.RUnlock()
	if m != nil {
		return m
	}
	if n >= v.limit {
		return v.overflow()
	}
	v.mu.Lock()
	if m = v.series[k]; m != nil {
		v.mu.Unlock()
		return m
	}
	if len(v.series) >= v.limit {
		v.mu.Unlock()
		return v.overflow()
	}
	for i := range values {
		k[i] = strings.Clone(k[i]) // do not pin the caller's memory
	}
	m = new(T)
	if v.init != nil {
		v.init(m)
	}
	v.series[k] = m
	v.mu.Unlock()
	return m
}

// overflow counts a fold and returns the series of OverflowLabelValue, which lives in the
// map (over the limit) so that it cannot duplicate a real series with the same values.
func (v *vec[T]) overflow() *T {
	v.folds.Add(1)
	if m := v.other.Load(); m != nil {
		return m
	}
	var k labelKey
	for i := range v.labels {
		k[i] = OverflowLabelValue
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.series[k]
	if m == nil {
		m = new(T)
		if v.init != nil {
			v.init(m)
		}
		v.series[k] = m
	}
	v.other.Store(m)
	return m
}

type entry[T any] struct {
	key labelKey
	m   *T
}

// snapshot returns the series sorted by label values.
func (v *vec[T]) snapshot() []entry[T] {
	v.mu.RLock()
	out := make([]entry[T], 0, len(v.series))
	for k, m := range v.series {
		out = append(out, entry[T]{k, m})
	}
	v.mu.RUnlock()
	n := len(v.labels)
	slices.SortFunc(out, func(a, b entry[T]) int { return slices.Compare(a.key[:n], b.key[:n]) })
	return out
}

// Len reports how many series the metric has.
func (v *vec[T]) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.series)
}

// Folds reports how many label sets were folded into the overflow series.
func (v *vec[T]) Folds() uint64 { return v.folds.Load() }

// appendSeriesName appends name{l1="v1",...,extra="value"} (no braces when empty).
func appendSeriesName(b []byte, name string, labels []string, key *labelKey, extraName, extraValue string) []byte {
	b = append(b, name...)
	if len(labels) == 0 && extraName == "" {
		return b
	}
	b = append(b, '{')
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, key[i])
		b = append(b, '"')
	}
	if extraName != "" {
		if len(labels) > 0 {
			b = append(b, ',')
		}
		b = append(b, extraName...)
		b = append(b, '=', '"')
		b = append(b, extraValue...)
		b = append(b, '"')
	}
	return append(b, '}')
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (v *vec[T]) metricName() string { return v.name }
func (v *vec[T]) labelCount() int    { return len(v.labels) }

// collectValues writes the series of a one-value metric (a counter or a gauge).
func collectValues[T any, PT interface {
	*T
	Value() float64
}](w *Writer, v *vec[T]) {
	f := w.family(v.name)
	f.typ, f.help = v.typ, escapeHelp(v.help)
	for _, e := range v.snapshot() {
		f.body = appendSeriesName(f.body, v.name, v.labels, &e.key, "", "")
		f.body = append(f.body, ' ')
		f.body = appendFloat(f.body, PT(e.m).Value())
		f.body = append(f.body, '\n')
	}
}
