package portal

import (
	"strings"
	"time"
)

// paragraphs splits Markdown (or any text) into paragraphs at blank lines. The portal
// shows descriptions as plain text: no Markdown is rendered and no HTML passes through,
// so a description can never carry markup, links or script into the page; html/template
// escapes each paragraph. Single line breaks inside a paragraph are kept by the CSS.
func paragraphs(s string) []string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if s == "" {
		return nil
	}
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = cur[:0]
		}
	}
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t"))
	}
	flush()
	return out
}

// summary is the first paragraph of s, for catalogue cards.
func summary(s string) string {
	p := paragraphs(s)
	if len(p) == 0 {
		return ""
	}
	return p[0]
}

// date is a sunset date for people ("2 January 2027", UTC) and for <time datetime>.
type date struct {
	Human, ISO string
}

func newDate(t *time.Time) *date {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &date{Human: u.Format("2 January 2006"), ISO: u.Format(time.RFC3339)}
}
