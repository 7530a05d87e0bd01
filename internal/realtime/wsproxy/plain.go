package wsproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

// plainSide is the origin end of a WebSocket proxied as a WebSocket. The
// origin may accept the grip extension and then speak GRIP on the socket:
// "c:" control messages and prefixed messages, as over HTTP (grip.md §2).
type plainSide struct {
	rwc       io.ReadWriteCloser
	ext       wsevents.Extension
	wmu       sync.Mutex // one frame write to the origin at a time
	detached  atomic.Bool
	closeOnce sync.Once
	cancel    context.CancelFunc // of the context the origin connection was made with
}

// openPlain performs the handshake with the origin and, on its 101, with the
// client; any other origin answer is relayed to the client.
func (p *Proxy) openPlain(c *conn, w http.ResponseWriter, r *http.Request) bool {
	// The context outlives the handshake, since the origin connection may
	// depend on it: it ends with the connection, or with the handshake if
	// that takes longer than requestTimeout.
	ctx, cancel := context.WithCancel(p.ctx)
	timer := time.AfterFunc(requestTimeout, cancel)
	resp, err := c.origin.Upgrade(ctx, plainOriginHeader(r.Header))
	timer.Stop()
	ok := false
	defer func() {
		if !ok {
			cancel()
		}
	}()
	if err != nil {
		p.originErrors.Add(1)
		p.log.Warn("realtime: websocket origin handshake failed", "api", c.cfg.API, "error", err)
		problem.Write(w, http.StatusBadGateway, "origin_unavailable", "the origin could not be reached")
		return false
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		var body []byte
		if resp.Body != nil {
			body = readLimited(resp.Body, maxRejection)
			_ = resp.Body.Close()
		}
		writeRejection(w, resp.StatusCode, resp.Header, body)
		return false
	}
	rwc, isRWC := resp.Body.(io.ReadWriteCloser)
	if !isRWC {
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
		p.originErrors.Add(1)
		problem.Write(w, http.StatusBadGateway, "origin_bad_response", "the origin's upgrade carried no connection")
		return false
	}
	u := ws.HTTPUpgrader{Header: plainClientHeader(resp.Header), Timeout: p.wt}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		_ = rwc.Close()
		return false
	}
	c.nc = nc
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		c.pre = append([]byte(nil), b...)
	}
	c.plain = &plainSide{rwc: rwc, ext: wsevents.ParseExtension(resp.Header), cancel: cancel}
	c.ostate = originDone // no WebSocket-over-HTTP requests in this mode
	if !p.register(c) {
		_ = nc.Close()
		_ = rwc.Close()
		return false
	}
	ok = true
	go c.readLoop()
	go c.plain.readOrigin(c)
	return true
}

// plainOriginHeader is the client's handshake with grip offered instead of
// the client's extensions: proxying frames untouched needs no extension the
// proxy would have to understand.
func plainOriginHeader(in http.Header) http.Header {
	h := in.Clone()
	for k := range h {
		if hasPrefixFold(k, "Grip-") {
			delete(h, k)
		}
	}
	h.Set("Sec-WebSocket-Extensions", "grip")
	return h
}

// plainClientHeader is the origin's 101 as the client gets it; gobwas writes
// Upgrade, Connection and Sec-WebSocket-Accept itself.
func plainClientHeader(in http.Header) http.Header {
	h := in.Clone()
	if h == nil {
		h = http.Header{}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Del("Sec-WebSocket-Accept")
	h.Del("Sec-WebSocket-Extensions")
	h.Del("Content-Length")
	return h
}

// toOrigin writes one client message or control frame to the origin, masked
// as a client must. After a detach client messages are discarded.
func (ps *plainSide) toOrigin(c *conn, op ws.OpCode, payload []byte) {
	if ps.detached.Load() {
		return
	}
	if err := ps.write(op, payload); err != nil {
		c.teardown()
	}
}

func (ps *plainSide) write(op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: ws.NewMask()}
	b := bytes.NewBuffer(make([]byte, 0, ws.HeaderSize(h)+len(payload)))
	_ = ws.WriteHeader(b, h)
	b.Write(payload)
	out := b.Bytes()
	ws.Cipher(out[len(out)-len(payload):], h.Mask, 0)
	ps.wmu.Lock()
	defer ps.wmu.Unlock()
	if d, ok := ps.rwc.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Now().Add(defaultWriteTimeout))
	}
	_, err := ps.rwc.Write(out)
	return err
}

