package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// jsNode is a parsed element as testdata/live_harness.js builds its DOM from.
type jsNode struct {
	Name     string            `json:"name"`
	Attrs    map[string]string `json:"attrs"`
	Children []jsNode          `json:"children,omitempty"`
	Text     string            `json:"text,omitempty"`
}

func toJS(n *node) jsNode {
	j := jsNode{Name: n.name, Attrs: n.attrs}
	for _, c := range n.children {
		j.Children = append(j.Children, toJS(c))
	}
	if len(n.children) == 0 {
		j.Text = n.text.String()
	}
	return j
}

type jsStep struct {
	Type string `json:"type"` // open, error, second
	Data string `json:"data,omitempty"`
}

type jsSnapshot struct {
	State   string            `json:"state"`
	Points  string            `json:"points"`
	Paths   map[string]string `json:"paths"`
	Outputs map[string]string `json:"outputs"`
	Ticks   []string          `json:"ticks"`
}

type jsResult struct {
	Sources []struct {
		URL             string `json:"url"`
		WithCredentials bool   `json:"withCredentials"`
	} `json:"sources"`
	Snapshots [][]jsSnapshot `json:"snapshots"`
}

// runLive renders a live figure, runs live.js on it under node with a fake DOM and
// EventSource, plays the steps and returns what the script did.
func runLive(t *testing.T, figure string, loading, twice bool, steps []jsStep) jsResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: live.js is not exercised")
	}
	root, err := parse(figure)
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(map[string]any{"tree": toJS(root), "loading": loading, "twice": twice, "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/live_harness.js", "static/live.js")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res jsResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res
}

// second is a "second" event at start+i seconds with the given JSON members.
func second(i int, members string) jsStep {
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	data := fmt.Sprintf(`{"node":"n1","time":%q`, at.Format(time.RFC3339))
	if members != "" {
		data += "," + members
	}
	return jsStep{Type: "second", Data: data + "}"}
}

func TestLiveScript(t *testing.T) {
	fig := string(LiveFigure("t", "Traffic", "/v1/analytics/live", liveFields))
	var window []jsStep
	for i := range 75 {
		window = append(window, second(i, fmt.Sprintf(`"count":%d`, i)))
	}
	tests := []struct {
		name    string
		loading bool
		twice   bool
		steps   []jsStep
		want    jsSnapshot // after the last step; empty fields are not checked
	}{
		{name: "connecting", steps: []jsStep{{Type: "none"}}, want: jsSnapshot{State: "connecting", Points: "0"}},
		{name: "open", steps: []jsStep{{Type: "open"}}, want: jsSnapshot{State: "open", Points: "0"}},
		{name: "error", steps: []jsStep{{Type: "open"}, {Type: "error"}}, want: jsSnapshot{State: "error"}},
		{
			name: "draws each second",
			steps: []jsStep{
				{Type: "open"},
				second(0, `"count":10,"errors":0,"totals":{"p99_ms":5}`),
				second(1, `"count":20,"errors":1,"totals":{"p99_ms":6.25}`),
				second(2, `"count":30,"totals":{"p99_ms":1234.5}`),
			},
			want: jsSnapshot{
				State: "open", Points: "3",
				// 60 s across 644 units from x=52; the axis tops at 2k (1234.5 in 4 steps of 500).
				Paths: map[string]string{
					"count":         "M674.5 215.0h0L 685.3 214.0 696.0 213.1",
					"errors":        "M674.5 216.0h0L 685.3 215.9",
					"totals.p99_ms": "M674.5 215.5h0L 685.3 215.4 696.0 95.0",
				},
				Outputs: map[string]string{"count": "30", "errors": "–", "totals.p99_ms": "1.23k"},
				Ticks:   []string{"0", "500", "1k", "1.5k", "2k"},
			},
		},
		{
			name: "ignores what is not an event",
			steps: []jsStep{
				second(0, `"count":4`),
				{Type: "second", Data: "not json"},
				{Type: "second", Data: "null"},
				{Type: "second", Data: "[1,2]"},
				{Type: "second", Data: `"text"`},
				{Type: "second", Data: "42"},
				{Type: "message", Data: `{"count":99}`},
			},
			want: jsSnapshot{Points: "1", Outputs: map[string]string{"count": "4"}, Ticks: []string{"0", "1", "2", "3", "4"}},
		},
		{
			name: "wrong types are gaps",
			steps: []jsStep{
				second(0, `"count":1`),
				second(1, `"count":"2","totals":5`),
				second(2, `"count":3,"totals":{"p99_ms":null}`),
			},
			want: jsSnapshot{Points: "3", Paths: map[string]string{"count": "M674.5 167.0h0M696.0 69.0h0", "totals.p99_ms": ""},
				Outputs: map[string]string{"count": "3", "totals.p99_ms": "–"}},
		},
		{name: "keeps the window", steps: window, want: jsSnapshot{Points: "60", Outputs: map[string]string{"count": "74"}}},
		{
			name:  "late events in time order",
			steps: []jsStep{second(2, `"count":3`), second(0, `"count":1`), second(1, `"count":2`)},
			want:  jsSnapshot{Points: "3", Paths: map[string]string{"count": "M674.5 167.0h0L 685.3 118.0 696.0 69.0"}, Outputs: map[string]string{"count": "3"}}, // the newest, not the last to come
		},
		{
			name:  "no time: arrival",
			steps: []jsStep{{Type: "second", Data: `{"count":7}`}},
			want:  jsSnapshot{Points: "1", Outputs: map[string]string{"count": "7"}},
		},
		{name: "after DOMContentLoaded", loading: true, steps: []jsStep{{Type: "open"}, second(0, `"count":1`)}, want: jsSnapshot{State: "open", Points: "1"}},
		{name: "included twice", twice: true, steps: []jsStep{second(0, `"count":1`)}, want: jsSnapshot{Points: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runLive(t, fig, tt.loading, tt.twice, tt.steps)
			if len(res.Sources) != 1 || res.Sources[0].URL != "/v1/analytics/live" || !res.Sources[0].WithCredentials {
				t.Fatalf("event sources %+v", res.Sources)
			}
			got := res.Snapshots[len(res.Snapshots)-1][0]
			w := tt.want
			if w.State != "" && got.State != w.State {
				t.Errorf("data-state %q, want %q", got.State, w.State)
			}
			if w.Points != "" && got.Points != w.Points {
				t.Errorf("data-points %q, want %q", got.Points, w.Points)
			}
			for k, v := range w.Paths {
				if got.Paths[k] != v {
					t.Errorf("path %s d=%q, want %q", k, got.Paths[k], v)
				}
			}
			for k, v := range w.Outputs {
				if got.Outputs[k] != v {
					t.Errorf("output %s %q, want %q", k, got.Outputs[k], v)
				}
			}
			if w.Ticks != nil && strings.Join(got.Ticks, " ") != strings.Join(w.Ticks, " ") {
				t.Errorf("ticks %q, want %q", got.Ticks, w.Ticks)
			}
		})
	}
}

// TestLiveScriptNotLive: a figure LiveFigure refused a stream for opens none.
func TestLiveScriptNotLive(t *testing.T) {
	res := runLive(t, string(LiveFigure("t", "T", "//evil.example/", liveFields)), false, false, []jsStep{{Type: "open"}})
	if len(res.Sources) != 0 || res.Snapshots[0][0].State != "error" {
		t.Errorf("sources %+v, snapshot %+v", res.Sources, res.Snapshots[0])
	}
}
