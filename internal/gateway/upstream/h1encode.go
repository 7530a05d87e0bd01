package upstream

import (
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// h1BodyMode is how the request body travels.
type h1BodyMode uint8

const (
	bodyNone     h1BodyMode = iota
	bodyBuffered            // read in full and written with the head
	bodyStream              // written by a goroutine, by length or chunked
)

// h1Plan is what encode decided about a request.
type h1Plan struct {
	addr       string // host:port to dial
	body       h1BodyMode
	chunked    bool  // bodyStream: chunked, else length bytes
	length     int64 // bodyStream without chunked
	keepAlive  bool  // the request did not ask to close the connection
	idempotent bool  // http.Transport's rule for resending after a stale connection
}

// h1Scratch is the pooled memory of one request's encoding.
type h1Scratch struct {
	buf  []byte // the head, then a buffered body
	keys []string
}

// encode writes req's head into s.buf exactly as http.Transport would (with
// DisableCompression, for a request with a User-Agent header): request line, Host,
// User-Agent, Connection: close, Content-Length or Transfer-Encoding, then the other
// header fields sorted by name. It refuses (false) what the fallback should handle.
func (s *h1Scratch) encode(req *http.Request) (h1Plan, bool) {
	var p h1Plan
	u := req.URL
	if u.Opaque != "" || !validHost(u.Host) {
		return p, false
	}
	p.addr = u.Host
	if u.Port() == "" {
		p.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if method == http.MethodConnect || !validToken(method) {
		return p, false
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !validHost(host) {
		return p, false
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := false
	switch len(req.TransferEncoding) {
	case 0:
	case 1:
		if req.TransferEncoding[0] != "chunked" {
			return p, false
		}
		chunked = true
	default:
		return p, false
	}
	contentLength := int64(-1) // to write; -1 for none
	switch {
	case !hasBody:
		if req.ContentLength != 0 || chunked {
			return p, false // http.Transport's error to report
		}
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			contentLength = 0 // many servers expect one for these
		}
	case chunked || req.ContentLength < 0:
		if !chunked && lacksBody(method) {
			return p, false // http.Transport first probes whether such a body is empty
		}
		p.body, p.chunked = bodyStream, true
	case req.ContentLength == 0:
		return p, false // a body of unknown length, probed by http.Transport
	default:
		contentLength = req.ContentLength
		p.body, p.length = bodyStream, contentLength
		if contentLength <= h1BufferBody {
			p.body = bodyBuffered
		}
	}

	b := append(s.buf[:0], method...)
	b = append(b, ' ')
	start := len(b)
	if path := u.EscapedPath(); path == "" {
		b = append(b, '/')
	} else {
		b = append(b, path...)
	}
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	if hasCTL(b[start:]) {
		return p, false
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)

	h := req.Header
	if ua := h["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		b = appendField(b, "User-Agent", ua[0])
	}
	var connection string
	if v := h["Connection"]; len(v) > 0 {
		connection = v[0]
	}
	closeToken := hasToken(connection, "close")
	if req.Close && !closeToken {
		b = append(b, "Connection: close\r\n"...)
	}
	p.keepAlive = !req.Close && !closeToken
	if contentLength >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, contentLength, 10)
		b = append(b, "\r\n"...)
	} else if p.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	keys := s.keys[:0]
	for k, vv := range h {
		if !validToken(k) {
			return p, false
		}
		for _, v := range vv {
			if !validValue(v) {
				return p, false
			}
		}
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		keys = append(keys, k)
	}
	s.keys = keys
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = appendField(b, k, v)
		}
	}
	b = append(b, "\r\n"...)
	s.buf = b

	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		p.idempotent = true
	default:
		_, k1 := h["Idempotency-Key"]
		_, k2 := h["X-Idempotency-Key"]
		p.idempotent = k1 || k2
	}
	return p, true
}

// appendBody reads a body of n bytes (at most h1BufferBody) after the head.
func (s *h1Scratch) appendBody(body io.Reader, n int64) error {
	s.buf = slices.Grow(s.buf, int(n))
	end := len(s.buf) + int(n)
	if err := readFull(body, s.buf[len(s.buf):end], n); err != nil {
		return err
	}
	s.buf = s.buf[:end]
	return nil
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, textproto.TrimString(v)...)
	return append(b, "\r\n"...)
}

// lacksBody lists the methods for which http.Transport probes a body of unknown length.
func lacksBody(method string) bool {
	switch method {
	case "GET", "HEAD", "DELETE", "OPTIONS", "PROPFIND", "SEARCH":
		return true
	}
	return false
}

// hasToken reports whether the comma-separated list v holds token, case-insensitively.
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(textproto.TrimString(t), token) {
			return true
		}
	}
	return false
}

// validToken is RFC 9110's token: header field names and methods.
func validToken(s string) bool { return alnumOr(s, "!#$%&'*+-.^_`|~") }

// alnumOr reports whether s is non-empty and each byte is an ASCII letter, digit or one of
// extra.
func alnumOr(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// validValue is a field value without control characters other than tab, as
// http.Transport requires.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the hosts that need no rewriting: ASCII host[:port] without an IPv6
// zone (http.Transport punycodes IDNs and strips zones; such requests go to it).
func validHost(s string) bool { return alnumOr(s, "-._~:[]!$&'()*+,;=") }

func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}
