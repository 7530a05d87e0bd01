package hold

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// fakeOrigin records what a hold asks of its origin and answers from the test's funcs.
type fakeOrigin struct {
	mu      sync.Mutex
	retries []http.Header
	links   []string // URL + " | " + Grip-Last values
	retry   func(n int, extra http.Header) (*Upstream, error)
	link    func(n int, u *url.URL, extra http.Header) (*Upstream, error)
}

func (o *fakeOrigin) Retry(ctx context.Context, extra http.Header) (*Upstream, error) {
	o.mu.Lock()
	o.retries = append(o.retries, extra)
	n := len(o.retries)
	fn := o.retry
	o.mu.Unlock()
	if fn == nil {
		return &Upstream{Status: 200, Header: http.Header{}, Body: []byte("retried\n")}, nil
	}
	return fn(n, extra)
}

func (o *fakeOrigin) Link(ctx context.Context, u *url.URL, extra http.Header) (*Upstream, error) {
	o.mu.Lock()
	o.links = append(o.links, u.String()+" | "+strings.Join(extra.Values("Grip-Last"), ", "))
	n := len(o.links)
	fn := o.link
	o.mu.Unlock()
	if fn == nil {
		return &Upstream{Status: 200, Header: http.Header{}, Body: nil}, nil
	}
	return fn(n, u, extra)
}

func (o *fakeOrigin) retryCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.retries)
}

func (o *fakeOrigin) linkList() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.links...)
}

type env struct {
	t      testing.TB
	f      *fanout.Fanout
	h      *Holder
	m      *meter.Meter
	cfg    *Config
	origin *fakeOrigin
	srv    *httptest.Server
	// up answers each client request with the origin response the gateway read.
	up   func(r *http.Request) *Upstream
	wrap func(w http.ResponseWriter) http.ResponseWriter
}

type envOpts struct {
	firstSub time.Duration // fanout FirstSubscriptionDelay; 0: off
	hold     Options
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	fsd := o.firstSub
	if fsd == 0 {
		fsd = -1
	}
	f := fanout.New(fanout.Options{Broker: broker.NewHub(broker.HubOptions{}), FirstSubscriptionDelay: fsd})
	m := meter.New()
	opts := o.hold
	opts.Fanout = f
	if opts.Meter == nil {
		opts.Meter = m
	}
	e := &env{t: t, f: f, m: m, h: New(opts), cfg: &Config{API: "api"}, origin: &fakeOrigin{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "rid-1")
		if e.wrap != nil {
			w = e.wrap(w)
		}
		e.h.Serve(w, r, e.cfg, "app1", e.up(r), e.origin)
	}))
	t.Cleanup(func() {
		e.h.Close()
		e.srv.CloseClientConnections()
		e.srv.Close()
	})
	return e
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func (e *env) publish(items ...publish.Item) {
	e.t.Helper()
	if err := e.f.Publish(context.Background(), items); err != nil {
		e.t.Fatal(err)
	}
}

func streamItem(ch, content string) publish.Item {
	return publish.Item{Channel: ch, HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte(content)}}
}

// waitFor polls cond for up to 10 s (generous for a loaded machine).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) subscribers(ch string) int {
	for _, c := range e.f.Channels(0) {
		if c.Name == ch {
			return c.Subscribers
		}
	}
	return 0
}

func (e *env) waitSubscribers(ch string, n int) {
	e.t.Helper()
	waitFor(e.t, "subscribers on "+ch, func() bool { return e.subscribers(ch) == n })
}

// rawClient is a loopback HTTP/1.1 client that records every byte it receives, to
// compare with Pushpin's transcripts.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	mu   sync.Mutex
	buf  bytes.Buffer
	eof  bool
	at   []stamp
	wake chan struct{}
}

type stamp struct {
	at time.Time
	n  int // buffer length after this read
}

func (e *env) dial(path string) *rawClient {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	c := &rawClient{t: e.t, conn: conn, wake: make(chan struct{}, 1)}
	e.t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+e.srv.Listener.Addr().String()+"\r\nUser-Agent: rawclient\r\n\r\n"); err != nil {
		e.t.Fatal(err)
	}
	go c.read()
	return c
}

func (c *rawClient) read() {
	b := make([]byte, 4096)
	for {
		n, err := c.conn.Read(b)
		c.mu.Lock()
		c.buf.Write(b[:n])
		if n > 0 {
			c.at = append(c.at, stamp{time.Now(), c.buf.Len()})
		}
		if err != nil {
			c.eof = true
		}
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (c *rawClient) bytes() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitBytes waits until the received bytes contain want and returns when the last
// byte of its first occurrence arrived.
func (c *rawClient) waitBytes(want string) time.Time {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		i := strings.Index(c.buf.String(), want)
		if i >= 0 {
			end := i + len(want)
			var at time.Time
			for _, s := range c.at {
				if s.n >= end {
					at = s.at
					break
				}
			}
			c.mu.Unlock()
			return at
		}
		eof := c.eof
		got := c.buf.String()
		c.mu.Unlock()
		if eof {
			c.t.Fatalf("connection ended without %q; got %q", want, got)
		}
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("timed out waiting for %q; got %q", want, got)
		}
	}
}

func (c *rawClient) waitEOF() {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		eof := c.eof
		c.mu.Unlock()
		if eof {
			return
		}
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("timed out waiting for the connection to end; got %q", c.bytes())
		}
	}
}

// dechunk decodes a chunked body (after the head), tolerating an unfinished stream.
func dechunk(s string) string {
	var out strings.Builder
	r := bufio.NewReader(strings.NewReader(s))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return out.String()
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil || n == 0 {
			return out.String()
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			out.Write(b)
			return out.String()
		}
		out.Write(b[:n])
	}
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) get(ctx context.Context, path string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	return e.srv.Client().Do(req)
}

func (e *env) waitIdle() {
	e.t.Helper()
	waitFor(e.t, "no held connections", func() bool {
		st := e.h.Stats()
		return st.HeldResponse == 0 && st.HeldStream == 0
	})
}
