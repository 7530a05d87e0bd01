package h1server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatehouse-dev/gatehouse/internal/sockio"
)

// Connection states, for Shutdown: only idle connections are closed under a client.
const (
	stateNew int32 = iota
	stateIdle
	stateActive
	stateHijacked
)

// fired marks a deadline the sweeper enforced: the connection's own deadline is in the
// past, so the connection is done.
const fired = -1

// aLongTimeAgo makes a blocked read or write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// maxPostHandlerReadBytes is how much of an unread request body is read and dropped
// after the handler to keep the connection, as net/http does.
const maxPostHandlerReadBytes = 256 << 10

type conn struct {
	s      *Server
	born   int64 // s.now() when accepted: Shutdown treats a silent new connection as idle after a while
	nc     net.Conn
	rw     io.ReadWriter // nc's Read and Write, over raw system calls where it can
	ctx    context.Context
	remote string
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	res    response
	body   *requestBody // this request's: a fresh one for each request with a body
	noBody requestBody  // c.body of a request without one
	// wmu orders writes to bw from a body reader's goroutine (100 Continue) against the
	// handler's (1xx, the head).
	wmu sync.Mutex
	// noPool: a request body's reader may still be using br after the connection
	// closes, so its buffers are not pooled.
	noPool bool

	state  atomic.Int32
	http10 bool // a rejection answers an HTTP/1.0 request
	// linger: the client may still be sending bytes this server will not read (an upload
	// refused before its end, a head too large); close half-closes and waits a little.
	linger bool
	// lastPOST: the previous request was a POST, so CR and LF before the next are skipped.
	lastPOST bool
	// rdl and wdl are the read and write deadlines the sweeper enforces, in the coarse
	// clock's UnixNano; 0: none; fired: enforced. dlMu orders the sweeper's enforcement
	// against the connection clearing a fired deadline.
	rdl, wdl atomic.Int64
	dlMu     sync.Mutex
	// watchFrom is when the running handler became eligible for the client-gone watch
	// (its body read, nothing pipelined); 0: not eligible or already watched.
	watchFrom atomic.Int64
	// watchGen is the request watchFrom was set for: a sweeper that lost the CPU between
	// its check and startWatch must not start a watch on a later request.
	watchGen atomic.Uint64
	gen      uint64 // under bgMu: the request being served

	bgMu      sync.Mutex
	bgRunning bool
	bgAborted bool
	bgDone    chan struct{}
	reqDone   bool               // under bgMu: no watch may start
	cancelReq context.CancelFunc // under bgMu
	gone      bool               // under bgMu: the watch saw the client leave
}

var bufPool = sync.Pool{New: func() any { return new(connBufs) }}

type connBufs struct {
	r *bufio.Reader
	w *bufio.Writer
}

func (s *Server) newConn(nc net.Conn, base context.Context) *conn {
	c := &conn{s: s, nc: nc, rw: nc, born: s.now()}
	if ra := nc.RemoteAddr(); ra != nil { // as net/http: a wrapped listener may not say
		c.remote = ra.String()
	}
	if sc := sockio.New(nc); sc != nil {
		c.rw = sc
	}
	c.ctx = context.WithValue(base, http.LocalAddrContextKey, nc.LocalAddr())
	c.cr.c, c.cr.limit = c, -1
	b := bufPool.Get().(*connBufs)
	if b.r == nil {
		b.r = bufio.NewReaderSize(&c.cr, 4<<10)
		b.w = bufio.NewWriterSize(c.rw, 4<<10)
	} else {
		b.r.Reset(&c.cr)
		b.w.Reset(c.rw)
	}
	c.br, c.bw = b.r, b.w
	c.res.c = c
	c.res.header = make(http.Header, 8)
	c.noBody.c = c
	c.body = &c.noBody
	return c
}

// connReader reads from the connection, capped while a request head is read, and gives
// back the byte the client-gone watch may have taken.
type connReader struct {
	c       *conn
	limit   int64 // bytes that may still be read; negative: no cap
	hit     bool  // the cap was reached
	hasByte bool
	byteBuf [1]byte
	err     error // the connection's last read error: a failed request read is the client's doing only with one
}

