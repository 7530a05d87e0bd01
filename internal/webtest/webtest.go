// Package webtest drives Debian's headless Chromium from tests, for the pages the gateway
// serves to people (the developer portal, the operator dashboard). Each test gets its own
// browser process, started by New and stopped when the test ends; every helper fails the
// test with the URL, the selector and a screenshot instead of returning an error.
//
// Browser tests skip unless GATEHOUSE_TEST_CHROMIUM names the browser (.ci/run sets it to
// Debian's /usr/bin/chromium). Screenshots go to GATEHOUSE_SCREENSHOTS when it is set (give
// an absolute path: go test runs each package in its own directory), so that a person can
// look at them after the run, and to the test's temporary directory otherwise.
package webtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables read by this package.
const (
	// EnvChromium is the path of the browser; tests skip when it is unset.
	EnvChromium = "GATEHOUSE_TEST_CHROMIUM"
	// EnvScreenshots is the directory screenshots are written to (created if missing).
	EnvScreenshots = "GATEHOUSE_SCREENSHOTS"
)

// Defaults. The timeout is per action (a navigation, a wait, a click) and generous, so that
// a loaded two-core CI machine running other packages' tests beside the browser passes.
const (
	DefaultWidth   = 1440
	DefaultHeight  = 900
	DefaultTimeout = 30 * time.Second
)

// Chromium returns the browser to test with, from GATEHOUSE_TEST_CHROMIUM, or skips the test
// when it is unset.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		t.Skipf("browser test: set %s to a Chromium binary (Debian's: apt-get install chromium; %s=/usr/bin/chromium) to run it", EnvChromium, EnvChromium)
	}
	return path
}

// Option configures New.
type Option func(*config)

type config struct {
	width, height int
	timeout       time.Duration
}

// Viewport sets the initial viewport in CSS pixels (default 1440×900).
func Viewport(width, height int) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// Timeout sets how long one action may take (default 30 s). Starting the browser may take
// twice as long.
func Timeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// Browser is one headless Chromium process with one tab, owned by one test. Its methods
// must be called from the test's goroutine (they call t.Fatalf).
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context
	timeout time.Duration
	profile string // the --user-data-dir, unique to this browser

	mu       sync.Mutex
	console  []string // console errors and uncaught exceptions, in order
	lastURL  string   // the last URL given to Go, for failure messages
	shots    int      // screenshots taken, to name failure screenshots
	shotDir  string   // where screenshots go, once known
	failing  bool     // inside fail: no failure screenshot of a failure screenshot
	finished bool     // cleanup has begun: drop chromedp's log lines
}

// New starts a headless Chromium for the test, or skips the test when GATEHOUSE_TEST_CHROMIUM
// is unset. The browser runs with a fresh profile in t.TempDir() and is stopped, with every
// process it started (and no other), when the test ends.
func New(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	path := Chromium(t)
	cfg := config{width: DefaultWidth, height: DefaultHeight, timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	profile := filepath.Join(t.TempDir(), "profile")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatalf("webtest: %v", err)
	}

	// Exactly the flags this machine needs, and not chromedp's defaults. Without the
	// background-networking ones Chromium keeps dialling Google's hosts, and the closed
	// network refuses every such connection. --no-sandbox because tests run as root.
	// chromedp adds --remote-debugging-pipe and about:blank.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	b := &Browser{t: t, timeout: cfg.timeout, profile: profile}
	logf := func(format string, args ...any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.finished {
			t.Logf("chromedp: "+format, args...)
		}
	}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	b.ctx = ctx
	t.Cleanup(func() { b.stop(cancelTab, cancelAlloc) })

	// The first action starts the browser and must not run under a deadline (a deadline
	// would end the browser with it), so a timer cancels a start that hangs instead.
	start := time.Now()
	startTimeout := 2 * cfg.timeout
	watchdog := time.AfterFunc(startTimeout, cancelTab)
	err := chromedp.Do(ctx)
	stopped := !watchdog.Stop()
	if err != nil {
		if stopped {
			t.Fatalf("webtest: %s did not start within %v", path, startTimeout)
		}
		t.Fatalf("webtest: starting %s: %v", path, err)
	}
	// Listen sees each event before the reply to any later command, so a console error the
	// page logged before an action returns is in b.console by then.
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("webtest: listening to the console: %v", err)
	}
	// Overlay scrollbars, as on phones and in macOS: a classic one would take 15px of a
	// 360px viewport from the layout, and from every screenshot.
	hideScrollbars := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})
	b.run("set the viewport", "", hideScrollbars, chromedp.EmulateViewport(int64(cfg.width), int64(cfg.height)))
	t.Logf("webtest: %s started in %v (viewport %d×%d)", filepath.Base(path), time.Since(start).Round(time.Millisecond), cfg.width, cfg.height)
	return b
}

