package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sockio"
)

// h1Conn is one persistent connection. Only the goroutine that owns the current exchange
// touches it (the streaming body writer aside, which only writes).
type h1Conn struct {
	t    *h1Transport
	addr string
	nc   net.Conn
	rw   io.ReadWriter // nc's Read and Write, over raw system calls where it can
	sc   *sockio.Conn  // rw when it is raw: it can tell a read or write would wait
	// pending is the exchange whose timer and cancellation hook are not armed yet: they
	// are armed by the first read or write that would wait. Most small exchanges never
	// wait (their answer is there by the time it is read), and then cost neither.
	pending *h1Body
	br      *bufio.Reader // reads through the h1Conn, for the header limit and byte count
	limit   int64         // bytes the reader may still take: caps response headers
	nread   int64         // bytes read from nc: tells "no answer at all" from a broken one
	noWait  bool          // Close's drain: only what is already buffered, never the network
	idleAt  time.Time
	used    bool // has served a request, so may have gone stale while idle
	// abortIO fails the connection's pending and future I/O: the cancellation hook of
	// each exchange, bound once rather than a closure per request.
	abortIO func()
}

func newH1Conn(t *h1Transport, addr string, nc net.Conn) *h1Conn {
	c := &h1Conn{t: t, addr: addr, nc: nc, rw: nc}
	if sc := sockio.New(nc); sc != nil {
		c.rw, c.sc = sc, sc
	}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.abortIO = func() { nc.SetDeadline(aLongTimeAgo) }
	return c
}

var errWouldBlock = errors.New("upstream: drain would block")

