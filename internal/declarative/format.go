package declarative

import (
	"fmt"
	"io"
	"strings"
)

// FormatChanges writes changes as a readable plan, one line per change ("+ api demo",
// "~ plan free (apis, rate_limit)", "- app old"), each update followed by an indented
// unified diff of the resource's YAML, then a summary line such as "3 to create, 1 to
// update, 0 to delete", or just "no changes". Write errors are the writer's to keep (a
// terminal or a buffer); there is nothing useful to do about them here.
func FormatChanges(w io.Writer, changes []Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	var creates, updates, deletes int
	for _, c := range changes {
		switch c.Op {
		case OpCreate:
			creates++
			fmt.Fprintf(w, "+ %s %s\n", c.Kind, c.Key)
		case OpUpdate:
			updates++
			fmt.Fprintf(w, "~ %s %s (%s)\n", c.Kind, c.Key, strings.Join(c.Fields, ", "))
			for _, l := range updateDiff(c) {
				fmt.Fprintf(w, "    %s\n", l)
			}
		case OpDelete:
			deletes++
			fmt.Fprintf(w, "- %s %s\n", c.Kind, c.Key)
		default:
			fmt.Fprintf(w, "? %s %s (%s)\n", c.Kind, c.Key, c.Op)
		}
	}
	fmt.Fprintf(w, "\n%d to create, %d to update, %d to delete\n", creates, updates, deletes)
}

// updateDiff returns the unified diff between the YAML of c's current and desired
// resource, as Encode would write them.
func updateDiff(c Change) []string {
	if c.Current == nil || c.Desired == nil {
		return nil
	}
	a, errA := resourceYAML(c.Current)
	b, errB := resourceYAML(c.Desired)
	if errA != nil || errB != nil {
		return nil
	}
	return unifiedDiff(lines(string(a)), lines(string(b)), 3)
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// edit is one line of a line diff: ' ' kept, '-' removed, '+' added. ai and bi are the
// 0-based lines of a and b before it.
type edit struct {
	op     byte
	line   string
	ai, bi int
}

// maxDiffCells bounds the quadratic table of the line diff. Past it (two differing
// OpenAPI documents of thousands of lines), the changed middle is shown as removed, then
// added: still a correct diff, only not the shortest.
const maxDiffCells = 4 << 20

// lineDiff returns an edit script from a to b: common prefix and suffix, and a longest
// common subsequence of the middle.
func lineDiff(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []edit
	for i := 0; i < pre; i++ {
		out = append(out, edit{' ', a[i], i, i})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	ai, bi := pre, pre
	if n*m <= maxDiffCells {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		lcs := make([]int32, (n+1)*(m+1))
		at := func(i, j int) int32 { return lcs[i*(m+1)+j] }
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*(m+1)+j] = at(i+1, j+1) + 1
				} else {
					lcs[i*(m+1)+j] = max(at(i+1, j), at(i, j+1))
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				out = append(out, edit{' ', ma[i], ai, bi})
				i, j, ai, bi = i+1, j+1, ai+1, bi+1
			case i < n && (j == m || at(i+1, j) >= at(i, j+1)):
				out = append(out, edit{'-', ma[i], ai, bi})
				i, ai = i+1, ai+1
			default:
				out = append(out, edit{'+', mb[j], ai, bi})
				j, bi = j+1, bi+1
			}
		}
	} else {
		for _, l := range ma {
			out = append(out, edit{'-', l, ai, bi})
			ai++
		}
		for _, l := range mb {
			out = append(out, edit{'+', l, ai, bi})
			bi++
		}
	}
	for k := 0; k < suf; k++ {
		out = append(out, edit{' ', a[len(a)-suf+k], ai + k, bi + k})
	}
	return out
}

// unifiedDiff formats the diff of a and b as unified-diff hunks with context lines of
// context around each change.
func unifiedDiff(a, b []string, context int) []string {
	ed := lineDiff(a, b)
	var out []string
	for i := 0; i < len(ed); {
		if ed[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		last := i
		j := i
		for ; j < len(ed); j++ {
			if ed[j].op != ' ' {
				last = j
			} else if j-last > 2*context {
				break
			}
		}
		stop := min(len(ed), last+context+1)
		hunk := ed[start:stop]
		var na, nb int
		for _, e := range hunk {
			if e.op != '+' {
				na++
			}
			if e.op != '-' {
				nb++
			}
		}
		out = append(out, fmt.Sprintf("@@ -%s +%s @@", hunkRange(hunk[0].ai, na), hunkRange(hunk[0].bi, nb)))
		for _, e := range hunk {
			out = append(out, string(e.op)+e.line)
		}
		i = stop
	}
	return out
}

// hunkRange formats a hunk's start and length as diff does: 1-based, and an empty range
// names the line before it.
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
