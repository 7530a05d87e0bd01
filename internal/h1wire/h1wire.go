// Package h1wire holds the HTTP/1 wire pieces shared by the server's request parser
// (internal/h1server) and the upstream's response parser (internal/gateway/upstream):
// byte classes, field-name canonicalisation, line splitting and the message body.
//
// Both parsers read a head from a bufio.Reader's buffer and must give exactly what
// net/http and net/textproto give for the same bytes, so everything here mirrors their
// (mostly unexported) code, minus allocations.
package h1wire

import (
	"bytes"
	"net/http"
	"strings"
)

// HeadEnd returns the length of the head at the start of buf (up to its empty line)
// and the number of field lines, or -1 when the head is incomplete or has a line that
// starts with white space: obs-fold, which textproto joins, or a malformed first field.
// Lines end in "\n" or "\r\n", as bufio.Reader.ReadLine splits them.
func HeadEnd(buf []byte) (end, fields int) {
	p := bytes.IndexByte(buf, '\n') + 1 // the start line
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

// NextLine splits off the first line of s, which has one, without its "\n" or "\r\n".
func NextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	line, rest = s[:i], s[i+1:]
	if strings.HasSuffix(line, "\r") {
		line = line[:len(line)-1]
	}
	return line, rest
}

// TrimRightOWS trims the spaces and tabs textproto trims from the end of a field line.
func TrimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// NextField splits the next line off rest (what follows the start line of a head
// HeadEnd measured) and returns the map key and value textproto.ReadMIMEHeader reads
// from it (key from HeaderKey, value without its surrounding white space) and the
// lines after it. At the empty line that ends the head key is ""; ok is false for a
// line textproto rejects.
func NextField(rest string) (key, value, next string, ok bool) {
	line, next := NextLine(rest)
	if line == "" {
		return "", "", next, true
	}
	k, v, ok := strings.Cut(TrimRightOWS(line), ":")
	if !ok {
		return "", "", "", false
	}
	key, ok = HeaderKey(k)
	if !ok || !ValidValue(v) {
		return "", "", "", false
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return key, v, next, true
}

// AddValue appends v to h[key] as textproto does. A key's first value takes the first
// element of vals, one backing array for the head's values, with capacity 1 so that a
// second value gets its own array as with textproto; it returns the rest of vals.
func AddValue(h http.Header, key, v string, vals []string) []string {
	if vv := h[key]; vv != nil {
		h[key] = append(vv, v)
		return vals
	}
	vv := vals[:1:1]
	vv[0] = v
	h[key] = vv
	return vals[1:]
}

// EqualFoldASCII is the case-insensitive comparison net/http uses for
// Transfer-Encoding: ASCII only, unlike strings.EqualFold (K is not the Kelvin sign).
func EqualFoldASCII(s, t string) bool {
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

// HeaderKey returns the map key textproto.ReadMIMEHeader files the field name k under,
// or false when it rejects the line. Canonical names are returned as they are (slices
// of the caller's head string, no copy), common ones in another case interned; a name
// with a space is kept as is.
func HeaderKey(k string) (string, bool) {
	if k == "" {
		return "", false
	}
	canonical, upper := true, true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !fieldByte[c] {
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
		if !fieldByte[k[i]] && k[i] != ' ' {
			return false
		}
	}
	return true
}

// commonKeys interns the canonical names of common request and response fields, for
// peers (and proxies translating HTTP/2) that send them in lower case: HeaderKey then
// allocates no string for them. Read only.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin",
		"Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Age", "Alt-Svc",
		"Authorization", "Baggage", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
		"Content-Range", "Content-Security-Policy", "Content-Type", "Cookie", "Date", "Dnt",
		"Etag", "Expect", "Expires", "Forwarded", "Grip-Last", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Last-Modified", "Link", "Location", "Origin", "Pragma", "Priority",
		"Range", "Referer", "Referrer-Policy", "Retry-After", "Sec-Ch-Ua",
		"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Extensions",
		"Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server",
		"Set-Cookie", "Strict-Transport-Security", "Te", "Traceparent", "Tracestate",
		"Trailer", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests",
		"User-Agent", "Vary", "Via", "Www-Authenticate", "X-Api-Key",
		"X-Content-Type-Options", "X-Correlation-Id", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Frame-Options",
		"X-Powered-By", "X-Real-Ip", "X-Request-Id", "X-Requested-With", "X-Xss-Protection",
	} {
		m[k] = k
	}
	return m
}()

// ValidFieldByte reports whether textproto accepts c in a field name; it is also
// net/http's token byte, for methods.
func ValidFieldByte(c byte) bool { return fieldByte[c] }

// fieldByte is validFieldByte as a table: one load in the loops over names.
var fieldByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = validFieldByte(byte(c))
	}
	return t
}()

// validFieldByte and ValidValueByte are textproto's (unexported there).
func validFieldByte(c byte) bool {
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

// ValidValueByte reports whether textproto accepts c in a field value: VCHAR, SP,
// HTAB and obs-text.
func ValidValueByte(c byte) bool {
	const mask = 0 |
		(1<<(0x7f-0x21)-1)<<0x21 | // VCHAR: %x21-7E
		1<<0x20 | // SP: %x20
		1<<0x09 // HTAB: %x09
	return ((uint64(1)<<c)&^(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&^(mask>>64)) == 0
}

// ValidValue reports whether textproto accepts all of v's bytes in a field value:
// eight at a time, as values are most of a head.
func ValidValue(v string) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		x := uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 |
			uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56
		d := x ^ 0x7f*lo
		// A byte below 0x20, or 0x7f: a control byte, or a tab, which is valid.
		if ((x-0x20*lo)&^x|(d-lo)&^d)&hi != 0 {
			for i := range 8 {
				if !ValidValueByte(v[i]) {
					return false
				}
			}
		}
		v = v[8:]
	}
	for i := 0; i < len(v); i++ {
		if !ValidValueByte(v[i]) {
			return false
		}
	}
	return true
}
