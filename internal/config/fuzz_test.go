package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and either returns settings that pass every
// check or an *Error whose problems all carry the file name and a line.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "---\n", "- a\n", "a: 1\n---\nb: 2\n", "proxy_addr: [\n", "\tx: 1",
		"log: &l {level: debug}\nx: *l\n", "a: &a [*a]\n", "<<: {proxy_addr: \":1\"}\n",
		"demo: {enabled: true, upstream_addr: \":8000\"}\n", "admin_max_body: 9999999999999999999GiB\n",
		`{"log": {"level": "warn"}, "shutdown_timeout": "1h"}`, "? [a]\n: b\n", "!!binary aGk=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil {
			for _, s := range settings() {
				if s.check != nil {
					if msg := s.check(&c); msg != "" {
						t.Fatalf("Parse accepted a bad %s: %s", s.key, msg)
					}
				}
			}
			if c.Store == "" {
				t.Fatal("Parse returned no store")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) == 0 {
			t.Fatalf("Parse error %T %v is not a *Error with problems", err, err)
		}
		for _, p := range e.Problems {
			if p.Source != "fuzz.yaml" || p.Line < 1 || p.Message == "" {
				t.Fatalf("problem without a position: %#v", p)
			}
		}
	})
}
