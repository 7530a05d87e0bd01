package declarative

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "---\n", "- a\n", "apis: []\n---\n", "apis: [\n", "apis: &a [*a]\n", "apis:\n  - *nope\n",
		"apis: [{name: a, <<: {path: /x}}]\n", "apis: [{name: a, openapi: |\n    line\n  }]\n",
		`{"apis": [{"name": "a", "upstream": {"targets": [{"url": "http://x"}]}, "state": "published"}]}`,
		"plans: [{name: p, rate_limit: {limit: 1e3, window: 1s}, quota: {limit: 0x10, period: day}}]\n",
		"apis: [{name: a, policies: [{type: t, config: {a: [1, 2.5, true, null, {b: c}]}}]}]\n",
		"apis: [{name: a, sunset: 2026-01-01T00:00:00+02:00, hosts: [A.example.com]}]\n",
		"subscriptions: [{app: a, plan: p, status: active, id: x}, {app: a, plan: p}]\n",
		"developers: [{email: A@B.C}]\napps: [{name: x, developer: a@b.c, description: \"x\\ny\"}]\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks that Parse never panics and returns either a document or an *Error
// whose problems all carry the file name and a line.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err == nil {
			if d == nil {
				t.Fatal("nil document without an error")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) == 0 || d != nil {
			t.Fatalf("Parse = %v, %T %v", d, err, err)
		}
		for _, p := range e.Problems {
			if p.Source != "fuzz.yaml" || p.Line < 1 || p.Message == "" {
				t.Fatalf("problem without a position: %#v", p)
			}
		}
	})
}

// FuzzRoundTrip checks that whatever Parse accepts, Encode writes so that Parse reads it
// back equal, and that Encode is stable.
func FuzzRoundTrip(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := Encode(d)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		d2, err := Parse("encoded.yaml", out)
		if err != nil {
			t.Fatalf("Parse(Encode(d)): %v\n%s", err, out)
		}
		for _, s := range sections() {
			want, got := sortedNormalized(s.get(d)), s.get(d2)
			if len(want) != len(got) {
				t.Fatalf("%s: %d resources, read back %d\n%s", s.name, len(want), len(got), out)
			}
			for i := range want {
				a, _ := canonicalJSON(want[i])
				b, _ := canonicalJSON(normalized(got[i]))
				if !bytes.Equal(a, b) {
					t.Fatalf("%s[%d] changed:\n%s\n%s\n%s", s.name, i, a, b, out)
				}
			}
		}
		again, err := Encode(d2)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("Encode not stable: %v\n%s\n---\n%s", err, out, again)
		}
	})
}
