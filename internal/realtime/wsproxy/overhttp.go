package wsproxy

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

const maxRejection = wsevents.MaxRejectionBody

var openBody = wsevents.Encode(wsevents.Event{Type: wsevents.Open})

// openOverHTTP asks the origin with an OPEN request whether to accept the
// client, and upgrades the client if so (grip.md §2.2). It reports whether
// the connection was accepted.
func (p *Proxy) openOverHTTP(c *conn, w http.ResponseWriter, r *http.Request) bool {
	c.id = newUUID()
	c.base = originHeader(r.Header, c.id)
	p.originRequests.Add(1)
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	resp, err := c.origin.Post(ctx, c.requestHeader(), openBody)
	cancel()
	if err != nil {
		p.originErrors.Add(1)
		p.log.Warn("realtime: websocket OPEN request failed", "api", c.cfg.API, "error", err)
		problem.Write(w, http.StatusBadGateway, "origin_unavailable", "the origin could not be reached")
		return false
	}
	if !wsevents.Accepted(resp.Status, resp.Header) {
		writeRejection(w, resp.Status, resp.Header, resp.Body)
		return false
	}
	evs, err := wsevents.Decode(resp.Body)
	_, kaOK := wsevents.KeepAliveInterval(resp.Header)
	if err == nil && len(evs) == 0 && !kaOK {
		err = errors.New("empty OPEN response without Keep-Alive-Interval")
	}
	if err == nil && len(evs) > 0 && evs[0].Type != wsevents.Open {
		err = errors.New("first event is not OPEN")
	}
	if err == nil && len(resp.Body) > wsevents.MaxResponseBody {
		err = errors.New("response body too large")
	}
	if err != nil {
		p.originErrors.Add(1)
		p.log.Warn("realtime: bad websocket OPEN response", "api", c.cfg.API, "error", err)
		problem.Write(w, http.StatusBadGateway, "origin_bad_response", "the origin sent an invalid WebSocket-over-HTTP response")
		return false
	}

	u := ws.HTTPUpgrader{Header: clientUpgradeHeader(resp.Header), Timeout: p.wt}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		// The origin accepted a connection that will never exist.
		go c.postFinal(wsevents.Encode(wsevents.Event{Type: wsevents.Disconnect}))
		return false
	}
	c.nc = nc
	// A client may send frames right behind its handshake; keep what net/http
	// already buffered, then drop its reader so its 4 KiB can be freed.
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		c.pre = append([]byte(nil), b...)
	}
	c.ext = wsevents.ParseExtension(resp.Header)
	c.applyResponseHeaders(resp.Header)
	c.inflight = true // the OPEN response's events are processed before any request
	if !p.register(c) {
		_ = nc.Close()
		return false
	}
	if len(evs) > 0 {
		evs = evs[1:]
	}
	c.handleEvents(evs, false)
	go c.readLoop()
	c.requestDone(false)
	return true
}

// postFinal tells the origin about a connection it will not hear of again;
// best effort, no retries.
func (c *conn) postFinal(body []byte) {
	c.p.originRequests.Add(1)
	ctx, cancel := context.WithTimeout(c.p.ctx, requestTimeout)
	defer cancel()
	_, _ = c.origin.Post(ctx, c.requestHeader(), body)
}

// originHeader builds the request headers Pushpin sends (grip.md §2.1): the
// client's handshake headers without Upgrade, Accept, Connection-Id,
// Content-Length, Meta-*, Sec-WebSocket-Extensions and hop-by-hop headers;
// then the grip offer and the events content type. Client Grip-* headers are
// dropped so a client cannot pose as a GRIP proxy; the gateway signs.
func originHeader(in http.Header, id string) http.Header {
	drop := map[string]bool{}
	for _, v := range in.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			drop[http.CanonicalHeaderKey(strings.TrimSpace(t))] = true
		}
	}
	h := make(http.Header, len(in)+4)
	for k, v := range in {
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Upgrade", "Accept", "Connection-Id", "Content-Length", "Content-Type", "Sec-Websocket-Extensions",
			"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding":
			continue
		}
		if drop[ck] || hasPrefixFold(ck, "Meta-") || hasPrefixFold(ck, "Grip-") {
			continue
		}
		h[ck] = append([]string(nil), v...)
	}
	h.Set("Sec-WebSocket-Extensions", "grip")
	h.Set("Accept", wsevents.ContentType)
	h.Set(wsevents.HeaderConnectionID, id)
	h.Set("Content-Type", wsevents.ContentType)
	return h
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// clientUpgradeHeader is the origin's OPEN response as the client's 101
// carries it [T:Z]; gobwas adds Upgrade, Connection and Sec-WebSocket-Accept.
func clientUpgradeHeader(h http.Header) http.Header {
	out := wsevents.UpgradeHeaders(h)
	for _, k := range hopByHop {
		out.Del(k)
	}
	out.Del("Sec-WebSocket-Accept")
	return out
}

