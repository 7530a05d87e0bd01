package policy

import (
	"strings"
	"testing"
)

func TestSyntax(t *testing.T) {
	for in, want := range map[string]string{`api`: `"api"`, `a"b\c`: `"a\"b\\c"`, "x\r\ny\x7f": `"xy"`} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "BEARER x.y": "x.y"} {
		if got, ok := BearerToken(in); !ok || got != want {
			t.Errorf("BearerToken(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"Basic abc", "Bearer", "Bearer ", "Bearerabc"} {
		if _, ok := BearerToken(in); ok {
			t.Errorf("BearerToken(%q) accepted", in)
		}
	}
	for in, want := range map[string]bool{"X-Api-Key": true, "x_tenant.id": true, "": false, "Bad Header": false,
		"a:b": false, "é": false, strings.Repeat("a", 256): true, strings.Repeat("a", 257): false} {
		if got := ValidHeaderName(in); got != want {
			t.Errorf("ValidHeaderName(%q) = %v", in, got)
		}
	}
}