// stop closes the browser gracefully, waits for the process to exit, then kills whatever
// is left that was started with this browser's profile directory (only this browser's
// helpers can have it on their command line) and removes the profile.
func (b *Browser) stop(cancelTab, cancelAlloc context.CancelFunc) {
	b.mu.Lock()
	b.finished = true
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	_ = chromedp.Cancel(ctx) // a browser that is already gone gives an error; nothing to do
	cancel()
	cancelTab()
	cancelAlloc() // waits for the process to exit
	killLeftovers(b.profile)
	removeAllRetry(b.profile)
}

// Context returns the tab's chromedp context, for actions this package has no helper for.
// Derive a context with a timeout from it for each call.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs chromedp actions in the tab with the per-action timeout, and fails the test if
// one fails.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.run("run actions", "", steps...)
}

// run runs the steps under the per-action timeout and fails the test with what it was
// doing when one fails.
func (b *Browser) run(what, selector string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, selector, err)
	}
}

// value runs an action that returns a value, under the per-action timeout.
func value[T any](b *Browser, what, selector string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, selector, err)
	}
	return v
}

// fail ends the test with the action, the selector, the page's URL and a screenshot.
func (b *Browser) fail(what, selector string, err error) {
	b.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not done within %v: %w", b.timeout, err)
	}
	msg := "webtest: " + what
	if selector != "" {
		msg += fmt.Sprintf(" %q", selector)
	}
	msg += fmt.Sprintf(" on %s: %v", b.location(), err)
	b.mu.Lock()
	again := b.failing
	b.failing = true
	b.mu.Unlock()
	if !again {
		if path, serr := b.screenshot("failure", 10*time.Second); serr == nil {
			msg += "\nscreenshot: " + path
		} else {
			msg += "\n(no screenshot: " + serr.Error() + ")"
		}
	}
	b.t.Fatal(msg)
}

// location returns the tab's URL, or the last one navigated to when the tab cannot say.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if u, err := chromedp.Run(ctx, chromedp.Location()); err == nil && u != "" {
		return u
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lastURL == "" {
		return "(no page loaded)"
	}
	return b.lastURL
}

// Go navigates to url, waits for its load event and returns the HTTP status of the
// document (0 when the browser reports none). A page that cannot be loaded at all fails
// the test; an error status does not, so that error pages can be tested.
func (b *Browser) Go(url string) int {
	b.t.Helper()
	b.mu.Lock()
	b.lastURL = url
	b.mu.Unlock()
	resp := value(b, "navigate to", url, chromedp.NavigateResponse(url))
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// Text waits for the first element matching the CSS selector and returns its visible text
// (innerText).
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	return value(b, "read the text of", selector, chromedp.Text(chromedp.CSS(selector)))
}

// Texts returns the visible text of every element matching the CSS selector, in document
// order, without waiting: none gives an empty slice.
func (b *Browser) Texts(selector string) []string {
	b.t.Helper()
	var out []string
	b.Eval(`Array.from(document.querySelectorAll(`+jsString(selector)+`), e => e.innerText)`, &out)
	return out
}

// Click waits until the first element matching the CSS selector is visible and clicks its
// centre with the mouse. After a click that navigates, wait for something on the new page
// (WaitVisible) before reading it.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.run("click", selector, chromedp.Click(chromedp.CSS(selector)))
}

// Fill waits until the form field matching the CSS selector is visible, clears it and
// types value into it with key events, as a person would. A <select> gets the option with
// that value chosen instead, with input and change events. Checkboxes and radio buttons
// are clicked, not filled.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	sel := chromedp.CSS(selector)
	b.run("wait for", selector, chromedp.WaitVisible(sel))
	var r struct{ Tag, Problem string }
	b.evalFor("fill", selector, `((sel, v) => {
		const el = document.querySelector(sel);
		const tag = el.tagName.toLowerCase();
		if (tag === "input" && ["checkbox", "radio", "file"].includes(el.type)) {
			return {tag, problem: "an <input type=" + el.type + "> is clicked (or given files), not filled"};
		}
		if (tag === "select" && !Array.from(el.options).some(o => o.value === v)) {
			return {tag, problem: "the <select> has no option with the value " + JSON.stringify(v)};
		}
		if (!("value" in el) && !el.isContentEditable) return {tag, problem: "<" + tag + "> is not a form field"};
		el.focus();
		if (tag === "select") el.value = v;
		else if ("value" in el) el.value = "";
		else el.textContent = "";
		el.dispatchEvent(new Event("input", {bubbles: true}));
		if (tag === "select") el.dispatchEvent(new Event("change", {bubbles: true}));
		return {tag, problem: ""};
	})(`+jsString(selector)+`, `+jsString(value)+`)`, &r)
	switch {
	case r.Problem != "":
		b.fail("fill", selector, errors.New(r.Problem))
	case r.Tag != "select":
		b.run("type into", selector, chromedp.SendKeys(sel, value))
	}
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (b *Browser) WaitVisible(selector string) {
	b.t.Helper()
	b.run("wait for", selector, chromedp.WaitVisible(chromedp.CSS(selector)))
}

