package benchcli

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestParseReport(t *testing.T) {
	dir := t.TempDir()
	a, b, meta := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"), filepath.Join(dir, "meta.env")
	os.WriteFile(a, []byte(`{"n": 1}`), 0o644)
	os.WriteFile(b, []byte(`{"n": 2}`), 0o644)
	os.WriteFile(meta, []byte("# facts\ndate=today\n"), 0o644)
	type run struct{ N int }
	r, err := ParseReport[run]([]string{"-meta", meta, "-docs", "d.md", a, b}, io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Runs) != 2 || r.Runs[0].N != 1 || r.Runs[1].N != 2 || r.Docs != "d.md" || r.Meta["date"] != "today" {
		t.Errorf("ParseReport = %+v", r)
	}
	if r, err := ParseReport[run]([]string{a}, io.Discard, "test"); err != nil || r.Meta == nil || r.Docs != "" {
		t.Errorf("no -meta, no -docs: %+v, %v", r, err)
	}
	os.WriteFile(b, []byte(`{`), 0o644)
	for _, args := range [][]string{nil, {b}, {filepath.Join(dir, "none.json")}, {"-meta", b + "x", a}} {
		if _, err := ParseReport[run](args, io.Discard, "test"); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
