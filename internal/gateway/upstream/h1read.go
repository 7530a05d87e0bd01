package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// readResponseHead is http.ReadResponse(br, req), with the same result for every input,
// minus most of its allocations (textproto's reader, a string per line and per value,
// the transfer reader, a separate LimitedReader).
//
// The head is parsed from br's buffer, and only when all of it is there after at most
// the one read ReadResponse would start with: br is then advanced past it. Anything
// else (a head still arriving or longer than the buffer, obs-fold lines, an invalid or
// unusual head: bad fields, conflicting or invalid Content-Length, a Transfer-Encoding
// that is not chunked, announced trailers, a version other than HTTP/1.x) goes to
// ReadResponse untouched, which then reads, fails or blocks exactly as it always did.
func readResponseHead(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if br.Buffered() == 0 {
		// The read ReadResponse would start with; its failure is ReadResponse's too.
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	resp, n := parseHead(br, buf, req)
	if resp == nil {
		return http.ReadResponse(br, req)
	}
	// Discard, then read the final '\n': br's UnreadByte state is then that of the
	// ReadSlice ReadResponse ends with.
	br.Discard(n - 1)
	br.ReadByte()
	return resp, nil
}

// parseHead parses the response head at the start of buf, which br has buffered, and
// frames its body on br. It returns the head's length, or nil for ReadResponse to handle.
func parseHead(br *bufio.Reader, buf []byte, req *http.Request) (*http.Response, int) {
	end, fields := headEnd(buf)
	if end < 0 {
		return nil, 0
	}
	// One string for the whole head: status, proto, values and canonical keys are
	// slices of it.
	s := string(buf[:end])
	line, rest := nextLine(s)
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return nil, 0
	}
	status = strings.TrimLeft(status, " ")
	code, _, _ := strings.Cut(status, " ")
	if len(code) != 3 {
		return nil, 0
	}
	statusCode, err := strconv.Atoi(code)
	if err != nil || statusCode < 0 {
		return nil, 0
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return nil, 0 // HTTP/0.x and 2+ frame bodies differently
	}

	// As textproto.ReadMIMEHeader, with one backing array for the values.
	h := make(http.Header, fields)
	vals := make([]string, fields)
	for {
		line, rest = nextLine(rest)
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(trimRightOWS(line), ":")
		if !ok {
			return nil, 0
		}
		key, ok := headerKey(k)
		if !ok {
			return nil, 0
		}
		for i := 0; i < len(v); i++ {
			if !validHeaderValueByte(v[i]) {
				return nil, 0
			}
		}
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		if vv := h[key]; vv != nil {
			h[key] = append(vv, v)
		} else {
			// Capacity 1: a second value gets its own array, as with textproto.
			vv, vals = vals[:1:1], vals[1:]
			vv[0] = v
			h[key] = vv
		}
	}

	// What ReadResponse does next: fixPragmaCacheControl, then readTransfer.
	if hp := h["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	conn := h["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conn, "close")
	closing := hasClose
	if minor == 0 {
		closing = hasClose || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else if hasClose {
		delete(h, "Connection")
	}
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if minor > 0 { // HTTP/1.0's is ignored
			if len(te) != 1 || !asciiEqualFold(te[0], "chunked") {
				return nil, 0 // an error
			}
			chunked = true
		}
	}
	cl := h["Content-Length"]
	n := int64(-1)
	if len(cl) > 1 {
		return nil, 0 // an error, or duplicates ReadResponse merges
	} else if len(cl) == 1 {
		// Values are trimmed and hold no CR or LF: textproto.TrimString would not
		// change them. An empty one is an error, or not (GODEBUG httplaxcontentlength).
		u, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return nil, 0
		}
		n = int64(u)
	}
	if _, ok := h["Trailer"]; ok && chunked {
		return nil, 0 // announced trailers: ReadResponse sets up resp.Trailer
	}
	head := req != nil && req.Method == "HEAD"
	bodyAllowed := (statusCode < 100 || statusCode > 199) && statusCode != 204 && statusCode != 304
	var length int64 // fixLength's result
	switch {
	case head || !bodyAllowed:
		length = 0
	case chunked:
		delete(h, "Content-Length")
		length = -1
	case len(cl) == 1:
		length = n
	default:
		length = -1
		closing = true // read until the peer closes
	}

	resp := &http.Response{
		Status:        status,
		StatusCode:    statusCode,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        h,
		ContentLength: length,
		Close:         closing,
		Request:       req,
	}
	if head {
		resp.ContentLength = n
	}
	switch {
	case chunked:
		resp.TransferEncoding = []string{"chunked"}
		resp.Body = http.NoBody
		if !head && bodyAllowed {
			resp.Body = &respBody{src: httputil.NewChunkedReader(br), resp: resp, br: br, closing: closing}
		}
	case length == 0:
		resp.Body = http.NoBody
	case length > 0:
		b := &respBody{closing: closing, limited: true}
		b.lr = io.LimitedReader{R: br, N: length}
		b.src = &b.lr
		resp.Body = b
	default:
		resp.Body = &respBody{src: br, closing: closing}
	}
	return resp, end
}

