package wsproxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func overHTTP() *Config { return &Config{API: "api1", OverHTTP: true} }

// checkHeader compares what the origin received with Pushpin's request
// (grip.md §2.1, origin-requests.jsonl); what Go's client adds by itself
// (User-Agent, Content-Length) is left out.
func checkHeader(t *testing.T, got http.Header, key, id string, meta map[string]string) {
	t.Helper()
	g := got.Clone()
	g.Del("User-Agent")
	g.Del("Content-Length")
	want := http.Header{
		"Sec-Websocket-Version":    {"13"},
		"Sec-Websocket-Key":        {key},
		"Sec-Websocket-Extensions": {"grip"},
		"Accept":                   {"application/websocket-events"},
		"Connection-Id":            {id},
		"Content-Type":             {"application/websocket-events"},
		"X-Client":                 {"c1"},
	}
	for k, v := range meta {
		want["Meta-"+k] = []string{v}
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("origin request headers\n got %v\nwant %v", g, want)
	}
}

// TestSession follows [T:P] and origin-requests.jsonl: the exact requests for
// OPEN, TEXT (with Meta-User from Set-Meta-User), the dropped unprefixed
// reply, and the client's close 4000 "bye" answered after the origin.
func TestSession(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	// Client headers the origin must not see: Meta-*, Grip-*, Accept.
	c := g.dial("/ws", http.Header{"X-Client": {"c1"}, "Meta-User": {"mallory"}, "Grip-Sig": {"forged"}, "Accept": {"*/*"}})
	key := ""
	open := o.next()
	key = open.Header.Get("Sec-WebSocket-Key")
	id := open.Header.Get("Connection-Id")
	if open.Path != "/ws" || open.Body != "OPEN\r\n" || !uuidV4.MatchString(id) || len(key) != 24 {
		t.Fatalf("OPEN request %q %q id %q", open.Path, open.Body, id)
	}
	checkHeader(t, open.Header, key, id, nil)

	// [T:Z]: the 101 carries the origin's headers without the
	// WebSocket-over-HTTP ones.
	if c.h.Get("X-Origin") != "yes" || c.h.Get("Set-Meta-User") != "" || c.h.Get("Content-Type") != "" ||
		c.h.Get("Sec-WebSocket-Extensions") != "" || c.h.Get("Content-Length") != "" {
		t.Errorf("101 headers %v", c.h)
	}

	c.send(ws.OpText, "hello")
	if r := o.next(); r.Body != "TEXT 5\r\nhello\r\n" {
		t.Fatalf("TEXT request %q", r.Body)
	} else {
		checkHeader(t, r.Header, key, id, map[string]string{"User": "alice"})
	}
	c.expect(ws.OpText, "echo hello")

	// The origin answers "unprefixed" without m:, which is dropped [T:P].
	c.send(ws.OpText, "unprefixed")
	if r := o.next(); r.Body != "TEXT a\r\nunprefixed\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	c.send(ws.OpText, "x")
	o.next()
	c.expect(ws.OpText, "echo x") // not "unprefixed"

	c.closeWith(4000, "bye")
	if r := o.next(); r.Body != "CLOSE 5\r\n\x0f\xa0bye\r\n" {
		t.Fatalf("CLOSE request %q", r.Body)
	}
	c.expectClose(4000, "bye")
	c.expectEOF()
	waitFor(t, "connection count to drop", func() bool { return g.p.Stats().Connections == 0 })
	st := g.p.Stats()
	if st.ConnectionsTotal != 1 || st.MessagesIn != 3 || st.OriginRequests != 5 {
		t.Errorf("stats %+v", st)
	}
}

// TestDisconnect: a client that drops TCP becomes DISCONNECT [T:U].
func TestDisconnect(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	c := g.dial("/ws", nil)
	o.next()
	c.nc.Close()
	if r := o.next(); r.Body != "DISCONNECT\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	waitFor(t, "teardown", func() bool { return g.p.Stats().Connections == 0 })

	// Dropped while a request is in flight: DISCONNECT follows it.
	gate := make(chan struct{})
	o.setGate(gate)
	c = g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "one")
	o.next()
	c.nc.Close()
	waitFor(t, "teardown", func() bool { return g.p.Stats().Connections == 0 })
	close(gate)
	if r := o.next(); r.Body != "DISCONNECT\r\n" {
		t.Fatalf("request %q", r.Body)
	}
}

