package policy

import "strings"

// HTTP syntax every policy needs the same way: one definition, so that a header name one
// policy accepts is not refused by another, and every challenge is quoted alike.

// IsToken reports whether s is an RFC 9110 token (header names, methods, auth schemes).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ValidHeaderName reports whether s can name a header in a policy's configuration: a
// token of at most 256 bytes.
func ValidHeaderName(s string) bool { return len(s) <= 256 && IsToken(s) }

// Quote renders s as an RFC 9110 quoted-string, for challenge parameters such as realm.
// Control characters cannot appear in a header and are dropped.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// BearerToken returns the token of an Authorization value "Bearer <token>" (the scheme is
// case-insensitive), and whether v had that form.
func BearerToken(v string) (string, bool) {
	const p = "bearer "
	if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
		return strings.TrimSpace(v[len(p):]), true
	}
	return "", false
}
