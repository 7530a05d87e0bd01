// Package template is the small value language of the header and transform policies:
// literal text with {{ expr }} placeholders that read the request and its identity, such
// as "Bearer {{ claims.sub }}" or "/v2/items/{{ path.id }}". A template is parsed once at
// configuration time; rendering appends to a caller's buffer and allocates nothing for
// the common expressions.
//
// Expressions:
//
//	request.method, request.path, request.host, request.client_ip
//	request.query.<name>     first value of a query parameter, decoded
//	request.header.<Name>    first value of a request header
//	path.<param>             a matched route's path parameter
//	app, developer, plan, key_id, subject   the caller's identity
//	claims.<name>[.<name>]   a token claim; non-strings are JSON-encoded
//	api, route, request_id
//	"text"                   a literal (write {{ "{{" }} for literal braces)
//
// Any expression may end with a fallback used when its value is empty:
// {{ request.header.X-Tenant | "default" }}. Rendered values never contain CR, LF or NUL:
// they are dropped, so a client cannot split a header through a template.
package template

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	src    string
	parts  []part
	static bool
}

type kind uint8

const (
	kLiteral kind = iota
	kMethod
	kPath
	kHost
	kClientIP
	kQuery
	kHeader
	kParam
	kApp
	kDeveloper
	kPlan
	kKeyID
	kSubject
	kClaim
	kAPI
	kRoute
	kRequestID
)

// simpleKind maps the expressions without an argument.
func simpleKind(name string) (kind, bool) {
	switch name {
	case "request.method":
		return kMethod, true
	case "request.path":
		return kPath, true
	case "request.host":
		return kHost, true
	case "request.client_ip":
		return kClientIP, true
	case "app":
		return kApp, true
	case "developer":
		return kDeveloper, true
	case "plan":
		return kPlan, true
	case "key_id":
		return kKeyID, true
	case "subject":
		return kSubject, true
	case "api":
		return kAPI, true
	case "route":
		return kRoute, true
	case "request_id":
		return kRequestID, true
	}
	return 0, false
}

// prefixedKind splits the expressions that take a name after a prefix.
func prefixedKind(name string) (k kind, prefix, arg string, ok bool) {
	for _, pf := range [...]struct {
		prefix string
		kind   kind
	}{
		{"request.query.", kQuery},
		{"request.header.", kHeader},
		{"path.", kParam},
		{"claims.", kClaim},
	} {
		if arg, ok := strings.CutPrefix(name, pf.prefix); ok {
			return pf.kind, pf.prefix, arg, true
		}
	}
	return 0, "", "", false
}

const known = "request.method, request.path, request.host, request.client_ip, request.query.<name>, " +
	"request.header.<Name>, path.<param>, app, developer, plan, key_id, subject, claims.<name>, api, route, request_id"

type part struct {
	kind     kind
	text     string   // the literal (kLiteral) or the argument: header, query or param name
	claim    []string // the claim path (kClaim)
	fallback string
}

