package chart

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"strconv"
	"unicode/utf8"
)

// appendText appends s escaped for both HTML and XML, as text or inside a double-quoted
// attribute: the five markup characters become character references, invalid UTF-8
// becomes U+FFFD, and control characters (but tab, CR and LF) and U+FFFE and U+FFFF are
// dropped, as XML forbids or HTML frowns on them. A hostile name can neither break out
// of its element nor make the SVG ill-formed.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '"':
				b = append(b, "&#34;"...)
			case c == '\'':
				b = append(b, "&#39;"...)
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7f:
				// not allowed in XML (DEL is, but HTML calls it a control: drop it too)
			default:
				b = append(b, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b = utf8.AppendRune(b, utf8.RuneError)
		case r >= 0x80 && r <= 0x9f, r == 0xfffe, r == 0xffff:
			// C1 controls and the two XML non-characters
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// cleanID keeps an element id to letters, digits, '-' and '_' (so it is one token in
// aria-labelledby and needs no escaping anywhere), at most 64 bytes. An id that has
// nothing left becomes "".
func cleanID(s string) string {
	out := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(out) < 64; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			out = append(out, c)
		}
	}
	return string(out)
}

// hashID names an element that was given no id, from what it shows: stable across
// renders (so pages and golden files do not churn) and distinct for different charts on
// one page, without a package-level counter.
func hashID(prefix string, parts []string, values ...[]float64) string {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	var buf [8]byte
	for _, vs := range values {
		for _, v := range vs {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			_, _ = h.Write(buf[:])
		}
	}
	return prefix + strconv.FormatUint(h.Sum64(), 36)
}

// appendCoord appends a coordinate with one decimal (a tenth of a viewBox unit is below
// what a screen shows), without a trailing ".0". A non-finite value, which the layout
// never produces, is written as 0 rather than as NaN.
func appendCoord(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) < 0.05 {
		return append(b, '0') // and not "-0"
	}
	tenths := math.Round(v * 10)
	if math.Abs(tenths) >= 1e15 { // not a coordinate the layout makes; still a number
		return strconv.AppendFloat(b, tenths/10, 'f', -1, 64)
	}
	// Integer arithmetic: a chart has thousands of coordinates, and this is most of
	// the time spent drawing one.
	n := int64(tenths)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/10, 10)
	if d := n % 10; d != 0 {
		b = append(b, '.', byte('0'+d))
	}
	return b
}

// appendInt appends an integer attribute value.
func appendInt(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }
