package telemetry

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

var _ analytics.Sink = (*AccessLogSink)(nil)

// AccessLogSink writes one JSON object per request event (KindRequest; realtime
// connection and message events are not access-logged) to a writer, buffered and
// flushed at the end of every batch:
//
//	{"time":"2026-01-02T15:04:05.123456789Z","api":"orders","route":"list","method":"GET",
//	 "status":200,"latency_ms":12.345,"upstream_ms":10.002,"bytes_in":0,"bytes_out":512,
//	 "client_ip":"203.0.113.9","user_agent":"curl/8.5","app":"shop","key_id":"k_1",
//	 "plan":"gold","cache":"MISS","rejected_by":"","reject_code":"","trace_id":"4bf9..."}
//
// Every field is always present; strings are JSON-escaped with invalid UTF-8 replaced,
// so a hostile User-Agent cannot forge fields or lines. Only the credential's id is
// logged, never a secret (Event carries none).
type AccessLogSink struct {
	mu     sync.Mutex // Consume is called from one goroutine; the lock keeps Flush safe
	out    io.Writer
	w      *bufio.Writer
	line   []byte
	errors atomic.Uint64
	lines  atomic.Uint64
}

// NewAccessLogSink returns a sink writing to w.
func NewAccessLogSink(w io.Writer) *AccessLogSink {
	return &AccessLogSink{out: w, w: bufio.NewWriterSize(w, 64<<10), line: make([]byte, 0, 1024)}
}

// Consume implements analytics.Sink.
func (s *AccessLogSink) Consume(batch []analytics.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range batch {
		e := &batch[i]
		if e.Kind != analytics.KindRequest {
			continue
		}
		s.line = AppendAccessLog(s.line[:0], e)
		if _, err := s.w.Write(s.line); err != nil {
			s.errors.Add(1)
			s.w.Reset(s.out) // a failed bufio.Writer keeps failing: start over, losing this batch
			return
		}
		n++
	}
	if err := s.w.Flush(); err != nil {
		s.errors.Add(1)
		s.w.Reset(s.out) // a failed bufio.Writer keeps failing: start over, losing this batch
		return
	}
	s.lines.Add(uint64(n))
	if cap(s.line) > 64<<10 {
		s.line = make([]byte, 0, 1024) // do not keep a giant line's buffer
	}
}

// Stats reports lines written and write errors.
func (s *AccessLogSink) Stats() (lines, errors uint64) { return s.lines.Load(), s.errors.Load() }

// AppendAccessLog appends e's access log line (a JSON object and a newline) to b.
func AppendAccessLog(b []byte, e *analytics.Event) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","api":`...)
	b = appendJSONString(b, e.API)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, e.Latency)
	b = append(b, `,"upstream_ms":`...)
	b = appendMillis(b, e.UpstreamLatency)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	for _, f := range [...]struct{ k, v string }{
		{`,"client_ip":`, e.ClientIP},
		{`,"user_agent":`, e.UserAgent},
		{`,"app":`, e.App},
		{`,"key_id":`, e.KeyID},
		{`,"plan":`, e.Plan},
		{`,"cache":`, e.Cache},
		{`,"rejected_by":`, e.RejectedBy},
		{`,"reject_code":`, e.RejectCode},
		{`,"trace_id":`, e.TraceID},
	} {
		b = append(b, f.k...)
		b = appendJSONString(b, f.v)
	}
	return append(b, '}', '\n')
}

// appendMillis writes d in milliseconds with microsecond precision.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}
