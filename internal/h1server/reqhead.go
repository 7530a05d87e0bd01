package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// readRequest is http.ReadRequest(br) with the same result (request or error) for every input,
// plus hosts: the raw values of the Host header lines before ReadRequest removed them (nil if none).
//
// It is ReadRequest minus most of its allocations (textproto's reader, a string per line
// and per value, the transfer reader, a separate LimitedReader). The head is parsed from
// br's buffer, and only when all of it is there after at most the one read ReadRequest
// would start with: br is then advanced past it. Anything else (a head still arriving or
// longer than the buffer, obs-fold lines, an invalid or unusual head: bad fields, a
// version other than HTTP/1.x, several Host lines, conflicting, empty or invalid
// Content-Length, a Transfer-Encoding that is not chunked, announced trailers) goes to
// ReadRequest untouched, which then reads, fails or blocks exactly as it always did.
//
// hosts is nil when err is not. When ReadRequest reads the head, hosts comes from the
// part of it that was buffered before the call; a Host line past that part (in a head
// longer than br's buffer, or arriving in several reads) is known only through req.Host,
// so it is missed (hosts nil) when its value is empty, and when the target is
// absolute-form or a CONNECT authority (ReadRequest then ignores the Host line) the
// target's host stands in for it: such a request is accepted even without a Host line,
// rather than a valid one refused.
func readRequest(br *bufio.Reader) (req *http.Request, hosts []string, err error) {
	if br.Buffered() == 0 {
		// The read ReadRequest would start with; its failure (io.EOF included: nothing
		// of a request arrived) is ReadRequest's too.
		if _, err := br.Peek(1); err != nil {
			return nil, nil, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	if req, hosts, n := rhParse(br, buf); req != nil {
		// Discard, then read the final '\n': br's UnreadByte state is then that of the
		// ReadSlice ReadRequest ends with.
		br.Discard(n - 1)
		br.ReadByte()
		return req, hosts, nil
	}
	// Before ReadRequest consumes them: the buffer is overwritten as it reads on.
	hosts, whole := rhHostsIn(buf)
	req, err = http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	if hosts == nil && !whole && req.Host != "" {
		// The one Host line (ReadRequest refuses two) may have come after the buffered
		// bytes: for a path target req.Host is its value; for an absolute one it is
		// lost, and the target's host stands in rather than refusing a valid request.
		hosts = []string{req.Host}
	}
	return req, hosts, nil
}

// rhParse parses the request head at the start of buf, which br has buffered, and frames
// its body on br. It returns the head's length, or nil for ReadRequest to handle.
func rhParse(br *bufio.Reader, buf []byte) (*http.Request, []string, int) {
	end, fields := rhHeadEnd(buf)
	if end < 0 {
		return nil, nil, 0
	}
	// One string for the whole head: method, target, proto, values and canonical keys
	// are slices of it.
	s := string(buf[:end])
	line, rest := rhNextLine(s)
	method, target, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(target, " ")
	if !ok1 || !ok2 || !rhToken(method) {
		return nil, nil, 0
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return nil, nil, 0 // HTTP/0.x and 2+ (the h2c preface) are read differently
	}
	// As ReadRequest: CONNECT's target is an authority, unless it is a path (net/rpc).
	rawurl := uri
	justAuthority := method == "CONNECT" && !strings.HasPrefix(uri, "/")
	if justAuthority {
		rawurl = "http://" + uri
	}
	u, err := rhParseRequestURI(rawurl)
	if err != nil {
		return nil, nil, 0
	}
	if justAuthority {
		u.Scheme = ""
	}

	// As textproto.ReadMIMEHeader, with one backing array for the values. Host lines
	// stay out of the map, which ReadRequest removes them from; the fields that frame
	// the request are noted as they come, to look up only those present.
	h := make(http.Header, fields)
	vals := make([]string, fields)
	var hosts []string
	var seen uint8
	for {
		line, rest = rhNextLine(rest)
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(rhTrimRightOWS(line), ":")
		if !ok {
			return nil, nil, 0
		}
		key, ok := rhHeaderKey(k)
		if !ok || !rhValidValue(v) {
			return nil, nil, 0
		}
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		switch key {
		case "Host":
			if hosts != nil {
				return nil, nil, 0 // two: an error
			}
			hosts, vals = vals[:1:1], vals[1:]
			hosts[0] = v
			continue
		case "Pragma":
			seen |= rhSeenPragma
		case "Connection":
			seen |= rhSeenConnection
		case "Transfer-Encoding":
			seen |= rhSeenTE
		case "Content-Length":
			seen |= rhSeenCL
		case "Trailer":
			seen |= rhSeenTrailer
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

	// What ReadRequest does next: Host, fixPragmaCacheControl, shouldClose, readTransfer.
	host := u.Host
	if host == "" && hosts != nil {
		host = hosts[0]
	}
	if seen&rhSeenPragma != 0 && h["Pragma"][0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	var conn []string
	if seen&rhSeenConnection != 0 {
		conn = h["Connection"]
	}
	closing := httpguts.HeaderValuesContainsToken(conn, "close")
	if minor == 0 && !closing {
		closing = !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	chunked := false
	if seen&rhSeenTE != 0 {
		te := h["Transfer-Encoding"]
		delete(h, "Transfer-Encoding")
		if minor > 0 { // HTTP/1.0's is ignored
			if len(te) != 1 || !rhEqualFoldASCII(te[0], "chunked") {
				return nil, nil, 0 // an error
			}
			chunked = true
		}
	}
	var length int64 // fixLength's result: requests without a length have no body
	if seen&rhSeenCL != 0 {
		cl := h["Content-Length"]
		if len(cl) != 1 {
			return nil, nil, 0 // an error, or duplicates ReadRequest merges
		}
		// Values are trimmed and hold no CR or LF: textproto.TrimString would not
		// change them. An empty one is an error, or not (GODEBUG httplaxcontentlength).
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return nil, nil, 0
		}
		length = int64(n)
	}
	if chunked {
		if seen&rhSeenTrailer != 0 {
			return nil, nil, 0 // announced trailers: ReadRequest sets up req.Trailer
		}
		delete(h, "Content-Length")
		length = -1
	}

	req := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        h,
		ContentLength: length,
		Close:         closing,
		Host:          host,
		RequestURI:    uri,
	}
	switch {
	case chunked:
		req.TransferEncoding = []string{"chunked"}
		req.Body = &rhBody{src: httputil.NewChunkedReader(br), req: req, br: br, closing: closing}
	case length == 0:
		req.Body = http.NoBody
	default:
		b := &rhBody{closing: closing, limited: true}
		b.lr = io.LimitedReader{R: br, N: length}
		b.src = &b.lr
		req.Body = b
	}
	return req, hosts, end
}

// The fields rhParse notes.
const (
	rhSeenPragma = 1 << iota
	rhSeenConnection
	rhSeenTE
	rhSeenCL
	rhSeenTrailer
)

// rhParseRequestURI is url.ParseRequestURI, which it calls but for the common target:
// a path of bytes that stand for themselves, and a query.
func rhParseRequestURI(uri string) (*url.URL, error) {
	if uri == "" || uri[0] != '/' {
		return url.ParseRequestURI(uri)
	}
	i := 1
	for i < len(uri) && rhPathByte[uri[i]] {
		i++
	}
	if i == len(uri) {
		return &url.URL{Path: uri}, nil
	}
	if uri[i] != '?' {
		return url.ParseRequestURI(uri)
	}
	q := uri[i+1:]
	for j := 0; j < len(q); j++ {
		if q[j] < 0x20 || q[j] == 0x7f {
			return url.ParseRequestURI(uri) // an error
		}
	}
	// As url.parse: a lone '?' at the end is ForceQuery.
	return &url.URL{Path: uri[:i], RawQuery: q, ForceQuery: q == ""}, nil
}

// rhPathByte tells the bytes url.ParseRequestURI keeps as they are in a path, with no
// RawPath; learnt from url itself, so that it follows url's version.
var rhPathByte = func() (t [256]bool) {
	for c := range 256 {
		p := "/" + string([]byte{byte(c)})
		u, err := url.ParseRequestURI(p)
		t[c] = err == nil && *u == url.URL{Path: p}
	}
	return t
}()

// rhValidValue reports whether textproto accepts v's bytes in a field value: eight at a
// time, as values are most of a head.
func rhValidValue(v string) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		x := uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 |
			uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56
		d := x ^ 0x7f*lo
		// A byte below 0x20, or 0x7f: a control byte, or a tab, which is valid.
		if ((x-0x20*lo)&^x|(d-lo)&^d)&hi != 0 {
			for i := range 8 {
				if !rhValidValueByte(v[i]) {
					return false
				}
			}
		}
		v = v[8:]
	}
	for i := 0; i < len(v); i++ {
		if !rhValidValueByte(v[i]) {
			return false
		}
	}
	return true
}

// rhHostsIn returns the Host values of the complete fields of the request head at the
// start of buf, as ReadMIMEHeader reads them. A field is complete when the line after it
// has begun and is not its obs-fold. whole: buf holds the entire head, so nil means none.
func rhHostsIn(buf []byte) (hosts []string, whole bool) {
	p := bytes.IndexByte(buf, '\n') + 1 // after the request line
	if p == 0 {
		return nil, false
	}
	cut, complete := p, false
	for q := p; ; {
		i := bytes.IndexByte(buf[q:], '\n')
		if i < 0 {
			break
		}
		line := buf[q : q+i]
		q += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			cut, complete = q, true
			break
		}
		if q < len(buf) && buf[q] != ' ' && buf[q] != '\t' {
			cut = q
		}
	}
	if cut == p {
		return nil, complete
	}
	head := make([]byte, 0, cut-p+2)
	head = append(head, buf[p:cut]...)
	if !complete {
		head = append(head, "\r\n"...)
	}
	h, err := textproto.NewReader(bufio.NewReaderSize(bytes.NewReader(head), len(head))).ReadMIMEHeader()
	if err != nil {
		return nil, complete // ReadRequest fails too
	}
	return h["Host"], complete
}

// rhHeadEnd returns the length of the head at the start of buf (up to its empty line)
// and the number of field lines, or -1 when the head is incomplete or has a line that
// starts with white space: obs-fold, which textproto joins, or a malformed first field.
// Lines end in "\n" or "\r\n", as bufio.Reader.ReadLine splits them.
func rhHeadEnd(buf []byte) (end, fields int) {
	p := bytes.IndexByte(buf, '\n') + 1 // the request line
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

// rhNextLine splits off the first line of s, which has one, without its "\n" or "\r\n".
func rhNextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	line, rest = s[:i], s[i+1:]
	if strings.HasSuffix(line, "\r") {
		line = line[:len(line)-1]
	}
	return line, rest
}

func rhTrimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// rhToken is net/http's method check: a non-empty token.
func rhToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !rhFieldByte[s[i]] {
			return false
		}
	}
	return true
}

