package h1wire

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

func TestByteClasses(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		if got, want := ValidFieldByte(b), b < 0x80 && httpguts.IsTokenRune(rune(b)); got != want {
			t.Errorf("ValidFieldByte(%#x) = %v", b, got)
		}
		if got, want := ValidValueByte(b), b == '\t' || b >= 0x20 && b != 0x7f; got != want {
			t.Errorf("ValidValueByte(%#x) = %v", b, got)
		}
	}
}

// TestValidValue: the eight-at-a-time check agrees with ValidValueByte for every byte
// at every place in and around a word.
func TestValidValue(t *testing.T) {
	byByte := func(v string) bool {
		for i := 0; i < len(v); i++ {
			if !ValidValueByte(v[i]) {
				return false
			}
		}
		return true
	}
	for n := range 18 {
		for at := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a\t~ \x80", 4)[:n])
				b[at] = byte(c)
				if v := string(b); ValidValue(v) != byByte(v) {
					t.Errorf("ValidValue(%q) = %v", v, ValidValue(v))
				}
			}
		}
	}
}

// textprotoField is the field textproto.ReadMIMEHeader reads from the one line, or
// false where it fails.
func textprotoField(line string) (key, value string, ok bool) {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(line + "\r\n\r\n")))
	h, err := r.ReadMIMEHeader()
	if err != nil || len(h) != 1 {
		return "", "", false
	}
	for k, vv := range h {
		key, value = k, vv[0]
	}
	return key, value, true
}

func headerNames() []string {
	names := []string{"", "a", "A", "-", "--a", "a--b", "x-FOO-bar", "foo bar", "foo ",
		"a b@", "A(b)", "content-type", "CONTENT-LENGTH", "www-authenticate", "Etag",
		"ETag", "sec-websocket-key", "X-Unknown-Field", "x-unknown-field", "1a-2b",
		"caf\xc3\xa9", strings.Repeat("ab-", 30), strings.Repeat("AB-", 30)}
	for k := range commonKeys {
		names = append(names, k, strings.ToLower(k), strings.ToUpper(k))
	}
	for c := range 256 {
		b := string([]byte{byte(c)})
		names = append(names, b, "a"+b+"b", "a "+b)
	}
	return names
}

// TestHeaderKey: HeaderKey accepts and files a name as textproto does.
func TestHeaderKey(t *testing.T) {
	for _, k := range headerNames() {
		if strings.ContainsAny(k, ":\r\n") || k != "" && (k[0] == ' ' || k[0] == '\t') {
			continue // not a name HeaderKey is given
		}
		got, gok := HeaderKey(k)
		want, _, wok := textprotoField(k + ": v")
		if gok != wok || gok && got != want {
			t.Errorf("HeaderKey(%q) = %q, %v; textproto: %q, %v", k, got, gok, want, wok)
		}
	}
}

// TestHeaderKeyInterned: common names in another case cost no allocation, canonical
// ones are not copied.
func TestHeaderKeyInterned(t *testing.T) {
	for k, v := range commonKeys {
		if k != v || textproto.CanonicalMIMEHeaderKey(k) != k {
			t.Errorf("common key %q is not canonical", k)
		}
	}
	lower, canonical := "content-type", "Content-Type"
	if allocs := testing.AllocsPerRun(10, func() {
		if k, _ := HeaderKey(lower); k != canonical {
			t.Fatal(k)
		}
	}); allocs != 0 {
		t.Errorf("%v allocations for a common name", allocs)
	}
	if k, _ := HeaderKey(canonical); unsafe.StringData(k) != unsafe.StringData(canonical) {
		t.Error("a canonical name is copied")
	}
}

