package yamlpos

import (
	"testing"
)

// FuzzDecode checks that Decode never panics, that every problem carries the file name, a
// line and a message, and that it returns a document exactly when the first one parses.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "# only\n", "---\n", "a: 1\n", "a: 1\n---\nb: 2\n", "a: [\n", "\ta: 1", "a: 1\n---\nb: [\n",
		"a: &a [*a]\n", "a: *nope\n", "a:\n  - *x\n", "%TAG ! tag:a,2000:\n%TAG ! tag:b,2000:\n---\na\n",
		"{\"a\": [1, 2.5, true, null]}", "? [a]\n: b\n", "!!binary aGk=\n", "a: 'x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, problems := Decode("fuzz.yaml", data, "a fuzzed file")
		for _, p := range problems {
			if p.Source != "fuzz.yaml" || p.Line < 1 || p.Message == "" {
				t.Fatalf("problem without a position: %#v", p)
			}
		}
		if doc == nil && len(problems) > 1 {
			t.Fatalf("no document but %d problems", len(problems))
		}
	})
}