// headEnd returns the length of the head at the start of buf (up to its empty line)
// and the number of field lines, or -1 when the head is incomplete or has a line that
// starts with white space: obs-fold, which textproto joins, or a malformed first field.
// Lines end in "\n" or "\r\n", as bufio.Reader.ReadLine splits them.
func headEnd(buf []byte) (end, fields int) {
	p := bytes.IndexByte(buf, '\n') + 1 // the status line
	if p == 0 {
		return -1, 0
	}
	for ; ; fields++ {
		i := bytes.IndexByte(buf[p:], '\n')
		if i < 0 {
			return -1, 0
		}
		switch line := buf[p : p+i]; {
		case len(line) == 0 || len(line) == 1 && line[0] == '\r':
			return p + i + 1, fields
		case line[0] == ' ' || line[0] == '\t':
			return -1, 0
		}
		p += i + 1
	}
}

// nextLine splits off the first line of s, which has one, without its "\n" or "\r\n".
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	line, rest = s[:i], s[i+1:]
	if strings.HasSuffix(line, "\r") {
		line = line[:len(line)-1]
	}
	return line, rest
}

func trimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// asciiEqualFold is the case-insensitive comparison net/http uses for
// Transfer-Encoding: ASCII only, unlike strings.EqualFold (K is not the Kelvin sign).
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lowerASCII(t[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// headerKey returns the map key textproto.ReadMIMEHeader files the field name k under,
// or false when it rejects the line. Canonical names are slices of the head string,
// common ones in another case interned; a name with a space is kept as is.
func headerKey(k string) (string, bool) {
	if k == "" {
		return "", false
	}
	canonical, upper := true, true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !validHeaderFieldByte(c) {
			if c != ' ' {
				return "", false
			}
			return k, checkSpaced(k[i+1:])
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return k, true
	}
	var a [64]byte
	b := append(a[:0], k...)
	upper = true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if v, ok := commonKeys[string(b)]; ok {
		return v, true
	}
	return string(b), true
}

// checkSpaced reports whether the rest of a name that has a space is valid for
// textproto: field bytes and spaces.
func checkSpaced(k string) bool {
	for i := 0; i < len(k); i++ {
		if !validHeaderFieldByte(k[i]) && k[i] != ' ' {
			return false
		}
	}
	return true
}

// commonKeys interns the canonical names of common response fields, for upstreams that
// send them in lower case.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin",
		"Access-Control-Expose-Headers", "Access-Control-Max-Age", "Age", "Alt-Svc",
		"Cache-Control", "Connection", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive",
		"Last-Modified", "Link", "Location", "Pragma", "Referrer-Policy", "Retry-After",
		"Server", "Set-Cookie", "Strict-Transport-Security", "Trailer", "Transfer-Encoding",
		"Vary", "Via", "Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options",
		"X-Powered-By", "X-Request-Id", "X-Xss-Protection",
	} {
		m[k] = k
	}
	return m
}()

