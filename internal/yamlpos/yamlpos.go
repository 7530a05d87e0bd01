// Package yamlpos reports problems in YAML documents at the place the user wrote them:
// the Problem and Error types that the node settings (internal/config) and the GitOps
// document (internal/declarative) both return, the reading of a file that must hold
// exactly one document, and "did you mean" suggestions for misspelled keys.
//
// It knows nothing of what the documents mean; its callers check that.
package yamlpos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a document, with where it is.
type Problem struct {
	// Source is where the offending value came from: a file name, or another source a
	// caller names (such as "env GATEHOUSE_LOG_LEVEL"); empty for a problem no single
	// source is to blame for.
	Source string
	// Line and Column locate the offending key or value in Source when it is a file
	// (1-based); 0 when unknown or not a file (the YAML parser reports no column for
	// syntax errors).
	Line, Column int
	// Field is the path of the offending value, such as "log.level" or
	// "apis[0].upstream.targets[0].url"; empty for a problem with the document as a whole.
	Field   string
	Message string
}

// String formats p as "source:line:col: field: message", leaving out the parts p lacks.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Line > 0 {
		if p.Source != "" {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found, so that one run shows the user all of them.
type Error struct {
	Problems []Problem
}

// Error returns one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort puts positioned problems first, by position, and keeps the rest in the order
// found.
func Sort(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		ap, bp := a.Line > 0, b.Line > 0
		switch {
		case ap && bp:
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		case ap:
			return -1
		case bp:
			return 1
		}
		return 0
	})
}

// Suggest returns the candidate closest to s when it is close enough to be a likely typo,
// else "". Case, '-' and '_' differences count as nothing.
func Suggest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(norm(s), norm(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b, by bytes: the
// Levenshtein distance with a swap of neighbours counting as one edit, the commonest typo
// ("levle"). Keys are short, so the quadratic cost does not matter; long inputs are cut
// short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
