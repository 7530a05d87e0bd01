package telemetry

import (
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

var _ analytics.Sink = (*MetricsSink)(nil)

// MetricsSink turns analytics events into Prometheus metrics. Consume runs on the
// recorder's goroutine; the metrics it updates are read by scrapes concurrently.
//
// Labels come from the configuration (api, route, policy) or are normalised to small sets
// (method, status, status_class); every metric is still capped at the registry's series
// limit.
type MetricsSink struct {
	requests       *CounterVec   // api, route, method, status
	duration       *HistogramVec // api, route, status_class
	upstream       *HistogramVec // api
	requestBytes   *CounterVec   // api
	responseBytes  *CounterVec   // api
	rejections     *CounterVec   // api, policy, code
	cacheResults   *CounterVec   // api, result
	delivered      *CounterVec   // api
	deliveredBytes *CounterVec   // api
	connections    *HistogramVec // api

	// cache maps a request's label set to its series, so that a request costs one map
	// lookup rather than one per metric. Series are never removed from a vec, so cached
	// pointers stay valid; the cache is cleared when it grows past maxCached.
	mu    sync.Mutex
	cache map[reqKey]*reqSeries
}

type reqKey struct{ api, route, method, status string }

type reqSeries struct {
	requests                    *Counter
	duration, upstream          *Histogram
	requestBytes, responseBytes *Counter
}

const maxCached = 4096

// ConnectionBuckets are the upper bounds, in seconds, of realtime connection durations.
var ConnectionBuckets = []float64{1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600}

// NewMetricsSink registers the request metrics in reg and returns the sink feeding them.
func NewMetricsSink(reg *Registry) *MetricsSink {
	return &MetricsSink{
		requests: reg.NewCounterVec("gatehouse_http_requests_total",
			"HTTP requests served, by API, route, method and status code.", "api", "route", "method", "status"),
		duration: reg.NewHistogramVec("gatehouse_http_request_duration_seconds",
			"Time to serve HTTP requests, as the client saw it.", LatencyBuckets, "api", "route", "status_class"),
		upstream: reg.NewHistogramVec("gatehouse_http_upstream_duration_seconds",
			"Time until the upstream's response headers, for proxied requests.", LatencyBuckets, "api"),
		requestBytes: reg.NewCounterVec("gatehouse_http_request_bytes_total",
			"Request body bytes received from clients.", "api"),
		responseBytes: reg.NewCounterVec("gatehouse_http_response_bytes_total",
			"Response body bytes sent to clients.", "api"),
		rejections: reg.NewCounterVec("gatehouse_policy_rejections_total",
			"Requests ended by a policy, by policy and problem code.", "api", "policy", "code"),
		cacheResults: reg.NewCounterVec("gatehouse_cache_results_total",
			"Response cache outcomes of requests.", "api", "result"),
		delivered: reg.NewCounterVec("gatehouse_realtime_messages_delivered_total",
			"Messages delivered to realtime connections.", "api"),
		deliveredBytes: reg.NewCounterVec("gatehouse_realtime_message_bytes_total",
			"Bytes of messages delivered to realtime connections.", "api"),
		connections: reg.NewHistogramVec("gatehouse_realtime_connection_duration_seconds",
			"How long realtime connections were held.", ConnectionBuckets, "api"),
	}
}

// Consume implements analytics.Sink. It keeps nothing from the batch.
func (s *MetricsSink) Consume(batch []analytics.Event) {
	s.mu.Lock() // uncontended: the recorder calls Consume from one goroutine
	defer s.mu.Unlock()
	for i := range batch {
		e := &batch[i]
		switch e.Kind {
		case analytics.KindRequest:
			s.request(e)
		case analytics.KindMessage:
			s.delivered.With(e.API).Inc()
			if e.BytesOut > 0 {
				s.deliveredBytes.With(e.API).Add(float64(e.BytesOut))
			}
		case analytics.KindConnection:
			s.connections.With(e.API).ObserveDuration(e.Latency)
		}
	}
}

func (s *MetricsSink) request(e *analytics.Event) {
	k := reqKey{e.API, e.Route, methodLabel(e.Method), statusLabel(e.Status)}
	rs := s.cache[k]
	if rs == nil {
		rs = s.series(k, e.Status)
	}
	rs.requests.Inc()
	rs.duration.ObserveDuration(e.Latency)
	// Per-API series are made on first use, so that an API with no proxied request has
	// no empty upstream histogram.
	if e.UpstreamLatency > 0 {
		if rs.upstream == nil {
			rs.upstream = s.upstream.With(k.api)
		}
		rs.upstream.ObserveDuration(e.UpstreamLatency)
	}
	if e.BytesIn > 0 {
		if rs.requestBytes == nil {
			rs.requestBytes = s.requestBytes.With(k.api)
		}
		rs.requestBytes.Add(float64(e.BytesIn))
	}
	if e.BytesOut > 0 {
		if rs.responseBytes == nil {
			rs.responseBytes = s.responseBytes.With(k.api)
		}
		rs.responseBytes.Add(float64(e.BytesOut))
	}
	if e.RejectedBy != "" {
		s.rejections.With(e.API, e.RejectedBy, e.RejectCode).Inc()
	}
	if e.Cache != "" {
		s.cacheResults.With(e.API, e.Cache).Inc()
	}
}

func (s *MetricsSink) series(k reqKey, status int) *reqSeries {
	if s.cache == nil || len(s.cache) >= maxCached {
		s.cache = make(map[reqKey]*reqSeries)
	}
	rs := &reqSeries{
		requests: s.requests.With(k.api, k.route, k.method, k.status),
		duration: s.duration.With(k.api, k.route, statusClassLabel(status)),
	}
	k.api, k.route = strings.Clone(k.api), strings.Clone(k.route) // do not pin event memory
	s.cache[k] = rs
	return rs
}

// statusLabels holds "0".."999", so that labelling a status costs no allocation.
var statusLabels = func() (t [1000]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return
}()

func statusLabel(code int) string {
	if code < 0 || code >= len(statusLabels) {
		return OverflowLabelValue
	}
	return statusLabels[code]
}

// statusClasses labels Status/100; no status (0) is "none".
var statusClasses = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClassLabel(code int) string {
	c := code / 100
	if code < 0 || c >= len(statusClasses) {
		return OverflowLabelValue
	}
	return statusClasses[c]
}

// methodLabel keeps the standard methods and folds anything else (a client can send any
// token as a method) into "other".
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return OverflowLabelValue
}
