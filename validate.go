package gatehouse

import (
	"net/mail"
	"strings"
)

// ValidName reports whether s can name a resource: 1-64 ASCII letters, digits, '.', '_'
// or '-', starting with a letter or digit. Names appear in URLs, so nothing else is allowed.
func ValidName(s string) bool { return nameRE(s) }

func nameRE(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return false
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func checkName(p *Problems, field, s string) {
	if s == "" {
		p.Addf(field, "is required")
	} else if !nameRE(s) {
		p.Addf(field, "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// NormalizeEmail lower-cases and trims an address so that one person has one identity.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkEmail(p *Problems, field, s string) {
	if s == "" {
		p.Addf(field, "is required")
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || strings.ContainsAny(s, "/?#") {
		p.Addf(field, "must be a plain email address such as dev@example.com")
	}
}
