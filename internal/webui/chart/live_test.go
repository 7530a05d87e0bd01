package chart

import (
	"slices"
	"strings"
	"testing"
)

var liveFields = []LiveField{
	{Key: "count", Label: "Requests", Unit: "req/s"},
	{Key: "errors", Label: "Errors"},
	{Key: "totals.p99_ms", Label: "p99", Unit: "ms"},
}

func renderLive(t *testing.T, id, title, src string, fields []LiveField) (*node, string) {
	t.Helper()
	out := string(LiveFigure(id, title, src, fields))
	root, err := parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return root, out
}

func TestLiveFigure(t *testing.T) {
	root, _ := renderLive(t, "traffic", "Traffic", "/v1/analytics/live?api=orders&x=1", liveFields)
	want := map[string]string{
		"class":            "chart chart-live",
		"id":               "traffic",
		"data-live-src":    "/v1/analytics/live?api=orders&x=1", // the parser unescapes &amp;
		"data-live-window": "60",
		"data-live-fields": "count,errors,totals.p99_ms",
		"data-state":       "connecting",
		"data-points":      "0",
	}
	for k, v := range want {
		if root.attrs[k] != v {
			t.Errorf("figure %s=%q, want %q", k, root.attrs[k], v)
		}
	}
	readouts := root.classed("chart-readouts")
	if len(readouts) != 1 || readouts[0].attrs["aria-live"] != "polite" {
		t.Fatalf("no polite readout list")
	}
	var keys []string
	for _, o := range readouts[0].named("output") {
		keys = append(keys, o.attrs["data-field"])
	}
	if !slices.Equal(keys, []string{"count", "errors", "totals.p99_ms"}) {
		t.Errorf("outputs %q", keys)
	}
	keys = nil
	for i, p := range root.classed("chart-line") {
		keys = append(keys, p.attrs["data-field"])
		if p.attrs["class"] != "chart-line s"+string(rune('0'+i)) || p.attrs["d"] != "" {
			t.Errorf("path %d: %v", i, p.attrs)
		}
	}
	if !slices.Equal(keys, []string{"count", "errors", "totals.p99_ms"}) {
		t.Errorf("paths %q", keys)
	}
	svg := root.first("svg")
	if svg.attrs["data-plot"] != "52 20 644 196" || svg.attrs["aria-labelledby"] != "traffic-title" {
		t.Errorf("svg %v", svg.attrs)
	}
	var ticks []string
	for _, tx := range root.all(func(n *node) bool { return n.attrs["data-tick"] != "" }) {
		ticks = append(ticks, tx.attrs["data-tick"])
	}
	if !slices.Equal(ticks, []string{"0", "1", "2", "3", "4"}) {
		t.Errorf("ticks %q", ticks)
	}
	if got := texts(root.classed("chart-unit")); !slices.Equal(got, []string{"req/s", "ms"}) {
		t.Errorf("units %q", got)
	}
	if got := texts(root.classed("chart-xaxis")[0].named("text")); !slices.Equal(got, []string{"60 s ago", "now"}) {
		t.Errorf("x labels %q", got)
	}
}

func TestLiveFigureRejects(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		fields []LiveField
		keys   []string // the fields kept; nil: the figure is not live
	}{
		{"absolute URL", "https://evil.example/stream", liveFields, nil},
		{"protocol-relative", "//evil.example/stream", liveFields, nil},
		{"backslash", `/\evil.example/stream`, liveFields, nil},
		{"javascript", "javascript:alert(1)", liveFields, nil},
		{"relative", "stream", liveFields, nil},
		{"empty", "", liveFields, nil},
		{"space", "/a b", liveFields, nil},
		{"newline", "/a\nb", liveFields, nil},
		{"invalid UTF-8", "/a\xffb", liveFields, nil},
		{"C1 control", "/a\u0085b", liveFields, nil},
		{"no fields", "/live", nil, nil},
		{"only bad fields", "/live", []LiveField{{Key: "a,b"}, {Key: ""}, {Key: `x"y`}}, nil},
		{"bad and repeated keys dropped", "/live", []LiveField{{Key: "a"}, {Key: "a b"}, {Key: "a"}, {Key: "b.c"}, {Key: "<x>"}}, []string{"a", "b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, out := renderLive(t, "", "T", tt.src, tt.fields)
			if tt.keys == nil {
				if _, ok := root.attrs["data-live-src"]; ok || root.attrs["data-state"] != "error" || len(root.classed("chart-empty")) != 1 {
					t.Errorf("not live expected: %s", out)
				}
				if tt.src != "" && strings.Contains(out, tt.src) {
					t.Errorf("the rejected src is in the markup")
				}
				return
			}
			if got := root.attrs["data-live-fields"]; got != strings.Join(tt.keys, ",") {
				t.Errorf("fields %q, want %q", got, tt.keys)
			}
			if got := len(root.named("output")); got != len(tt.keys) {
				t.Errorf("%d outputs", got)
			}
		})
	}
}

func TestLiveFigureEscaping(t *testing.T) {
	for i, h := range hostileNames {
		fields := []LiveField{{Key: "a", Label: h, Unit: h}, {Key: "b"}}
		root, out := renderLive(t, h, h, "/live?q="+strings.ReplaceAll(h, " ", "%20"), fields)
		text, err := parse("<span>" + string(appendText(nil, h)) + "</span>")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{root.first("title"), root.classed("chart-title")[0], root.classed("chart-name")[0], root.classed("chart-unit")[0]} {
			if got := n.text.String(); got != text.text.String() {
				t.Errorf("%d: <%s> %q, want %q", i, n.name, got, text.text.String())
			}
		}
		if got := root.classed("chart-name")[1].text.String(); got != "b" {
			t.Errorf("%d: a field without a label is called %q", i, got)
		}
		for _, bad := range []string{"<script", "<svg onload", "<img", `" onload`} {
			if strings.Contains(out, bad) {
				t.Errorf("%d: output contains %q", i, bad)
			}
		}
	}
}