// TestNextField: the key and value textproto reads from a field line.
func TestNextField(t *testing.T) {
	lines := []string{"A: b", "a:b", "A:\t x y \t", "A:", "A:   ", "a b: c", "A : b",
		"no colon", ": v", "A\t: v", "A(b): v", "A: x\ry", "A: x\x7fy", "A: x\x00y",
		"A: caf\xc3\xa9\xff", "Location: http://x:80/a", "A: \x01", "A:\t"}
	for _, k := range headerNames() {
		lines = append(lines, k+": v", k+":v \t")
	}
	for _, line := range lines {
		if strings.Contains(line, "\n") || line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // not a field line HeadEnd lets through
		}
		for _, eol := range []string{"\n", "\r\n"} {
			key, v, rest, ok := NextField(line + eol + "\r\n")
			wkey, wv, wok := textprotoField(line)
			if key != wkey || v != wv || ok != wok || ok && rest != "\r\n" {
				t.Errorf("NextField(%q) = %q, %q, %q, %v; textproto %q, %q, %v",
					line+eol, key, v, rest, ok, wkey, wv, wok)
			}
		}
	}
	for _, end := range []string{"\n", "\r\n"} {
		if key, _, rest, ok := NextField(end); key != "" || rest != "" || !ok {
			t.Errorf("NextField(%q) = %q, %q, %v at the end of the head", end, key, rest, ok)
		}
	}
}

func TestAddValue(t *testing.T) {
	h := http.Header{}
	vals := make([]string, 3)
	vals = AddValue(h, "A", "1", vals)
	vals = AddValue(h, "B", "2", vals)
	vals = AddValue(h, "A", "3", vals)
	if len(vals) != 1 || len(h) != 2 || strings.Join(h["A"], ",") != "1,3" || h["B"][0] != "2" {
		t.Fatalf("%v, %d values left", h, len(vals))
	}
	// textproto's first value has capacity 1: appending to it copies.
	if cap(h["B"]) != 1 {
		t.Errorf("capacity %d", cap(h["B"]))
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		head, after string // after: what follows a complete head; head alone when incomplete
		fields      int    // -1: incomplete or refused
	}{
		{"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", "body", 2},
		{"HTTP/1.1 200 OK\n\n", "body", 0},
		{"X\nA: 1\n\r\n", "", 1},
		{"X\r\nA: 1\r\n\r\r\n\r\n", "", 2},    // a lone CR is a field line, textproto refuses it
		{"X\r\nA: 1\r\n\r\n", "\r\n", 1},      // the first empty line ends the head
		{"\r\n\r\n", "GET / HTTP/1.1\r\n", 0}, // an empty start line is the caller's to refuse
		{"X\r\nA: 1\r\n", "", -1},             // incomplete
		{"X", "", -1},                         // no line
		{"X\r\nA: 1\r\n b\r\n\r\n", "", -1},   // obs-fold
		{"X\r\n\tA: 1\r\n\r\n", "", -1},       // white space first
	} {
		wantEnd, wantFields := len(tc.head), tc.fields
		if tc.fields < 0 {
			wantEnd, wantFields = -1, 0
		}
		if end, fields := HeadEnd([]byte(tc.head + tc.after)); end != wantEnd || fields != wantFields {
			t.Errorf("HeadEnd(%q) = %d, %d; want %d, %d", tc.head+tc.after, end, fields, wantEnd, wantFields)
		}
	}
}

func TestLineHelpers(t *testing.T) {
	for _, tc := range []struct{ in, line, rest string }{
		{"a\r\nb\r\n", "a", "b\r\n"},
		{"a\nb", "a", "b"},
		{"a\r\r\n", "a\r", ""},
		{"\n", "", ""},
	} {
		if line, rest := NextLine(tc.in); line != tc.line || rest != tc.rest {
			t.Errorf("NextLine(%q) = %q, %q", tc.in, line, rest)
		}
	}
	if got := TrimRightOWS(" a \t b\t \t"); got != " a \t b" {
		t.Errorf("TrimRightOWS: %q", got)
	}
	for _, tc := range []struct {
		s, t string
		want bool
	}{
		{"chunked", "chunked", true},
		{"CHUNKED", "chunked", true},
		{"ChUnKeD", "cHuNkEd", true},
		{"chun\u212aed", "chunked", false}, // the Kelvin sign is not K
		{"chunke", "chunked", false},
		{"chunked@", "chunked`", false},
	} {
		if got := EqualFoldASCII(tc.s, tc.t); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v", tc.s, tc.t, got)
		}
	}
}
