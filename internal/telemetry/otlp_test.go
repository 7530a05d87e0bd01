package telemetry

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// OTLP/HTTP JSON, as a collector decodes it.
type otlpRequest struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []otlpAttr `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"scope"`
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type otlpSpan struct {
	TraceID           string     `json:"traceId"`
	SpanID            string     `json:"spanId"`
	ParentSpanID      string     `json:"parentSpanId"`
	TraceState        string     `json:"traceState"`
	Flags             uint32     `json:"flags"`
	Name              string     `json:"name"`
	Kind              int        `json:"kind"`
	StartTimeUnixNano string     `json:"startTimeUnixNano"`
	EndTimeUnixNano   string     `json:"endTimeUnixNano"`
	Attributes        []otlpAttr `json:"attributes"`
	Status            *struct {
		Code int `json:"code"`
	} `json:"status"`
}

type otlpAttr struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string `json:"stringValue"`
		IntValue    *string `json:"intValue"`
	} `json:"value"`
}

func attrs(as []otlpAttr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		switch {
		case a.Value.StringValue != nil:
			m[a.Key] = *a.Value.StringValue
		case a.Value.IntValue != nil:
			m[a.Key] = "int:" + *a.Value.IntValue
		}
	}
	return m
}

// collector is an httptest OTLP collector; fail answers the first requests with a status.
type collector struct {
	mu       sync.Mutex
	spans    []otlpSpan
	requests []otlpRequest
	calls    atomic.Int32
	failN    int32 // answer this many first calls with failCode
	failCode int
	block    chan struct{} // when set, requests wait for it
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.calls.Add(1)
	if c.block != nil {
		<-c.block
	}
	if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Tenant") != "t1" {
		http.Error(w, "bad request "+r.Method+" "+r.URL.Path, 400)
		return
	}
	if n <= c.failN {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(c.failCode)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req otlpRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, req)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{}`)
}

// got returns what was received so far.
func (c *collector) got() ([]otlpRequest, []otlpSpan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]otlpRequest(nil), c.requests...), append([]otlpSpan(nil), c.spans...)
}

func newCollector(t *testing.T, c *collector) string {
	srv := httptest.NewServer(c) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOTLPExport(t *testing.T) {
	c := &collector{}
	url := newCollector(t, c)
	exp, err := NewExporter(ExporterOptions{URL: url, Headers: map[string]string{"X-Tenant": "t1"},
		ServiceVersion: "1.2.3", ResourceAttrs: []Attr{String("service.instance.id", "node-1")},
		BatchSize: 2, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(TracerOptions{SampleRatio: 1, Exporter: exp})

	r := httptest.NewRequest("POST", "/orders/42?x=1", nil)
	r.Header.Set("Traceparent", validTP)
	r.Header.Set("Tracestate", "congo=t61rcWkgMzE")
	before := time.Now()
	sp := tr.Start(r, r.Header)
	time.Sleep(2 * time.Millisecond)
	sp.End(503, String(AttrAPI, "orders"), String(AttrRoute, "create"), String(AttrApp, "shop\"\n"), Int("x.n", 7))
	sp.End(200) // second End is ignored

	r2 := httptest.NewRequest("GET", "/health", nil)
	sp2 := tr.Start(r2, nil)
	sp2.End(200)

	if err := exp.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	requests, spans := c.got()
	if len(requests) != 1 || len(spans) != 2 {
		t.Fatalf("%d requests, %d spans", len(requests), len(spans))
	}
	req := requests[0]
	if ra := attrs(req.ResourceSpans[0].Resource.Attributes); ra["service.name"] != "gatehouse" || ra["service.version"] != "1.2.3" || ra["service.instance.id"] != "node-1" {
		t.Errorf("resource %v", ra)
	}
	if sc := req.ResourceSpans[0].ScopeSpans[0].Scope; sc.Name == "" || sc.Version != "1.2.3" {
		t.Errorf("scope %+v", sc)
	}
	s := spans[0]
	spanID := sp.Context().SpanID
	if s.TraceID != traceHex || s.ParentSpanID != spanHex || s.SpanID != string(appendHex(nil, spanID[:])) {
		t.Errorf("ids %s %s %s", s.TraceID, s.SpanID, s.ParentSpanID)
	}
	if s.Kind != 2 || s.Name != "POST orders create" || s.TraceState != "congo=t61rcWkgMzE" || s.Flags&1 != 1 {
		t.Errorf("span %+v", s)
	}
	if s.Status == nil || s.Status.Code != 2 {
		t.Errorf("5xx status %+v", s.Status)
	}
	start, end := mustInt(t, s.StartTimeUnixNano), mustInt(t, s.EndTimeUnixNano)
	if start < before.UnixNano() || end-start < int64(2*time.Millisecond) || end > time.Now().UnixNano() {
		t.Errorf("times %d..%d", start, end)
	}
	want := map[string]string{
		"http.request.method": "POST", "url.path": "/orders/42", "http.response.status_code": "int:503",
		"gatehouse.api": "orders", "gatehouse.route": "create", "gatehouse.app": "shop\"\n", "x.n": "int:7",
	}
	got := attrs(s.Attributes)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	s2 := spans[1]
	if s2.ParentSpanID != "" || s2.Status != nil || s2.Name != "GET" || s2.TraceID != sp2.TraceID() {
		t.Errorf("root span %+v", s2)
	}
	if st := exp.Stats(); st.Exported != 2 || st.Batches != 1 || st.Dropped+st.Failed+st.Retries != 0 {
		t.Errorf("stats %+v", st)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

func TestOTLPRetriesOn503(t *testing.T) {
	c := &collector{failN: 2, failCode: 503}
	exp, err := NewExporter(ExporterOptions{URL: newCollector(t, c) + "/v1/traces", Headers: map[string]string{"X-Tenant": "t1"},
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(TracerOptions{SampleRatio: 1, Exporter: exp})
	tr.Start(httptest.NewRequest("GET", "/", nil), nil).End(200)
	deadline := time.Now().Add(5 * time.Second)
	for exp.Stats().Exported == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the periodic flush sends it
	}
	if st := exp.Stats(); st.Exported != 1 || st.Retries != 2 || st.Failed != 0 || c.calls.Load() != 3 {
		t.Errorf("stats %+v after %d calls", st, c.calls.Load())
	}
	_ = exp.Close(t.Context())
}

func TestOTLPGivesUp(t *testing.T) {
	for name, c := range map[string]*collector{
		"429 forever": {failN: 100, failCode: 429},
		"400":         {failN: 100, failCode: 400},
	} {
		t.Run(name, func(t *testing.T) {
			exp, err := NewExporter(ExporterOptions{URL: newCollector(t, c), Headers: map[string]string{"X-Tenant": "t1"},
				MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			tr := NewTracer(TracerOptions{SampleRatio: 1, Exporter: exp})
			for range 3 {
				tr.Start(httptest.NewRequest("GET", "/", nil), nil).End(200)
			}
			if err := exp.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			st := exp.Stats()
			wantCalls := int32(3)
			if c.failCode == 400 {
				wantCalls = 1 // not retryable
			}
			if st.Failed != 3 || st.Exported != 0 || c.calls.Load() != wantCalls {
				t.Errorf("stats %+v, %d calls", st, c.calls.Load())
			}
			_ = exp.Close(t.Context())
		})
	}
}

func TestOTLPDropsWhenQueueFull(t *testing.T) {
	c := &collector{block: make(chan struct{})}
	exp, err := NewExporter(ExporterOptions{URL: newCollector(t, c), Headers: map[string]string{"X-Tenant": "t1"},
		QueueSize: 4, BatchSize: 1, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracer(TracerOptions{SampleRatio: 1, Exporter: exp})
	tr.Start(httptest.NewRequest("GET", "/", nil), nil).End(200)
	for c.calls.Load() == 0 { // the first span is being exported, and the export is stuck
		time.Sleep(time.Millisecond)
	}
	for range 10 {
		tr.Start(httptest.NewRequest("GET", "/", nil), nil).End(200)
	}
	if st := exp.Stats(); st.Dropped != 6 || st.Queued != 4 {
		t.Errorf("stats %+v, want 6 dropped and 4 queued", st)
	}
	close(c.block)
	if err := exp.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, spans := c.got(); exp.Stats().Exported != 5 || exp.Stats().Dropped != 6 || len(spans) != 5 {
		t.Errorf("after close: %+v, %d spans", exp.Stats(), len(spans))
	}
	tr.Start(httptest.NewRequest("GET", "/", nil), nil).End(200)
	if st := exp.Stats(); st.Dropped != 7 {
		t.Errorf("span after Close not dropped: %+v", st)
	}

	reg := NewRegistry()
	reg.Register(exp.Collector())
	fams := parse(t, scrape(t, reg))
	if v := find(t, fams, "gatehouse_trace_spans_dropped_total").GetCounter().GetValue(); v != 7 {
		t.Errorf("dropped metric %v", v)
	}
}

func TestExporterURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "localhost:4318", "http://"} {
		if _, err := NewExporter(ExporterOptions{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	exp, err := NewExporter(ExporterOptions{URL: "http://127.0.0.1:4318"})
	if err != nil || exp.url != "http://127.0.0.1:4318/v1/traces" {
		t.Errorf("%v %v", exp, err)
	}
	_ = exp.Close(t.Context())
}
