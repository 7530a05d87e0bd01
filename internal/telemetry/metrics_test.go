package telemetry

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// parse runs the real Prometheus text parser over an exposition.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("prometheus parser: %v\n%s", err, text)
	}
	return fams
}

// scrape GETs /metrics from reg's handler over a real listener on 127.0.0.1.
func scrape(t *testing.T, reg *Registry) []byte {
	t.Helper()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Fatalf("Content-Type %q", ct)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// find returns the metric of family name whose labels are exactly labels (pairs).
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		t.Fatalf("family %s missing", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		if labels[i+1] != "" {
			want[labels[i]] = labels[i+1]
		}
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" { // the parser keeps empty values; Prometheus drops them
				got[lp.GetName()] = lp.GetValue()
			}
		}
		if len(got) != len(want) {
			continue
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("%s%v not found among %d series", name, labels, len(mf.GetMetric()))
	return nil
}

func bucketCounts(h *dto.Histogram) map[float64]uint64 {
	out := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		out[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return out
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)

func knownEvents() []analytics.Event {
	return []analytics.Event{
		{Kind: analytics.KindRequest, Time: t0, API: "orders", Route: "list", Method: "GET", Status: 200,
			Latency: 3 * time.Millisecond, UpstreamLatency: 2 * time.Millisecond, BytesIn: 10, BytesOut: 100, Cache: "MISS"},
		{Kind: analytics.KindRequest, Time: t0, API: "orders", Route: "list", Method: "GET", Status: 200,
			Latency: 20 * time.Millisecond, UpstreamLatency: 15 * time.Millisecond, BytesOut: 50, Cache: "HIT"},
		{Kind: analytics.KindRequest, Time: t0, API: "orders", Route: "create", Method: "POST", Status: 429,
			Latency: 400 * time.Microsecond, RejectedBy: "rate_limit", RejectCode: "rate_limited"},
		{Kind: analytics.KindRequest, Time: t0, API: "payments", Method: "BREW", Status: 503, Latency: 40 * time.Second},
		// hostile names: quotes, backslash, newline and invalid UTF-8 must not break the scrape
		{Kind: analytics.KindRequest, Time: t0, API: "we\"ird\\api\nx", Route: "r\xff\xfe", Method: "GET", Status: 0},
		{Kind: analytics.KindMessage, Time: t0, API: "feed", BytesOut: 7},
		{Kind: analytics.KindMessage, Time: t0, API: "feed", BytesOut: 5},
		{Kind: analytics.KindConnection, Time: t0, API: "feed", Latency: 90 * time.Second},
	}
}

// realtimeText is what realtime.Node.WriteMetrics writes (an excerpt, same shape).
const realtimeText = `# HELP gatehouse_realtime_broker_subscribers Live broker subscriptions on this node (one per channel with local subscribers).
# TYPE gatehouse_realtime_broker_subscribers gauge
gatehouse_realtime_broker_subscribers 3
# HELP gatehouse_realtime_connections Held realtime connections per API and app.
# TYPE gatehouse_realtime_connections gauge
gatehouse_realtime_connections{api="feed",app="a\"b"} 2
`

func TestMetricsSinkExposition(t *testing.T) {
	reg := NewRegistry()
	sink := NewMetricsSink(reg)
	sink.Consume(knownEvents())
	reg.Register(func(w *Writer) {
		// written in odd pieces, like fmt.Fprintf calls
		for chunk := range slices.Chunk([]byte(realtimeText), 17) {
			_, _ = w.Write(chunk)
		}
	})
	reg.Register(AnalyticsCollector(func() uint64 { return 8 }, func() uint64 { return 2 }))
	reg.Register(UpstreamHealthCollector(func() []TargetHealth {
		return []TargetHealth{{API: "orders", Target: "http://10.0.0.1:80", Healthy: true}, {API: "orders", Target: "http://10.0.0.2:80"}}
	}))
	reg.Register(LimiterCollector(func() bool { return true }))

	text := scrape(t, reg)
	fams := parse(t, text)

	counter := func(name string, want float64, labels ...string) {
		t.Helper()
		if got := find(t, fams, name, labels...).GetCounter().GetValue(); got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	gauge := func(name string, want float64, labels ...string) {
		t.Helper()
		if got := find(t, fams, name, labels...).GetGauge().GetValue(); got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	counter("gatehouse_http_requests_total", 2, "api", "orders", "route", "list", "method", "GET", "status", "200")
	counter("gatehouse_http_requests_total", 1, "api", "orders", "route", "create", "method", "POST", "status", "429")
	counter("gatehouse_http_requests_total", 1, "api", "payments", "method", "other", "status", "503")
	counter("gatehouse_http_requests_total", 1, "api", "we\"ird\\api\nx", "route", "r\uFFFD", "method", "GET", "status", "0")
	if n := len(fams["gatehouse_http_requests_total"].GetMetric()); n != 4 {
		t.Errorf("%d request series, want 4", n)
	}

	h := find(t, fams, "gatehouse_http_request_duration_seconds", "api", "orders", "route", "list", "status_class", "2xx").GetHistogram()
	if h.GetSampleCount() != 2 || !approx(h.GetSampleSum(), 0.023) {
		t.Errorf("orders/list histogram count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	bc := bucketCounts(h)
	for le, want := range map[float64]uint64{0.0005: 0, 0.0025: 0, 0.005: 1, 0.01: 1, 0.025: 2, 30: 2, math.Inf(1): 2} {
		if bc[le] != want {
			t.Errorf("orders/list bucket le=%v: %d, want %d", le, bc[le], want)
		}
	}
	if len(h.GetBucket()) != len(LatencyBuckets)+1 {
		t.Errorf("%d buckets, want %d", len(h.GetBucket()), len(LatencyBuckets)+1)
	}
	h = find(t, fams, "gatehouse_http_request_duration_seconds", "api", "orders", "route", "create", "status_class", "4xx").GetHistogram()
	if bc := bucketCounts(h); bc[0.0005] != 1 || h.GetSampleCount() != 1 {
		t.Errorf("orders/create: %v", bc)
	}
	h = find(t, fams, "gatehouse_http_request_duration_seconds", "api", "payments", "status_class", "5xx").GetHistogram()
	if bc := bucketCounts(h); bc[30] != 0 || bc[math.Inf(1)] != 1 || h.GetSampleSum() != 40 {
		t.Errorf("payments: %v sum %v", bc, h.GetSampleSum())
	}
	find(t, fams, "gatehouse_http_request_duration_seconds", "api", "we\"ird\\api\nx", "route", "r\uFFFD", "status_class", "none")

	h = find(t, fams, "gatehouse_http_upstream_duration_seconds", "api", "orders").GetHistogram()
	if h.GetSampleCount() != 2 || !approx(h.GetSampleSum(), 0.017) {
		t.Errorf("upstream count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := len(fams["gatehouse_http_upstream_duration_seconds"].GetMetric()); n != 1 {
		t.Errorf("%d upstream series; unproxied requests must not count", n)
	}
	counter("gatehouse_http_request_bytes_total", 10, "api", "orders")
	counter("gatehouse_http_response_bytes_total", 150, "api", "orders")
	counter("gatehouse_policy_rejections_total", 1, "api", "orders", "policy", "rate_limit", "code", "rate_limited")
	counter("gatehouse_cache_results_total", 1, "api", "orders", "result", "HIT")
	counter("gatehouse_cache_results_total", 1, "api", "orders", "result", "MISS")
	counter("gatehouse_realtime_messages_delivered_total", 2, "api", "feed")
	counter("gatehouse_realtime_message_bytes_total", 12, "api", "feed")
	if h := find(t, fams, "gatehouse_realtime_connection_duration_seconds", "api", "feed").GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 90 {
		t.Errorf("connection histogram %v", h)
	}
	counter("gatehouse_telemetry_series_overflow_total", 0, "metric", "gatehouse_http_requests_total")

	gauge("gatehouse_realtime_broker_subscribers", 3)
	gauge("gatehouse_realtime_connections", 2, "api", "feed", "app", "a\"b")
	counter("gatehouse_analytics_events_recorded_total", 8)
	counter("gatehouse_analytics_events_dropped_total", 2)
	gauge("gatehouse_upstream_target_healthy", 1, "api", "orders", "target", "http://10.0.0.1:80")
	gauge("gatehouse_upstream_target_healthy", 0, "api", "orders", "target", "http://10.0.0.2:80")
	gauge("gatehouse_limiter_degraded", 1)

	for name, typ := range map[string]dto.MetricType{
		"gatehouse_http_requests_total":           dto.MetricType_COUNTER,
		"gatehouse_http_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"gatehouse_realtime_broker_subscribers":   dto.MetricType_GAUGE,
		"gatehouse_limiter_degraded":              dto.MetricType_GAUGE,
	} {
		if got := fams[name].GetType(); got != typ {
			t.Errorf("%s type %v, want %v", name, got, typ)
		}
	}

	// Families come out sorted by name, each declared once.
	var names []string
	for _, line := range strings.Split(string(text), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted or repeated: %v", names)
	}
}

func TestHistogramBuckets(t *testing.T) {
	reg := NewRegistry()
	h := reg.NewHistogramVec("test_seconds", "Test.", []float64{0.001, 0.01, 0.1})
	s := h.With()
	for _, v := range []float64{0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.2, 1000} {
		s.Observe(v)
	}
	var buf bytes.Buffer
	if _, err := reg.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want := `# HELP test_seconds Test.
# TYPE test_seconds histogram
test_seconds_bucket{le="0.001"} 3
test_seconds_bucket{le="0.01"} 5
test_seconds_bucket{le="0.1"} 7
test_seconds_bucket{le="+Inf"} 9
test_seconds_sum 1000.3626
test_seconds_count 9
`
	if got := buf.String(); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
	parse(t, buf.Bytes())
}

func TestSeriesCap(t *testing.T) {
	reg := NewRegistry()
	reg.SetSeriesLimit(3)
	c := reg.NewCounterVec("test_total", "Test.", "id", "kind")
	g := reg.NewGaugeVec("test_gauge", "Test.", "id")
	c.With("other", "other").Add(100) // a real series that happens to be called "other"
	for i := range 10 {
		c.With(fmt.Sprint("id", i), "x").Inc()
		g.With(fmt.Sprint(i)).Set(float64(i))
	}
	if c.Len() != 3 || c.Folds() != 8 {
		t.Errorf("counter: %d series, %d folds; want 3 (the cap) and 8", c.Len(), c.Folds())
	}
	if g.Len() != 4 || g.Folds() != 7 {
		t.Errorf("gauge: %d series, %d folds; want 4 (cap + other) and 7", g.Len(), g.Folds())
	}
	fams := parse(t, scrape(t, reg))
	if v := find(t, fams, "test_total", "id", "other", "kind", "other").GetCounter().GetValue(); v != 108 {
		t.Errorf("other = %v, want 100 + 8 folds", v)
	}
	if v := find(t, fams, "test_gauge", "id", "other").GetGauge().GetValue(); v != 9 {
		t.Errorf("gauge other = %v, want the last set (9)", v)
	}
	if v := find(t, fams, "gatehouse_telemetry_series_overflow_total", "metric", "test_total").GetCounter().GetValue(); v != 8 {
		t.Errorf("overflow_total = %v", v)
	}
	// Existing series keep updating past the cap.
	c.With("id0", "x").Inc()
	if v := c.With("id0", "x").Value(); v != 2 {
		t.Errorf("id0 = %v", v)
	}
}

func TestWriterMergesAndEscapes(t *testing.T) {
	var b bytes.Buffer
	err := WriteText(&b, func(w *Writer) {
		w.Family("b_total", "counter", "Help with \\ and\nnewline.")
		w.Sample("b_total", 1, "l", "q\"\\\n\xff")
		_, _ = io.WriteString(w, "# HELP a_gauge A.\n# TYPE a_gauge gauge\na_gauge{x=\"1\"} 1\n")
		w.Family("a_gauge", "gauge", "ignored, first help wins")
		w.Sample("a_gauge", math.Inf(1), "x", "2")
		_, _ = io.WriteString(w, "c_untyped 3") // no trailing newline
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "# HELP a_gauge A.\n# TYPE a_gauge gauge\na_gauge{x=\"1\"} 1\na_gauge{x=\"2\"} +Inf\n" +
		"# HELP b_total Help with \\\\ and\\nnewline.\n# TYPE b_total counter\nb_total{l=\"q\\\"\\\\\\n\uFFFD\"} 1\n" +
		"c_untyped 3\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	fams := parse(t, b.Bytes())
	if v := find(t, fams, "b_total", "l", "q\"\\\n\uFFFD").GetCounter().GetValue(); v != 1 {
		t.Errorf("b_total %v", v)
	}
	if fams["b_total"].GetHelp() != "Help with \\ and\nnewline." {
		t.Errorf("help %q", fams["b_total"].GetHelp())
	}
}

func TestRegistryPanicsOnMisuse(t *testing.T) {
	for name, f := range map[string]func(r *Registry){
		"duplicate":     func(r *Registry) { r.NewCounterVec("x_total", ""); r.NewGaugeVec("x_total", "") },
		"bad name":      func(r *Registry) { r.NewCounterVec("1x", "") },
		"bad label":     func(r *Registry) { r.NewCounterVec("x", "", "a-b") },
		"le label":      func(r *Registry) { r.NewHistogramVec("x", "", nil, "le") },
		"repeated":      func(r *Registry) { r.NewCounterVec("x", "", "a", "a") },
		"too many":      func(r *Registry) { r.NewCounterVec("x", "", "a", "b", "c", "d", "e", "f", "g") },
		"wrong arity":   func(r *Registry) { r.NewCounterVec("x", "", "a").With("1", "2") },
		"bad buckets":   func(r *Registry) { r.NewHistogramVec("x", "", []float64{1, 1}) },
		"infinite le":   func(r *Registry) { r.NewHistogramVec("x", "", []float64{1, math.Inf(1)}) },
		"reserved name": func(r *Registry) { r.NewCounterVec("x", "", "__a") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f(NewRegistry())
		})
	}
}

func TestHandlerMethods(t *testing.T) {
	h := NewRegistry().Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/metrics", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != ContentType {
		t.Errorf("HEAD: %d %q", rec.Code, rec.Body.String())
	}
}

// TestConcurrentUpdatesAndScrapes is for the race detector.
func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	reg := NewRegistry()
	sink := NewMetricsSink(reg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			batch := knownEvents()
			for i := range 200 {
				batch[0].Route = fmt.Sprint("r", (g*1000+i)%50)
				sink.Consume(batch)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			var b bytes.Buffer
			_, _ = reg.WriteTo(&b)
			parse(t, b.Bytes())
		}
	})
	wg.Wait()
	fams := parse(t, scrape(t, reg))
	if v := find(t, fams, "gatehouse_http_requests_total", "api", "orders", "route", "create", "method", "POST", "status", "429").GetCounter().GetValue(); v != 800 {
		t.Errorf("got %v, want 800", v)
	}
}

// FuzzLabelValues checks that any label value, however hostile, leaves the scrape
// parseable and reads back as its UTF-8-sanitised self.
func FuzzLabelValues(f *testing.F) {
	f.Add("orders", "GET")
	f.Add("a\"b\\c\nd", "\xff\xfe")
	f.Add("} 1\nevil_total 99\n#", "\\n")
	f.Fuzz(func(t *testing.T, api, route string) {
		reg := NewRegistry()
		reg.NewCounterVec("fuzz_total", "Fuzz.", "api", "route").With(api, route).Add(3)
		reg.Register(func(w *Writer) {
			w.Family("fuzz_gauge", "gauge", api)
			w.Sample("fuzz_gauge", 1, "api", api)
		})
		var b bytes.Buffer
		if _, err := reg.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, b.Bytes())
		if len(fams) != 3 {
			t.Fatalf("%d families:\n%s", len(fams), b.Bytes())
		}
		m := fams["fuzz_total"].GetMetric()
		if len(m) != 1 || m[0].GetCounter().GetValue() != 3 {
			t.Fatalf("fuzz_total %v", m)
		}
		want := map[string]string{"api": strings.ToValidUTF8(api, "\uFFFD"), "route": strings.ToValidUTF8(route, "\uFFFD")}
		for _, lp := range m[0].GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				t.Fatalf("label %s = %q, want %q", lp.GetName(), lp.GetValue(), want[lp.GetName()])
			}
		}
	})
}
