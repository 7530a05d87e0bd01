package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// liveTraffic is one second's events: 5 on orders (one 503), 3 on users (one rejected).
func liveTraffic() []analytics.Event {
	var evs []analytics.Event
	for i := range 5 {
		st := 200
		if i == 0 {
			st = 503
		}
		evs = append(evs, analytics.Event{Kind: analytics.KindRequest, API: "orders", Route: "GET /orders", Status: st, Latency: time.Millisecond})
	}
	for i := range 3 {
		e := analytics.Event{Kind: analytics.KindRequest, API: "users", Status: 200, Latency: 2 * time.Millisecond}
		if i == 0 {
			e.Status, e.RejectedBy = 429, "rate-limit"
		}
		evs = append(evs, e)
	}
	return evs
}

// openStream connects to the live endpoint and checks the response headers.
func (e *env) openStream(query string) (*sseReader, context.CancelFunc) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/analytics/live"+query, nil)
	req.Header.Set("Authorization", goodToken)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("live: %d", res.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := res.Header.Get(k); got != want {
			e.t.Errorf("live: %s %q, want %q", k, got, want)
		}
	}
	return newSSEReader(e.t, res.Body), cancel
}

// second decodes a "second" event.
func second(t *testing.T, ev sse) LiveEvent {
	t.Helper()
	if ev.Event != "second" {
		t.Fatalf("event %+v", ev)
	}
	var s LiveEvent
	if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
		t.Fatalf("%v in %s", err, ev.Data)
	}
	return s
}

// closeSecond moves the clock one second on and ticks, closing the open second.
func (e *env) closeSecond() {
	e.clock.Set(e.clock.Now().Add(time.Second))
	e.live.Tick()
}

func TestLiveStream(t *testing.T) {
	e := newEnv(t, envOptions{})
	T := e.clock.Now()
	e.record(liveTraffic())
	e.closeSecond() // second T is complete (and published to nobody)

	st, disconnect := e.openStream("")
	if c := st.next(true); c.Comment == "" {
		t.Fatalf("first %+v", c)
	}
	b := second(t, st.next(false))
	if b.Node != "n1" || !b.Time.Equal(T) || b.Count != 8 || b.Errors != 1 || b.RateLimited != 1 || b.Rejected != 1 ||
		b.APIs["orders"].Count != 5 || b.APIs["users"].Count != 3 || len(b.Notable) != 2 {
		t.Fatalf("backlog second: %+v", b)
	}
	if got := e.fan.Stats().Subscribers; got != 1 {
		t.Fatalf("%d fanout subscribers", got)
	}

	// A new second arrives through the realtime channel; T, published meanwhile, is not
	// sent again.
	e.record(liveTraffic()[:2])
	e.closeSecond()
	s := second(t, st.next(false))
	if !s.Time.Equal(T.Add(time.Second)) || s.Count != 2 || s.Node != "n1" {
		t.Fatalf("live second: %+v", s)
	}
	// Another node's seconds come through too, whatever their time.
	other, _ := json.Marshal(LiveEvent{Node: "n2", LiveSecond: analytics.LiveSecond{Time: T, LiveCounts: analytics.LiveCounts{Count: 42}}})
	if err := e.fan.Publish(context.Background(), []publish.Item{{Channel: DefaultChannel, HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: sseEvent("second", other)}}}); err != nil {
		t.Fatal(err)
	}
	if s := second(t, st.next(false)); s.Node != "n2" || s.Count != 42 {
		t.Fatalf("other node: %+v", s)
	}
	// Empty seconds are sent as zeros.
	e.closeSecond()
	if s := second(t, st.next(false)); !s.Time.Equal(T.Add(2*time.Second)) || s.Count != 0 {
		t.Fatalf("empty second: %+v", s)
	}
	// The publisher counts a second after the broker took it, which may be after the
	// stream already delivered it: wait for the count.
	waitFor(t, "3 seconds counted as published", func() bool { return e.api.Stats().Published >= 3 })
	if e.api.Stats().Streams != 1 {
		t.Fatalf("stats %+v", e.api.Stats())
	}

	// The client goes away: its subscription is freed.
	disconnect()
	waitFor(t, "the subscription to go", func() bool { return e.fan.Stats().Subscribers == 0 && e.api.Stats().Streams == 0 })
}

