package chart

import (
	"html/template"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LiveField is one line of a live chart: the number at Key in each event's JSON object
// (dots reach into nested objects: "totals.count"), called Label, in Unit.
type LiveField struct {
	Key   string // letters, digits and "._-" only (it is listed in a comma-separated attribute)
	Label string // "" means Key
	Unit  string
}

// LiveWindow is how many seconds a live chart shows.
const LiveWindow = 60

// liveTicks is the number of gridline intervals of a live chart; live.js labels them.
const liveTicks = 4

// LiveFigure renders the figure live.js brings to life: an empty chart whose lines
// follow the Server-Sent Events stream at src (same origin only: src must be a path
// starting with a single "/"), one per field, over the last LiveWindow seconds, with
// the latest value of each field in an <output>. The script reads data-live-src,
// data-live-window and data-live-fields from the figure and sets data-state
// ("open" or "error") and data-points on it.
//
// Fields with an invalid or repeated Key are left out. A src that is not a same-origin
// path renders the figure without a stream (data-state="error"): the page shows an
// empty chart rather than following a stream somewhere else.
func LiveFigure(id, title, src string, fields []LiveField) template.HTML {
	fs := make([]LiveField, 0, len(fields))
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		if validKey(f.Key) && !slices.Contains(keys, f.Key) {
			if f.Label == "" {
				f.Label = f.Key
			}
			fs = append(fs, f)
			keys = append(keys, f.Key)
		}
	}
	live := sameOriginPath(src) && len(fs) > 0
	if title == "" {
		title = "Live"
	}
	if id = cleanID(id); id == "" {
		id = hashID("live-", append([]string{title, src}, keys...))
	}
	f := newFrame(0, 0)

	b := make([]byte, 0, 2048+256*len(fs))
	b = append(b, `<figure class="chart chart-live" id="`...)
	b = append(b, id...)
	b = append(b, '"')
	if live {
		b = append(b, ` data-live-src="`...)
		b = appendText(b, src)
		b = append(b, `" data-live-window="`...)
		b = appendInt(b, LiveWindow)
		b = append(b, `" data-live-fields="`...)
		b = append(b, strings.Join(keys, ",")...) // validKey: nothing to escape
		b = append(b, `" data-state="connecting"`...)
	} else {
		b = append(b, ` data-state="error"`...)
	}
	b = append(b, ` data-points="0"><figcaption class="chart-caption"><span class="chart-title">`...)
	b = appendText(b, title)
	b = append(b, "</span>"...)
	labels := make([]string, len(fs))
	for i, fl := range fs {
		labels[i] = fl.Label
	}
	// The legend doubles as the readout; polite, so a screen reader finishes what it is
	// saying before it reads the new values.
	b = appendLegend(b, `class="chart-legend chart-readouts" aria-live="polite"`, labels, func(b []byte, i int) []byte {
		b = append(b, ` <output class="chart-readout" data-field="`...)
		b = append(b, fs[i].Key...) // validKey: nothing to escape
		b = append(b, `">–</output>`...)
		if fs[i].Unit != "" {
			b = append(b, ` <span class="chart-unit">`...)
			b = appendText(b, fs[i].Unit)
			b = append(b, "</span>"...)
		}
		return b
	})
	b = append(b, "</figcaption>"...)

	b = f.appendSVGStart(b, id, title, func(b []byte) []byte {
		if !live {
			return append(b, "Live data is unavailable."...)
		}
		b = append(b, "Live chart of the last "...)
		b = appendInt(b, LiveWindow)
		b = append(b, " seconds:"...)
		for i, fl := range fs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, ' ')
			b = appendText(b, fl.Label)
			if fl.Unit != "" {
				b = append(b, " ("...)
				b = appendText(b, fl.Unit)
				b = append(b, ')')
			}
		}
		return append(b, ". The latest values are in the legend."...)
	})
	fracs := make([]float64, liveTicks+1)
	for i := range fracs {
		fracs[i] = float64(i) / liveTicks
	}
	tickLabels := make([]string, liveTicks+1) // live.js writes them
	tickLabels[0] = "0"
	b = f.appendGrid(b, fracs, 0)
	b = f.appendYLabels(b, fracs, tickLabels, "", true)
	b = f.appendXLabels(b, []float64{f.x0, f.x1}, []string{strconv.Itoa(LiveWindow) + " s ago", "now"})
	if !live {
		b = f.appendMessage(b, "Live data is unavailable")
	}
	b = appendPlotStart(b)
	for i, fl := range fs {
		b = append(b, `<path class="chart-line `...)
		b = appendSeriesClass(b, i)
		b = append(b, `" data-field="`...)
		b = append(b, fl.Key...)
		b = append(b, `" d=""/>`...)
	}
	b = append(b, "</g></svg></figure>"...)
	return template.HTML(b)
}

// sameOriginPath reports whether src is a path on this origin: it starts with one "/"
// ("//host" and "/\host" are other hosts to a browser), and it is valid UTF-8 without
// spaces or control characters, which URL parsers strip or treat differently (and which
// the attribute could not carry unchanged).
func sameOriginPath(src string) bool {
	if len(src) == 0 || src[0] != '/' || len(src) > 2048 || !utf8.ValidString(src) {
		return false
	}
	if len(src) > 1 && (src[1] == '/' || src[1] == '\\') {
		return false
	}
	for _, r := range src {
		if r <= ' ' || (r >= 0x7f && r <= 0x9f) || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}

// validKey reports whether k can be a field key: it is listed in a comma-separated
// attribute and matched by live.js with no escaping.
func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
