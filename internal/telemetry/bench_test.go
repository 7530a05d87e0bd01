package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// BenchmarkMetricsSinkConsume reports the cost per event of a realistic mix (proxied
// requests, a cache hit, a rejection) once the series exist.
func BenchmarkMetricsSinkConsume(b *testing.B) {
	sink := NewMetricsSink(NewRegistry())
	batch := make([]analytics.Event, 0, 256)
	for i := range 256 {
		e := analytics.Event{Kind: analytics.KindRequest, Time: t0, API: "orders", Route: "list", Method: "GET", Status: 200,
			Latency: time.Duration(i) * 100 * time.Microsecond, UpstreamLatency: time.Duration(i) * 90 * time.Microsecond,
			BytesIn: 100, BytesOut: 2000}
		switch i % 8 {
		case 1:
			e.API, e.Route = "payments", "charge"
		case 2:
			e.Cache = "HIT"
		case 3:
			e.Status, e.RejectedBy, e.RejectCode, e.UpstreamLatency = 429, "rate_limit", "rate_limited", 0
		}
		batch = append(batch, e)
	}
	sink.Consume(batch)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink.Consume(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}

func BenchmarkTracerStartEnd(b *testing.B) {
	tr := NewTracer(TracerOptions{})
	r := httptest.NewRequest("GET", "/orders", nil)
	out := http.Header{}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sp := tr.Start(r, out)
			sp.End(200, String(AttrAPI, "orders"), String(AttrRoute, "list"))
		}
	})
	r2 := httptest.NewRequest("GET", "/orders", nil)
	r2.Header.Set("Traceparent", validTP)
	r2.Header.Set("Tracestate", "congo=t61rcWkgMzE")
	b.Run("continue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sp := tr.Start(r2, out)
			sp.End(200, String(AttrAPI, "orders"), String(AttrRoute, "list"))
		}
	})
	exp, err := NewExporter(ExporterOptions{URL: "http://127.0.0.1:1", QueueSize: 16, MaxAttempts: 1, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer exp.Close(b.Context())
	trs := NewTracer(TracerOptions{SampleRatio: 1, Exporter: exp})
	b.Run("sampled", func(b *testing.B) { // the queue is full almost at once: measures recording and the drop
		b.ReportAllocs()
		for b.Loop() {
			sp := trs.Start(r2, out)
			sp.End(200, String(AttrAPI, "orders"), String(AttrRoute, "list"))
		}
	})
}

func BenchmarkTraceparent(b *testing.B) {
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := ParseTraceparent(validTP); !ok {
				b.Fatal()
			}
		}
	})
	tc, _ := ParseTraceparent(validTP)
	buf := make([]byte, 0, 64)
	b.Run("child+append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = tc.Child().AppendFormat(buf[:0])
		}
	})
}

func BenchmarkAccessLog(b *testing.B) {
	s := NewAccessLogSink(io.Discard)
	batch := []analytics.Event{{Kind: analytics.KindRequest, Time: t0, API: "orders", Route: "list", Method: "GET", Status: 200,
		App: "shop", KeyID: "k1", Plan: "gold", ClientIP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		Latency: 12 * time.Millisecond, UpstreamLatency: 10 * time.Millisecond, BytesOut: 1234, TraceID: traceHex}}
	b.ReportAllocs()
	for b.Loop() {
		s.Consume(batch)
	}
}

func BenchmarkScrape(b *testing.B) {
	reg := NewRegistry()
	sink := NewMetricsSink(reg)
	batch := make([]analytics.Event, 0, 1000)
	for i := range 1000 {
		batch = append(batch, analytics.Event{Kind: analytics.KindRequest, API: "api" + string(rune('a'+i%20)), Route: "r" + string(rune('a'+i%10)),
			Method: "GET", Status: 200 + i%5*100, Latency: time.Millisecond, UpstreamLatency: time.Millisecond})
	}
	sink.Consume(batch)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = reg.WriteTo(io.Discard)
	}
}
