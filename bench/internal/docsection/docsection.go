// Package docsection rewrites a generated section of a Markdown document: the text between
// a start and an end marker, leaving everything else as a person wrote it. The bench tools
// write their results into docs/benchmarks.md with it.
package docsection

import (
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
