package h1server

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/gatehouse-dev/gatehouse/internal/h1wire"
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
	end, fields := h1wire.HeadEnd(buf)
	if end < 0 {
		return nil, nil, 0
	}
	// One string for the whole head: method, target, proto, values and canonical keys
	// are slices of it.
	s := string(buf[:end])
	line, rest := h1wire.NextLine(s)
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
		var key, v string
		key, v, rest, ok = h1wire.NextField(rest)
		if !ok {
			return nil, nil, 0
		}
		if key == "" {
			break
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
		vals = h1wire.AddValue(h, key, v, vals)
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
			if len(te) != 1 || !h1wire.EqualFoldASCII(te[0], "chunked") {
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
		req.Body = h1wire.NewChunkedBody(br, &req.Trailer, closing)
	case length == 0:
		req.Body = http.NoBody
	default:
		req.Body = h1wire.NewLengthBody(br, length, closing)
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

// rhToken is net/http's method check: a non-empty token.
func rhToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !h1wire.ValidFieldByte(s[i]) {
			return false
		}
	}
	return true
}