// rhEqualFoldASCII is the case-insensitive comparison net/http uses for
// Transfer-Encoding: ASCII only, unlike strings.EqualFold (K is not the Kelvin sign).
func rhEqualFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if rhLowerASCII(s[i]) != rhLowerASCII(t[i]) {
			return false
		}
	}
	return true
}

func rhLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// rhHeaderKey returns the map key textproto.ReadMIMEHeader files the field name k under,
// or false when it rejects the line. Canonical names are slices of the head string,
// common ones in another case interned; a name with a space is kept as is.
func rhHeaderKey(k string) (string, bool) {
	if k == "" {
		return "", false
	}
	canonical, upper := true, true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !rhFieldByte[c] {
			if c != ' ' {
				return "", false
			}
			return k, rhCheckSpaced(k[i+1:])
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
	if v, ok := rhCommonKeys[string(b)]; ok {
		return v, true
	}
	return string(b), true
}

// rhCheckSpaced reports whether the rest of a name that has a space is valid for
// textproto: field bytes and spaces.
func rhCheckSpaced(k string) bool {
	for i := 0; i < len(k); i++ {
		if !rhFieldByte[k[i]] && k[i] != ' ' {
			return false
		}
	}
	return true
}

// rhCommonKeys interns the canonical names of common request fields, for clients (and
// proxies translating HTTP/2) that send them in lower case. Read only.
var rhCommonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Authorization",
		"Baggage", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Cookie", "Dnt", "Expect", "Forwarded", "Grip-Last", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Origin", "Pragma", "Priority", "Range", "Referer",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Extensions",
		"Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version", "Te",
		"Traceparent", "Tracestate", "Trailer", "Transfer-Encoding", "Upgrade",
		"Upgrade-Insecure-Requests", "User-Agent", "Via", "X-Api-Key", "X-Correlation-Id",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()

// rhFieldByte is rhValidFieldByte as a table, for the loops over names.
var rhFieldByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = rhValidFieldByte(byte(c))
	}
	return t
}()

