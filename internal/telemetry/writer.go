package telemetry

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Writer collects one scrape in the Prometheus text format (version 0.0.4). Collectors
// declare families with Family and add samples with Sample; Writer is also an io.Writer
// that accepts ready-made exposition text (such as realtime's WriteMetrics), which it
// splits into families by their # HELP / # TYPE lines and sample names. Families from all
// sources are merged by name and written sorted by name, so a name declared twice does not
// break the scrape.
type Writer struct {
	fams map[string]*family
	raw  []byte // partial line of raw text
	cur  *family
}

type family struct {
	name string
	typ  string // counter, gauge, histogram, summary, or "" (untyped)
	help string // escaped
	body []byte // sample lines
}

func newWriter() *Writer { return &Writer{fams: make(map[string]*family)} }

// Family declares a metric family: typ is "counter", "gauge", "histogram", "summary" or
// "untyped"; help is plain text (escaped here). Declaring a family again keeps its samples
// and the first non-empty help and type.
func (w *Writer) Family(name, typ, help string) {
	f := w.family(name)
	if f.typ == "" && typ != "untyped" {
		f.typ = typ
	}
	if f.help == "" {
		f.help = escapeHelp(help)
	}
	w.cur = f
}

func (w *Writer) family(name string) *family {
	f := w.fams[name]
	if f == nil {
		f = &family{name: name}
		w.fams[name] = f
	}
	return f
}

// owner is the family a sample named name belongs to: its own, or, for name_bucket,
// name_sum and name_count, the histogram or summary called name.
func (w *Writer) owner(name string) *family {
	if f := w.fams[name]; f != nil {
		return f
	}
	for _, suf := range [...]string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f := w.fams[base]; f != nil && (f.typ == "histogram" || f.typ == "summary") {
				return f
			}
		}
	}
	return w.family(name)
}

// Sample adds one sample. labels alternate names and values ("api", "orders", ...);
// values are escaped here, and invalid UTF-8 in them is replaced.
func (w *Writer) Sample(name string, value float64, labels ...string) {
	f := w.owner(name)
	b := append(f.body, name...)
	if len(labels) >= 2 {
		b = append(b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, '=', '"')
			b = appendLabelValue(b, labels[i+1])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	f.body = append(b, '\n')
}

// Write accepts exposition text. Lines may be split across calls.
func (w *Writer) Write(p []byte) (int, error) {
	w.raw = append(w.raw, p...)
	for {
		i := bytes.IndexByte(w.raw, '\n')
		if i < 0 {
			break
		}
		w.rawLine(w.raw[:i])
		w.raw = w.raw[i+1:]
	}
	if len(w.raw) == 0 {
		w.raw = nil
	}
	return len(p), nil
}

func (w *Writer) rawLine(line []byte) {
	line = bytes.TrimRight(line, " \t\r")
	if len(line) == 0 {
		return
	}
	if line[0] == '#' {
		fields := bytes.Fields(line[1:])
		if len(fields) < 2 {
			return
		}
		name := string(fields[1])
		switch string(fields[0]) {
		case "HELP":
			f := w.family(name)
			// keep the text as written (already escaped), after "# HELP name "
			_, rest, _ := bytes.Cut(bytes.TrimLeft(line[1:], " \t"), []byte(" "))
			_, rest, _ = bytes.Cut(bytes.TrimLeft(rest, " \t"), []byte(" "))
			if f.help == "" {
				f.help = string(rest)
			}
			w.cur = f
		case "TYPE":
			f := w.family(name)
			if len(fields) >= 3 && f.typ == "" && string(fields[2]) != "untyped" {
				f.typ = string(fields[2])
			}
			w.cur = f
		}
		return
	}
	end := bytes.IndexAny(line, "{ \t")
	if end <= 0 {
		return // not a sample line
	}
	f := w.owner(string(line[:end]))
	f.body = append(f.body, line...)
	f.body = append(f.body, '\n')
}

// flush writes every family with samples, sorted by name.
func (w *Writer) flush(out *bytes.Buffer) {
	if len(w.raw) > 0 {
		w.rawLine(w.raw)
		w.raw = nil
	}
	names := make([]string, 0, len(w.fams))
	for n, f := range w.fams {
		if len(f.body) > 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f := w.fams[n]
		if f.help != "" {
			out.WriteString("# HELP ")
			out.WriteString(n)
			out.WriteByte(' ')
			out.WriteString(f.help)
			out.WriteByte('\n')
		}
		if f.typ != "" {
			out.WriteString("# TYPE ")
			out.WriteString(n)
			out.WriteByte(' ')
			out.WriteString(f.typ)
			out.WriteByte('\n')
		}
		out.Write(f.body)
	}
}

// WriteText runs fn with a fresh Writer and writes the result, sorted, to out: for
// tests and for components that want the format without a Registry.
func WriteText(out io.Writer, fn func(*Writer)) error {
	w := newWriter()
	fn(w)
	var b bytes.Buffer
	w.flush(&b)
	_, err := out.Write(b.Bytes())
	return err
}

// appendLabelValue escapes a label value: backslash, double quote and newline, and
// replaces invalid UTF-8 (the Prometheus parser rejects the whole scrape otherwise).
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '\\':
				b = append(b, '\\', '\\')
			case '"':
				b = append(b, '\\', '"')
			case '\n':
				b = append(b, '\\', 'n')
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// escapeHelp escapes HELP text: backslash and newline, invalid UTF-8 replaced.
func escapeHelp(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// appendFloat formats a sample value as the text format expects (+Inf, -Inf, NaN).
func appendFloat(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
