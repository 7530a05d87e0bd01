package gripdiff

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// timed is a piece of a response body and when it arrived (since the request was sent).
type timed struct {
	at time.Duration
	b  []byte
}

// stream is a client HTTP request whose response is read in the background, recording
// when each piece of the body arrives (chunk boundaries are recorded but never compared).
type stream struct {
	start time.Time
	conn  net.Conn
	br    *bufio.Reader

	mu       sync.Mutex
	head     *rawResponse
	headAt   time.Duration
	pieces   []timed
	complete bool // the body ended as framed (terminating chunk / Content-Length)
	err      error
	headCh   chan struct{}
	done     chan struct{}
}

// openStream sends GET path to addr and reads the response in the background.
func openStream(addr, path string) (*stream, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	s := &stream{start: time.Now(), conn: c, br: bufio.NewReader(c), headCh: make(chan struct{}), done: make(chan struct{})}
	if err := writeRequest(c, addr, "GET", path, nil, "User-Agent", "rawclient", "Accept", "*/*"); err != nil {
		c.Close()
		return nil, err
	}
	go s.read()
	return s, nil
}

func (s *stream) read() {
	defer close(s.done)
	head, err := readHead(s.br)
	s.mu.Lock()
	s.head, s.headAt, s.err = head, time.Since(s.start), err
	s.mu.Unlock()
	close(s.headCh)
	if err != nil {
		return
	}
	body := bodyReader(s.br, head)
	buf := make([]byte, 64<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.pieces = append(s.pieces, timed{time.Since(s.start), append([]byte(nil), buf[:n]...)})
			s.mu.Unlock()
		}
		if err != nil {
			s.mu.Lock()
			if cr, ok := body.(*chunkedReader); ok {
				s.complete = cr.complete
			} else {
				s.complete = err == io.EOF
			}
			if err != io.EOF {
				s.err = err
			}
			s.mu.Unlock()
			return
		}
	}
}

// waitHead waits for the response head.
func (s *stream) waitHead(d time.Duration) (*rawResponse, time.Duration, error) {
	select {
	case <-s.headCh:
	case <-time.After(d):
		return nil, 0, fmt.Errorf("no response head within %s", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.headAt, s.err
}

// body is everything received so far.
func (s *stream) body() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, p := range s.pieces {
		b = append(b, p.b...)
	}
	return b
}

func (s *stream) timedPieces() []timed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]timed(nil), s.pieces...)
}

// waitBody waits until the body contains want.
func (s *stream) waitBody(want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if bytes.Contains(s.body(), []byte(want)) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-s.done:
			return bytes.Contains(s.body(), []byte(want))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitDone waits for the end of the body and says how it ended.
func (s *stream) waitDone(d time.Duration) string {
	select {
	case <-s.done:
	case <-time.After(d):
		return "still open"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.complete:
		return "complete"
	case s.err != nil:
		return "error: " + s.err.Error()
	default:
		return "connection closed before the end of the body"
	}
}

// reuse sends another request on the connection after a complete response and says
// whether the connection was kept alive (informational: see the intended differences).
func (s *stream) reuse() string {
	_ = s.conn.SetDeadline(time.Now().Add(3 * time.Second))
	if err := writeRequest(s.conn, s.conn.RemoteAddr().String(), "GET", "/plain?ch=reuse", nil, "User-Agent", "rawclient"); err != nil {
		return "closed (" + err.Error() + ")"
	}
	r, err := readHead(s.br)
	if err != nil {
		return "closed (" + err.Error() + ")"
	}
	return fmt.Sprintf("reused (%d)", r.status)
}

func (s *stream) close() { s.conn.Close() }

// ---------------------------------------------------------------------------------------
// WebSocket client (gobwas/ws for the handshake and framing).

type wsMsg struct {
	at   time.Duration
	desc string // text "...", binary <hex>, close CODE "reason", eof
}

type wsClient struct {
	start   time.Time
	conn    net.Conn
	r       io.Reader
	wmu     sync.Mutex
	headers [][2]string // of the 101 response, in order

	mu      sync.Mutex
	msgs    []wsMsg
	closing bool // the client sent a close frame
	done    chan struct{}
}

func dialWS(ctx context.Context, addr, path string) (*wsClient, error) {
	c := &wsClient{start: time.Now(), done: make(chan struct{})}
	d := ws.Dialer{
		Timeout: 5 * time.Second,
		OnHeader: func(k, v []byte) error {
			c.headers = append(c.headers, [2]string{string(k), string(v)})
			return nil
		},
	}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		return nil, err
	}
	c.conn, c.r = conn, conn
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	go c.read()
	return c, nil
}

func (c *wsClient) record(desc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, wsMsg{time.Since(c.start), desc})
}

// writeFrame writes one masked frame in a single Write.
func (c *wsClient) writeFrame(op ws.OpCode, payload []byte) error {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewFrame(op, true, payload))); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b.Bytes())
	return err
}

func (c *wsClient) sendText(s string) error { return c.writeFrame(ws.OpText, []byte(s)) }

// sendClose starts the closing handshake.
func (c *wsClient) sendClose(code int, reason string) error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	return c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), reason))
}

func (c *wsClient) read() {
	defer close(c.done)
	var msg []byte
	var msgOp ws.OpCode
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			c.record("eof")
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			c.record("eof")
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			_ = c.writeFrame(ws.OpPong, payload)
			c.record(fmt.Sprintf("ping %q", payload))
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := 0, ""
			if len(payload) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			if code == 0 {
				c.record("close (no code)")
			} else {
				c.record(fmt.Sprintf("close %d %q", code, reason))
			}
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if !closing {
				// Answer as common client libraries do: echo the code.
				_ = c.writeFrame(ws.OpClose, payload[:min(len(payload), 2)])
			}
			// Then wait (briefly) for the server to close the TCP connection.
			_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			var one [1]byte
			if _, err := c.r.Read(one[:]); err == nil {
				c.record("data after close")
			}
			return
		case ws.OpContinuation:
			msg = append(msg, payload...)
		default:
			msg, msgOp = payload, h.OpCode
		}
		if !h.Fin {
			continue
		}
		switch msgOp {
		case ws.OpText:
			c.record(fmt.Sprintf("text %q", msg))
		case ws.OpBinary:
			c.record("binary " + hex.EncodeToString(msg))
		default:
			c.record(fmt.Sprintf("op%d %q", msgOp, msg))
		}
		msg = nil
	}
}

func (c *wsClient) messages() []wsMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wsMsg(nil), c.msgs...)
}

// waitMsg waits for a message whose description has prefix want.
func (c *wsClient) waitMsg(want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		for _, m := range c.messages() {
			if strings.HasPrefix(m.desc, want) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosed waits for the reader to finish.
func (c *wsClient) waitClosed(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (c *wsClient) terminate() { c.conn.Close() }

var errAbort = errors.New("scenario aborted")