func TestLiveAPIFilter(t *testing.T) {
	e := newEnv(t, envOptions{})
	T := e.clock.Now()
	e.record(liveTraffic())
	e.closeSecond()
	st, _ := e.openStream("?api=orders")
	decode := func(ev sse) LiveAPIEvent {
		t.Helper()
		if ev.Event != "second" {
			t.Fatalf("event %+v", ev)
		}
		var s LiveAPIEvent
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ev := st.next(false)
	if strings.Contains(ev.Data, "users") || strings.Contains(ev.Data, "apis") {
		t.Fatalf("another API's data in a filtered stream: %s", ev.Data)
	}
	b := decode(ev)
	if b.API != "orders" || b.Node != "n1" || !b.Time.Equal(T) || b.Count != 5 || b.Errors != 1 || len(b.Notable) != 1 || b.Notable[0].API != "orders" {
		t.Fatalf("backlog: %+v", b)
	}
	e.record(liveTraffic()[5:]) // users only
	e.closeSecond()
	if s := decode(st.next(false)); s.Count != 0 || !s.Time.Equal(T.Add(time.Second)) || s.API != "orders" {
		t.Fatalf("live: %+v", s)
	}
}

func TestLiveKeepAlive(t *testing.T) {
	e := newEnv(t, envOptions{tune: func(a *API) { a.keepAlive = 20 * time.Millisecond }})
	st, _ := e.openStream("")
	for {
		ev := st.next(true)
		if ev.Comment == "keep-alive" {
			return
		}
	}
}

func TestLiveWithoutFanout(t *testing.T) {
	e := newEnv(t, envOptions{noFanout: true})
	T := e.clock.Now()
	e.record(liveTraffic())
	e.closeSecond()
	st, disconnect := e.openStream("")
	if b := second(t, st.next(false)); b.Count != 8 || !b.Time.Equal(T) {
		t.Fatalf("backlog: %+v", b)
	}
	// The stream's own Live subscription is made before the handler writes anything, so
	// the next tick reaches it.
	e.record(liveTraffic()[:3])
	e.closeSecond()
	if s := second(t, st.next(false)); s.Count != 3 || !s.Time.Equal(T.Add(time.Second)) {
		t.Fatalf("live: %+v", s)
	}
	disconnect()
	waitFor(t, "the stream to end", func() bool { return e.api.Stats().Streams == 0 })
}

func TestLiveEndsWithStart(t *testing.T) {
	e := newEnv(t, envOptions{})
	st, _ := e.openStream("")
	st.next(true)
	e.stop()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-st.ch:
			if !ok {
				waitFor(t, "the subscription to go", func() bool { return e.fan.Stats().Subscribers == 0 })
				return
			}
		case <-deadline:
			t.Fatal("stream still open after Start's context ended")
		}
	}
}

func TestLiveNotEnabled(t *testing.T) {
	e := newEnv(t, envOptions{tune: func(a *API) { a.live = nil }})
	if d := e.getProblem("/v1/analytics/live", http.StatusNotFound); d.Code != "not_found" {
		t.Fatalf("%+v", d)
	}
}

// capture is a fanout subscriber that keeps what it is given.
type capture struct {
	mu    sync.Mutex
	items []*publish.Item
}

func (c *capture) Deliver(_ string, it *publish.Item) {
	c.mu.Lock()
	c.items = append(c.items, it)
	c.mu.Unlock()
}

func (c *capture) Update(string, fanout.Reason) {}

func (c *capture) get() []*publish.Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*publish.Item(nil), c.items...)
}

func TestPublishedItem(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := &capture{}
	unsub, err := e.fan.Subscribe(DefaultChannel, c)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	T := e.clock.Now()
	e.record(liveTraffic())
	e.closeSecond()
	waitFor(t, "a published second", func() bool { return len(c.get()) == 1 })
	it := c.get()[0]
	if it.HTTPStream == nil || it.WSMessage == nil || it.WSMessage.Type != "text" {
		t.Fatalf("item %+v", it)
	}
	content := string(it.HTTPStream.Content)
	if !strings.HasPrefix(content, "event: second\ndata: {") || !strings.HasSuffix(content, "}\n\n") || strings.Count(content, "\n") != 3 {
		t.Fatalf("http-stream content %q", content)
	}
	if content != "event: second\ndata: "+string(it.WSMessage.Content)+"\n\n" {
		t.Fatalf("ws-message %q vs http-stream %q", it.WSMessage.Content, content)
	}
	var s LiveEvent
	if err := json.Unmarshal(it.WSMessage.Content, &s); err != nil {
		t.Fatal(err)
	}
	if s.Node != "n1" || !s.Time.Equal(T) || s.Count != 8 {
		t.Fatalf("second %+v", s)
	}
	var raw map[string]any
	_ = json.Unmarshal(it.WSMessage.Content, &raw)
	for _, k := range []string{"node", "time", "count", "errors", "p50_ms", "p99_ms", "apis", "notable"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q in %s", k, it.WSMessage.Content)
		}
	}
	if st := e.api.Stats(); st.Published != 1 || st.PublishErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSlowStreamDrops(t *testing.T) {
	a := New(Options{})
	s := &streamSub{ch: make(chan []byte, 2), api: a}
	it := &publish.Item{HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("x")}}
	for range 5 {
		s.Deliver(DefaultChannel, it) // never blocks
	}
	s.Deliver(DefaultChannel, &publish.Item{WSMessage: &publish.WSMessage{}}) // no http-stream: ignored
	s.Deliver(DefaultChannel, &publish.Item{HTTPStream: &publish.HTTPStream{Action: publish.Close}})
	if len(s.ch) != 2 || s.dropped.Load() != 3 || a.Stats().Dropped != 3 {
		t.Fatalf("queued %d, dropped %d, api %d", len(s.ch), s.dropped.Load(), a.Stats().Dropped)
	}
}

func TestSSEData(t *testing.T) {
	for in, want := range map[string]string{
		"event: second\ndata: {}\n\n":        "{}",
		"data:x\r\ndata: y\n\n":              "x\ny",
		": comment\n\n":                      "",
		"event: second\ndata: {\"a\":1}\n\n": `{"a":1}`,
	} {
		if got := string(sseData([]byte(in))); got != want {
			t.Errorf("sseData(%q) = %q, want %q", in, got, want)
		}
	}
}
