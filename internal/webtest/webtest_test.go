package webtest_test

import (
	"fmt"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/gatehouse-dev/gatehouse/internal/webtest"
)

// The pages the helpers are tried on, served on 127.0.0.1.
var pages = map[string]string{
	// A form that is accessible: every way of labelling a field once, an image with alt.
	"/form": `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign up</title></head><body>
<h1>Sign up</h1>
<img src="/logo.svg" alt="Gatehouse" width="48" height="48">
<form action="/done" method="get">
 <p><label for="name">Name</label> <input id="name" name="name" value="prefilled"></p>
 <p><input id="email" name="email" type="email" aria-label="Email address"></p>
 <p><span id="plan-label">Plan</span> <select id="plan" name="plan" aria-labelledby="plan-label">
   <option value="free">Free</option><option value="pro">Pro</option></select></p>
 <p><label>About you <textarea name="about"></textarea></label></p>
 <input type="hidden" name="token" value="x">
 <button id="submit" type="submit">Create account</button>
</form></body></html>`,

	// Every fault A11y knows, once.
	"/bad": `<!doctype html><html><head><meta charset="utf-8"></head><body>
<h1>One</h1><h1>Two</h1>
<img src="/logo.svg">
<input id="q" type="search">
<select name="sort"><option>a</option></select>
<label for="t"> </label><textarea id="t"></textarea>
<input type="text" aria-labelledby="nowhere">
<input type="submit" value="Fine without a label">
<img src="/logo.svg" alt="">
</body></html>`,

	// Keyboard order: a skipped tabindex=-1, controls without ids (named by the
	// accessibility tree), and a button whose activation by Enter is visible.
	"/keys": `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Keys</title></head><body>
<h1>Keys</h1>
<a id="home" href="#top">Home</a>
<span tabindex="-1">not in the order</span>
<label>Search <input type="search"></label>
<button type="button" onclick="document.getElementById('out').textContent='pressed'">Go</button>
<a href="#help" aria-label="Help centre">?</a>
<p id="out"></p>
</body></html>`,

	// Console output: one error and one uncaught exception on load, a log line that is no
	// error, a missing image, and a button that logs an error when clicked.
	"/console": `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console</title></head><body>
<h1>Console</h1>
<img src="/missing.png" alt="missing">
<button id="boom" onclick="console.error('clicked', {n: 1})">Boom</button>
<script>console.log("all fine"); console.error("boom", 42);</script>
<script>throw new Error("kaput");</script>
</body></html>`,

	// A layout that changes with the width: three cards side by side from 700px, stacked
	// below. Colours so that a screenshot shows whether it rendered.
	"/layout": `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Layout</title>
<style>
 body { margin: 0; font: 18px/1.4 sans-serif; background: #f4f6fb; }
 header { background: #1d2433; color: #fff; padding: 1rem 2rem; }
 .cards { display: grid; grid-template-columns: 1fr; gap: 1rem; padding: 1rem; }
 @media (min-width: 700px) { .cards { grid-template-columns: repeat(3, 1fr); } }
 .card { height: 280px; border-radius: 12px; color: #fff; padding: 1rem; font-size: 2rem; }
 #c1 { background: #2f5bea; } #c2 { background: #1b7a3d; } #c3 { background: #c2410c; }
</style></head><body>
<header><h1>Layout</h1></header>
<main class="cards"><div class="card" id="c1">One</div><div class="card" id="c2">Two</div><div class="card" id="c3">Three</div></main>
</body></html>`,
}

func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/logo.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><circle cx="24" cy="24" r="20" fill="#2f5bea"/></svg>`)
		case "/done":
			q := r.URL.Query()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Done</title></head><body><h1>Welcome</h1><p id="result">%s &lt;%s&gt; on %s: %s</p></body></html>`,
				html.EscapeString(q.Get("name")), html.EscapeString(q.Get("email")), html.EscapeString(q.Get("plan")), html.EscapeString(q.Get("about")))
		case "/favicon.ico":
			http.NotFound(w, r)
		default:
			page, ok := pages[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, page)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// timed logs how long the test took, the browser's start and stop included (its cleanup
// runs after New's).
func timed(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("took %v, the browser's start and stop included", time.Since(start).Round(time.Millisecond))
	})
}