func (c *h1Conn) Read(p []byte) (int, error) {
	if c.noWait {
		return 0, errWouldBlock
	}
	if c.limit <= 0 {
		return 0, fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", h1MaxHeaderBytes)
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	var n int
	var err error
	if b := c.pending; b != nil {
		if n, err = c.sc.TryRead(p); err == sockio.ErrWouldBlock {
			b.arm()
			n, err = c.rw.Read(p)
		}
	} else {
		n, err = c.rw.Read(p)
	}
	c.limit -= int64(n)
	c.nread += int64(n)
	return n, err
}

// aLongTimeAgo is a deadline in the past: it fails pending and future I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// h1Stale says whether an exchange failed in a way that a stale connection explains.
type h1Stale uint8

const (
	notStale   h1Stale = iota
	staleWrite         // writing the head failed: nothing of the body was consumed
	staleRead          // no byte of a response came back
)

// exchange sends the encoded request on c and reads the response head. On success the
// returned body owns c; on failure c is closed.
func (t *h1Transport) exchange(ctx context.Context, c *h1Conn, req *http.Request, s *h1Scratch, plan h1Plan) (*http.Response, h1Stale, error) {
	b := &h1Body{c: c, ctx: ctx, keep: plan.keepAlive, head: true}
	lazy := c.sc != nil && plan.body != bodyStream
	var err error
	if lazy {
		// The response timer and the cancellation hook are armed only when a read or
		// write would wait (arm). A write that the socket takes at once, and a response
		// already there, cannot hang, so neither is needed for them.
		c.pending = b
		var n int
		if n, err = c.sc.TryWrite(s.buf); err == sockio.ErrWouldBlock {
			b.arm()
			_, err = c.sc.Write(s.buf[n:])
		}
	} else {
		if t.respTimeout > 0 && plan.body != bodyStream {
			// Reading starts right after this one write. Arming it before the
			// cancellation hook exists means this can never overwrite the hook's deadline.
			c.nc.SetReadDeadline(time.Now().Add(t.respTimeout))
			b.deadline = true
		}
		if ctx.Done() != nil {
			b.stop = context.AfterFunc(ctx, c.abortIO)
		}
		_, err = c.rw.Write(s.buf)
	}
	if err != nil {
		b.abort()
		return nil, staleWrite, ioError(ctx, "writing request", err)
	}
	if plan.body == bodyStream {
		b.werr = make(chan error, 1)
		go b.stream(req.Body, plan, t.respTimeout)
	}
	start := c.nread
	if c.br.Buffered() == 0 {
		// Let the other ready goroutines run first: by the time this one reads, the
		// answer has often arrived, which saves a read that finds nothing (EAGAIN) and
		// the netpoller's round trip: ~10% less CPU per proxied request under load, and
		// a shorter tail (docs/benchmarks.md). With nothing else ready it returns at
		// once. (The same before reading a client's next request lengthened the tail:
		// a waiting client's request sat behind a whole run queue.)
		runtime.Gosched()
	}
	resp, err := c.readResponse(req)
	if err != nil {
		st := notStale
		if c.nread == start && connGone(err) {
			st = staleRead
		}
		b.abort()
		if b.werr != nil {
			// The writer stops once the connection is closed. Its error explains more
			// than ours, unless it is our close (a body too large is a 413, not a 502).
			if werr := <-b.werr; werr != nil && !errors.Is(werr, net.ErrClosed) {
				return nil, notStale, werr
			}
		}
		return nil, st, ioError(ctx, "reading response", err)
	}
	b.head = false
	if t.respTimeout > 0 && (b.werr != nil || b.deadline) {
		if b.werr != nil {
			b.wmu.Lock()
			b.headerDone = true
			c.nc.SetReadDeadline(time.Time{})
			b.wmu.Unlock()
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil {
			// The hook may have run before the clear above; make its deadline stick.
			c.nc.SetDeadline(aLongTimeAgo)
		}
	}
	if resp.Close {
		b.keep = false
	}
	if resp.Body == http.NoBody {
		b.mu.Lock()
		b.state = bodyDone
		b.err = io.EOF
		b.release(true)
		b.mu.Unlock()
		return resp, notStale, nil
	}
	b.rc = resp.Body
	resp.Body = b
	return resp, notStale, nil
}

// readResponse reads the final response head, relaying informational ones to the trace
// (ReverseProxy forwards 103 Early Hints that way) as http.Transport does.
func (c *h1Conn) readResponse(req *http.Request) (*http.Response, error) {
	for n := 0; ; n++ {
		c.limit = h1MaxHeaderBytes
		resp, err := readResponseHead(c.br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 {
			c.limit = math.MaxInt64
			return resp, nil
		}
		if code == http.StatusSwitchingProtocols {
			// Upgrades take the other path; a 101 here answers a request that asked for none.
			return nil, errors.New("unexpected 101 Switching Protocols")
		}
		if n >= h1Max1xx {
			return nil, errors.New("net/http: too many 1xx informational responses")
		}
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// ioError names the failed step, or reports the context's error when that is the cause:
// the cancellation hook works through deadlines, which would read as timeouts.
func ioError(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if op == "reading response" && errors.As(err, &ne) && ne.Timeout() {
		return errResponseHeaderTimeout
	}
	return fmt.Errorf("%s: %w", op, err)
}

// connGone reports an error that a peer closing the connection causes.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// h1Body is a response body and the rest of its exchange: when it ends, the connection
// goes back to the idle list or is closed, exactly once.
type h1Body struct {
	c        *h1Conn
	rc       io.ReadCloser // the body as readResponseHead framed it
	ctx      context.Context
	stop     func() bool // stops the cancellation hook; nil until armed, or for a context that never ends
	keep     bool        // neither side asked to close, and the body is not close-delimited
	head     bool        // the response head is still to come: the response timeout applies
	deadline bool        // the response timeout's read deadline is set

	// The streaming request body writer: its result, and the response timeout it arms
	// once the body is written, unless the response head came first.
	werr       chan error // nil when the body went with the head
	wmu        sync.Mutex
	headerDone bool // guarded by wmu

	mu    sync.Mutex
	state uint8 // guarded by mu
	err   error // what Read returns once done; guarded by mu
}

const (
	bodyActive  = iota
	bodyReading // a Read is in the network, without mu
	bodyClosing // Close came during that Read and closed the connection
	bodyDone
)

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.state != bodyActive {
		err := b.err
		if b.state == bodyReading {
			err = errors.New("upstream: concurrent Read of a response body")
		}
		b.mu.Unlock()
		return 0, err
	}
	b.state = bodyReading
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state == bodyClosing:
		b.state, b.err = bodyDone, errReadOnClosedBody
		b.release(false)
		return n, errReadOnClosedBody
	case err == nil:
		b.state = bodyActive
		return n, nil
	case err == io.EOF:
		b.state, b.err = bodyDone, io.EOF
		b.release(true)
		return n, io.EOF
	}
	if cerr := b.ctx.Err(); cerr != nil {
		err = cerr
	}
	b.state, b.err = bodyDone, err
	b.release(false)
	return n, err
}

// Close keeps the connection when the rest of the body is already buffered (a small
// body the caller did not read); it never waits on the network, unlike http.body's Close.
func (b *h1Body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case bodyReading:
		// Unblock that Read; it releases the exchange when it returns.
		b.state = bodyClosing
		b.c.nc.Close()
		return nil
	case bodyActive:
		b.c.noWait = true
		n, err := io.CopyN(io.Discard, b.rc, h1DrainOnClose+1)
		b.c.noWait = false
		b.release(err == io.EOF && n <= h1DrainOnClose)
	}
	b.state, b.err = bodyDone, errReadOnClosedBody
	return nil
}

// release ends the exchange: the connection is reused when the response ended cleanly,
// neither side wants it closed, the request body was fully written, the cancellation
// hook can no longer fire, and nothing unread follows the response. Called once, with mu
// held (or before the body is handed out).
func (b *h1Body) release(reuse bool) {
	b.c.pending = nil
	if b.stop != nil && !b.stop() {
		reuse = false // the hook ran: the connection carries a past deadline
	}
	if b.werr != nil {
		select {
		case err := <-b.werr:
			reuse = reuse && err == nil
		default:
			reuse = false // still writing: closing is what stops it
		}
	}
	if reuse && b.keep && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

// arm sets what a wait needs: the response timeout while the head is still to come, and
// the hook that fails the connection's I/O when the request's context ends (at once, if
// it has). The deadline goes first, so that it can never overwrite the hook's.
func (b *h1Body) arm() {
	c := b.c
	c.pending = nil
	if b.head && c.t.respTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.t.respTimeout))
		b.deadline = true
	}
	if b.ctx.Done() != nil {
		b.stop = context.AfterFunc(b.ctx, c.abortIO)
	}
}

