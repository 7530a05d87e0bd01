// Package telemetry is Gatehouse's standard telemetry: a small Prometheus registry and
// text exposition for /metrics, an analytics.Sink that turns request events into metrics,
// W3C Trace Context propagation with optional OTLP/HTTP JSON export of server spans, and
// a JSON access log sink.
//
// Nothing here depends on the Prometheus client or the OpenTelemetry SDK: the exposition
// format and the OTLP JSON encoding are written by hand, to keep the binary small and the
// request path free of allocations.
//
// Wiring, in short:
//
//	reg := telemetry.NewRegistry()
//	reg.Register(func(w *telemetry.Writer) { node.WriteMetrics(w) }) // realtime text
//	reg.Register(telemetry.AnalyticsCollector(rec.Recorded, rec.Dropped))
//	sinks := []analytics.Sink{telemetry.NewMetricsSink(reg), telemetry.NewAccessLogSink(os.Stdout)}
//	mux.Handle("GET /metrics", reg.Handler())
//
//	tracer := telemetry.NewTracer(telemetry.TracerOptions{SampleRatio: 0.01, Exporter: exp})
//	sp := tracer.Start(r, r.Header) // in ServeHTTP: continues or starts the trace
//	ev.TraceID = sp.TraceID()
//	...
//	sp.End(status, telemetry.String(telemetry.AttrAPI, api), telemetry.String(telemetry.AttrRoute, route))
package telemetry
