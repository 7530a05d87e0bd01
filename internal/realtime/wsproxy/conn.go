package wsproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

// Origin-side states of an over-HTTP connection.
const (
	originActive  = iota // requests flow
	originClosing        // a final CLOSE or DISCONNECT is queued or in flight
	originDone           // no more requests
)

// conn is one client WebSocket. Fields after mu are guarded by it. Lock
// order: a fan-out channel lock, then c.mu, then the writer pool's lock;
// c.mu is never held while calling the fan-out, the origin or the network.
type conn struct {
	p      *Proxy
	cfg    *Config
	origin Origin
	mc     *meter.Conn
	nc     net.Conn
	pre    []byte                     // bytes the HTTP server read past the handshake
	hbuf   [ws.MaxHeaderSize - 2]byte // frame header scratch, reader goroutine only
	plain  *plainSide                 // set in plain WebSocket mode

	// Over HTTP, fixed after the handshake.
	id   string      // Connection-Id
	base http.Header // request headers without Meta-*

	mu sync.Mutex
	// Client write side.
	outq      [][]byte
	outBytes  int
	writing   bool // scheduled on, or being drained by, the writer pool
	closeSent bool // close frame queued: no more data frames
	dropAfter bool // close the TCP connection once the queue is written
	gone      bool // torn down
	closeT    *time.Timer

	// Origin side, over HTTP.
	ostate       int
	inflight     bool
	pending      []wsevents.Event // client events for the next request
	pendingBytes int
	wantEmpty    bool // send a request even with nothing queued (refresh, keep-alive)
	meta         map[string]string
	ext          wsevents.Extension
	kaEvery      time.Duration
	kaT          *time.Timer
	detached     bool
	clientClosed bool // the client sent a close frame
	clientCode   int
	clientReason string

	// GRIP.
	subs    map[string]*subscription
	subMeta map[string]string
	ka      *keepAlive
	delayed *delayedMsg
}

// reader is c's client byte stream: bytes read ahead by net/http, then the socket.
type reader conn

func (r *reader) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		if len(r.pre) == 0 {
			r.pre = nil
		}
		return n, nil
	}
	return r.nc.Read(p)
}

var errProtocol = errors.New("wsproxy: websocket protocol error")

// readLoop reads client frames until the connection ends. Ping, pong and
// close are handled as they come; data frames are reassembled into messages.
func (c *conn) readLoop() {
	r := (*reader)(c)
	var (
		msgOp ws.OpCode
		msg   []byte
	)
	for {
		h, err := ws.ReadHeaderBuffer(r, c.hbuf[:])
		if err != nil {
			c.clientGone()
			return
		}
		// Clients must mask; no extension is negotiated, so no RSV bits.
		if !h.Masked || h.Rsv != 0 || (h.OpCode.IsControl() && (h.Length > 125 || !h.Fin)) || h.OpCode.IsReserved() {
			c.failClient(ws.StatusProtocolError)
			return
		}
		if h.Length > int64(maxMessage-len(msg)) {
			c.failClient(ws.StatusMessageTooBig)
			return
		}
		payload, err := readPayload(r, h.Length)
		if err != nil {
			c.clientGone()
			return
		}
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpContinuation:
			if msgOp == 0 {
				c.failClient(ws.StatusProtocolError)
				return
			}
			msg = append(msg, payload...)
			if h.Fin {
				c.onClientMessage(msgOp, msg)
				msgOp, msg = 0, nil
			}
		case ws.OpText, ws.OpBinary:
			if msgOp != 0 {
				c.failClient(ws.StatusProtocolError)
				return
			}
			if h.Fin {
				c.onClientMessage(h.OpCode, payload)
			} else {
				msgOp, msg = h.OpCode, payload
			}
		case ws.OpPing, ws.OpPong:
			c.onClientControl(h.OpCode, payload)
		case ws.OpClose:
			code, reason := 0, ""
			if len(payload) >= 2 {
				sc, rs := ws.ParseCloseFrameData(payload)
				code, reason = int(sc), rs
			}
			c.onClientClose(code, reason, payload)
			return
		}
	}
}

