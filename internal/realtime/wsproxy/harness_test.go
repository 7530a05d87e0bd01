package wsproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

// wait bounds every blocking step; generous for a loaded 2-core machine.
const wait = 10 * time.Second

// request is one WebSocket-over-HTTP request as the origin received it.
type request struct {
	Path   string
	Header http.Header
	Body   string
}

// eventOrigin is an httptest origin speaking application/websocket-events.
// By default it behaves like the origin of the Pushpin transcripts: OPEN is
// accepted in GRIP mode with Set-Meta-User: alice, "hello" is echoed as
// "m:echo hello", CLOSE is echoed, and a few words trigger control messages.
type eventOrigin struct {
	t    *testing.T
	srv  *httptest.Server
	reqs chan request
	// open overrides the answer to OPEN when set.
	open func(w http.ResponseWriter)
	// gate, when set, is received from before answering a non-OPEN request.
	gate chan struct{}
	// fail makes every non-OPEN request answer 500.
	fail atomic.Bool
	// extra control/messages to answer a TEXT with, by text.
	mu      sync.Mutex
	replies map[string][]wsevents.Event
}

func newEventOrigin(t *testing.T) *eventOrigin {
	o := &eventOrigin{t: t, reqs: make(chan request, 200), replies: map[string][]wsevents.Event{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func ctl(t *testing.T, m map[string]any) wsevents.Event {
	t.Helper()
	e, err := wsevents.ControlEvent(m)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (o *eventOrigin) setGate(gate chan struct{}) {
	o.mu.Lock()
	o.gate = gate
	o.mu.Unlock()
}

func (o *eventOrigin) reply(text string, evs ...wsevents.Event) {
	o.mu.Lock()
	o.replies[text] = evs
	o.mu.Unlock()
}

func (o *eventOrigin) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.reqs <- request{Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)}
	evs, err := wsevents.Decode(body)
	if err != nil {
		http.Error(w, "bad events", http.StatusBadRequest)
		return
	}
	if len(evs) > 0 && evs[0].Type == wsevents.Open {
		if o.open != nil {
			o.open(w)
			return
		}
		w.Header().Set("Content-Type", wsevents.ContentType)
		w.Header().Set("Sec-WebSocket-Extensions", "grip")
		w.Header().Set("Set-Meta-User", "alice")
		w.Header().Set("X-Origin", "yes")
		_, _ = w.Write(wsevents.Encode(wsevents.Event{Type: wsevents.Open}))
		return
	}
	o.mu.Lock()
	gate := o.gate
	o.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if o.fail.Load() {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	var out []wsevents.Event
	for _, e := range evs {
		switch e.Type {
		case wsevents.Text:
			o.mu.Lock()
			rep, ok := o.replies[string(e.Content)]
			o.mu.Unlock()
			switch {
			case ok:
				out = append(out, rep...)
			case string(e.Content) == "unprefixed":
				out = append(out, wsevents.TextEvent("unprefixed"))
			default:
				out = append(out, wsevents.TextEvent("m:echo "+string(e.Content)))
			}
		case wsevents.Close:
			out = append(out, e)
		}
	}
	w.Header().Set("Content-Type", wsevents.ContentType)
	_, _ = w.Write(wsevents.Encode(out...))
}

// next returns the next request the origin received.
func (o *eventOrigin) next() request {
	o.t.Helper()
	select {
	case r := <-o.reqs:
		return r
	case <-time.After(wait):
		o.t.Fatal("timed out waiting for an origin request")
		return request{}
	}
}

// none asserts no request arrives for d.
func (o *eventOrigin) none(d time.Duration) {
	o.t.Helper()
	select {
	case r := <-o.reqs:
		o.t.Fatalf("unexpected origin request %q", r.Body)
	case <-time.After(d):
	}
}

// httpOrigin is Origin as the gateway implements it, over an http.Client.
type httpOrigin struct {
	url    string // origin base URL + the client's path
	client *http.Client
}

func (h *httpOrigin) Post(ctx context.Context, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = header.Clone()
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, wsevents.MaxResponseBody+1))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Upgrade speaks HTTP/1.1 by hand: a 101's body must carry the connection.
func (h *httpOrigin) Upgrade(ctx context.Context, header http.Header) (*http.Response, error) {
	u, err := url.Parse(h.url)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	_ = header.Write(&b)
	b.WriteString("\r\n")
	if _, err := nc.Write(b.Bytes()); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &bufConn{Reader: br, Conn: nc}
	} else {
		body, _ := io.ReadAll(resp.Body)
		nc.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

type bufConn struct {
	*bufio.Reader
	net.Conn
}

func (b *bufConn) Read(p []byte) (int, error) { return b.Reader.Read(p) }

// gateway is the test gateway: a listener whose handler calls Serve.
type gateway struct {
	t      *testing.T
	p      *Proxy
	fan    *fanout.Fanout
	met    *meter.Meter
	srv    *httptest.Server
	cfg    *Config
	origin string // origin base URL
	client *http.Client
}

func newGateway(t *testing.T, originURL string, cfg *Config) *gateway {
	t.Helper()
	hub := broker.NewHub(broker.HubOptions{})
	fan := fanout.New(fanout.Options{Broker: hub, FirstSubscriptionDelay: -1})
	met := meter.New()
	g := &gateway{t: t, fan: fan, met: met, cfg: cfg, origin: originURL}
	g.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	g.p = New(Options{Fanout: fan, Meter: met, Logger: slog.New(slog.DiscardHandler)})
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.p.Serve(w, r, g.cfg, "app1", &httpOrigin{url: g.origin + r.URL.Path, client: g.client})
	}))
	t.Cleanup(func() {
		g.p.Close()
		g.srv.Close()
		g.client.CloseIdleConnections()
	})
	return g
}