// Parse parses src. Errors name the 1-based column of the problem.
func Parse(src string) (*Template, error) {
	t := &Template{src: src}
	var lit strings.Builder
	i := 0
	for i < len(src) {
		open := strings.Index(src[i:], "{{")
		if open < 0 {
			if err := checkLiteral(src, i, len(src)); err != nil {
				return nil, err
			}
			lit.WriteString(src[i:])
			break
		}
		open += i
		if err := checkLiteral(src, i, open); err != nil {
			return nil, err
		}
		lit.WriteString(src[i:open])
		p, end, err := parseExpr(src, open+2)
		if err != nil {
			return nil, err
		}
		if p.kind == kLiteral {
			lit.WriteString(p.text)
		} else {
			if lit.Len() > 0 {
				t.parts = append(t.parts, part{kind: kLiteral, text: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, p)
		}
		i = end
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{kind: kLiteral, text: lit.String()})
	}
	t.static = len(t.parts) == 0 || len(t.parts) == 1 && t.parts[0].kind == kLiteral
	return t, nil
}

// column is the 1-based character column of byte offset i in s.
func column(s string, i int) int {
	if i > len(s) {
		i = len(s)
	}
	return utf8.RuneCountInString(s[:i]) + 1
}

func errorf(src string, at int, format string, args ...any) error {
	return fmt.Errorf("column %d: %s", column(src, at), fmt.Sprintf(format, args...))
}

// checkLiteral rejects characters that must never reach a header or a URL.
func checkLiteral(src string, from, to int) error {
	for j := from; j < to; j++ {
		switch src[j] {
		case '\r', '\n', 0:
			return errorf(src, j, "control character %q not allowed", src[j])
		}
	}
	return nil
}

func runeAt(s string, i int) string {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return string(r)
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// parseExpr parses the expression that starts at src[i] (just after "{{") and returns it
// with the offset just after its "}}".
func parseExpr(src string, i int) (part, int, error) {
	start := i - 2
	i = skipSpace(src, i)
	if i >= len(src) {
		return part{}, 0, errorf(src, start, `unclosed "{{"`)
	}
	var p part
	if src[i] == '"' {
		s, n, err := parseString(src, i)
		if err != nil {
			return part{}, 0, err
		}
		p = part{kind: kLiteral, text: s}
		i = n
	} else {
		nameAt := i
		for i < len(src) && !isSpace(src[i]) && src[i] != '|' && src[i] != '}' && src[i] != '"' && src[i] != '{' {
			i++
		}
		name := src[nameAt:i]
		if name == "" {
			if strings.HasPrefix(src[i:], "}}") {
				return part{}, 0, errorf(src, start, "empty expression")
			}
			return part{}, 0, errorf(src, i, "unexpected %q", runeAt(src, i))
		}
		var err error
		if p, err = parseName(src, nameAt, name); err != nil {
			return part{}, 0, err
		}
	}
	i = skipSpace(src, i)
	if i < len(src) && src[i] == '|' {
		i = skipSpace(src, i+1)
		if i >= len(src) || src[i] != '"' {
			return part{}, 0, errorf(src, i, `want a quoted fallback after "|", such as | "default"`)
		}
		s, n, err := parseString(src, i)
		if err != nil {
			return part{}, 0, err
		}
		if p.kind == kLiteral {
			return part{}, 0, errorf(src, i, "a literal needs no fallback")
		}
		p.fallback = s
		i = skipSpace(src, n)
	}
	if i >= len(src) {
		return part{}, 0, errorf(src, start, `unclosed "{{"`)
	}
	if !strings.HasPrefix(src[i:], "}}") {
		return part{}, 0, errorf(src, i, `unexpected %q, want "}}"`, runeAt(src, i))
	}
	return p, i + 2, nil
}

// parseString reads a double-quoted string with \" and \\ escapes at src[i].
func parseString(src string, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; c {
		case '"':
			return b.String(), j + 1, nil
		case '\\':
			if j+1 < len(src) && (src[j+1] == '"' || src[j+1] == '\\') {
				b.WriteByte(src[j+1])
				j++
				continue
			}
			return "", 0, errorf(src, j, `unknown escape; only \" and \\ are allowed`)
		case '\r', '\n', 0:
			return "", 0, errorf(src, j, "control character %q not allowed", c)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errorf(src, i, "unterminated string")
}

func parseName(src string, at int, name string) (part, error) {
	if k, ok := simpleKind(name); ok {
		return part{kind: k}, nil
	}
	k, prefix, arg, ok := prefixedKind(name)
	if !ok {
		return part{}, errorf(src, at, "unknown expression %q (known: %s)", name, known)
	}
	argAt := at + len(prefix)
	if arg == "" {
		return part{}, errorf(src, argAt, "%s needs a name", strings.TrimSuffix(prefix, "."))
	}
	switch k {
	case kHeader:
		if !policy.IsToken(arg) {
			j := strings.IndexFunc(arg, func(r rune) bool { return r >= 0x80 || !policy.IsToken(string(r)) })
			return part{}, errorf(src, argAt+j, "%q is not a valid header name", arg)
		}
		return part{kind: kHeader, text: http.CanonicalHeaderKey(arg)}, nil
	case kClaim:
		segs := strings.Split(arg, ".")
		off := argAt
		for _, s := range segs {
			if s == "" {
				return part{}, errorf(src, off, "empty claim name in %q", arg)
			}
			off += len(s) + 1
		}
		return part{kind: kClaim, claim: segs}, nil
	}
	return part{kind: k, text: arg}, nil
}

// String returns the source text.
func (t *Template) String() string { return t.src }

// IsStatic reports whether t reads nothing from the request: Static is its value.
func (t *Template) IsStatic() bool { return t.static }

// Static returns the value of a static template ("" for one that is not).
func (t *Template) Static() string {
	if !t.static || len(t.parts) == 0 {
		return ""
	}
	return t.parts[0].text
}

// Render appends t's value for c to buf. With a reused buffer it allocates nothing, except
// for claims that are not strings, numbers or booleans (JSON-encoded).
func (t *Template) Render(c *policy.Context, buf []byte) []byte {
	for i := range t.parts {
		buf = t.parts[i].render(c, buf)
	}
	return buf
}

// RenderPath is Render for a URL path: every expression's value is escaped as one path
// segment (AppendSegmentEscape: a "/" in a parameter stays inside its segment), literal
// text is appended as written, and request.path is appended in its escaped form as the
// client sent it, so that "{{ request.path }}" keeps its slashes.
func (t *Template) RenderPath(c *policy.Context, buf []byte) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case kLiteral:
			buf = append(buf, p.text...)
			continue
		case kPath:
			buf = appendClean(buf, c.R.URL.EscapedPath())
			continue
		}
		at := len(buf)
		buf = p.render(c, buf)
		if n := len(buf); n > at {
			// Escape the raw value behind itself, then move it down. raw keeps pointing at
			// the old array if append grows buf, and those bytes do not change.
			raw := buf[at:n]
			buf = AppendSegmentEscape(buf, raw)
			m := copy(buf[at:], buf[n:])
			buf = buf[:at+m]
		}
	}
	return buf
}

