package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/realtime"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// observe is the node's analytics and telemetry: the recorder and its sinks (rollups,
// live seconds, Prometheus metrics, access log), queries, compaction, tracing and alerts.
type observe struct {
	node     string
	rec      *analytics.Recorder // nil when analytics is off
	agg      *analytics.Aggregator
	live     *analytics.Live
	query    *analytics.Query
	comp     *analytics.Compactor
	store    analytics.Store
	reg      *telemetry.Registry
	tracer   *telemetry.Tracer
	exporter *telemetry.Exporter
	alerts   *alerts.Engine
	api      *httpapi.API
	access   io.Closer
}

// nodeID names this process in rollup rows: rows are partial aggregates per writer, so a
// restarted node must not reuse its predecessor's id.
func nodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func newObserve(cfg config.Config, st gatehouse.Store, rt *realtime.Node, gatewayStatus func() *gatehouse.GatewayStatus,
	svc *services, log *slog.Logger) (*observe, error) {
	degraded := svc.Degraded
	o := &observe{node: nodeID(), reg: telemetry.NewRegistry()}
	o.reg.Register(func(w *telemetry.Writer) { rt.WriteMetrics(w) })
	o.reg.Register(telemetry.UpstreamHealthCollector(func() []telemetry.TargetHealth {
		return targetHealth(gatewayStatus())
	}))
	o.reg.Register(telemetry.LimiterCollector(func() bool { return len(degraded()) > 0 }))

	tc := cfg.Tracing
	topts := telemetry.TracerOptions{SampleRatio: float64(tc.SamplePercent) / 100}
	if tc.OTLPEndpoint != "" {
		exp, err := telemetry.NewExporter(telemetry.ExporterOptions{URL: tc.OTLPEndpoint, ServiceName: "gatehouse", Logger: log.With("component", "otlp")})
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		o.exporter, topts.Exporter = exp, exp
		o.reg.Register(exp.Collector())
	}
	o.tracer = telemetry.NewTracer(topts)

	ac := cfg.Analytics
	if !ac.Enabled {
		return o, nil
	}
	if as, ok := st.(analytics.Store); ok {
		o.store = as
	} else {
		o.store = analytics.NewMemoryStore()
	}
	alog := log.With("component", "analytics")
	o.agg = analytics.NewAggregator(analytics.AggregatorOptions{Store: o.store, Node: o.node, FlushInterval: ac.FlushInterval.D(),
		RequestSampleRate: float64(ac.RequestLogPercent) / 100, Logger: alog})
	o.live = analytics.NewLive(analytics.LiveOptions{Logger: alog})
	o.query = analytics.NewQuery(analytics.QueryOptions{Store: o.store, Aggregator: o.agg})
	if ac.Compactor {
		o.comp = analytics.NewCompactor(analytics.CompactorOptions{Store: o.store, Aggregator: o.agg, Node: o.node,
			MinuteRetention: retention(ac.MinuteRetention), HourRetention: retention(ac.HourRetention),
			DayRetention: retention(ac.DayRetention), RequestRetention: retention(ac.RequestRetention), Logger: alog})
	}
	sinks := []analytics.Sink{o.agg, o.live, telemetry.NewMetricsSink(o.reg)}
	switch ac.AccessLog {
	case "":
	case "stdout":
		sinks = append(sinks, telemetry.NewAccessLogSink(os.Stdout))
	case "stderr":
		sinks = append(sinks, telemetry.NewAccessLogSink(os.Stderr))
	default:
		f, err := os.OpenFile(ac.AccessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("analytics.access_log: %w", err)
		}
		o.access = f
		sinks = append(sinks, telemetry.NewAccessLogSink(f))
	}
	o.rec = analytics.NewRecorder(analytics.RecorderOptions{QueueSize: ac.QueueSize, Sinks: sinks, Logger: alog})
	o.reg.Register(telemetry.AnalyticsCollector(o.rec.Recorded, o.rec.Dropped))
	rt.Meter().SetRecorder(o.rec) // realtime messages and connections are events too
	o.api = httpapi.New(httpapi.Options{Query: o.query, Store: o.store, Live: o.live, Fanout: rt.Fanout(), Node: o.node, Logger: alog,
		Quotas: func(app string) []quota.Usage { return svc.usage.Snapshot(app, time.Now()) }})

	if ac.Alerts {
		as, ok := st.(alerts.Store)
		if !ok {
			as = alerts.NewMemoryStore()
		}
		eng, err := alerts.New(alerts.Options{Store: as, Source: &alertSource{live: o.live, status: gatewayStatus, usage: svc.usage},
			Publish: func(ctx context.Context, channel string, event []byte) error {
				return rt.Fanout().Publish(ctx, []publish.Item{liveItem(channel, "alert", event)})
			}, Logger: log.With("component", "alerts")})
		if err != nil {
			return nil, err
		}
		o.alerts = eng
	}
	return o, nil
}

