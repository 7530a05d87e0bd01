package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Transport sends plain-http requests over HTTP/1.1 in the calling goroutine and hands
// everything else to an *http.Transport.
//
// Why: http.Transport gives every connection a writeLoop and a readLoop goroutine; each
// request is handed to the first, its response read by the second, which then parks on a
// read-ahead for the next response. For a proxy doing small keep-alive requests that is
// an extra EAGAIN read, a netpoll wake-up and two goroutine switches per request, most of
// the gateway's CPU per request. Here the caller writes the request (usually one write),
// reads the response, and the connection goes back to an idle list when the body ends; no
// goroutine exists per connection, and nothing reads ahead.
//
// Falls back to the *http.Transport: https targets (TLS, HTTP/2), protocol upgrades
// (ReverseProxy needs a writable 101 body), Expect (100-continue), request trailers,
// requests an HTTP proxy from the environment applies to, and anything the lean path does
// not write byte for byte as http.Transport would (CONNECT, opaque URLs, invalid or IDN
// hosts, invalid header fields, a body of unknown length on a GET, ...): the fallback
// then produces the same output or error as before.
//
// Differences from http.Transport that remain: no User-Agent is added when the request
// has none (ReverseProxy always sets one, possibly empty, which http.Transport honours
// too), and of httptrace only Got1xxResponse is reported (ReverseProxy uses it to relay
// 103 Early Hints).
type h1Transport struct {
	std         *http.Transport
	dialer      net.Dialer
	respTimeout time.Duration // 0: none
	idleTimeout time.Duration
	maxIdle     int // idle connections kept per host:port

	scratch sync.Pool // *h1Scratch: request heads, small bodies, header key lists
	copyBuf sync.Pool // *[h1CopySize]byte: streamed request bodies

	mu    sync.Mutex
	hosts map[string]*h1Host // guarded by mu
}

const (
	h1MaxIdlePerHost = 256
	h1IdleTimeout    = 90 * time.Second
	// h1BufferBody is the largest request body sent with its head in one write. Bigger
	// ones, and chunked ones, are streamed by a goroutine while the caller reads the
	// response, so that an upstream that answers early (413) and stops reading cannot
	// deadlock the exchange. 16 KiB fits in loopback and typical socket buffers.
	h1BufferBody = 16 << 10
	h1CopySize   = 32 << 10
	// h1CheckIdle: a connection idle for longer than this is checked for a close by the
	// peer (one non-blocking peek) before use. Upstreams with short keep-alive timeouts
	// (Node's 5s) would otherwise hand us a dead connection on every quiet spell, which
	// http.Transport notices with its read-ahead. Busy connections skip the check.
	h1CheckIdle = time.Second
	// h1MaxHeaderBytes is http.Transport's default MaxResponseHeaderBytes.
	h1MaxHeaderBytes = 10 << 20
	// h1Max1xx is http.Transport's limit of informational responses before the final one.
	h1Max1xx = 5
	// h1DrainOnClose is how much of an unread body Close consumes, from what is already
	// buffered, to keep the connection.
	h1DrainOnClose = 4 << 10
)

// h1Host is the idle list of one host:port.
type h1Host struct {
	idle  []*h1Conn // most recently used last: the hot ones are reused, the cold ones expire
	sweep *time.Timer
	armed bool // sweep is pending
}

func newH1Transport(std *http.Transport, connect, response time.Duration) *h1Transport {
	return &h1Transport{
		std:         std,
		dialer:      net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second},
		respTimeout: response,
		idleTimeout: h1IdleTimeout,
		maxIdle:     h1MaxIdlePerHost,
		hosts:       map[string]*h1Host{},
	}
}

// errResponseHeaderTimeout is what the response timeout returns; it is a net.Error with
// Timeout() true, as http.Transport's, so that IsTimeout and the retry rules see it.
var errResponseHeaderTimeout error = h1TimeoutError{}

type h1TimeoutError struct{}

func (h1TimeoutError) Error() string   { return "timeout awaiting response headers" }
func (h1TimeoutError) Timeout() bool   { return true }
func (h1TimeoutError) Temporary() bool { return true }

var _ net.Error = h1TimeoutError{}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.std.RoundTrip(req)
	}
	s := t.getScratch()
	plan, ok := s.encode(req)
	if !ok {
		t.putScratch(s)
		return t.std.RoundTrip(req)
	}
	resp, err := t.roundTrip(req, s, plan)
	t.putScratch(s)
	return resp, err
}

