package h1server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the connection's http.ResponseWriter, reused by each of its requests. The
// head is written into the connection's buffer when the framing is known: at once for a
// declared Content-Length, otherwise when the body outgrows a small buffer, on Flush, or
// when the handler returns (then with a Content-Length of what it wrote).
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // a final status is set
	headWritten bool // the head is in the connection's buffer
	chunked     bool
	closeAfter  bool
	isHEAD      bool
	noBody      bool  // the status allows no body
	declared    int64 // Content-Length the handler set; -1: none
	written     int64 // body bytes the handler wrote
	pending     *[]byte
	trailers    []string // announced in the head, sent after a chunked body
	hijacked    bool
	broken      bool // a write failed or the handler panicked: close
	sentCont    bool
	manualRDL   bool
	manualWDL   bool
	fullDuplex  bool
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// pendingSize is how much body is held back to compute a Content-Length (net/http's
// bufferBeforeChunkingSize).
const pendingSize = 2048

var pendingPool = sync.Pool{New: func() any { b := make([]byte, 0, pendingSize); return &b }}

func (w *response) reset(req *http.Request) {
	h := w.header
	clear(h)
	*w = response{c: w.c, req: req, header: h, declared: -1}
	w.isHEAD = req.Method == http.MethodHead
	w.closeAfter = req.Close || hasToken(req.Header["Connection"], "close")
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	if v := w.header["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64); err == nil && n >= 0 && len(v) == 1 {
			w.declared = n
		} else {
			delete(w.header, "Content-Length") // as net/http: an invalid length is not sent
		}
	}
	if w.declared >= 0 || w.noBody {
		w.writeHead(false)
	}
}

// writeInformational sends a 1xx (103 Early Hints, say) with the current headers.
func (w *response) writeInformational(code int) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	if w.headWritten {
		return
	}
	if code == http.StatusContinue {
		if w.sentCont {
			return // the automatic one went first: one 100 is enough
		}
		w.sentCont = true // the handler's own 100: no automatic one after it
	}
	bw := w.c.bw
	writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code)
	w.writeFields(bw, true)
	_, _ = bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.broken = true
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.declared >= 0 && w.written > w.declared {
		return 0, http.ErrContentLength
	}
	if w.isHEAD {
		return len(p), nil
	}
	if !w.headWritten {
		if w.pending == nil {
			w.pending = pendingPool.Get().(*[]byte)
		}
		if len(*w.pending)+len(p) <= pendingSize {
			*w.pending = append(*w.pending, p...)
			return len(p), nil
		}
		w.writeHead(false)
	}
	return w.writeBody(p)
}

func (w *response) WriteString(s string) (int, error) {
	// Handlers that write strings (problem documents) would otherwise convert twice.
	return w.Write([]byte(s))
}