// validHeaderFieldByte and validHeaderValueByte are textproto's (unexported there).
func validHeaderFieldByte(c byte) bool {
	const mask = 0 |
		(1<<(10)-1)<<'0' |
		(1<<(26)-1)<<'a' |
		(1<<(26)-1)<<'A' |
		1<<'!' |
		1<<'#' |
		1<<'$' |
		1<<'%' |
		1<<'&' |
		1<<'\'' |
		1<<'*' |
		1<<'+' |
		1<<'-' |
		1<<'.' |
		1<<'^' |
		1<<'_' |
		1<<'`' |
		1<<'|' |
		1<<'~'
	return ((uint64(1)<<c)&(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&(mask>>64)) != 0
}

func validHeaderValueByte(c byte) bool {
	const mask = 0 |
		(1<<(0x7f-0x21)-1)<<0x21 | // VCHAR: %x21-7E
		1<<0x20 | // SP: %x20
		1<<0x09 // HTAB: %x09
	return ((uint64(1)<<c)&^(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&^(mask>>64)) == 0
}

// respBody is net/http's response body (its unexported body type) for the bodies
// parseHead frames: the same reads, errors, trailers and Close, with the LimitedReader
// of a Content-Length body in the same allocation.
type respBody struct {
	src     io.Reader
	lr      io.LimitedReader
	limited bool           // src is &lr
	resp    *http.Response // chunked: gets the trailer; nil once read
	br      *bufio.Reader
	closing bool // the connection closes after the body

	mu     sync.Mutex // guards the following, and calls to Read and Close
	sawEOF bool
	closed bool
}

func (b *respBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *respBody) readLocked(p []byte) (n int, err error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err = b.src.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.resp != nil {
			if e := b.readTrailer(); e != nil {
				// No further reads may succeed (golang.org/issue/12027).
				err = e
				b.sawEOF = false
				b.closed = true
			}
			b.resp = nil
		} else if b.limited && b.lr.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	// EOF with the last bytes, as net/http returns it.
	if err == nil && n > 0 && b.limited && b.lr.N == 0 {
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

var errTrailerEOF = errors.New("http: unexpected EOF reading trailer")

// readTrailer is net/http's: the trailer after a chunked body, at most a buffer long.
func (b *respBody) readTrailer() error {
	buf, err := b.br.Peek(2)
	if bytes.Equal(buf, []byte("\r\n")) {
		b.br.Discard(2)
		return nil
	}
	if len(buf) < 2 {
		return errTrailerEOF
	}
	if err != nil {
		return err
	}
	if !seeUpcomingDoubleCRLF(b.br) {
		return errors.New("http: suspiciously long trailer after chunked body")
	}
	hdr, err := textproto.NewReader(b.br).ReadMIMEHeader()
	if err != nil {
		if err == io.EOF {
			return errTrailerEOF
		}
		return err
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = http.Header(hdr)
	} else {
		maps.Copy(b.resp.Trailer, http.Header(hdr))
	}
	return nil
}

func seeUpcomingDoubleCRLF(r *bufio.Reader) bool {
	for peekSize := 4; ; peekSize++ {
		// Stops when Peek fails, which it does once r's buffer is full.
		buf, err := r.Peek(peekSize)
		if bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// Close reads the rest of the body, unless the connection closes after it anyway.
func (b *respBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && (b.resp != nil || !b.closing) {
		_, err = io.Copy(io.Discard, lockedBody{b})
	}
	b.closed = true
	return err
}

// lockedBody reads a respBody whose mutex is held.
type lockedBody struct{ b *respBody }

func (l lockedBody) Read(p []byte) (int, error) {
	if l.b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return l.b.readLocked(p)
}