// AppendSegmentEscape appends src escaped for one path segment: everything but RFC 3986
// unreserved characters and the sub-delimiters a segment may hold is percent-encoded,
// "/" included.
func AppendSegmentEscape(dst, src []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range src {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,=:@", c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// render appends p's value for c, or its fallback, without CR, LF and NUL.
func (p *part) render(c *policy.Context, buf []byte) []byte {
	if p.kind == kLiteral {
		return append(buf, p.text...)
	}
	at := len(buf)
	buf = p.value(c, buf)
	if len(buf) == at && p.fallback != "" {
		buf = append(buf, p.fallback...)
	}
	return clean(buf, at)
}

// value appends p's raw value (possibly empty) for c.
func (p *part) value(c *policy.Context, buf []byte) []byte {
	r := c.R
	switch p.kind {
	case kMethod:
		return append(buf, r.Method...)
	case kPath:
		return append(buf, r.URL.Path...)
	case kHost:
		return append(buf, r.Host...)
	case kClientIP:
		if a := c.ClientIP(); a.IsValid() {
			return a.AppendTo(buf)
		}
		return buf
	case kQuery:
		return AppendQueryValue(buf, r.URL.RawQuery, p.text)
	case kHeader:
		if v := r.Header[p.text]; len(v) > 0 {
			return append(buf, v[0]...)
		}
		return buf
	case kParam:
		return append(buf, c.Param(p.text)...)
	case kApp:
		return append(buf, c.Identity.App...)
	case kDeveloper:
		return append(buf, c.Identity.Developer...)
	case kPlan:
		return append(buf, c.Identity.Plan...)
	case kKeyID:
		return append(buf, c.Identity.KeyID...)
	case kSubject:
		return append(buf, c.Identity.Subject...)
	case kClaim:
		return appendClaim(buf, c.Identity.Claims, p.claim)
	case kAPI:
		return append(buf, c.API...)
	case kRoute:
		return append(buf, c.Route...)
	case kRequestID:
		if v := r.Header["X-Request-Id"]; len(v) > 0 {
			return append(buf, v[0]...)
		}
		return buf
	}
	return buf
}

func appendClaim(buf []byte, claims map[string]any, path []string) []byte {
	var v any = claims
	for _, seg := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return buf
		}
		if v, ok = m[seg]; !ok {
			return buf
		}
	}
	switch x := v.(type) {
	case nil:
		return buf
	case string:
		return append(buf, x...)
	case bool:
		return strconv.AppendBool(buf, x)
	case float64:
		// As encoding/json writes numbers, so that 42 stays "42" and not "4.2e+01".
		if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
			return strconv.AppendFloat(buf, x, 'e', -1, 64)
		}
		return strconv.AppendFloat(buf, x, 'f', -1, 64)
	case json.Number:
		return append(buf, x...)
	case int:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return buf
	}
	return append(buf, b...)
}

// clean drops CR, LF and NUL from buf[from:] in place.
func clean(buf []byte, from int) []byte {
	j := from
	for i := from; i < len(buf); i++ {
		switch buf[i] {
		case '\r', '\n', 0:
			continue
		}
		buf[j] = buf[i]
		j++
	}
	return buf[:j]
}

// appendClean appends s without CR, LF and NUL.
func appendClean(buf []byte, s string) []byte {
	at := len(buf)
	return clean(append(buf, s...), at)
}

// AppendQueryValue appends the decoded first value of query parameter name in rawQuery
// ("a=1&b=2"), without allocating. A key is compared decoded; a value with a malformed
// escape is appended as it was sent.
func AppendQueryValue(buf []byte, rawQuery, name string) []byte {
	for q := rawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if !QueryKeyIs(k, name) {
			continue
		}
		return AppendUnescape(buf, v)
	}
	return buf
}

// QueryKeyIs reports whether the raw (escaped) query key k decodes to name, without
// allocating.
func QueryKeyIs(k, name string) bool {
	if !strings.ContainsAny(k, "%+") {
		return k == name
	}
	var arr [128]byte
	if len(k) > len(arr) {
		return false // no realistic parameter name is that long
	}
	return string(AppendUnescape(arr[:0], k)) == name
}

// AppendUnescape appends the query-decoded s ('+' is a space, %XX a byte). A malformed
// escape is appended as is.
func AppendUnescape(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			buf = append(buf, ' ')
		case '%':
			if i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
				buf = append(buf, unhex(s[i+1])<<4|unhex(s[i+2]))
				i += 2
			} else {
				buf = append(buf, c)
			}
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