// abort ends an exchange that failed before a body was handed out.
func (b *h1Body) abort() {
	b.c.pending = nil
	if b.stop != nil {
		b.stop()
	}
	b.c.nc.Close()
}

// stream writes a request body that did not go with the head, concurrently with the
// caller reading the response, as http.Transport's writeLoop does.
func (b *h1Body) stream(body io.ReadCloser, plan h1Plan, timeout time.Duration) {
	bufp := b.c.t.getCopyBuf()
	err, fromBody := writeBody(b.c.nc, body, plan, bufp[:])
	body.Close()
	b.c.t.copyBuf.Put(bufp)
	if fromBody {
		// The upstream would wait for the rest forever.
		b.c.nc.Close()
	} else if timeout > 0 {
		// The response timeout runs from the end of the request, as with http.Transport.
		// After a failed write too: the peer may still answer, or it closed.
		b.wmu.Lock()
		if !b.headerDone {
			b.c.nc.SetReadDeadline(time.Now().Add(timeout))
			if b.ctx.Err() != nil {
				b.c.nc.SetDeadline(aLongTimeAgo)
			}
		}
		b.wmu.Unlock()
	}
	b.werr <- err
}

// writeBody copies body to w, as plan.length bytes or chunked (one write per chunk, so
// that a slow stream is not held back in a buffer). fromBody tells a failure to read the
// body from a failure to write it.
func writeBody(w io.Writer, body io.Reader, plan h1Plan, buf []byte) (err error, fromBody bool) {
	if !plan.chunked {
		var n int64
		for n < plan.length {
			k, rerr := body.Read(buf[:min(int64(len(buf)), plan.length-n)])
			if k > 0 {
				if _, werr := w.Write(buf[:k]); werr != nil {
					return werr, false
				}
				n += int64(k)
			}
			if rerr == io.EOF && n < plan.length {
				return bodyLengthError(plan.length, n), true
			}
			if rerr != nil && rerr != io.EOF {
				return rerr, true
			}
		}
		return nil, false
	}
	const room = 10 // "8000\r\n" for a full buffer, with room to spare
	for {
		k, rerr := body.Read(buf[room : len(buf)-2])
		if k > 0 {
			var size [8]byte
			line := append(strconv.AppendInt(size[:0], int64(k), 16), '\r', '\n')
			start := room - len(line)
			copy(buf[start:], line)
			buf[room+k], buf[room+k+1] = '\r', '\n'
			if _, werr := w.Write(buf[start : room+k+2]); werr != nil {
				return werr, false
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, true
		}
	}
	_, err = io.WriteString(w, "0\r\n\r\n")
	return err, false
}
