package jwt

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// find returns the first JWT-shaped token in the request and where it was.
func (a *auth) find(r *http.Request) (string, int) {
	if v := r.Header[a.header]; len(v) > 0 {
		if tok, ok := a.fromHeader(v[0]); ok && looksLikeJWT(tok) {
			return tok, fromHeader
		}
	}
	if a.query != "" && r.URL.RawQuery != "" {
		if tok, ok := queryValue(r.URL.RawQuery, a.query); ok && looksLikeJWT(tok) {
			return tok, fromQuery
		}
	}
	if a.cookie != "" {
		if ck, err := r.Cookie(a.cookie); err == nil && looksLikeJWT(ck.Value) {
			return ck.Value, fromCookie
		}
	}
	return "", fromNone
}

// fromHeader takes the token from a header value: "Bearer <token>", or for a header other
// than Authorization also the bare token.
func (a *auth) fromHeader(v string) (string, bool) {
	if tok, ok := policy.BearerToken(v); ok {
		return tok, true
	}
	if a.bearer {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// looksLikeJWT reports whether s has the compact JWS shape: three dot-separated base64url
// parts, the first two non-empty (the third is empty for alg "none", which is then ours
// to reject rather than another method's to try).
func looksLikeJWT(s string) bool {
	dots := 0
	last := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == last+1 && dots < 2 { // an empty header or payload
				return false
			}
			dots++
			last = i
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// strip removes the token this policy used, and any copy in its own query parameter or
// cookie, so no token goes upstream.
func (a *auth) strip(r *http.Request, from int) {
	if from == fromHeader {
		delete(r.Header, a.header)
	}
	if a.query != "" && r.URL.RawQuery != "" {
		if _, ok := queryValue(r.URL.RawQuery, a.query); ok {
			r.URL.RawQuery = dropQueryParam(r.URL.RawQuery, a.query)
		}
	}
	if a.cookie != "" && len(r.Header["Cookie"]) > 0 {
		dropCookie(r.Header, a.cookie)
	}
}

// queryValue returns the first value of parameter name in a raw query, without parsing
// the rest of it.
func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if !keyIs(k, name) {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			return u, true
		}
		return v, true
	}
	return "", false
}

// keyIs compares a raw (possibly escaped) query key with name.
func keyIs(raw, name string) bool {
	if raw == name {
		return true
	}
	if !strings.ContainsAny(raw, "%+") {
		return false
	}
	u, err := url.QueryUnescape(raw)
	return err == nil && u == name
}

// dropQueryParam removes every occurrence of parameter name from a raw query, keeping the
// other parameters byte for byte and in order.
func dropQueryParam(raw, name string) string {
	var b strings.Builder
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(pair, "=")
		if keyIs(k, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// dropCookie removes cookie name from the request's Cookie headers.
func dropCookie(h http.Header, name string) {
	lines := h["Cookie"]
	out := lines[:0]
	for _, line := range lines {
		var kept []string
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if k, _, _ := strings.Cut(p, "="); strings.TrimSpace(k) == name {
				continue
			}
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}