// rhValidFieldByte and rhValidValueByte are textproto's (unexported there); the first is
// also net/http's token byte, for methods.
func rhValidFieldByte(c byte) bool {
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

func rhValidValueByte(c byte) bool {
	const mask = 0 |
		(1<<(0x7f-0x21)-1)<<0x21 | // VCHAR: %x21-7E
		1<<0x20 | // SP: %x20
		1<<0x09 // HTAB: %x09
	return ((uint64(1)<<c)&^(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&^(mask>>64)) == 0
}

// rhBody is net/http's request body (its unexported body type) for the bodies rhParse
// frames: the same reads, errors, trailers and Close, with the LimitedReader of a
// Content-Length body in the same allocation.
type rhBody struct {
	src     io.Reader
	lr      io.LimitedReader
	limited bool          // src is &lr
	req     *http.Request // chunked: gets the trailer; nil once read
	br      *bufio.Reader
	closing bool // the connection closes after the body

	mu     sync.Mutex // guards the following, and calls to Read and Close
	sawEOF bool
	closed bool
}

func (b *rhBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *rhBody) readLocked(p []byte) (n int, err error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err = b.src.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.req != nil {
			if e := b.readTrailer(); e != nil {
				// No further reads may succeed (golang.org/issue/12027).
				err = e
				b.sawEOF = false
				b.closed = true
			}
			b.req = nil
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

var rhErrTrailerEOF = errors.New("http: unexpected EOF reading trailer")

// readTrailer is net/http's: the trailer after a chunked body, at most a buffer long.
func (b *rhBody) readTrailer() error {
	buf, err := b.br.Peek(2)
	if bytes.Equal(buf, []byte("\r\n")) {
		b.br.Discard(2)
		return nil
	}
	if len(buf) < 2 {
		return rhErrTrailerEOF
	}
	if err != nil {
		return err
	}
	if !rhSeeUpcomingDoubleCRLF(b.br) {
		return errors.New("http: suspiciously long trailer after chunked body")
	}
	hdr, err := textproto.NewReader(b.br).ReadMIMEHeader()
	if err != nil {
		if err == io.EOF {
			return rhErrTrailerEOF
		}
		return err
	}
	if b.req.Trailer == nil {
		b.req.Trailer = http.Header(hdr)
	} else {
		maps.Copy(b.req.Trailer, http.Header(hdr))
	}
	return nil
}

func rhSeeUpcomingDoubleCRLF(r *bufio.Reader) bool {
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
func (b *rhBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && (b.req != nil || !b.closing) {
		_, err = io.Copy(io.Discard, rhLockedBody{b})
	}
	b.closed = true
	return err
}

// rhLockedBody reads an rhBody whose mutex is held.
type rhLockedBody struct{ b *rhBody }

func (l rhLockedBody) Read(p []byte) (int, error) {
	if l.b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return l.b.readLocked(p)
}
