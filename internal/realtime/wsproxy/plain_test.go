package wsproxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

// wsOrigin is a WebSocket origin: it echoes, and on /grip accepts the grip
// extension and answers "sub" with a subscribe control message.
func wsOrigin(t *testing.T, seen chan<- http.Header) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen <- r.Header.Clone()
		}
		if r.URL.Path == "/reject" {
			w.Header().Set("X-Why", "nope")
			http.Error(w, "go away", http.StatusForbidden)
			return
		}
		gripMode := r.URL.Path == "/grip" && strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "grip")
		u := ws.HTTPUpgrader{Header: http.Header{"X-Origin": {"ws"}}}
		if gripMode {
			u.Header.Set("Sec-WebSocket-Extensions", "grip")
		}
		nc, _, _, err := u.Upgrade(r, w)
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			for {
				msg, op, err := wsutil.ReadClientData(nc)
				if err != nil {
					return
				}
				var out [][]byte
				switch {
				case !gripMode:
					out = [][]byte{msg}
				case string(msg) == "sub":
					out = [][]byte{[]byte(`c:{"type":"subscribe","channel":"room"}`), []byte("unprefixed"), []byte("m:subscribed")}
				default:
					out = [][]byte{append([]byte("m:echo "), msg...)}
				}
				for _, m := range out {
					if err := wsutil.WriteServerMessage(nc, op, m); err != nil {
						return
					}
				}
			}
		}()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPlainEcho: without over_http frames are relayed both ways.
func TestPlainEcho(t *testing.T) {
	seen := make(chan http.Header, 4)
	o := wsOrigin(t, seen)
	g := newGateway(t, o.URL, &Config{API: "api1"})
	c := g.dial("/echo", http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}, "X-Client": {"c1"}})
	h := <-seen
	// grip is offered instead of the client's extensions.
	if h.Get("Sec-WebSocket-Extensions") != "grip" || h.Get("X-Client") != "c1" {
		t.Errorf("origin handshake headers %v", h)
	}
	if c.h.Get("X-Origin") != "ws" {
		t.Errorf("101 headers %v", c.h)
	}
	c.send(ws.OpText, "hello")
	c.expect(ws.OpText, "hello")
	c.send(ws.OpBinary, "\x00\x01")
	c.expect(ws.OpBinary, "\x00\x01")
	// Not GRIP: "c:" is just text.
	c.send(ws.OpText, `c:{"type":"detach"}`)
	c.expect(ws.OpText, `c:{"type":"detach"}`)
	c.closeWith(1000, "")
	c.expectClose(1000, "")
	c.expectEOF()
	waitFor(t, "teardown", func() bool { return g.p.Stats().Connections == 0 })
}

// TestPlainReject: a non-101 origin answer is relayed.
func TestPlainReject(t *testing.T) {
	o := wsOrigin(t, nil)
	g := newGateway(t, o.URL, &Config{API: "api1"})
	resp := rawUpgrade(t, g.srv.URL+"/reject")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Why") != "nope" || string(body) != "go away\n" {
		t.Fatalf("rejection %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

// TestPlainGrip: an origin that accepts grip on a real WebSocket subscribes
// with control messages; unprefixed messages are dropped.
func TestPlainGrip(t *testing.T) {
	o := wsOrigin(t, nil)
	g := newGateway(t, o.URL, &Config{API: "api1", ChannelPrefix: "p-"})
	c := g.dial("/grip", nil)
	if c.h.Get("Sec-WebSocket-Extensions") != "" {
		t.Errorf("grip leaked to the client: %v", c.h)
	}
	c.send(ws.OpText, "sub")
	c.expect(ws.OpText, "subscribed")
	c.send(ws.OpText, "hi")
	c.expect(ws.OpText, "echo hi")
	g.publish(wsItem("p-room", &publish.WSMessage{Action: publish.Send, Type: "text", Content: []byte("pub")}))
	c.expect(ws.OpText, "pub")
	g.publish(wsItem("p-room", &publish.WSMessage{Action: publish.Close, Code: 4001, Reason: "kicked"}))
	c.expectClose(4001, "kicked")
	c.closeWith(4001, "kicked")
	c.expectEOF()
}

// TestIdleMemory measures heap and stacks per idle over-HTTP WebSocket: 1000
// connections over loopback. Client sockets are in the figure too.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 connections")
	}
	const n = 1000
	o := newEventOrigin(t)
	go func() {
		for range o.reqs {
		}
	}()
	g := newGateway(t, o.srv.URL, overHTTP())
	g.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 2
	conns := make([]net.Conn, 0, n)
	dial := func() net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		nc, _, _, err := ws.Dial(ctx, g.wsURL("/ws"))
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	// Warm up pools and the runtime before the baseline.
	for range 20 {
		dial().Close()
	}
	waitFor(t, "warm-up teardown", func() bool { return g.p.Stats().Connections == 0 })
	before := memInUse()
	for range n {
		conns = append(conns, dial())
	}
	waitFor(t, "all connections", func() bool { return g.p.Stats().Connections == n })
	time.Sleep(200 * time.Millisecond) // let handler goroutines finish returning
	after := memInUse()
	t.Logf("idle over-HTTP WebSocket: %d bytes per connection (heap+stack, client side included), %d goroutines",
		(int64(after)-int64(before))/n, runtime.NumGoroutine())
	for _, nc := range conns {
		nc.Close()
	}
	waitFor(t, "teardown", func() bool { return g.p.Stats().Connections == 0 })
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// fakeConn feeds the client reader fuzzed bytes and discards writes.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (f *fakeConn) Read(p []byte) (int, error)       { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (fakeOrigin) Upgrade(context.Context, http.Header) (*http.Response, error) {
	return nil, io.EOF
}

type fakeOrigin struct{}

func (fakeOrigin) Post(context.Context, http.Header, []byte) (*Response, error) {
	return &Response{Status: 200, Header: http.Header{"Content-Type": {wsevents.ContentType}}}, nil
}

// FuzzClientFrames runs the client frame reader over arbitrary bytes.
func FuzzClientFrames(f *testing.F) {
	masked := func(frames ...ws.Frame) []byte {
		var b bytes.Buffer
		for _, fr := range frames {
			_ = ws.WriteFrame(&b, ws.MaskFrame(fr))
		}
		return b.Bytes()
	}
	f.Add(masked(ws.NewTextFrame([]byte("hello"))))
	f.Add(masked(ws.NewFrame(ws.OpText, false, []byte("a")), ws.NewPingFrame(nil), ws.NewFrame(ws.OpContinuation, true, []byte("b"))))
	f.Add(masked(ws.NewCloseFrame(ws.NewCloseFrameBody(4000, "bye"))))
	f.Add(masked(ws.NewBinaryFrame([]byte{0, 1}), ws.NewPongFrame([]byte("x"))))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Add([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	p := New(Options{})
	defer p.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{p: p, cfg: &Config{OverHTTP: true}, origin: fakeOrigin{}, nc: &fakeConn{r: bytes.NewReader(data)}, base: http.Header{}}
		c.readLoop()
	})
}
