package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// accessLine is the access log schema, decoded strictly.
type accessLine struct {
	Time       string  `json:"time"`
	API        string  `json:"api"`
	Route      string  `json:"route"`
	Method     string  `json:"method"`
	Status     int     `json:"status"`
	LatencyMS  float64 `json:"latency_ms"`
	UpstreamMS float64 `json:"upstream_ms"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	ClientIP   string  `json:"client_ip"`
	UserAgent  string  `json:"user_agent"`
	App        string  `json:"app"`
	KeyID      string  `json:"key_id"`
	Plan       string  `json:"plan"`
	Cache      string  `json:"cache"`
	RejectedBy string  `json:"rejected_by"`
	RejectCode string  `json:"reject_code"`
	TraceID    string  `json:"trace_id"`
}

func decodeLines(t testing.TB, b []byte) []accessLine {
	t.Helper()
	var out []accessLine
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", line)
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var l accessLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	s := NewAccessLogSink(&buf)
	ev := analytics.Event{
		Kind: analytics.KindRequest, Time: time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.FixedZone("X", 3600)),
		API: "orders", Route: "list", Method: "GET", Status: 200,
		App: "shop", Developer: "dev-1", KeyID: "key_123", Plan: "gold",
		ClientIP: "203.0.113.9", UserAgent: "Mozilla/5.0 \"evil\"\n{\"status\":1}\x00\x1b[31m\xff\xfe\u2028",
		BytesIn: 12, BytesOut: 3456, Latency: 12345678 * time.Nanosecond, UpstreamLatency: 10 * time.Millisecond,
		Cache: "MISS", RejectedBy: "", RejectCode: "", TraceID: traceHex,
	}
	rejected := analytics.Event{Kind: analytics.KindRequest, Time: ev.Time, API: "orders", Method: "POST", Status: 429,
		RejectedBy: "rate_limit", RejectCode: "rate_limited", Latency: 300 * time.Microsecond}
	s.Consume([]analytics.Event{ev, {Kind: analytics.KindMessage, API: "feed"}, rejected})
	if lines, errs := s.Stats(); lines != 2 || errs != 0 {
		t.Errorf("stats %d %d", lines, errs)
	}
	got := decodeLines(t, buf.Bytes())
	want := []accessLine{{
		Time: "2026-01-02T14:04:05.123456789Z", API: "orders", Route: "list", Method: "GET", Status: 200,
		LatencyMS: 12.345, UpstreamMS: 10, BytesIn: 12, BytesOut: 3456, ClientIP: "203.0.113.9",
		UserAgent: "Mozilla/5.0 \"evil\"\n{\"status\":1}\x00\x1b[31m\uFFFD\uFFFD\u2028",
		App:       "shop", KeyID: "key_123", Plan: "gold", Cache: "MISS", TraceID: traceHex,
	}, {
		Time: "2026-01-02T14:04:05.123456789Z", API: "orders", Method: "POST", Status: 429, LatencyMS: 0.3,
		RejectedBy: "rate_limit", RejectCode: "rate_limited",
	}}
	if len(got) != len(want) {
		t.Fatalf("%d lines: %s", len(got), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// every field is always there, in a fixed order
	var raw map[string]any
	_ = json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &raw)
	if len(raw) != 18 {
		t.Errorf("%d fields: %v", len(raw), raw)
	}
	if strings.Contains(buf.String(), "\u2028") || strings.Contains(buf.String(), "\x1b") {
		t.Error("raw control characters or U+2028 in the log")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n == 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestAccessLogWriteError(t *testing.T) {
	fw := &failWriter{}
	s := NewAccessLogSink(fw)
	batch := []analytics.Event{{Kind: analytics.KindRequest, API: "a"}}
	s.Consume(batch) // fails
	s.Consume(batch) // recovers
	if lines, errs := s.Stats(); lines != 1 || errs != 1 {
		t.Errorf("lines %d errors %d", lines, errs)
	}
}

func FuzzAccessLog(f *testing.F) {
	f.Add("curl/8.5", "orders", "203.0.113.1")
	f.Add("\"},{\"status\":200", "a\\b", "\x00\x01\x7f")
	f.Add("\xff\xfe\xfd", "\u2028\u2029", "\xed\xa0\x80") // invalid bytes, JS separators, a surrogate
	f.Fuzz(func(t *testing.T, ua, api, ip string) {
		e := analytics.Event{Kind: analytics.KindRequest, Time: t0, UserAgent: ua, API: api, ClientIP: ip, Status: 200}
		line := AppendAccessLog(nil, &e)
		if !json.Valid(line) || bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("invalid line %q", line)
		}
		got := decodeLines(t, line)[0]
		// encoding/json's view of the same strings (invalid bytes become U+FFFD each)
		want := func(s string) string {
			b, _ := json.Marshal(s)
			var out string
			_ = json.Unmarshal(b, &out)
			return out
		}
		if got.UserAgent != want(ua) || got.API != want(api) || got.ClientIP != want(ip) {
			t.Fatalf("round trip: %q %q %q -> %+v", ua, api, ip, got)
		}
	})
}
