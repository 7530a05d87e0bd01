package ipfilter

import (
	"net/netip"
	"strings"
)

// ParseNode parses one hop's address as proxies write it: "192.0.2.1", "192.0.2.1:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711", optionally double-quoted (as in
// Forwarded). The result is unmapped. Anything else ("unknown", "_hidden", garbage) is
// not an address.
func ParseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	// An IPv4 address with a port: exactly one colon.
	if i := strings.IndexByte(s, ':'); i > 0 && strings.IndexByte(s[i+1:], ':') < 0 && validPort(s[i:]) {
		if a, err := netip.ParseAddr(s[:i]); err == nil && a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// validPort reports whether s is ":" followed by 1 to 5 digits.
func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FromXFF walks X-Forwarded-For from the right (the hop nearest to us) and returns the
// first address that is not a trusted proxy: the addresses to its left were written by
// the client or by proxies we do not trust, so they prove nothing. When every hop is
// trusted the leftmost one is the client. An entry that does not parse ends the walk
// without an answer: no trusted proxy writes garbage, so the header is not trustworthy.
// values are the header's lines in order; several lines form one list.
func FromXFF(values []string, trusted *Set) (netip.Addr, bool) {
	return walk(values, trusted, ParseNode)
}

// FromForwarded is FromXFF for RFC 7239 Forwarded: the for= parameter of each element,
// right to left. An element without a usable for= (missing, "unknown", obfuscated) ends
// the walk without an answer.
func FromForwarded(values []string, trusted *Set) (netip.Addr, bool) {
	return walk(values, trusted, func(elem string) (netip.Addr, bool) { return ParseNode(forParam(elem)) })
}

// walk reads the comma-separated elements of values from the right, with parse reading
// one element's address.
func walk(values []string, trusted *Set, parse func(string) (netip.Addr, bool)) (netip.Addr, bool) {
	var last netip.Addr
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var elem string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				elem, v = v[j+1:], v[:j]
			} else {
				elem, v = v, ""
			}
			if strings.TrimSpace(elem) == "" {
				continue // "a, , b" and a trailing comma are sloppy, not hostile
			}
			a, ok := parse(elem)
			if !ok {
				return netip.Addr{}, false
			}
			if !trusted.Contains(a) {
				return a, true
			}
			last = a
		}
	}
	return last, last.IsValid()
}

// forParam returns the value of the for= pair in one Forwarded element
// ("for=192.0.2.60;proto=http;by=203.0.113.43"), or "".
func forParam(elem string) string {
	for elem != "" {
		var pair string
		pair, elem, _ = strings.Cut(elem, ";")
		k, v, ok := strings.Cut(pair, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