func (g *gateway) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(g.srv.URL, "http") + path
}

func (g *gateway) publish(items ...publish.Item) {
	g.t.Helper()
	if err := g.fan.Publish(context.Background(), items); err != nil {
		g.t.Fatal(err)
	}
}

func wsItem(channel string, m *publish.WSMessage) publish.Item {
	return publish.Item{Channel: channel, WSMessage: m}
}

// client is a test WebSocket client.
type client struct {
	t  *testing.T
	nc net.Conn
	r  io.Reader
	hs ws.Handshake
	h  http.Header // the 101's headers
}

func (g *gateway) dial(path string, header http.Header) *client {
	g.t.Helper()
	c := &client{t: g.t, h: http.Header{}}
	d := ws.Dialer{
		Header: ws.HandshakeHeaderHTTP(header),
		OnHeader: func(k, v []byte) error {
			c.h.Add(string(k), string(v))
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	nc, br, hs, err := d.Dial(ctx, g.wsURL(path))
	if err != nil {
		g.t.Fatalf("dial: %v", err)
	}
	c.nc, c.hs, c.r = nc, hs, nc
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	g.t.Cleanup(func() { nc.Close() })
	return c
}

func (c *client) send(op ws.OpCode, payload string) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.nc, op, []byte(payload)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next frame from the proxy.
func (c *client) read() (ws.OpCode, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return 0, nil, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return 0, nil, err
	}
	if h.Masked {
		c.t.Error("server frame is masked")
	}
	return h.OpCode, p, nil
}

func (c *client) expect(op ws.OpCode, payload string) {
	c.t.Helper()
	gotOp, got, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v (want %v %q)", err, op, payload)
	}
	if gotOp != op || string(got) != payload {
		c.t.Fatalf("got %v %q, want %v %q", gotOp, got, op, payload)
	}
}

// expectClose reads until a close frame and checks its code and reason.
func (c *client) expectClose(code int, reason string) {
	c.t.Helper()
	op, p, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v (want close %d)", err, code)
	}
	if op != ws.OpClose {
		c.t.Fatalf("got %v %q, want close %d %q", op, p, code, reason)
	}
	gotCode, gotReason := 0, ""
	if len(p) >= 2 {
		sc, rs := ws.ParseCloseFrameData(p)
		gotCode, gotReason = int(sc), rs
	}
	if gotCode != code || gotReason != reason {
		c.t.Fatalf("close %d %q, want %d %q", gotCode, gotReason, code, reason)
	}
}

// expectEOF checks the proxy dropped the TCP connection.
func (c *client) expectEOF() {
	c.t.Helper()
	op, p, err := c.read()
	if err == nil {
		c.t.Fatalf("got %v %q, want the connection closed", op, p)
	}
}

// closeWith sends a close frame.
func (c *client) closeWith(code int, reason string) {
	c.t.Helper()
	c.send(ws.OpClose, string(ws.NewCloseFrameBody(ws.StatusCode(code), reason)))
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