// clientClosed relays the client's close frame; the connection ends when the
// origin answers (or at once if the handshake is already complete).
func (ps *plainSide) clientClosed(c *conn, payload []byte) {
	c.mu.Lock()
	c.clientClosed = true
	closeSent := c.closeSent
	if ps.detached.Load() || closeSent {
		if !closeSent {
			code, reason := 0, ""
			if len(payload) >= 2 {
				sc, rs := ws.ParseCloseFrameData(payload)
				code, reason = int(sc), rs
			}
			c.enqueueCloseLocked(code, reason)
		}
		c.finishAfterFlushLocked()
		c.mu.Unlock()
		if !ps.detached.Load() {
			_ = ps.write(ws.OpClose, payload)
		}
		return
	}
	if c.closeT == nil && !c.gone {
		c.closeT = time.AfterFunc(closeWait, c.teardown)
	}
	c.mu.Unlock()
	if err := ps.write(ws.OpClose, payload); err != nil {
		c.teardown()
	}
}

// detach stops talking to the origin: it gets a close frame and the
// connection is dropped, while the client stays.
func (ps *plainSide) detach(c *conn) {
	if ps.detached.Swap(true) {
		return
	}
	_ = ps.write(ws.OpClose, nil)
	ps.close()
}

func (ps *plainSide) close() {
	ps.closeOnce.Do(func() {
		_ = ps.rwc.Close()
		ps.cancel()
	})
}

// readOrigin relays origin frames to the client, applying GRIP rules when
// the origin accepted the extension.
func (ps *plainSide) readOrigin(c *conn) {
	var (
		hbuf  [ws.MaxHeaderSize - 2]byte
		msgOp ws.OpCode
		msg   []byte
	)
	fail := func() {
		if !ps.detached.Load() {
			c.teardown()
		}
	}
	for {
		h, err := ws.ReadHeaderBuffer(ps.rwc, hbuf[:])
		if err != nil {
			fail()
			return
		}
		if h.Length > int64(maxMessage-len(msg)) {
			fail()
			return
		}
		payload, err := readPayload(ps.rwc, h.Length)
		if err != nil {
			fail()
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpContinuation:
			msg = append(msg, payload...)
			if h.Fin && msgOp != 0 {
				ps.fromOrigin(c, msgOp, msg)
				msgOp, msg = 0, nil
			}
		case ws.OpText, ws.OpBinary:
			if h.Fin {
				ps.fromOrigin(c, h.OpCode, payload)
			} else {
				msgOp, msg = h.OpCode, payload
			}
		case ws.OpPing, ws.OpPong:
			c.mu.Lock()
			if !c.closeSent {
				c.enqueueLocked(frame(h.OpCode, payload))
			}
			c.mu.Unlock()
		case ws.OpClose:
			code, reason := 0, ""
			if len(payload) >= 2 {
				sc, rs := ws.ParseCloseFrameData(payload)
				code, reason = int(sc), rs
			}
			c.mu.Lock()
			if c.clientClosed {
				c.enqueueCloseLocked(code, reason)
				c.finishAfterFlushLocked()
			} else {
				c.closeClientLocked(code, reason)
			}
			c.mu.Unlock()
			return
		}
	}
}

// fromOrigin handles one complete origin message.
func (ps *plainSide) fromOrigin(c *conn, op ws.OpCode, payload []byte) {
	if ps.detached.Load() {
		return
	}
	typ := wsevents.Text
	if op == ws.OpBinary {
		typ = wsevents.Binary
	}
	kind, p := ps.ext.Classify(wsevents.Event{Type: typ, Content: payload})
	switch kind {
	case wsevents.KindMessage:
		c.mu.Lock()
		c.enqueueDataLocked(op, p)
		c.mu.Unlock()
	case wsevents.KindControl:
		c.handleControl(p)
	}
}
