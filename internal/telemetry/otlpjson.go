package telemetry

import (
	"strconv"
	"time"
)

// encode renders batch as an OTLP/HTTP JSON ExportTraceServiceRequest: ids in hex, times
// and integer attributes as decimal strings, enums as numbers (the OTLP JSON mapping).
func (e *Exporter) encode(batch []*Span) []byte {
	b := make([]byte, 0, 256+len(batch)*512)
	b = append(b, `{"resourceSpans":[{"resource":{"attributes":[`...)
	b = appendAttr(b, String("service.name", e.opts.ServiceName))
	if e.opts.ServiceVersion != "" {
		b = append(b, ',')
		b = appendAttr(b, String("service.version", e.opts.ServiceVersion))
	}
	for _, a := range e.opts.ResourceAttrs {
		b = append(b, ',')
		b = appendAttr(b, a)
	}
	b = append(b, `]},"scopeSpans":[{"scope":{"name":"github.com/gatehouse-dev/gatehouse/internal/telemetry"`...)
	if e.opts.ServiceVersion != "" {
		b = append(b, `,"version":`...)
		b = appendJSONString(b, e.opts.ServiceVersion)
	}
	b = append(b, `},"spans":[`...)
	for i, s := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSpan(b, s)
	}
	return append(b, `]}]}]}`...)
}

// OTLP enum values.
const (
	spanKindServer  = 2
	statusCodeError = 2
)

func appendSpan(b []byte, s *Span) []byte {
	b = append(b, `{"traceId":"`...)
	b = appendHex(b, s.tc.TraceID[:])
	b = append(b, `","spanId":"`...)
	b = appendHex(b, s.tc.SpanID[:])
	b = append(b, '"')
	if p, ok := s.Parent(); ok {
		b = append(b, `,"parentSpanId":"`...)
		b = appendHex(b, p[:])
		b = append(b, '"')
	}
	if s.traceState != "" {
		b = append(b, `,"traceState":`...)
		b = appendJSONString(b, s.traceState)
	}
	b = append(b, `,"flags":`...)
	b = strconv.AppendUint(b, uint64(s.tc.Flags), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, spanName(s))
	b = append(b, `,"kind":`...)
	b = strconv.AppendInt(b, spanKindServer, 10)
	start := s.start.UnixNano()
	b = append(b, `,"startTimeUnixNano":"`...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, `","endTimeUnixNano":"`...)
	b = strconv.AppendInt(b, start+int64(max(s.end, time.Duration(0))), 10)
	b = append(b, `","attributes":[`...)
	b = appendAttr(b, String("http.request.method", s.method))
	b = append(b, ',')
	b = appendAttr(b, String("url.path", s.path))
	if s.status > 0 {
		b = append(b, ',')
		b = appendAttr(b, Int("http.response.status_code", int64(s.status)))
	}
	for _, a := range s.attrs {
		if a.Key == "" {
			continue
		}
		b = append(b, ',')
		b = appendAttr(b, a)
	}
	b = append(b, ']')
	if s.status >= 500 {
		b = append(b, `,"status":{"code":`...)
		b = strconv.AppendInt(b, statusCodeError, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// spanName follows the HTTP server convention "{method} {target}": the API and route
// names stand in for the route template.
func spanName(s *Span) string {
	var api, route string
	for _, a := range s.attrs {
		switch {
		case a.isInt:
		case a.Key == AttrAPI:
			api = a.Value
		case a.Key == AttrRoute:
			route = a.Value
		}
	}
	name := s.method
	for _, v := range [...]string{api, route} {
		if v != "" {
			name += " " + v
		}
	}
	return name
}

func appendAttr(b []byte, a Attr) []byte {
	b = append(b, `{"key":`...)
	b = appendJSONString(b, a.Key)
	if a.isInt {
		b = append(b, `,"value":{"intValue":"`...)
		b = strconv.AppendInt(b, a.Int, 10)
		return append(b, `"}}`...)
	}
	b = append(b, `,"value":{"stringValue":`...)
	b = appendJSONString(b, a.Value)
	return append(b, `}}`...)
}