// retention maps the settings' "0 keeps forever" to the compactor's negative value.
func retention(d gatehouse.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d.D()
}

// liveItem is one JSON document for every kind of realtime subscriber: an SSE event for
// streams, the JSON for long-polls and WebSockets.
func liveItem(channel, event string, data []byte) publish.Item {
	sse := make([]byte, 0, len(event)+len(data)+16)
	sse = append(sse, "event: "...)
	sse = append(sse, event...)
	sse = append(sse, "\ndata: "...)
	sse = append(sse, data...)
	sse = append(sse, "\n\n"...)
	return publish.Item{
		Channel:      channel,
		HTTPStream:   &publish.HTTPStream{Action: publish.Send, Content: sse},
		HTTPResponse: &publish.HTTPResponse{Action: publish.Send, Code: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: data},
		WSMessage:    &publish.WSMessage{Action: publish.Send, Type: "text", Content: data},
	}
}

// start runs the background parts; done is closed when they have stopped (the alert
// engine is the only one with goroutines that must be waited for).
func (o *observe) start(ctx context.Context) (done <-chan struct{}) {
	if o.rec != nil {
		o.rec.Start(ctx)
		o.agg.Start(ctx)
		o.live.Start(ctx)
		if o.comp != nil {
			o.comp.Start(ctx)
		}
		o.api.Start(ctx)
	}
	if o.alerts != nil {
		return o.alerts.Start(ctx)
	}
	c := make(chan struct{})
	close(c)
	return c
}

// close drains what was recorded into the store and stops the exporter; ctx bounds it.
func (o *observe) close(ctx context.Context, log *slog.Logger) {
	if o.rec != nil {
		o.rec.Close()
		if err := o.agg.Flush(ctx); err != nil {
			log.Error("analytics: final flush failed; the last seconds of rollups are lost", "err", err)
		}
	}
	if o.exporter != nil {
		_ = o.exporter.Close(ctx)
	}
	if o.access != nil {
		_ = o.access.Close()
	}
}

// recorder is the gateway's Recorder, or nil (an untyped nil: a typed nil would record).
func (o *observe) recorder() interface{ Record(*analytics.Event) } {
	if o.rec == nil {
		return nil
	}
	return o.rec
}

func targetHealth(st *gatehouse.GatewayStatus) []telemetry.TargetHealth {
	if st == nil {
		return nil
	}
	var out []telemetry.TargetHealth
	for _, a := range st.APIs {
		for _, t := range a.Targets {
			out = append(out, telemetry.TargetHealth{API: a.Name, Target: t.URL, Healthy: t.Healthy && t.Available})
		}
	}
	return out
}

// alertSource feeds alert rules from the live per-second analytics and the gateway's
// upstream health.
type alertSource struct {
	live   *analytics.Live
	status func() *gatehouse.GatewayStatus
	usage  *quota.Tracker
}

func (s *alertSource) Window(api string, d time.Duration) alerts.Window {
	t := s.live.Window(api, d)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return alerts.Window{Requests: t.Count, Errors: t.Errors, RateLimited: t.RateLimited, P50: ms(t.P50Ms), P95: ms(t.P95Ms), P99: ms(t.P99Ms)}
}

func (s *alertSource) Targets() []alerts.TargetHealth {
	var out []alerts.TargetHealth
	for _, t := range targetHealth(s.status()) {
		out = append(out, alerts.TargetHealth{API: t.API, Target: t.Target, Healthy: t.Healthy})
	}
	return out
}

func (s *alertSource) Quotas() []alerts.QuotaUse {
	var out []alerts.QuotaUse
	for _, u := range s.usage.Snapshot("", time.Now()) {
		api := u.API
		if strings.HasPrefix(u.Scope, "plan:") {
			api = "" // a plan's quota covers every API of the plan
		}
		out = append(out, alerts.QuotaUse{App: u.App, Plan: u.Plan, API: api, Used: u.Used, Limit: u.Limit, Period: u.Period})
	}
	return out
}

// mount adds /metrics (no token: keep the admin listener private, as Prometheus expects)
// and the alerts API to the admin mux.
func (o *observe) mount(mux *http.ServeMux, auth func(*http.Request) error) {
	mux.Handle("GET /metrics", o.reg.Handler())
	if o.api != nil {
		o.api.Mount(mux, auth)
	}
	if o.alerts != nil {
		o.alerts.Mount(mux, auth)
	}
}