// readPayload reads n bytes, growing the buffer as bytes arrive instead of
// trusting the declared length for a large allocation.
func readPayload(r io.Reader, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= 32<<10 {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (c *conn) onClientMessage(op ws.OpCode, payload []byte) {
	c.p.msgIn.Add(1)
	if c.plain != nil {
		c.plain.toOrigin(c, op, payload)
		return
	}
	typ := wsevents.Text
	if op == ws.OpBinary {
		typ = wsevents.Binary
	}
	if payload == nil {
		payload = []byte{} // TEXT and BINARY always carry a length
	}
	c.mu.Lock()
	c.queueEventLocked(wsevents.Event{Type: typ, Content: payload})
	c.mu.Unlock()
}

func (c *conn) onClientControl(op ws.OpCode, payload []byte) {
	if c.plain != nil {
		// Relayed both ways: the origin answers the client's pings.
		c.plain.toOrigin(c, op, payload)
		return
	}
	typ := wsevents.Ping
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == ws.OpPing {
		// Answered here so client keep-alives work whatever the origin does.
		c.enqueueLocked(frame(ws.OpPong, payload))
	} else {
		typ = wsevents.Pong
	}
	// PING/PONG content only included if non-empty (grip.md §2.1).
	ev := wsevents.Event{Type: typ}
	if len(payload) > 0 {
		ev.Content = payload
	}
	c.queueEventLocked(ev)
}

// queueEventLocked queues a client event for the origin, unless the
// connection no longer talks to it (detached, closing).
func (c *conn) queueEventLocked(ev wsevents.Event) {
	if c.gone || c.detached || c.ostate != originActive {
		return
	}
	c.pending = append(c.pending, ev)
	c.pendingBytes += len(ev.Content)
	c.kickLocked()
}

func (c *conn) onClientClose(code int, reason string, payload []byte) {
	if c.plain != nil {
		c.plain.clientClosed(c, payload)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientClosed, c.clientCode, c.clientReason = true, code, reason
	switch {
	case c.closeSent:
		// The reply to our close: the handshake is complete.
		c.finishAfterFlushLocked()
	case c.ostate == originActive && !c.detached:
		// Pushpin waits for the origin's answer before replying [T:P].
		c.finalEventLocked(wsevents.CloseEvent(code, reason), true)
	default:
		c.enqueueCloseLocked(code, reason)
		c.finishAfterFlushLocked()
	}
}

// clientGone handles a client that vanished (read or write error): the origin
// gets DISCONNECT [T:U] and the connection is torn down at once.
func (c *conn) clientGone() {
	c.mu.Lock()
	if c.gone {
		// Already torn down on purpose (origin DISCONNECT, shutdown): the
		// origin needs no news.
		c.mu.Unlock()
		return
	}
	if c.plain == nil {
		c.finalEventLocked(wsevents.Event{Type: wsevents.Disconnect}, true)
	}
	c.mu.Unlock()
	c.teardown()
}

// failClient closes a client that broke the protocol; the origin is told the
// client disconnected.
func (c *conn) failClient(code ws.StatusCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plain == nil {
		c.finalEventLocked(wsevents.Event{Type: wsevents.Disconnect}, true)
	}
	c.enqueueCloseLocked(int(code), "")
	c.finishAfterFlushLocked()
}

// frame encodes one unmasked (server) frame.
func frame(op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	b := make([]byte, 0, ws.HeaderSize(h)+len(payload))
	w := bytes.NewBuffer(b)
	_ = ws.WriteHeader(w, h)
	w.Write(payload)
	return w.Bytes()
}

func closePayload(code int, reason string) []byte {
	if code == 0 {
		return nil
	}
	return ws.NewCloseFrameBody(ws.StatusCode(code), reason)
}

// enqueueLocked queues a frame for the client and makes sure a writer comes.
func (c *conn) enqueueLocked(f []byte) {
	if c.gone || c.dropAfter {
		return
	}
	if c.outBytes+len(f) > maxQueue {
		// Too slow to keep up: drop it rather than buffer without bound.
		c.p.slowClients.Add(1)
		c.outq, c.outBytes = nil, 0
		go c.clientGone()
		return
	}
	c.outq = append(c.outq, f)
	c.outBytes += len(f)
	if !c.writing {
		c.writing = true
		c.p.pool.schedule(c)
	}
}

// enqueueDataLocked queues a message for the client; none after a close frame.
func (c *conn) enqueueDataLocked(op ws.OpCode, payload []byte) bool {
	if c.closeSent || c.gone || c.dropAfter {
		return false
	}
	c.enqueueLocked(frame(op, payload))
	c.p.msgOut.Add(1)
	c.dataSentLocked()
	return true
}

// enqueueCloseLocked starts (or answers) the close handshake with the client.
func (c *conn) enqueueCloseLocked(code int, reason string) {
	if c.closeSent {
		return
	}
	c.enqueueLocked(frame(ws.OpClose, closePayload(code, reason)))
	c.closeSent = true
}

// closeClientLocked starts a close handshake and drops the client if it does
// not answer within closeWait.
func (c *conn) closeClientLocked(code int, reason string) {
	if c.closeSent || c.gone {
		return
	}
	c.enqueueCloseLocked(code, reason)
	if c.clientClosed {
		c.finishAfterFlushLocked()
		return
	}
	c.closeT = time.AfterFunc(closeWait, c.teardown)
}

// finishAfterFlushLocked closes the connection once queued frames are written.
func (c *conn) finishAfterFlushLocked() {
	if c.gone {
		return
	}
	c.dropAfter = true
	if !c.writing {
		c.writing = true
		c.p.pool.schedule(c)
	}
}

// flush runs on a writer pool worker: it writes everything queued, with a
// deadline per write, until the queue is empty.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		q := c.outq
		c.outq, c.outBytes = nil, 0
		if c.gone || len(q) == 0 {
			c.writing = false
			drop := c.dropAfter && !c.gone
			c.mu.Unlock()
			if drop {
				c.teardown()
			}
			return
		}
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.p.wt))
		bufs := net.Buffers(q)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			c.clientGone()
			return
		}
	}
}

// teardown releases everything the connection holds; later calls do nothing.
func (c *conn) teardown() {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.gone = true
	var unsubs []func()
	for _, s := range c.subs {
		if s.unsub != nil {
			unsubs = append(unsubs, s.unsub)
		}
	}
	c.subs = nil
	for _, t := range []*time.Timer{c.closeT, c.kaT} {
		if t != nil {
			t.Stop()
		}
	}
	if c.ka != nil {
		c.ka.t.Stop()
		c.ka = nil
	}
	if c.delayed != nil {
		c.delayed.t.Stop()
		c.delayed = nil
	}
	// c.pending stays: a DISCONNECT queued behind a request in flight must
	// still reach the origin.
	c.outq, c.outBytes = nil, 0
	c.mu.Unlock()
	if c.nc != nil {
		_ = c.nc.Close()
	}
	if c.plain != nil {
		c.plain.close()
	}
	for _, u := range unsubs {
		u()
	}
	c.mc.Close()
	c.p.unregister(c)
}
