package mtls

import (
	"net/url"
	"testing"
)

// FuzzEscape: both query-style and path-style decoders restore the input exactly.
func FuzzEscape(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("a b+c%d~e"))
	f.Add([]byte{0, 0xff, '\r'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := escape(b)
		for name, unescape := range map[string]func(string) (string, error){"query": url.QueryUnescape, "path": url.PathUnescape} {
			if got, err := unescape(s); err != nil || got != string(b) {
				t.Fatalf("%s: escape(%q) = %q decodes to %q, %v", name, b, s, got, err)
			}
		}
	})
}

// FuzzParseCAs: arbitrary PEM input never panics, and success means a usable pool.
func FuzzParseCAs(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pool, err := parseCAs(b)
		if err == nil && pool == nil {
			t.Fatal("nil pool without an error")
		}
	})
}
