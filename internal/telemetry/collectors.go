package telemetry

// CounterFunc is a collector for one unlabelled counter read at scrape time.
func CounterFunc(name, help string, value func() float64) Collector {
	return func(w *Writer) {
		w.Family(name, "counter", help)
		w.Sample(name, value())
	}
}

// GaugeFunc is a collector for one unlabelled gauge read at scrape time.
func GaugeFunc(name, help string, value func() float64) Collector {
	return func(w *Writer) {
		w.Family(name, "gauge", help)
		w.Sample(name, value())
	}
}

// AnalyticsCollector reports the analytics recorder's counters:
// gatehouse_analytics_events_recorded_total and gatehouse_analytics_events_dropped_total.
// Either func may be nil.
func AnalyticsCollector(recorded, dropped func() uint64) Collector {
	return func(w *Writer) {
		if recorded != nil {
			w.Family("gatehouse_analytics_events_recorded_total", "counter", "Analytics events accepted by the recorder.")
			w.Sample("gatehouse_analytics_events_recorded_total", float64(recorded()))
		}
		if dropped != nil {
			w.Family("gatehouse_analytics_events_dropped_total", "counter", "Analytics events dropped because the recorder's queue was full.")
			w.Sample("gatehouse_analytics_events_dropped_total", float64(dropped()))
		}
	}
}

// TargetHealth is one upstream target's health. It is an alias of the unnamed struct
// type, so a func returning []struct{API, Target string; Healthy bool} fits too.
type TargetHealth = struct {
	API, Target string
	Healthy     bool
}

// UpstreamHealthCollector reports gatehouse_upstream_target_healthy{api,target} (1 or 0)
// for every target targets returns.
func UpstreamHealthCollector(targets func() []TargetHealth) Collector {
	return func(w *Writer) {
		w.Family("gatehouse_upstream_target_healthy", "gauge", "Whether the upstream target passes its health checks (1) or not (0).")
		for _, t := range targets() {
			w.Sample("gatehouse_upstream_target_healthy", b2f(t.Healthy), "api", t.API, "target", t.Target)
		}
	}
}

// LimiterCollector reports gatehouse_limiter_degraded: 1 while the shared rate limiter
// is unreachable and limits are enforced locally, else 0.
func LimiterCollector(degraded func() bool) Collector {
	return GaugeFunc("gatehouse_limiter_degraded", "Whether the shared rate limiter is degraded to local limits (1) or not (0).",
		func() float64 { return b2f(degraded()) })
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