// TestKeepAliveRequest: Keep-Alive-Interval makes an empty request on an idle
// connection [T:W] (the 20 s floor is shortened here).
func TestKeepAliveRequest(t *testing.T) {
	o := newEventOrigin(t)
	o.open = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", wsevents.ContentType)
		w.Header().Set("Keep-Alive-Interval", "20")
	}
	g := newGateway(t, o.srv.URL, overHTTP())
	g.p.kaOverride = 300 * time.Millisecond
	c := g.dial("/ws", nil)
	o.next() // OPEN, answered with an empty body and Keep-Alive-Interval
	for range 2 {
		if r := o.next(); r.Body != "" || r.Header.Get("Content-Type") != wsevents.ContentType {
			t.Fatalf("keep-alive request %q", r.Body)
		}
	}
	c.closeWith(1000, "")
	// Keep-alive requests may be in the queue before the CLOSE.
	for {
		r := o.next()
		if r.Body == "" {
			continue
		}
		if r.Body != "CLOSE 2\r\n\x03\xe8\r\n" {
			t.Fatalf("request %q", r.Body)
		}
		break
	}
	c.expectClose(1000, "")
}

// TestReject: a non-200 answer to OPEN goes to the client as is [T:Y].
func TestReject(t *testing.T) {
	o := newEventOrigin(t)
	o.open = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Why", "nope")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "go away\n")
	}
	g := newGateway(t, o.srv.URL, overHTTP())
	resp := rawUpgrade(t, g.srv.URL+"/ws-reject")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Why") != "nope" || string(body) != "go away\n" ||
		resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("rejection %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if st := g.p.Stats(); st.Rejected != 1 || st.Connections != 0 {
		t.Errorf("stats %+v", st)
	}
	// The meter slot was given back.
	if u := g.met.Snapshot(); len(u) != 1 || u[0].Connections != 0 {
		t.Errorf("meter %+v", u)
	}
}

// TestBadOpenResponse: a 200 that is not a valid OPEN answer is a failure,
// not a passthrough.
func TestBadOpenResponse(t *testing.T) {
	o := newEventOrigin(t)
	o.open = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", wsevents.ContentType)
		_, _ = io.WriteString(w, "TEXT 2\r\nhi\r\n")
	}
	g := newGateway(t, o.srv.URL, overHTTP())
	resp := rawUpgrade(t, g.srv.URL+"/ws")
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("bad OPEN answer gave %d %v", resp.StatusCode, resp.Header)
	}
}

// rawUpgrade sends a WebSocket handshake and returns whatever comes back.
func rawUpgrade(t *testing.T, rawURL string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	nc, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(wait))
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// subscribed dials and has the origin subscribe the connection to channel.
func subscribed(t *testing.T, o *eventOrigin, g *gateway, channel string, filters ...string) *client {
	t.Helper()
	m := map[string]any{"type": "subscribe", "channel": channel}
	if filters != nil {
		m["filters"] = filters
	}
	o.reply("sub "+channel, ctl(t, m), wsevents.TextEvent("m:subscribed"))
	c := g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "sub "+channel)
	o.next()
	c.expect(ws.OpText, "subscribed")
	return c
}

// TestPublish: subscribe by control message, then text and binary publishes,
// then a publish close 4001 "kicked" [T:P, T:Q].
func TestPublish(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	c := subscribed(t, o, g, "room")
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte("pub text")}))
	c.expect(ws.OpText, "pub text")
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Send, Type: "binary", Content: []byte{0, 1, 2, 0xff}}))
	c.expect(ws.OpBinary, "\x00\x01\x02\xff")
	g.publish(wsItem("other", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte("not mine")}))
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Hint}))
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Close, Code: 4001, Reason: "kicked"}))
	c.expectClose(4001, "kicked")
	// The origin is told with a CLOSE without code (origin-requests.jsonl).
	if r := o.next(); r.Body != "CLOSE\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	c.closeWith(4001, "kicked")
	c.expectEOF()
	if u := g.met.Snapshot(); len(u) != 1 || u[0].Messages != 2 || u[0].Bytes != 12 {
		t.Errorf("meter %+v", u)
	}
}