func TestFormFillAndSubmit(t *testing.T) {
	timed(t)
	b := webtest.New(t)
	srv := server(t)

	if status := b.Go(srv.URL + "/form"); status != 200 {
		t.Fatalf("GET /form: status %d", status)
	}
	if got := b.Text("h1"); got != "Sign up" {
		t.Errorf("h1 = %q", got)
	}
	b.Fill("#name", "Ada Lovelace") // replaces the prefilled value
	b.Fill("#email", "ada@example.com")
	b.Fill("#plan", "pro")
	b.Fill("textarea[name=about]", "Engines & <tags>")
	var values []string
	b.Eval(`Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"), e => e.value)`, &values)
	if want := []string{"Ada Lovelace", "ada@example.com", "pro", "Engines & <tags>"}; !slices.Equal(values, want) {
		t.Errorf("field values = %q, want %q", values, want)
	}
	if v := b.A11y(); len(v) != 0 {
		t.Errorf("accessible form has violations: %q", v)
	}

	b.Click("#submit")
	b.WaitVisible("#result")
	if got, want := b.Text("#result"), "Ada Lovelace <ada@example.com> on pro: Engines & <tags>"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	var title string
	b.Eval(`new Promise(r => setTimeout(() => r(document.title), 1))`, &title) // promises are awaited
	if title != "Done" {
		t.Errorf("title after submit = %q", title)
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}

func TestScreenshotsAtTwoWidths(t *testing.T) {
	timed(t)
	b := webtest.New(t)
	srv := server(t)
	b.Go(srv.URL + "/layout")

	for _, w := range []struct {
		width, height int
		stacked       bool
	}{{360, 740, true}, {1440, 900, false}} {
		b.SetViewport(w.width, w.height)
		var tops []float64
		b.Eval(`Array.from(document.querySelectorAll(".card"), c => c.getBoundingClientRect().top)`, &tops)
		if stacked := len(tops) == 3 && tops[1] > tops[0] && tops[2] > tops[1]; stacked != w.stacked {
			t.Errorf("width %d: card tops %v, want stacked=%v", w.width, tops, w.stacked)
		}
		path := b.Screenshot(fmt.Sprintf("layout-%d", w.width))
		img := decodePNG(t, path)
		size := img.Bounds().Size()
		if size.X != w.width {
			t.Errorf("width %d: screenshot is %d px wide", w.width, size.X)
		}
		// The full page, not the viewport: three stacked 280px cards pass 740px.
		var pageHeight int
		b.Eval(`document.documentElement.scrollHeight`, &pageHeight)
		if size.Y != pageHeight {
			t.Errorf("width %d: screenshot is %d px high, the page %d", w.width, size.Y, pageHeight)
		}
		// A real render has the cards' colours where the layout puts them.
		var c1 struct{ X, Y float64 }
		b.Eval(`(() => { const r = document.getElementById("c1").getBoundingClientRect(); return {x: r.left + 10, y: r.top + r.height - 10}; })()`, &c1)
		if r, g, bl, _ := img.At(int(c1.X), int(c1.Y)).RGBA(); r>>8 != 0x2f || g>>8 != 0x5b || bl>>8 != 0xea {
			t.Errorf("width %d: pixel in the first card is #%02x%02x%02x, want #2f5bea", w.width, r>>8, g>>8, bl>>8)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestKeyboardNavigation(t *testing.T) {
	timed(t)
	b := webtest.New(t)
	srv := server(t)
	b.Go(srv.URL + "/keys")

	if f := b.Focused(); f.Tag != "body" {
		t.Errorf("focus after load = %+v, want the body", f)
	}
	got := b.TabOrder(4)
	want := []string{"#home", `searchbox "Search"`, `button "Go"`, `link "Help centre"`}
	if !slices.Equal(got, want) {
		t.Errorf("tab order = %q, want %q", got, want)
	}
	if f := b.ShiftTab(); f.Role != "button" || f.Name != "Go" || f.Tag != "button" {
		t.Errorf("Shift+Tab went to %+v, want the Go button", f)
	}
	b.Press(kb.Enter)
	if got := b.Text("#out"); got != "pressed" {
		t.Errorf("Enter on the focused button: #out = %q", got)
	}
}

func TestConsoleErrors(t *testing.T) {
	timed(t)
	b := webtest.New(t)
	srv := server(t)
	b.Go(srv.URL + "/console")

	errs := b.ConsoleErrors()
	for _, want := range []string{"console.error: boom 42", "Uncaught Error: kaput", "404"} {
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("console errors %q lack %q", errs, want)
		}
	}
	if slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "all fine") }) {
		t.Errorf("console.log reported as an error: %q", errs)
	}
	n := len(errs)
	b.Click("#boom")
	errs = b.ConsoleErrors()
	if len(errs) != n+1 || !strings.HasPrefix(errs[n], "console.error: clicked") {
		t.Errorf("after the click: %q, want one more, console.error: clicked ...", errs)
	}
}

func TestA11yViolations(t *testing.T) {
	timed(t)
	b := webtest.New(t)
	srv := server(t)
	b.Go(srv.URL + "/bad")

	got := b.A11y()
	want := []string{
		`input#q: no label (label[for], aria-label or aria-labelledby)`,
		`select[name="sort"]: no label (label[for], aria-label or aria-labelledby)`,
		`textarea#t: its <label> has no text`,
		`input[type="text"]: aria-labelledby="nowhere" names no element with text`,
		`img[src="/logo.svg"]: no alt attribute (alt="" if it is decorative)`,
		`page: 2 <h1> elements, want exactly one`,
		`page: no <title>`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}

// recorder is a testing.TB whose Fatal is recorded and ends only the goroutine that
// called it, so that a test can look at a helper's failure.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func TestFailureNamesURLSelectorAndScreenshot(t *testing.T) {
	timed(t)
	rec := &recorder{TB: t}
	b := webtest.New(rec, webtest.Timeout(5*time.Second))
	srv := server(t)
	b.Go(srv.URL + "/form")

	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Click("#no-such-button")
	}()
	<-done
	rec.mu.Lock()
	msg := rec.fatal
	rec.mu.Unlock()
	for _, want := range []string{`click "#no-such-button"`, srv.URL + "/form", "not done within 5s", "screenshot: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	_, shot, _ := strings.Cut(msg, "screenshot: ")
	if _, err := os.Stat(strings.TrimSpace(shot)); err != nil {
		t.Errorf("failure screenshot: %v", err)
	}
}