func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if cr.hasByte {
		p[0] = cr.byteBuf[0]
		cr.hasByte = false
		return 1, nil
	}
	if cr.limit >= 0 {
		if cr.limit == 0 {
			cr.hit = true
			return 0, io.EOF
		}
		if int64(len(p)) > cr.limit {
			p = p[:cr.limit]
		}
	}
	n, err := cr.c.rw.Read(p)
	if err != nil {
		cr.err = err
	}
	if cr.limit >= 0 {
		cr.limit -= int64(n)
	}
	return n, err
}

func (c *conn) serve() {
	hijacked := false
	defer func() {
		if !hijacked {
			c.close()
		}
	}()
	s := c.s
	c.setRDL(s.deadline(s.ReadHeaderTimeout))
	if s.HTTP2 != nil && c.h2Preface() {
		hijacked = true // the HTTP/2 server owns the connection now
		c.s.forget(c)
		c.handoff()
		return
	}
	for first := true; ; first = false {
		if first && c.br.Buffered() == 0 && !c.cr.hasByte {
			// Still stateNew: until its first byte, Shutdown may close it (newIdleAfter).
			// The read is the head's first, under its cap (serveOne keeps this one).
			c.cr.limit = s.headLimit()
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !first {
			if c.br.Buffered() == 0 && !c.cr.hasByte {
				c.state.Store(stateIdle)
				if !c.setRDL(s.deadline(s.IdleTimeout)) {
					return
				}
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
			// Also for a pipelined head already begun: the rest must arrive in time.
			if !c.setRDL(s.deadline(s.ReadHeaderTimeout)) {
				return
			}
		}
		c.state.Store(stateActive)
		keep, hj := c.serveOne()
		if hj {
			hijacked = true
			return
		}
		if !keep || s.closing.Load() {
			return
		}
	}
}

func leadingCRorLF(b []byte) int {
	n := 0
	for _, c := range b {
		if c != '\r' && c != '\n' {
			break
		}
		n++
	}
	return n
}

// headLimit is the cap on the bytes read for one request head: MaxHeaderBytes and
// net/http's allowance for the request line.
func (s *Server) headLimit() int64 {
	max := s.MaxHeaderBytes
	if max <= 0 {
		max = defaultMaxHeaderBytes
	}
	return int64(max) + 4096
}

// serveOne reads and answers one request. keep: the connection may carry another.
func (c *conn) serveOne() (keep, hijacked bool) {
	s := c.s
	start := s.now()
	if s.ReadTimeout > 0 && (c.rdl.Load() <= 0 || start+int64(s.ReadTimeout) < c.rdl.Load()) {
		if !c.setRDL(start + int64(s.ReadTimeout)) {
			return false, false
		}
	}
	if c.cr.limit < 0 {
		c.cr.limit = s.headLimit()
	}
	c.cr.hit, c.cr.err = false, nil
	if c.lastPOST {
		// As net/http (RFC 9112 2.2): old clients send a stray CRLF after a POST body.
		peek, _ := c.br.Peek(4) // a read error shows in readRequest
		_, _ = c.br.Discard(leadingCRorLF(peek))
	}
	req, hosts, err := readRequest(c.br)
	c.cr.limit = -1
	c.lastPOST = err == nil && req.Method == http.MethodPost
	if err != nil {
		c.badRequest(err)
		return false, false
	}
	if problem := checkRequest(req, hosts); problem != "" {
		status := http.StatusBadRequest
		if problem == "unsupported protocol version" {
			status = http.StatusHTTPVersionNotSupported
		}
		c.reject(status, "bad_request", problem)
		return false, false
	}
	if s.ReadTimeout > 0 {
		if !c.setRDL(start + int64(s.ReadTimeout)) {
			return false, false
		}
	} else if !c.setRDL(0) {
		return false, false
	}
	if s.WriteTimeout > 0 {
		c.wdl.Store(s.now() + int64(s.WriteTimeout))
	}

	ctx, cancel := context.WithCancel(c.ctx)
	*req = *req.WithContext(ctx)
	req.RemoteAddr = c.remote
	c.bgMu.Lock()
	c.reqDone, c.gone, c.cancelReq = false, false, cancel
	c.gen++
	c.bgMu.Unlock()

	w := &c.res
	w.reset(req)
	// As net/http: 100-continue is honoured for an HTTP/1.1 request with a body, and any
	// other expectation is refused.
	exp := ""
	if v := req.Header["Expect"]; len(v) > 0 {
		exp = v[0]
	}
	expect := false
	if hasTokenNet(exp, "100-continue") {
		expect = req.ProtoAtLeast(1, 1) && req.ContentLength != 0
	} else if exp != "" {
		cancel()
		c.http10 = !req.ProtoAtLeast(1, 1) // answered in the request's version, as net/http does
		c.reject(http.StatusExpectationFailed, "expectation_failed", "unsupported Expect header")
		return false, false
	}
	if req.Body != http.NoBody && req.Body != nil {
		// A fresh body per request: one that a handler's goroutine still holds after
		// the request is over must not read the next request's bytes.
		c.body = &requestBody{c: c, rc: req.Body, expect: expect}
		req.Body = c.body
	} else {
		c.noBody = requestBody{c: c, eof: true}
		c.body = &c.noBody
		c.bodyRead()
	}

	c.callHandler(w, req)
	c.endWatch()
	cancel() // as net/http: the request's context ends when ServeHTTP returns
	if w.hijacked {
		return false, true
	}
	// The body ends with the handler, as net/http's does: a goroutine the handler left
	// behind gets ErrBodyReadAfterClose from here on (the drain reads under it).
	idle := c.body.fence()
	keep = w.finish()
	if !idle || !c.body.idle() {
		// Such a read is under way (a transport still streaming an upload the upstream
		// answered early): the connection cannot go on, and closes lingering.
		keep, c.noPool, c.linger = false, true, true
	} else if !keep && !c.body.eof {
		c.linger = true // closing on a body not read to its end
	}
	if !c.clearWDL() {
		keep = false
	}
	c.bgMu.Lock()
	if c.gone {
		keep = false
	}
	c.cancelReq = nil
	c.bgMu.Unlock()
	return keep, false
}

// callHandler runs the handler, turning a panic into a closed connection as net/http does.
func (c *conn) callHandler(w *response, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			w.broken = true
			if v != http.ErrAbortHandler {
				c.s.logger().Error("panic serving request", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}
	}()
	if req.Method == http.MethodOptions && req.RequestURI == "*" {
		serverOptions(w, req) // about the server, not a resource: net/http answers it too
		return
	}
	c.s.Handler.ServeHTTP(w, req)
}

// serverOptions answers "OPTIONS *" as net/http's server does.
func serverOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}

// checkRequest applies the checks net/http's server adds to http.ReadRequest's.
func checkRequest(req *http.Request, hosts []string) string {
	if req.ProtoMajor != 1 {
		return "unsupported protocol version"
	}
	// hosts are the Host lines (readRequest refused several); an absolute-form target
	// does not excuse their absence, nor a malformed one.
	if len(hosts) == 0 && req.ProtoAtLeast(1, 1) && req.Method != "CONNECT" {
		return "missing required Host header"
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}

// badRequest answers a request that could not be read, unless the client left.
func (c *conn) badRequest(err error) {
	switch {
	case c.cr.hit:
		c.linger = true // the rest of the head may still be on its way
		c.reject(http.StatusRequestHeaderFieldsTooLarge, "header_too_large", "the request head is larger than the server accepts")
	case err == io.EOF, c.cr.err != nil && c.cr.err != io.EOF && errors.Is(err, c.cr.err):
		// The client left before a request began, or the connection failed or timed
		// out: there is nobody to answer. A request cut short by the client's end of
		// stream (io.ErrUnexpectedEOF) is answered 400, as net/http does.
	default:
		detail := "malformed HTTP request"
		if isUnsupportedTE(err) {
			c.reject(http.StatusNotImplemented, "unsupported_transfer_encoding", "unsupported Transfer-Encoding")
			return
		}
		c.reject(http.StatusBadRequest, "bad_request", detail)
	}
}

// isUnsupportedTE tells net/http's unexported unsupportedTEError by type name and its
// two messages: it has no other identity.
func isUnsupportedTE(err error) bool {
	if fmt.Sprintf("%T", err) != "*http.unsupportedTEError" {
		return false
	}
	m := err.Error()
	return strings.HasPrefix(m, "unsupported transfer encoding: ") || strings.HasPrefix(m, "too many transfer encodings: ")
}

// hasTokenNet is net/http's hasToken: token appears in v, case-insensitively, between
// spaces, tabs or commas.
func hasTokenNet(v, token string) bool {
	for i := 0; i+len(token) <= len(v); i++ {
		if (i == 0 || isTokenBoundary(v[i-1])) &&
			(i+len(token) == len(v) || isTokenBoundary(v[i+len(token)])) &&
			strings.EqualFold(v[i:i+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// reject writes an error response and leaves the connection to be closed.
func (c *conn) reject(status int, code, detail string) {
	body := `{"type":"about:blank","title":"` + http.StatusText(status) + `","status":` + fmt.Sprint(status) +
		`,"code":"` + code + `","detail":"` + detail + `"}` + "\n"
	c.clearRDL()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	proto := "HTTP/1.1"
	if c.http10 {
		proto = "HTTP/1.0"
	}
	fmt.Fprintf(c.bw, "%s %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		proto, status, http.StatusText(status), len(body), body)
	_ = c.bw.Flush()
}

// h2Preface reports whether the connection opens with the HTTP/2 client preface,
// reading no further than needed to tell.
func (c *conn) h2Preface() bool {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for n := 1; n <= len(preface); n++ {
		b, err := c.br.Peek(n)
		if err != nil {
			return false
		}
		if b[n-1] != preface[n-1] {
			return false
		}
		if bn := c.br.Buffered(); bn > n {
			// Compare what has arrived in one go.
			m := min(bn, len(preface))
			b, _ = c.br.Peek(m)
			if string(b) != preface[:m] {
				return false
			}
			n = m
			if n == len(preface) {
				return true
			}
		}
	}
	return true
}

// handoff gives the connection, with the bytes already read, to the HTTP/2 server.
func (c *conn) handoff() {
	c.setRDL(0)
	c.dlMu.Lock()
	_ = c.nc.SetDeadline(time.Time{})
	c.dlMu.Unlock()
	n := c.br.Buffered()
	pre, _ := c.br.Peek(n)
	pc := &prefixConn{Conn: c.nc, pre: append([]byte(nil), pre...)}
	if !c.s.h2ln.deliver(pc) {
		_ = c.nc.Close()
	}
}

// deadline is the coarse-clock deadline d from now; 0 when d is 0.
func (s *Server) deadline(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return s.now() + int64(d)
}

// setRDL replaces the read deadline; false when the old one had fired.
func (c *conn) setRDL(d int64) bool {
	if c.rdl.Swap(d) == fired {
		c.rdl.Store(fired)
		return false
	}
	return true
}

// clearRDL drops the read deadline, undoing an enforced one (the read it guarded ended).
func (c *conn) clearRDL() {
	if c.rdl.Swap(0) == fired {
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(time.Time{})
		c.dlMu.Unlock()
	}
}

// clearWDL drops the write deadline; false when it had fired (the response was cut).
func (c *conn) clearWDL() bool {
	if c.wdl.Swap(0) == fired {
		return false
	}
	return true
}

// check is the sweeper's visit: enforce expired deadlines, start the client-gone watch,
// close the connection when it idles during shutdown.
func (c *conn) check(now int64, closing bool) {
	if d := c.rdl.Load(); d > 0 && now >= d {
		c.dlMu.Lock()
		if c.rdl.CompareAndSwap(d, fired) {
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
		}
		c.dlMu.Unlock()
	}
	if d := c.wdl.Load(); d > 0 && now >= d {
		c.dlMu.Lock()
		if c.wdl.CompareAndSwap(d, fired) {
			_ = c.nc.SetWriteDeadline(aLongTimeAgo)
		}
		c.dlMu.Unlock()
	}
	if f := c.watchFrom.Load(); f > 0 && now-f >= int64(watchAfter) {
		if gen := c.watchGen.Load(); c.watchFrom.CompareAndSwap(f, 0) {
			c.startWatch(gen)
		}
	}
	if closing {
		c.closeIfIdle()
	}
}

// newIdleAfter: during Shutdown, a connection that has not finished its first request
// head this long after it was accepted counts as idle and is closed (net/http's 5 s).
const newIdleAfter = 5 * time.Second

func (c *conn) closeIfIdle() {
	st := c.state.Load()
	if st == stateIdle || st == stateNew && c.s.now()-c.born >= int64(newIdleAfter) {
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(aLongTimeAgo) // the idle Peek returns; serve closes
		c.dlMu.Unlock()
	}
}

// bodyRead marks the request body as consumed: a handler still running from here on may
// be waiting on something slow, and its client is watched from the next sweep.
func (c *conn) bodyRead() {
	c.clearRDL() // read_timeout covers reading the request, not the handler after it
	// Pipelined bytes already buffered do not matter: the watch's byte comes after them
	// on the wire, and connReader hands it to br after them. A byte already taken does:
	// byteBuf holds one.
	c.bgMu.Lock()
	taken := c.cr.hasByte
	c.watchGen.Store(c.gen)
	c.bgMu.Unlock()
	if !taken {
		c.watchFrom.Store(c.s.now() + 1) // never 0
	}
}

// startWatch begins the read that notices the client going away (EOF, reset) while a
// handler runs, and cancels the request's context when it does.
func (c *conn) startWatch(gen uint64) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgRunning || c.reqDone || gen != c.gen {
		return
	}
	c.bgRunning, c.bgAborted = true, false
	c.bgDone = make(chan struct{})
	go c.backgroundRead(c.bgDone)
}

func (c *conn) backgroundRead(done chan struct{}) {
	n, err := c.nc.Read(c.cr.byteBuf[:])
	c.bgMu.Lock()
	if n == 1 {
		c.cr.hasByte = true // the next request has begun: the client is there
	} else if err != nil && !c.bgAborted {
		c.gone = true
		if c.cancelReq != nil {
			c.cancelReq()
		}
	}
	c.bgRunning = false
	close(done)
	c.bgMu.Unlock()
}

// endWatch stops a running watch and keeps a new one from starting, before the
// connection is read again or handed over.
func (c *conn) endWatch() {
	c.watchFrom.Store(0)
	c.bgMu.Lock()
	c.reqDone = true
	running, done := c.bgRunning, c.bgDone
	if running {
		c.bgAborted = true
	}
	c.bgMu.Unlock()
	if running {
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		c.dlMu.Unlock()
		<-done
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(time.Time{})
		c.dlMu.Unlock()
		if c.rdl.Load() == fired {
			c.rdl.Store(0)
		}
	}
}

// hijack detaches the connection from the server for a handler that takes it over.
func (c *conn) hijack() {
	c.endWatch()
	c.state.Store(stateHijacked)
	c.rdl.Store(0)
	c.wdl.Store(0)
	c.dlMu.Lock()
	_ = c.nc.SetDeadline(time.Time{})
	c.dlMu.Unlock()
	c.s.forget(c)
}

func (c *conn) close() {
	c.endWatch()
	if c.bw.Buffered() > 0 {
		// A rejection or a response cut short: bounded, a client that reads nothing
		// cannot hold the goroutine.
		c.dlMu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.dlMu.Unlock()
		_ = c.bw.Flush()
	}
	if c.linger {
		c.lingerClose()
	}
	_ = c.nc.Close()
	c.s.forget(c)
	if c.noPool {
		return // a body reader may still touch br: leave the buffers to the collector
	}
	c.br.Reset(nil)
	c.bw.Reset(nil)
	bufPool.Put(&connBufs{r: c.br, w: c.bw})
}

// Bounds of lingerClose: net/http waits 500 ms too (rstAvoidanceDelay).
const (
	lingerTime = 500 * time.Millisecond
	lingerMax  = 1 << 20
)

// lingerClose ends a connection whose client may still be sending. Closing a socket with
// unread input makes the kernel send a reset, and a reset can destroy the response before
// the client has read it: the 401 or 413 to an upload becomes "connection reset by peer".
// So it half-closes (the client sees the response end), then reads and discards until the
// client closes its side too, for at most lingerTime and lingerMax bytes.
func (c *conn) lingerClose() {
	tc := sockio.TCP(c.nc) // through the max-connections cap
	if tc == nil || tc.CloseWrite() != nil {
		return
	}
	end := time.Now().Add(lingerTime)
	if c.noPool {
		// A body read from a goroutine the handler left is still on the socket; reading
		// here too would race it. Fenced, it ends with the bytes it waits for (or its own
		// reader giving up): wait for that, then drain as usual.
		for !c.body.idle() {
			if time.Now().After(end) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.rdl.Store(0) // the sweeper's deadline, if any, is over: this one replaces it
	c.dlMu.Lock()
	_ = c.nc.SetReadDeadline(end)
	c.dlMu.Unlock()
	_, _ = io.CopyN(io.Discard, c.nc, lingerMax)
}

// requestBody wraps a request body: it sends 100 Continue on the first read when the
// client asked for it, and tells the connection when the body has been read.
type requestBody struct {
	c      *conn
	rc     io.ReadCloser
	expect bool // 100 Continue is owed on the first read

	// mu is held across each read, so that the server's drain and fence never overlap
	// a read from a goroutine the handler left behind.
	mu       sync.Mutex
	fenced   atomic.Bool // the request is over: reads fail
	sentCont bool        // the 100 is settled: sent, or no longer owed (the final head went first)
	eof      bool
	closed   bool
	err      error
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.fenced.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect && !b.sentCont {
		if !b.c.res.sendContinue() {
			b.err = http.ErrHijacked
			return 0, b.err
		}
		b.sentCont = true
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.c.bodyRead()
	} else if err != nil {
		b.err = err
	}
	return n, err
}

func (b *requestBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// fence ends the body with its request; false when a read from another goroutine is
// still under way, which leaves the connection unusable.
func (b *requestBody) fence() bool {
	b.fenced.Store(true)
	return b.idle()
}

// idle reports whether no read of the body is under way.
func (b *requestBody) idle() bool {
	if !b.mu.TryLock() {
		return false
	}
	b.mu.Unlock()
	return true
}

// drainBefore reads what the handler left of the body, up to a bound, so that the
// connection can carry the next request; false: it cannot.
func (b *requestBody) drainBefore(w *response) bool {
	if !b.mu.TryLock() {
		return false // a goroutine the handler left is reading it
	}
	defer b.mu.Unlock()
	if b.rc == nil || b.eof {
		return true
	}
	if b.err != nil || (b.expect && !b.sentCont) {
		return false // broken, or the client waits for a 100 that will not come
	}
	if u, ok := b.rc.(interface{ Unread() int64 }); ok && u.Unread() >= maxPostHandlerReadBytes {
		return false // too much left to be worth reading: close instead, at once (as net/http)
	}
	c := b.c
	if !c.setRDL(c.s.deadline(max(c.s.ReadHeaderTimeout, time.Second))) {
		return false
	}
	_, err := io.CopyN(io.Discard, b.rc, maxPostHandlerReadBytes+1)
	c.clearRDL()
	if err == io.EOF {
		b.eof = true
		return true
	}
	return false
}