// TestRefresh: a refresh publish makes an empty request.
func TestRefresh(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	subscribed(t, o, g, "room")
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Refresh}))
	if r := o.next(); r.Body != "" {
		t.Fatalf("refresh request %q", r.Body)
	}
}

// TestDetach: after detach the origin gets a final CLOSE, client messages go
// nowhere, publishes still arrive [T:V].
func TestDetach(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	c := subscribed(t, o, g, "room")
	o.reply("detach", ctl(t, map[string]any{"type": "detach"}))
	c.send(ws.OpText, "detach")
	if r := o.next(); r.Body != "TEXT 6\r\ndetach\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	if r := o.next(); r.Body != "CLOSE\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	c.send(ws.OpText, "into the void")
	g.publish(wsItem("room", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte("still subscribed after detach")}))
	c.expect(ws.OpText, "still subscribed after detach")
	c.closeWith(1000, "")
	c.expectClose(1000, "")
	c.expectEOF()
	o.none(100 * time.Millisecond)
}

// TestKeepAliveControl: a keep-alive control message sends its content
// repeatedly [T:P: "ka!" every ~1.2–1.6 s for timeout 2].
func TestKeepAliveControl(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	o.reply("ka", ctl(t, map[string]any{"type": "keep-alive", "content": "ka!", "timeout": 1}))
	c := g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "ka")
	o.next()
	start := time.Now()
	c.expect(ws.OpText, "ka!")
	c.expect(ws.OpText, "ka!")
	// Two keep-alives take at least two jittered periods (>0 s each) and,
	// on a loaded machine, far less than the bound.
	if d := time.Since(start); d > wait {
		t.Errorf("two keep-alives took %v", d)
	}
	// Without content keep-alives stop.
	o.reply("stop", ctl(t, map[string]any{"type": "keep-alive"}), wsevents.TextEvent("m:stopped"))
	c.send(ws.OpText, "stop")
	for {
		_, p, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if string(p) == "stopped" {
			break
		}
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	h, err := ws.ReadHeader(c.r)
	if err == nil {
		t.Fatalf("keep-alive after it was turned off: %+v", h)
	}
}

// TestSendDelayed: send-delayed holds a message; flush-delayed sends it now.
func TestSendDelayed(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	o.reply("delay", ctl(t, map[string]any{"type": "send-delayed", "content": "later", "timeout": 100}))
	o.reply("flush", ctl(t, map[string]any{"type": "flush-delayed"}))
	c := g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "delay")
	o.next()
	c.send(ws.OpText, "flush")
	o.next()
	c.expect(ws.OpText, "later")
}

// TestSetMetaFilters: set-meta gives the subscription a user for skip-self
// and skip-users; require-sub needs another subscription (grip.md §3.3).
func TestSetMetaFilters(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	o.reply("me", ctl(t, map[string]any{"type": "set-meta", "name": "user", "value": "alice"}), wsevents.TextEvent("m:ok"))
	c := subscribed(t, o, g, "room", "skip-self", "skip-users", "require-sub")
	c.send(ws.OpText, "me")
	o.next()
	c.expect(ws.OpText, "ok")
	send := func(text string, meta map[string]string) {
		it := wsItem("room", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte(text)})
		it.Meta = meta
		g.publish(it)
	}
	send("from alice", map[string]string{"sender": "alice"})
	send("skip alice", map[string]string{"skip_users": "bob, alice"})
	send("needs vip", map[string]string{"require_sub": "vip"})
	send("from bob", map[string]string{"sender": "bob", "skip_users": "carol"})
	c.expect(ws.OpText, "from bob")
	// Content filters must match the subscription's: none here.
	it := wsItem("room", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte("filtered"), ContentFilters: []string{"build-id"}})
	g.publish(it)
	send("last", nil)
	c.expect(ws.OpText, "last")
}

