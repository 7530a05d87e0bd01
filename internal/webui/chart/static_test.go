package chart

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

func TestStatic(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/static/chart/", http.StripPrefix("/static/chart/", Static()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/static/chart/chart.css", 200, "text/css; charset=utf-8", "--chart-1"},
		{"GET", "/static/chart/live.js", 200, "text/javascript; charset=utf-8", "EventSource"},
		{"HEAD", "/static/chart/live.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/static/chart/", 404, "", ""},
		{"GET", "/static/chart/static/chart.css", 404, "", ""},
		{"GET", "/static/chart/../chart.css", 404, "", ""},
		{"GET", "/static/chart/doc.go", 404, "", ""},
		{"POST", "/static/chart/live.js", 405, "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			continue
		}
		if tt.status != 200 {
			continue
		}
		h := resp.Header
		if h.Get("Content-Type") != tt.contentType || h.Get("Cache-Control") != "public, max-age=3600" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" {
			t.Errorf("%s %s: headers %v", tt.method, tt.path, h)
		}
		if !strings.Contains(string(body), tt.contains) {
			t.Errorf("%s %s: body lacks %q", tt.method, tt.path, tt.contains)
		}
		// A revalidation with the ETag is answered without the body.
		req, _ = http.NewRequest("GET", srv.URL+tt.path, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", tt.path, resp.StatusCode)
		}
	}
}

// TestStylesheet: the palette a page can override, and the classes the markup uses for
// series, are all in chart.css.
func TestStylesheet(t *testing.T) {
	b, err := staticFS.ReadFile("static/chart.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(b)
	for i := range Palette {
		for _, s := range []string{fmt.Sprintf("--chart-%d,", i+1), fmt.Sprintf(".chart .s%d {", i)} {
			if !strings.Contains(css, s) {
				t.Errorf("chart.css lacks %q", s)
			}
		}
	}
	for _, s := range []string{"--chart-grid,", "--chart-text,", "--chart-line-width,", ".chart-line {", ".chart-dot {",
		".chart-swatch {", ".chart-grid line {", ".chart-alt {", "prefers-color-scheme: dark", "[data-chart-scheme=\"dark\"]"} {
		if !strings.Contains(css, s) {
			t.Errorf("chart.css lacks %q", s)
		}
	}
}

// TestLiveScriptSize keeps live.js small (the brief is under 4 KB) and valid syntax
// when node is installed.
func TestLiveScriptSize(t *testing.T) {
	b, err := staticFS.ReadFile("static/live.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 4096 {
		t.Errorf("live.js is %d bytes; keep it under 4 KB", len(b))
	}
	for _, inline := range []string{"eval(", "new Function", "innerHTML", "setAttribute('style'", ".style."} {
		if strings.Contains(string(b), inline) {
			t.Errorf("live.js uses %s, which the CSP (or good sense) forbids", inline)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: not checking live.js's syntax")
	}
	if out, err := exec.Command(node, "--check", "static/live.js").CombinedOutput(); err != nil {
		t.Errorf("node --check static/live.js: %v\n%s", err, out)
	}
}
