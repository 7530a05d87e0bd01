package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
)

// waitTimeout bounds waits for something that must happen; generous for busy machines.
const waitTimeout = 10 * time.Second

// t0 is the start of the test traffic.
var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a whole analytics pipeline (recorder → aggregator and live sink → memory store →
// query engine), a realtime fan-out over an in-process hub, and the API on an httptest
// server (127.0.0.1) behind a token check.
type env struct {
	t     *testing.T
	clock *fakeClock
	store *analytics.MemoryStore
	rec   *analytics.Recorder
	agg   *analytics.Aggregator
	live  *analytics.Live
	fan   *fanout.Fanout
	api   *API
	srv   *httptest.Server
	mux   *http.ServeMux
	stop  context.CancelFunc // ends the API's Start context
}

type envOptions struct {
	noStore  bool // API without the request log
	noFanout bool // API reading Live directly
	tune     func(*API)
}

const (
	goodToken      = "Bearer good"
	forbiddenToken = "Bearer read-only"
)

func authenticate(r *http.Request) error {
	switch r.Header.Get("Authorization") {
	case goodToken:
		return nil
	case forbiddenToken:
		return gatehouse.Errorf(gatehouse.EForbidden, "this token may not read analytics")
	case "":
		return gatehouse.Errorf(gatehouse.EUnauthorized, "no token")
	}
	return gatehouse.Errorf(gatehouse.EUnauthorized, "unknown token")
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, clock: &fakeClock{t: t0.Add(2 * time.Hour)}, store: analytics.NewMemoryStore(), stop: cancel}
	e.agg = analytics.NewAggregator(analytics.AggregatorOptions{Store: e.store, Node: "n1", Clock: e.clock.Now, RequestSampleRate: 1})
	e.live = analytics.NewLive(analytics.LiveOptions{Clock: e.clock.Now})
	e.rec = analytics.NewRecorder(analytics.RecorderOptions{Sinks: []analytics.Sink{e.agg, e.live}})
	t.Cleanup(e.rec.Close)
	q := analytics.NewQuery(analytics.QueryOptions{Store: e.store, Aggregator: e.agg})
	hub := broker.NewHub(broker.HubOptions{})
	t.Cleanup(func() { _ = hub.Close() })
	opts := Options{Query: q, Store: e.store, Live: e.live, Node: "n1", Now: e.clock.Now}
	if !o.noFanout {
		e.fan = fanout.New(fanout.Options{Broker: hub, FirstSubscriptionDelay: -1})
		opts.Fanout = e.fan
	}
	if o.noStore {
		opts.Store = nil
	}
	e.api = New(opts)
	if o.tune != nil {
		o.tune(e.api)
	}
	e.api.Start(ctx)
	e.mux = http.NewServeMux()
	e.api.Mount(e.mux, authenticate)
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	return e
}

// record feeds events through the recorder into every sink.
func (e *env) record(evs []analytics.Event) {
	for i := range evs {
		e.rec.Record(&evs[i])
	}
	e.rec.Drain()
}

func (e *env) flush() {
	e.t.Helper()
	if err := e.agg.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// get sends an authenticated GET.
func (e *env) get(path string, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", goodToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return res
}

// getJSON GETs path, expects 200 application/json and decodes into v.
func (e *env) getJSON(path string, v any) *http.Response {
	e.t.Helper()
	res := e.get(path)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Fatalf("GET %s: Cache-Control %q", path, cc)
	}
	if err := json.Unmarshal(body, v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return res
}

// getCSV GETs path, expects 200 text/csv and parses it.
func (e *env) getCSV(path string, hdr ...string) ([][]string, *http.Response) {
	e.t.Helper()
	res := e.get(path, hdr...)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		e.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	if len(rows) == 0 {
		e.t.Fatalf("GET %s: no header row", path)
	}
	return rows, res
}

// getProblem GETs path and expects a problem document with status.
func (e *env) getProblem(path string, status int, hdr ...string) problem.Document {
	e.t.Helper()
	res := e.get(path, hdr...)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		e.t.Fatalf("GET %s: %d, want %d: %s", path, res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var d problem.Document
	if err := json.Unmarshal(body, &d); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return d
}

// column returns the index of name in a CSV header.
func column(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, header)
	return -1
}

// traffic is n known request events over the hour from t0 (one every 3600/n seconds),
// over two APIs, three apps and a few statuses, some of them messages.
func traffic(n int) []analytics.Event {
	apis := []string{"orders", "users"}
	apps := []string{"alpha", "beta", "gamma"}
	evs := make([]analytics.Event, n)
	for i := range evs {
		app := apps[i%3]
		plan := "free"
		if app == "alpha" {
			plan = "gold"
		}
		e := analytics.Event{
			Kind: analytics.KindRequest, Time: t0.Add(time.Duration(i) * time.Hour / time.Duration(n)),
			API: apis[i%2], Route: "GET /" + apis[i%2], Method: "GET", Status: 200,
			App: app, Developer: "dev-" + app, Plan: plan, KeyID: "k-" + app,
			ClientIP: "192.0.2.1", UserAgent: "test", BytesIn: 10, BytesOut: 100,
			Latency: time.Duration(1+i%20) * time.Millisecond, UpstreamLatency: time.Millisecond,
		}
		switch {
		case i%10 == 0:
			e.Status = 503
		case i%7 == 0:
			e.Status = 404
		case i%25 == 1:
			e.Kind, e.Status = analytics.KindMessage, 0
		}
		evs[i] = e
	}
	return evs
}

// count is how many requests match keep, and how many of those are errors: queries
// without a kind filter count requests only.
func count(evs []analytics.Event, keep func(e *analytics.Event) bool) (n, errs int64) {
	return countKinds(evs, func(e *analytics.Event) bool { return e.Kind == analytics.KindRequest && keep(e) })
}

// countKinds is count for queries that name their kinds: keep decides alone.
func countKinds(evs []analytics.Event, keep func(e *analytics.Event) bool) (n, errs int64) {
	for i := range evs {
		if keep(&evs[i]) {
			n++
			if evs[i].Status >= 500 {
				errs++
			}
		}
	}
	return n, errs
}

// sseEvent is one event (or comment) read from a live stream.
type sse struct {
	Comment string
	Event   string
	Data    string
}

// sseReader reads a stream's events on a goroutine of its own.
type sseReader struct {
	t  *testing.T
	ch chan sse
}

func newSSEReader(t *testing.T, r io.Reader) *sseReader {
	s := &sseReader{t: t, ch: make(chan sse, 1024)}
	go func() {
		defer close(s.ch)
		br := bufio.NewReader(r)
		var cur sse
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if cur != (sse{}) {
					s.ch <- cur
				}
				cur = sse{}
			case strings.HasPrefix(line, ":"):
				cur.Comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				cur.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				cur.Data = line[len("data: "):]
			}
		}
	}()
	return s
}

// next returns the next event that is not a comment (or a comment when comments is set).
func (s *sseReader) next(comments bool) sse {
	s.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				s.t.Fatal("stream ended")
			}
			if ev.Comment != "" && !comments {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatal("no event in time")
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