// TestBatching: client messages queue while a request is in flight and the
// next request carries them all, fragments reassembled.
func TestBatching(t *testing.T) {
	o := newEventOrigin(t)
	gate := make(chan struct{})
	o.setGate(gate)
	g := newGateway(t, o.srv.URL, overHTTP())
	c := g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "one")
	if r := o.next(); r.Body != "TEXT 3\r\none\r\n" {
		t.Fatalf("request %q", r.Body)
	}
	// While "one" is held at the origin, queue three messages, one fragmented.
	c.send(ws.OpText, "two")
	c.send(ws.OpBinary, "\x00\x01")
	frag := ws.NewFrame(ws.OpText, false, []byte("thr"))
	if err := ws.WriteFrame(c.nc, ws.MaskFrameInPlace(frag)); err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpPing, "")
	if err := ws.WriteFrame(c.nc, ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, []byte("ee")))); err != nil {
		t.Fatal(err)
	}
	// The ping is answered at once, by the proxy.
	c.expect(ws.OpPong, "")
	waitFor(t, "messages to queue", func() bool { return g.p.Stats().MessagesIn == 4 })
	close(gate)
	if r := o.next(); r.Body != "TEXT 3\r\ntwo\r\nBINARY 2\r\n\x00\x01\r\nPING\r\nTEXT 5\r\nthree\r\n" {
		t.Fatalf("batched request %q", r.Body)
	}
	c.expect(ws.OpText, "echo one")
	c.expect(ws.OpText, "echo two")
	c.expect(ws.OpText, "echo three")
}

// TestConnectionLimit: the meter's cap is enforced before the origin is asked.
func TestConnectionLimit(t *testing.T) {
	o := newEventOrigin(t)
	cfg := overHTTP()
	cfg.Limits = meter.Limits{MaxConnections: 1}
	g := newGateway(t, o.srv.URL, cfg)
	g.dial("/ws", nil)
	o.next()
	resp := rawUpgrade(t, g.srv.URL+"/ws")
	var doc struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	if resp.StatusCode != http.StatusTooManyRequests || doc.Code != "realtime_connection_limit" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over the cap: %d %v %+v", resp.StatusCode, resp.Header, doc)
	}
	o.none(100 * time.Millisecond)
}

// TestOriginCloseAndDisconnect: a CLOSE from the origin closes the client; a
// DISCONNECT drops it.
func TestOriginCloseAndDisconnect(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	o.reply("close me", wsevents.CloseEvent(4002, "done"))
	o.reply("drop me", wsevents.Event{Type: wsevents.Disconnect})
	c := g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "close me")
	o.next()
	c.expectClose(4002, "done")
	c.closeWith(4002, "done")
	c.expectEOF()

	c = g.dial("/ws", nil)
	o.next()
	c.send(ws.OpText, "drop me")
	o.next()
	c.expectEOF()
	waitFor(t, "teardown", func() bool { return g.p.Stats().Connections == 0 })
	o.none(100 * time.Millisecond)
}

// TestOriginError: an origin that fails a request closes the client with 1011.
func TestOriginError(t *testing.T) {
	o := newEventOrigin(t)
	g := newGateway(t, o.srv.URL, overHTTP())
	c := g.dial("/ws", nil)
	o.next()
	o.fail.Store(true)
	c.send(ws.OpText, "hello")
	o.next()
	c.expectClose(1011, "")
	c.expectEOF()
	if st := g.p.Stats(); st.OriginErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newUUID()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestOriginHeader(t *testing.T) {
	in := http.Header{
		"Connection": {"Upgrade, X-Hop"}, "Upgrade": {"websocket"}, "X-Hop": {"1"}, "Sec-Websocket-Extensions": {"permessage-deflate"},
		"Meta-User": {"m"}, "Grip-Sig": {"s"}, "Connection-Id": {"c"}, "Accept": {"*/*"}, "Cookie": {"a=b"},
		"Sec-Websocket-Protocol": {"chat"},
	}
	want := http.Header{
		"Cookie": {"a=b"}, "Sec-Websocket-Protocol": {"chat"}, "Sec-Websocket-Extensions": {"grip"},
		"Accept": {wsevents.ContentType}, "Content-Type": {wsevents.ContentType}, "Connection-Id": {"id"},
	}
	if got := originHeader(in, "id"); !reflect.DeepEqual(got, want) {
		t.Errorf("originHeader = %v", got)
	}
}