// Eval evaluates the JavaScript expression in the page and decodes its JSON value into out
// (a pointer, or nil to ignore the value). A promise is awaited. An exception, or a value
// of undefined when out is not nil, fails the test.
func (b *Browser) Eval(js string, out any) {
	b.t.Helper()
	b.evalFor("evaluate", "", js, out)
}

func (b *Browser) evalFor(what, selector, js string, out any) {
	b.t.Helper()
	ro := value(b, what, selector, chromedp.Evaluate[*runtime.RemoteObject](js, chromedp.EvalAwaitPromise, func(p *runtime.EvaluateParams) {
		p.ReturnByValue = new(true)
	}))
	if out == nil {
		return
	}
	if ro == nil || ro.Type == runtime.RemoteObjectTypeUndefined || len(ro.Value) == 0 {
		b.fail(what, selector, fmt.Errorf("%s: the expression's value is undefined", short(js)))
	}
	if err := json.Unmarshal(ro.Value, out); err != nil {
		b.fail(what, selector, fmt.Errorf("%s: decoding %s into %T: %w", short(js), ro.Value, out, err))
	}
}

// SetViewport changes the viewport to width×height CSS pixels (a desktop, not a mobile
// device emulation: no touch, device scale 1). The page lays itself out again.
func (b *Browser) SetViewport(width, height int) {
	b.t.Helper()
	b.run(fmt.Sprintf("set the viewport to %d×%d", width, height), "", chromedp.EmulateViewport(int64(width), int64(height)))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot writes a PNG of the whole page (not only the viewport) to the screenshot
// directory, logs its path and returns it. The file is named after the test and name.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	path, err := b.screenshot(name, b.timeout)
	if err != nil {
		b.fail("take the screenshot", name, err)
	}
	b.t.Logf("webtest: screenshot %s", path)
	return path
}

func (b *Browser) screenshot(name string, timeout time.Duration) (string, error) {
	b.mu.Lock()
	dir := b.shotDir
	b.shots++
	n := b.shots
	b.mu.Unlock()
	if dir == "" {
		dir = os.Getenv(EnvScreenshots)
		if dir == "" {
			dir = b.t.TempDir()
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		b.mu.Lock()
		b.shotDir = dir
		b.mu.Unlock()
	}
	base := unsafeName.ReplaceAllString(b.t.Name()+"-"+name, "_")
	if name == "failure" {
		base += fmt.Sprintf("-%d", n)
	}
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, base+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// ConsoleErrors returns the console.error and console.assert messages, the uncaught
// exceptions and unhandled rejections, and the browser's error log entries (a resource
// that failed to load, say; but not the browser's own request for /favicon.ico) of the
// pages since the browser started, oldest first.
func (b *Browser) ConsoleErrors() []string {
	b.t.Helper()
	// A round trip: every event the page sent before this reply has been seen by then.
	b.Eval("0", nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// onEvent runs on chromedp's reader goroutine: quick, no commands.
func (b *Browser) onEvent(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		msg = "console." + string(e.Type) + ": " + argsText(e.Args)
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = d.Text
		if d.Exception != nil {
			desc, _, _ := strings.Cut(objectText(d.Exception), "\n    at ")
			msg += " " + desc
		}
		if d.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		}
	case *log.EventEntryAdded:
		if e.Entry.Level != log.EntryLevelError {
			return
		}
		// Chromium asks every site for /favicon.ico on its own; a 404 there is no fault of
		// the page (DevTools does not show it either).
		if e.Entry.Source == log.EntrySourceNetwork && strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
			return
		}
		msg = string(e.Entry.Source) + ": " + e.Entry.Text
		if e.Entry.URL != "" {
			msg += " (" + e.Entry.URL + ")"
		}
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, msg)
	b.mu.Unlock()
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		parts = append(parts, objectText(a))
	}
	return strings.Join(parts, " ")
}

func objectText(o *runtime.RemoteObject) string {
	if o.Type == runtime.RemoteObjectTypeString {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
	}
	switch {
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	}
	return string(o.Type)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// short shortens a script for an error message.
func short(js string) string {
	js = strings.Join(strings.Fields(js), " ")
	if len(js) > 80 {
		js = js[:77] + "..."
	}
	return js
}
