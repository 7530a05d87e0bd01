package telemetry

import (
	"encoding/binary"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Span attribute keys the gateway sets at End.
const (
	AttrAPI   = "gatehouse.api"
	AttrRoute = "gatehouse.route"
	AttrApp   = "gatehouse.app"
)

// Attr is a span attribute: a string, or an integer made with Int.
type Attr struct {
	Key   string
	Value string
	Int   int64
	isInt bool
}

// String is a string attribute.
func String(key, value string) Attr { return Attr{Key: key, Value: value} }

// Int is an integer attribute.
func Int(key string, value int64) Attr { return Attr{Key: key, Int: value, isInt: true} }

// TracerOptions configures a Tracer. The zero value propagates trace context and exports
// nothing.
type TracerOptions struct {
	// SampleRatio is the share of traces recorded and exported, 0 to 1, decided from the
	// trace id so that every node using the same ratio agrees. 0 (the default) exports
	// nothing; trace ids are still propagated and reach events and logs.
	SampleRatio float64
	// ParentBased also records every trace whose incoming traceparent has the sampled
	// flag, whatever the ratio. Off by default: a client could otherwise make the
	// gateway export every request.
	ParentBased bool
	// Exporter receives ended, recorded spans; nil: nothing is recorded.
	Exporter *Exporter
}

// Tracer starts a server span per request. A nil *Tracer works and behaves like the zero
// TracerOptions.
type Tracer struct {
	threshold   uint64 // record when the trace id's low 8 bytes are below it
	all         bool   // ratio 1
	parentBased bool
	exp         *Exporter
	started     atomic.Uint64
	recorded    atomic.Uint64
}

// NewTracer returns a Tracer.
func NewTracer(opts TracerOptions) *Tracer {
	t := &Tracer{parentBased: opts.ParentBased, exp: opts.Exporter}
	switch r := opts.SampleRatio; {
	case r >= 1:
		t.all = true
	case r > 0:
		t.threshold = uint64(r * math.MaxUint64)
	}
	return t
}

// Span is one request's server span. Start sets it up; End finishes it. A Span must not
// be copied or reused: the traceparent string handed to the outgoing headers points into
// it.
type Span struct {
	tracer *Tracer
	tc     TraceContext // this span: trace id, own span id, outgoing flags
	parent [8]byte      // the caller's span id; zero when this span starts the trace
	record bool
	ended  atomic.Bool

	start time.Time

	// Recorded spans only.
	method, path string
	traceState   string
	end          time.Duration
	status       int
	attrs        []Attr

	tp  [traceparentLen]byte // our traceparent, formatted once
	hdr [1]string            // hdr[0] is tp as a string; hdr[:] is the header value
}

// Start begins the server span of r. It continues the trace of r's traceparent when that
// is valid (exactly one header), or starts a new trace. When out is not nil (the headers
// of the request sent upstream; r.Header itself works, as the proxy copies it), it sets
// traceparent to this span and passes the incoming tracestate on, or removes tracestate
// when the trace is new. The only allocation is the Span.
func (t *Tracer) Start(r *http.Request, out http.Header) *Span {
	return t.StartAt(r, out, time.Now())
}

// StartAt is Start with the request's arrival time, for a caller that has already read
// the clock (analytics.Event.Time): it saves a clock read per request. start should carry
// a monotonic reading (from time.Now) so that the span's duration is exact.
func (t *Tracer) StartAt(r *http.Request, out http.Header, start time.Time) *Span {
	s := &Span{tracer: t, start: start}
	parent, ok := TraceContext{}, false
	if v := r.Header["Traceparent"]; len(v) == 1 {
		parent, ok = ParseTraceparent(v[0])
	}
	if ok {
		s.tc.TraceID, s.parent = parent.TraceID, parent.SpanID
		s.tc.Flags = parent.Flags & (FlagSampled | flagRandom)
	} else {
		newTraceID(&s.tc.TraceID)
		s.tc.Flags = flagRandom
	}
	s.tc.SpanID = newSpanID()
	if t != nil {
		t.started.Add(1)
		if t.exp != nil {
			s.record = t.all || t.threshold > 0 && binary.BigEndian.Uint64(s.tc.TraceID[8:]) < t.threshold ||
				t.parentBased && ok && parent.Sampled()
		}
	}
	if s.record {
		// Never clear a caller's sampled flag; set it when this trace is recorded.
		s.tc.Flags |= FlagSampled
		t.recorded.Add(1)
		s.method, s.path = r.Method, r.URL.Path
		if ok {
			s.traceState = strings.Join(r.Header["Tracestate"], ",")
		}
	}
	b := s.tc.AppendFormat(s.tp[:0])
	s.hdr[0] = unsafe.String(unsafe.SliceData(b), len(b)) // tp is never written again
	if out != nil {
		out["Traceparent"] = s.hdr[:]
		if ok {
			if ts := r.Header["Tracestate"]; len(ts) > 0 {
				out["Tracestate"] = ts
			}
		} else {
			delete(out, "Tracestate")
		}
	}
	return s
}

// Inject sets traceparent (this span) on h; tracestate is left as it is.
func (s *Span) Inject(h http.Header) { h["Traceparent"] = s.hdr[:] }

// Traceparent is this span's traceparent header value.
func (s *Span) Traceparent() string { return s.hdr[0] }

// TraceID is the trace id as 32 lowercase hex digits, for analytics.Event.TraceID and
// logs. It stays valid as long as it is referenced.
func (s *Span) TraceID() string { return s.hdr[0][3:35] }

// Context is this span's trace context.
func (s *Span) Context() TraceContext { return s.tc }

// Parent is the caller's span id and whether there was one.
func (s *Span) Parent() ([8]byte, bool) { return s.parent, s.parent != [8]byte{} }

// Recording reports whether the span will be exported when it ends.
func (s *Span) Recording() bool { return s.record }

// End finishes the span with the response status and attributes (AttrAPI, AttrRoute,
// AttrApp...). Only a recording span keeps anything; the attributes' strings are
// retained until export. Calls after the first do nothing.
func (s *Span) End(status int, attrs ...Attr) {
	if s == nil || s.ended.Swap(true) || !s.record {
		return
	}
	s.end = time.Since(s.start)
	s.status = status
	s.attrs = append(make([]Attr, 0, len(attrs)), attrs...)
	s.tracer.exp.enqueue(s)
}

// TracerStats are a tracer's counters.
type TracerStats struct {
	Started  uint64 `json:"started"`
	Recorded uint64 `json:"recorded"`
}

// Stats reports how many spans were started and recorded.
func (t *Tracer) Stats() TracerStats {
	if t == nil {
		return TracerStats{}
	}
	return TracerStats{Started: t.started.Load(), Recorded: t.recorded.Load()}
}