// newUUID returns a random (version 4) UUID, Pushpin's Connection-Id.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// requestHeader is the header of the next request: the fixed part plus the
// Meta-* the origin stored with Set-Meta-*.
func (c *conn) requestHeader() http.Header {
	h := c.base.Clone()
	c.mu.Lock()
	wsevents.MetaHeaders(h, c.meta)
	c.mu.Unlock()
	return h
}

// applyResponseHeaders stores Set-Meta-* and Keep-Alive-Interval.
func (c *conn) applyResponseHeaders(h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta == nil {
		c.meta = map[string]string{}
	}
	wsevents.ApplySetMeta(c.meta, h)
	if h.Get(wsevents.HeaderKeepAliveInterval) != "" {
		c.kaEvery, _ = wsevents.KeepAliveInterval(h)
		if c.kaEvery > 0 && c.p.kaOverride > 0 {
			c.kaEvery = c.p.kaOverride
		}
	}
}

// kickLocked starts a request if none is in flight and there is one to make:
// one request at a time per connection (grip.md §2.1).
func (c *conn) kickLocked() {
	if c.inflight || c.plain != nil {
		return
	}
	body, final, ok := c.nextBodyLocked()
	if !ok {
		return
	}
	c.inflight = true
	go c.exchange(body, final)
}

// nextBodyLocked takes the next request body off the queue: every queued
// event up to ~200 KB of content (at least one). final is set when it ends
// with CLOSE or DISCONNECT, after which no request follows.
func (c *conn) nextBodyLocked() (body []byte, final, ok bool) {
	if c.ostate == originDone {
		return nil, false, false
	}
	if len(c.pending) == 0 {
		if !c.wantEmpty || c.ostate != originActive {
			return nil, false, false
		}
		c.wantEmpty = false
		return []byte{}, false, true
	}
	c.wantEmpty = false // any request serves a refresh or keep-alive
	n, size := 0, 0
	for n < len(c.pending) {
		e := c.pending[n]
		if n > 0 && size+len(e.Content) > wsevents.MaxRequestContent {
			break
		}
		size += len(e.Content)
		n++
		if e.Type == wsevents.Close || e.Type == wsevents.Disconnect {
			final = true
			break
		}
	}
	body = wsevents.Encode(c.pending[:n]...)
	if n == len(c.pending) {
		c.pending = nil
	} else {
		c.pending = append([]wsevents.Event(nil), c.pending[n:]...)
	}
	c.pendingBytes -= size
	return body, final, true
}

// finalEventLocked queues the last event for the origin (CLOSE or
// DISCONNECT); with keep false the client messages still queued are dropped.
func (c *conn) finalEventLocked(ev wsevents.Event, keep bool) {
	if c.plain != nil || c.ostate != originActive {
		return
	}
	if !keep {
		c.pending, c.pendingBytes = nil, 0
	}
	c.pending = append(c.pending, ev)
	c.ostate = originClosing
	if c.kaT != nil {
		c.kaT.Stop()
	}
	c.kickLocked()
}

// exchange makes requests until the queue is empty; it owns c.inflight.
func (c *conn) exchange(body []byte, final bool) {
	for {
		resp, err := c.post(body)
		c.handleResponse(resp, err, final)
		c.mu.Lock()
		ok := c.requestDoneLocked(final)
		if ok {
			body, final, ok = c.nextBodyLocked()
			c.inflight = ok
		}
		c.mu.Unlock()
		if !ok {
			return
		}
	}
}

// requestDone ends the request in flight and starts the next one, if any.
func (c *conn) requestDone(final bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requestDoneLocked(final) {
		c.kickLocked()
	}
}

// requestDoneLocked clears inflight and re-arms the origin keep-alive; false
// when no further request may be made.
func (c *conn) requestDoneLocked(final bool) bool {
	c.inflight = false
	if final {
		c.ostate = originDone
	}
	if c.ostate == originDone {
		return false
	}
	if c.ostate == originActive && c.kaEvery > 0 && !c.gone {
		// Keep-Alive-Interval: an empty request after that long without one [T:W].
		if c.kaT == nil {
			c.kaT = time.AfterFunc(c.kaEvery, c.originKeepAlive)
		} else {
			c.kaT.Reset(c.kaEvery)
		}
	}
	return true
}

