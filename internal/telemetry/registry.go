package telemetry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Collector contributes samples at scrape time: it runs once per scrape, possibly
// concurrently with other scrapes, and should be quick.
type Collector func(w *Writer)

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

type metricBase interface {
	metricName() string
	labelCount() int
	Folds() uint64
}

type metric interface {
	collect(w *Writer)
	base() metricBase
}

// Registry holds metrics and collectors and writes them in the Prometheus text format.
// All methods are safe for concurrent use.
type Registry struct {
	mu         sync.RWMutex
	limit      int
	names      map[string]bool
	metrics    []metric
	collectors []Collector
	bufs       sync.Pool
}

// NewRegistry returns an empty registry with DefaultSeriesLimit.
func NewRegistry() *Registry {
	return &Registry{limit: DefaultSeriesLimit, names: make(map[string]bool)}
}

// SetSeriesLimit sets the cap on distinct label sets per metric for metrics created
// afterwards (n <= 0 restores DefaultSeriesLimit).
func (r *Registry) SetSeriesLimit(n int) {
	if n <= 0 {
		n = DefaultSeriesLimit
	}
	r.mu.Lock()
	r.limit = n
	r.mu.Unlock()
}

func (r *Registry) add(name string, mk func(limit int) metric) metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic(fmt.Sprintf("telemetry: metric %s registered twice", name))
	}
	m := mk(r.limit)
	r.names[name] = true
	r.metrics = append(r.metrics, m)
	return m
}

// NewCounterVec registers a counter with the given label names (none for a single
// series: use With()). It panics on an invalid or duplicate name, as registration is a
// programming error.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	return r.add(name, func(limit int) metric {
		return &CounterVec{newVec[Counter](name, help, "counter", limit, labels, nil)}
	}).(*CounterVec)
}

// NewGaugeVec registers a gauge with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	return r.add(name, func(limit int) metric {
		return &GaugeVec{newVec[Gauge](name, help, "gauge", limit, labels, nil)}
	}).(*GaugeVec)
}

// NewHistogramVec registers a histogram with the given bucket upper bounds in seconds
// (nil: LatencyBuckets) and label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return r.add(name, func(limit int) metric {
		return newHistogramVec(name, help, limit, buckets, labels)
	}).(*HistogramVec)
}

// Register adds a collector, run at every scrape after the registry's own metrics.
func (r *Registry) Register(c Collector) {
	if c == nil {
		return
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

// WriteTo writes every metric and collector's samples in the text format, families
// sorted by name.
func (r *Registry) WriteTo(out io.Writer) (int64, error) {
	b := r.render()
	n, err := out.Write(b.Bytes())
	r.bufs.Put(b)
	return int64(n), err
}

func (r *Registry) render() *bytes.Buffer {
	r.mu.RLock()
	metrics, collectors := r.metrics, r.collectors
	r.mu.RUnlock()
	w := newWriter()
	for _, m := range metrics {
		m.collect(w)
	}
	w.Family("gatehouse_telemetry_series_overflow_total", "counter",
		"Label sets folded into the \"other\" series because a metric reached its series cap.")
	for _, m := range metrics {
		if b := m.base(); b.labelCount() > 0 {
			w.Sample("gatehouse_telemetry_series_overflow_total", float64(b.Folds()), "metric", b.metricName())
		}
	}
	for _, c := range collectors {
		c(w)
	}
	b, _ := r.bufs.Get().(*bytes.Buffer)
	if b == nil {
		b = new(bytes.Buffer)
	}
	b.Reset()
	w.flush(b)
	return b
}

// Handler serves the registry at GET (and HEAD) /metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b := r.render()
		defer r.bufs.Put(b)
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Set("Cache-Control", "no-store")
		if req.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b.Bytes())
	})
}