// handles reports whether req is for the lean path at all; encode may still refuse it.
func (t *h1Transport) handles(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.Header == nil || req.Trailer != nil {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	if t.std.Proxy != nil {
		// Cheap when no proxy is configured: the environment is read once per process.
		if u, err := t.std.Proxy(req); u != nil || err != nil {
			return false
		}
	}
	return true
}

func (t *h1Transport) roundTrip(req *http.Request, s *h1Scratch, plan h1Plan) (*http.Response, error) {
	ctx := req.Context()
	switch plan.body {
	case bodyNone:
		if req.Body != nil {
			req.Body.Close()
		}
	case bodyBuffered:
		err := s.appendBody(req.Body, req.ContentLength)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	// A request whose body has not been consumed can be sent again as is.
	resendable := plan.body != bodyStream
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			t.abandonBody(req, plan)
			return nil, err
		}
		c, err := t.conn(ctx, plan.addr, attempt > 0)
		if err != nil {
			t.abandonBody(req, plan)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		resp, st, err := t.exchange(ctx, c, req, s, plan)
		if err == nil {
			return resp, nil
		}
		// A reused connection that fails before any byte of the response most likely
		// went stale while idle (the peer closed it as we sent): send again on a fresh
		// one, as http.Transport does, when nothing of the body was consumed and either
		// nothing was delivered or the request is idempotent.
		retry := attempt == 0 && c.used && ctx.Err() == nil &&
			(st == staleWrite || st == staleRead && resendable && plan.idempotent)
		if !retry {
			if st == staleWrite {
				t.abandonBody(req, plan) // the streaming writer never started
			}
			return nil, err
		}
	}
}

// abandonBody closes a body that will not be sent: RoundTrip must always close it.
func (t *h1Transport) abandonBody(req *http.Request, plan h1Plan) {
	if plan.body == bodyStream {
		req.Body.Close()
	}
}

// conn takes an idle connection to addr, or dials one (always, when fresh).
func (t *h1Transport) conn(ctx context.Context, addr string, fresh bool) (*h1Conn, error) {
	if !fresh {
		if c := t.getIdle(addr); c != nil {
			return c, nil
		}
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newH1Conn(t, addr, nc), nil
}

func (t *h1Transport) getIdle(addr string) *h1Conn {
	now := time.Now()
	t.mu.Lock()
	for {
		h := t.hosts[addr]
		if h == nil || len(h.idle) == 0 {
			t.mu.Unlock()
			return nil
		}
		c := h.idle[len(h.idle)-1]
		h.idle[len(h.idle)-1] = nil
		h.idle = h.idle[:len(h.idle)-1]
		idle := now.Sub(c.idleAt)
		if idle >= t.idleTimeout {
			// The rest are older still.
			stale := h.idle
			h.idle = nil
			t.mu.Unlock()
			c.nc.Close()
			for _, o := range stale {
				o.nc.Close()
			}
			return nil
		}
		if idle < h1CheckIdle {
			t.mu.Unlock()
			return c
		}
		t.mu.Unlock()
		if peerOpen(c.nc) {
			return c
		}
		c.nc.Close()
		t.mu.Lock()
	}
}

// put makes c idle. Its buffered reader is empty and no deadline is set.
func (t *h1Transport) put(c *h1Conn) {
	c.used = true
	c.idleAt = time.Now()
	t.mu.Lock()
	h := t.hosts[c.addr]
	if h == nil {
		h = &h1Host{}
		t.hosts[c.addr] = h
	}
	if len(h.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	h.idle = append(h.idle, c)
	if !h.armed {
		h.armed = true
		if h.sweep == nil {
			addr := c.addr
			h.sweep = time.AfterFunc(t.idleTimeout, func() { t.sweep(addr) })
		} else {
			h.sweep.Reset(t.idleTimeout)
		}
	}
	t.mu.Unlock()
}

// sweep closes the connections of addr idle for longer than the idle timeout, so that a
// host whose traffic stopped does not keep them open forever; taking a connection checks
// the timeout too, so a late sweep only delays the close.
func (t *h1Transport) sweep(addr string) {
	now := time.Now()
	var expired []*h1Conn
	t.mu.Lock()
	h := t.hosts[addr]
	if h == nil {
		t.mu.Unlock()
		return
	}
	n := 0
	for n < len(h.idle) && now.Sub(h.idle[n].idleAt) >= t.idleTimeout {
		n++
	}
	expired = append(expired, h.idle[:n]...)
	h.idle = append(h.idle[:0], h.idle[n:]...)
	clear(h.idle[len(h.idle):cap(h.idle)])
	h.armed = len(h.idle) > 0
	if h.armed {
		h.sweep.Reset(t.idleTimeout - now.Sub(h.idle[0].idleAt))
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every idle connection of both paths; requests in flight
// finish on theirs.
func (t *h1Transport) CloseIdleConnections() {
	var idle []*h1Conn
	t.mu.Lock()
	for _, h := range t.hosts {
		idle = append(idle, h.idle...)
		h.idle = nil
		if h.sweep != nil {
			h.sweep.Stop()
		}
		h.armed = false
	}
	t.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
	t.std.CloseIdleConnections()
}

func (t *h1Transport) idleCount(addr string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.hosts[addr]; h != nil {
		return len(h.idle)
	}
	return 0
}

func (t *h1Transport) getScratch() *h1Scratch {
	if s, ok := t.scratch.Get().(*h1Scratch); ok {
		return s
	}
	return &h1Scratch{buf: make([]byte, 0, 1024)}
}

func (t *h1Transport) putScratch(s *h1Scratch) {
	if cap(s.buf) > 2*h1BufferBody {
		return // an outsized head: let it go rather than pin it
	}
	clear(s.keys) // do not keep header strings alive
	s.buf, s.keys = s.buf[:0], s.keys[:0]
	t.scratch.Put(s)
}

func (t *h1Transport) getCopyBuf() *[h1CopySize]byte {
	if b, ok := t.copyBuf.Get().(*[h1CopySize]byte); ok {
		return b
	}
	return new([h1CopySize]byte)
}

// bodyLengthError is http.Transport's complaint about a body shorter than announced.
func bodyLengthError(want, got int64) error {
	return fmt.Errorf("http: ContentLength=%d with Body length %d", want, got)
}

// errReadOnClosedBody is what Read returns after Close, as with http.Transport.
var errReadOnClosedBody = errors.New("http: read on closed response body")

// readFull reads exactly len(p) bytes of a body announced as n bytes long.
func readFull(r io.Reader, p []byte, n int64) error {
	got, err := io.ReadFull(r, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return bodyLengthError(n, int64(got))
	}
	return err
}
