package grip

import (
	"net/http"
	"strings"
)

// Param is one "name[=value]" part of a header entry. Value is unquoted.
type Param struct {
	Name  string
	Value string
}

// Entry is one comma-separated element of a header value:
// `first *( ";" name [ "=" value ] )`. First is the leading token, trimmed.
type Entry struct {
	First  string
	Params []Param
}

// Get returns the value of the first parameter called name (case-insensitive)
// and whether it was present, mirroring Pushpin's HttpHeaderParameters.get.
func (e Entry) Get(name string) (string, bool) {
	for _, p := range e.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// splitUnquoted splits s on sep where sep is not inside a double-quoted
// string; backslash escapes inside quotes are honoured so `"a\"b;c"` stays whole.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	inQuote, esc := false, false
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inQuote && c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes surrounding double quotes and backslash escapes; unquoted
// input is returned unchanged.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseEntry parses one entry (no comma splitting). Whitespace around the
// first token, names and values is trimmed, as Pushpin does.
func ParseEntry(s string) Entry {
	// The first token ends at the first ';', quotes or not, as in Pushpin;
	// only parameter values may be quoted.
	first, rest, hasParams := strings.Cut(s, ";")
	e := Entry{First: strings.TrimSpace(first)}
	if !hasParams {
		return e
	}
	for _, p := range splitUnquoted(rest, ';') {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, val, _ := strings.Cut(p, "=")
		e.Params = append(e.Params, Param{
			Name:  strings.TrimSpace(name),
			Value: unquote(strings.TrimSpace(val)),
		})
	}
	return e
}

// ParseList parses every value of a header, split on unquoted commas, into
// entries; empty elements are kept so callers can reject them like Pushpin.
func ParseList(values []string) []Entry {
	var out []Entry
	for _, v := range values {
		for _, part := range splitUnquoted(v, ',') {
			out = append(out, ParseEntry(part))
		}
	}
	return out
}

// headerValues returns every value of the header called name, whatever its
// casing in h: origins are not bound to canonical names when h was built by
// hand rather than by net/http.
func headerValues(h http.Header, name string) []string {
	if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
		return v
	}
	var out []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}
