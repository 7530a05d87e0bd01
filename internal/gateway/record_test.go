package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/builtin"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

type eventLog struct {
	mu     sync.Mutex
	events []analytics.Event
}

func (l *eventLog) Record(e *analytics.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, *e)
}

func (l *eventLog) take() []analytics.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// TestRecordsEvents: every request, proxied, rejected or unrouted, becomes one event with
// what analytics needs, and the recorder changes nothing the client sees.
func TestRecordsEvents(t *testing.T) {
	up := origin(t, "a")
	dir := policytest.NewDirectory()
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}}
	dir.AddApp("shop", "d@example.com", gold)
	dir.AddKey("gh_good", "key1", "shop", time.Time{})
	log := &eventLog{}
	g := New(Options{Policies: builtin.Registry(), Services: policy.Env{Directory: dir}, Recorder: log})
	t.Cleanup(g.Close)
	a := api("orders", "/orders", nil, gatehouse.StatePublished, up.URL)
	a.Policies = []gatehouse.PolicySpec{{Type: "key-auth"}}
	a.Routes = []gatehouse.Route{{Name: "one", Path: "/{id}"}}
	plain := api("plain", "/plain", nil, gatehouse.StatePublished, up.URL)
	a.Normalize()
	plain.Normalize()
	if err := g.Swap(1, []*gatehouse.API{a, plain}, gold); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	do := func(method, path, key, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("User-Agent", "rec-test")
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do("POST", "/orders/7", "gh_good", "hello"); s != 200 {
		t.Fatalf("good key: %d", s)
	}
	if s := do("GET", "/orders/7", "", ""); s != 401 {
		t.Fatalf("no key: %d", s)
	}
	if s := do("GET", "/plain/x", "", ""); s != 200 {
		t.Fatalf("plain: %d", s)
	}
	if s := do("GET", "/nowhere", "", ""); s != 404 {
		t.Fatalf("unrouted: %d", s)
	}
	ev := log.take()
	if len(ev) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(ev), ev)
	}
	ok, rejected, plainEv, unrouted := ev[0], ev[1], ev[2], ev[3]
	if ok.API != "orders" || ok.Route != "one" || ok.Method != "POST" || ok.Status != 200 || ok.App != "shop" ||
		ok.KeyID != "key1" || ok.Plan != "gold" || ok.Developer != "d@example.com" || ok.BytesIn != 5 || ok.BytesOut == 0 ||
		ok.UserAgent != "rec-test" || ok.ClientIP != "127.0.0.1" || ok.RejectedBy != "" || ok.UpstreamLatency <= 0 ||
		ok.Latency < ok.UpstreamLatency || ok.Time.IsZero() {
		b, _ := json.Marshal(ok)
		t.Errorf("proxied event %s", b)
	}
	if rejected.Status != 401 || rejected.RejectedBy == "" || rejected.RejectCode != "missing_credentials" || rejected.UpstreamLatency != 0 || rejected.App != "" {
		b, _ := json.Marshal(rejected)
		t.Errorf("rejected event %s", b)
	}
	if plainEv.API != "plain" || plainEv.Status != 200 || plainEv.Route != "" || plainEv.UpstreamLatency <= 0 {
		b, _ := json.Marshal(plainEv)
		t.Errorf("plain event %s", b)
	}
	for _, e := range ev {
		if len(e.TraceID) != 32 {
			t.Errorf("event without a trace id: %+v", e)
		}
	}
	if unrouted.API != "" || unrouted.Status != 404 {
		b, _ := json.Marshal(unrouted)
		t.Errorf("unrouted event %s", b)
	}
}

type nopRecorder struct{}

func (nopRecorder) Record(*analytics.Event) {}

// BenchmarkServeHTTPRecorded is BenchmarkServeHTTP with a recorder: the difference is the
// cost of capturing an event (the writer wrapper, two clock reads, the pooled state).
func BenchmarkServeHTTPRecorded(b *testing.B) {
	g := New(Options{Upstream: upstream.Options{Transport: okTransport{}}, Recorder: nopRecorder{}})
	defer g.Close()
	if err := g.Swap(1, []*gatehouse.API{api("bench", "/", nil, gatehouse.StatePublished, "http://127.0.0.1:9")}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gw/items/1", nil)
	req.Header.Set("X-Request-Id", "fixed")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