// writeBody writes p, framed, after the head.
func (w *response) writeBody(p []byte) (int, error) {
	if w.broken {
		return 0, errClosedWrite
	}
	bw := w.c.bw
	var err error
	if w.chunked {
		var hex [16]byte
		_, _ = bw.Write(strconv.AppendInt(hex[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(p)
		_, err = bw.WriteString("\r\n")
	} else {
		_, err = bw.Write(p)
	}
	if err != nil {
		w.broken = true
		return 0, err
	}
	return len(p), nil
}

var errClosedWrite = errors.New("h1server: write on a failed connection")

// writeHead commits status, headers and framing. final: the handler has returned, so a
// body still pending is all there is.
func (w *response) writeHead(final bool) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	if w.headWritten {
		return
	}
	w.headWritten = true
	h := w.header
	if w.status == http.StatusSwitchingProtocols {
		// The handler's Connection and Upgrade stand; the connection is the handler's
		// to hijack, and is closed if it does not.
		w.closeAfter = true
		bw := w.c.bw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), w.status)
		w.writeFields(bw, false)
		if _, ok := h["Date"]; !ok {
			_, _ = bw.Write(*w.c.s.date.Load())
		}
		_, _ = bw.WriteString("\r\n")
		return
	}
	delete(h, "Transfer-Encoding") // framing is this server's to choose
	if w.status < 200 || w.status == http.StatusNoContent || w.declared < 0 {
		// Without a length declared by WriteHeader, one set later is not the framing
		// (net/http snapshots the header there); this server's length or chunking is.
		delete(h, "Content-Length")
	}
	body := !w.noBody
	if tr := h["Trailer"]; len(tr) > 0 && body && !w.isHEAD {
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				if k = textproto.TrimString(k); k != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
				}
			}
		}
	}
	var length int64 = -1
	switch {
	case w.declared >= 0:
	case !body:
	case final && len(w.trailers) == 0 && (!w.isHEAD || w.written > 0):
		length = w.written
		if !w.isHEAD {
			length = int64(w.pendingLen())
		}
	case w.isHEAD:
	case w.req.ProtoAtLeast(1, 1):
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the body ends with the connection
	}
	if w.c.s.closing.Load() {
		w.closeAfter = true
	}
	if w.req.Body != http.NoBody && w.req.Body != nil && w.c.body.expect && !w.sentCont {
		w.closeAfter = true // the client may still send the body it announced
	}
	if hasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	delete(h, "Connection")
	bw := w.c.bw
	writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), w.status)
	w.writeFields(bw, false)
	if _, ok := h["Date"]; !ok {
		_, _ = bw.Write(*w.c.s.date.Load())
	}
	if length >= 0 {
		var n [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(n[:0], length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		_, _ = bw.WriteString("Connection: close\r\n")
	} else if w.req.ProtoMajor == 1 && w.req.ProtoMinor == 0 {
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if w.pending != nil {
		if p := *w.pending; len(p) > 0 && !w.isHEAD {
			_, _ = w.writeBody(p)
		}
		w.releasePending()
	}
}

func (w *response) pendingLen() int {
	if w.pending == nil {
		return 0
	}
	return len(*w.pending)
}

func (w *response) releasePending() {
	*w.pending = (*w.pending)[:0]
	pendingPool.Put(w.pending)
	w.pending = nil
}

// writeFields writes the header map, dropping invalid names (trailers' "Trailer:" keys
// among them) and turning line breaks in values into spaces, as net/http does. A 1xx
// (info) never carries framing fields, as RFC 9110 says and net/http does: ReverseProxy
// relays an upstream's 1xx through this map, and a stray Content-Length there could
// desynchronise a lax client.
func (w *response) writeFields(bw *bufio.Writer, info bool) {
	for k, vv := range w.header {
		if !httpguts.ValidHeaderFieldName(k) || slices.Contains(w.trailers, k) {
			continue // announced trailers go after the body, whenever they were set
		}
		if info && (k == "Content-Length" || k == "Transfer-Encoding") {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
}

// writeField writes "k: v", with line breaks in v turned into spaces.
func writeField(bw *bufio.Writer, k, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = newlineToSpace.Replace(v)
	}
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(textproto.TrimString(v))
	_, _ = bw.WriteString("\r\n")
}

var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// statusLines caches "HTTP/1.1 200 OK\r\n" by code; statusLines10 the HTTP/1.0 ones,
// which an HTTP/1.0 client gets, as from net/http.
var statusLines, statusLines10 sync.Map // int → string

func writeStatusLine(bw *bufio.Writer, proto11 bool, code int) {
	cache, proto := &statusLines, "HTTP/1.1 "
	if !proto11 {
		cache, proto = &statusLines10, "HTTP/1.0 "
	}
	if l, ok := cache.Load(code); ok {
		_, _ = bw.WriteString(l.(string))
		return
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	l := proto + strconv.Itoa(code) + " " + text + "\r\n"
	cache.Store(code, l)
	_, _ = bw.WriteString(l)
}

// finish completes the response after the handler; it reports whether the connection
// may carry another request.
func (w *response) finish() bool {
	c := w.c
	if !w.wroteHeader && !w.broken {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten && (hasToken(w.header["Connection"], "close") || c.s.closing.Load()) {
		w.closeAfter = true // what writeHead would decide; known now, it spares the drain
	}
	// A connection that closes after this response needs nothing of the rest of the
	// body, and reading it would only hold the response back (net/http skips it too).
	if !w.broken && !w.closeAfter && !c.body.drainBefore(w) {
		w.closeAfter = true
	}
	if !w.headWritten && !w.broken {
		w.writeHead(true)
	}
	if w.pending != nil {
		w.releasePending()
	}
	bw := c.bw
	if w.chunked && !w.broken {
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		_, _ = bw.WriteString("\r\n")
	}
	if w.declared >= 0 && w.written != w.declared && !w.isHEAD && !w.noBody {
		w.closeAfter = true // the body is not its declared length: only closing keeps the stream in step
	}
	keep := !w.closeAfter && !w.broken
	if !w.broken {
		// Every response goes out when it is done, as with net/http: holding one for a
		// pipelined request's would make it wait for that request's handler.
		if err := bw.Flush(); err != nil {
			keep = false
		}
	}
	if w.broken {
		keep = false
	}
	if w.manualRDL {
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(time.Time{})
		c.dlMu.Unlock()
	}
	if w.manualWDL {
		c.dlMu.Lock()
		_ = c.nc.SetWriteDeadline(time.Time{})
		c.dlMu.Unlock()
	}
	if keep && !c.body.eof && c.body.rc != nil {
		keep = false
	}
	return keep
}

// writeTrailers writes the announced trailers and those set with http.TrailerPrefix.
func (w *response) writeTrailers(bw *bufio.Writer) {
	for _, k := range w.trailers {
		for _, v := range w.header[k] {
			writeTrailer(bw, k, v)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vv {
				writeTrailer(bw, name, v)
			}
		}
	}
}

func writeTrailer(bw *bufio.Writer, k, v string) {
	if !httpguts.ValidTrailerHeader(k) || !httpguts.ValidHeaderFieldName(k) {
		return
	}
	writeField(bw, k, v)
}

// sendContinue writes 100 Continue before the body is first read, unless the final
// head has gone out (then no 100 is owed any more, but the body is still read, as
// net/http does: a client may send it without waiting); false once hijacked.
func (w *response) sendContinue() bool {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	if w.hijacked {
		return false
	}
	if w.sentCont || w.headWritten || w.broken {
		return true
	}
	w.sentCont = true
	bw := w.c.bw
	_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	if err := bw.Flush(); err != nil {
		w.broken = true
		return false
	}
	return true
}

// Flush sends what is written so far; the head goes out first, chunked when its length
// is not known.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController, with the write error.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.writeHead(false)
	if w.broken {
		return errClosedWrite
	}
	if err := w.c.bw.Flush(); err != nil {
		w.broken = true
		return err
	}
	return nil
}

// Hijack hands the connection to the handler, with whatever was written so far sent.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.wroteHeader {
		w.writeHead(false)
	}
	c.wmu.Lock()
	err := c.bw.Flush()
	if err == nil {
		w.hijacked = true
	}
	c.wmu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	c.hijack()
	if c.cr.hasByte {
		// The client-gone watch read a byte: put it in br, where the hijacker looks.
		_, _ = c.br.Peek(c.br.Buffered() + 1)
	}
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline serves http.ResponseController: it replaces the server's read
// deadline for the rest of this request.
func (w *response) SetReadDeadline(t time.Time) error {
	c := w.c
	c.rdl.Store(0)
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	w.manualRDL = true
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline serves http.ResponseController: it replaces write_timeout for the
// rest of this request (a held stream clears it).
func (w *response) SetWriteDeadline(t time.Time) error {
	c := w.c
	c.wdl.Store(0)
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	w.manualWDL = true
	return c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex serves http.ResponseController. HTTP/1.1 here always lets a handler
// read the request body after it has started the response.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// hasToken reports whether a comma-separated header holds token, case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(part), token) {
				return true
			}
		}
	}
	return false
}
