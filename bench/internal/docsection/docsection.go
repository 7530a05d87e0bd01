// Package docsection rewrites a generated section of a Markdown document: the text between
// a start and an end marker, leaving everything else as a person wrote it. The bench tools
// write their results into docs/benchmarks.md with it.
package docsection

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Replace puts body between the markers of doc, keeping everything outside them.
func Replace(doc, start, end, body string) (string, error) {
	i := strings.Index(doc, start)
	j := strings.Index(doc, end)
	if i < 0 || j < 0 || j < i {
		return "", fmt.Errorf("want %s ... %s in the document", start, end)
	}
	return doc[:i+len(start)] + "\n" + body + doc[j:], nil
}

// Update rewrites the section in the file at path atomically (a temporary file renamed
// over it, with the same permissions), so an interrupted run never leaves half a document.
func Update(path, start, end, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := Replace(string(b), start, end, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchmarks-*.md")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.WriteString(doc); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadMeta reads a bench run's key=value file (meta.env); blank lines and # comments are
// skipped.
func ReadMeta(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: not key=value: %q", path, line)
		}
		m[k] = v
	}
	return m, sc.Err()
}

// Or returns s, or dflt when s is empty: meta values a run may not have recorded.
func Or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