func (c *conn) originKeepAlive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.inflight || c.ostate != originActive {
		return
	}
	c.wantEmpty = true
	c.kickLocked()
}

// post sends one request, retrying connection failures as Pushpin does: up to
// 5 times after 1 s·2^n + random(1 s). Other errors are not retried, since
// the origin may have seen the request.
func (c *conn) post(body []byte) (*Response, error) {
	for attempt := 0; ; attempt++ {
		c.p.originRequests.Add(1)
		ctx, cancel := context.WithTimeout(c.p.ctx, requestTimeout)
		resp, err := c.origin.Post(ctx, c.requestHeader(), body)
		cancel()
		if err == nil || attempt >= maxRetries || !retryable(err) {
			return resp, err
		}
		t := time.NewTimer(time.Second<<attempt + rand.N(time.Second))
		select {
		case <-t.C:
		case <-c.p.ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// retryable reports a failure to connect, which Pushpin always retries.
func retryable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// handleResponse applies an origin response to a request other than OPEN.
func (c *conn) handleResponse(resp *Response, err error, final bool) {
	if err == nil && !wsevents.Accepted(resp.Status, resp.Header) {
		err = errors.New("origin answered " + http.StatusText(resp.Status) + " " + resp.Header.Get("Content-Type"))
	}
	var evs []wsevents.Event
	if err == nil {
		if len(resp.Body) > wsevents.MaxResponseBody {
			err = errors.New("response body too large")
		} else {
			evs, err = wsevents.Decode(resp.Body)
		}
	}
	c.mu.Lock()
	gone, detached := c.gone, c.detached
	c.mu.Unlock()
	if gone || detached && final {
		// Nobody left to tell: the client went away, or this was the final
		// CLOSE of a detach, whose answer Pushpin ignores.
		return
	}
	if err != nil {
		c.p.originErrors.Add(1)
		c.p.log.Warn("realtime: websocket-over-http request failed", "api", c.cfg.API, "connection", c.id, "error", err)
		c.mu.Lock()
		c.ostate = originDone
		c.closeClientLocked(int(ws.StatusInternalServerError), "")
		c.mu.Unlock()
		return
	}
	c.applyResponseHeaders(resp.Header)
	c.handleEvents(evs, final)
	if final {
		c.mu.Lock()
		if c.clientClosed {
			// The origin did not answer CLOSE: echo the client's own.
			c.enqueueCloseLocked(c.clientCode, c.clientReason)
			c.finishAfterFlushLocked()
		}
		c.mu.Unlock()
	}
}

// handleEvents applies the origin's events in order.
func (c *conn) handleEvents(evs []wsevents.Event, sentClose bool) {
	for _, e := range evs {
		switch e.Type {
		case wsevents.Text, wsevents.Binary:
			kind, payload := c.ext.Classify(e)
			switch kind {
			case wsevents.KindMessage:
				op := ws.OpText
				if e.Type == wsevents.Binary {
					op = ws.OpBinary
				}
				c.mu.Lock()
				c.enqueueDataLocked(op, payload)
				c.mu.Unlock()
			case wsevents.KindControl:
				c.handleControl(payload)
			case wsevents.KindDrop:
				if c.cfg.Debug {
					c.p.log.Debug("realtime: dropped unprefixed origin message", "connection", c.id)
				}
			}
		case wsevents.Ping, wsevents.Pong:
			op := ws.OpPing
			if e.Type == wsevents.Pong {
				op = ws.OpPong
			}
			c.mu.Lock()
			if !c.closeSent {
				c.enqueueLocked(frame(op, truncControl(e.Content)))
			}
			c.mu.Unlock()
		case wsevents.Close:
			code, reason, _ := e.CloseCode()
			c.mu.Lock()
			switch {
			case c.closeSent && !c.clientClosed:
				// We are already closing the client (publish close): wait for it.
			case sentClose || c.clientClosed:
				// Answer to the client's close [T:P]; the connection completes.
				c.enqueueCloseLocked(code, reason)
				c.finishAfterFlushLocked()
			default:
				c.ostate = originDone
				c.closeClientLocked(code, reason)
			}
			c.mu.Unlock()
		case wsevents.Disconnect:
			c.mu.Lock()
			c.ostate = originDone
			c.mu.Unlock()
			c.teardown()
			return
		}
	}
}

// truncControl keeps a control frame's payload within the RFC's 125 bytes.
func truncControl(b []byte) []byte {
	if len(b) > 125 {
		return b[:125]
	}
	return b
}
