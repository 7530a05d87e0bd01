package dashboard

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/webtest"
)

// TestPagesInBrowser signs in through the form in Chromium and visits every page at a
// phone's width and a desktop's: nothing spills sideways, no console errors, every control
// is labelled, and the keyboard reaches the main content through the skip link.
// Screenshots go to GATEHOUSE_SCREENSHOTS (or the test's temporary directory).
func TestPagesInBrowser(t *testing.T) {
	webtest.Chromium(t) // skip before seeding when there is no browser
	e := newEnv(t, func(o *Options) {
		o.Live = fakeLive
		o.Gateway = gatewayStatus
		o.Connections = func() int64 { return 1234 }
		o.GatewayURL = "https://api.example.com"
		o.Firing = func() []alerts.Event {
			return []alerts.Event{{Rule: "payments-errors", RuleName: "Payments error rate", Severity: alerts.SeverityCritical,
				Subject: "payments", Message: "error rate of payments is 12% (threshold 5%)"}}
		}
	})
	d := seedDemo(e)
	secret := e.token("ops", gatehouse.RoleAdmin, nil)

	b := webtest.New(t)
	if status := b.Go(e.srv.URL + "/ui/apis"); status != 200 {
		t.Fatalf("GET /ui/apis signed out: status %d, want the sign-in page", status)
	}
	b.SetViewport(360, 740)
	b.Screenshot("signin-360")
	b.SetViewport(1440, 900)
	b.Fill("#token", secret)
	b.Click("#signin-token")
	b.WaitVisible("table")
	if h := b.Text("h1"); h != "APIs" {
		t.Fatalf("after sign-in: h1 %q, want the page asked for (APIs)", h)
	}

	pages := []string{
		"/ui/", "/ui/apis", "/ui/apis/payments", "/ui/apis/new", "/ui/apis/import",
		"/ui/plans", "/ui/plans/gold", "/ui/developers", "/ui/developers?status=pending", "/ui/developers/" + d.devs[0],
		"/ui/apps", "/ui/apps/" + d.apps[0], "/ui/subscriptions?status=pending",
		"/ui/analytics?m=count&m=errors&m=latency_p99&by=api", "/ui/alerts", "/ui/alerts/rules/" + d.rule,
		"/ui/alerts/webhooks/" + d.webhook, "/ui/audit", "/ui/users", "/ui/no-such-page",
	}
	for _, p := range pages {
		want := 200
		if p == "/ui/no-such-page" {
			want = 404
		}
		if status := b.Go(e.srv.URL + p); status != want {
			t.Errorf("%s: status %d, want %d", p, status, want)
			continue
		}
		name := strings.Trim(strings.NewReplacer("/ui/", "", "/", "-", "?", "-", "=", "-", "&", "-").Replace(p), "-")
		if name == "" {
			name = "overview"
		}
		for _, width := range []int{360, 1440} {
			b.SetViewport(width, 900)
			var overflow int
			b.Eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow)
			if overflow > 0 {
				var wide []string
				b.Eval(`Array.from(document.querySelectorAll("body *")).filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !el.closest(".table-wrap")).slice(0, 5).map(el => el.tagName + "." + el.className)`, &wide)
				t.Errorf("%s at %d px: the page is %d px wider than the viewport (%q)", p, width, overflow, wide)
			}
			b.Screenshot(fmt.Sprintf("%s-%d", name, width))
		}
		if v := b.A11y(); len(v) != 0 {
			t.Errorf("%s: accessibility: %q", p, v)
		}
		// The keyboard: the first Tab reaches the skip link, which leads into the content.
		b.Eval(`document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0), 0`, nil)
		if f := b.Tab(); f.Name != "Skip to main content" {
			t.Errorf("%s: the first Tab goes to %s, want the skip link", p, f)
			continue
		}
		b.Press("\r")
		b.Tab()
		var inMain bool
		b.Eval(`document.getElementById("main").contains(document.activeElement)`, &inMain)
		if !inMain {
			t.Errorf("%s: after the skip link, Tab does not reach the main content (focus on %s)", p, b.Focused())
		}
	}
	// At a phone's width the navigation folds behind the menu button.
	b.Go(e.srv.URL + "/ui/apis")
	b.SetViewport(360, 740)
	var shown bool
	b.Eval(`getComputedStyle(document.getElementById("site-nav")).display !== "none"`, &shown)
	if shown {
		t.Error("360 px: the navigation is open before the menu button is pressed")
	}
	b.Click(".menu-toggle")
	var expanded string
	b.Eval(`getComputedStyle(document.getElementById("site-nav")).display !== "none"`, &shown)
	b.Eval(`document.querySelector(".menu-toggle").getAttribute("aria-expanded")`, &expanded)
	if !shown || expanded != "true" {
		t.Errorf("after the menu button: navigation shown %v, aria-expanded %q", shown, expanded)
	}
	b.Screenshot("menu-open-360")

	// A reset link is shown once, with a working copy button (the script reveals it).
	b.SetViewport(1440, 900)
	b.Go(e.srv.URL + "/ui/developers")
	b.Click(`form[action$="/reset"] button`)
	b.WaitVisible("#reset-link")
	var link string
	b.Eval(`document.getElementById("reset-link").value`, &link)
	if !strings.HasPrefix(link, "https://portal.example.com/reset?token=r_") {
		t.Errorf("reset link %q", link)
	}
	b.WaitVisible(`button[data-copy="reset-link"]`)
	b.Screenshot("reset-link-1440")

	// The live chart drew points from the stream.
	b.Go(e.srv.URL + "/ui/")
	var points string
	b.Eval(`new Promise(r => setTimeout(() => r(document.getElementById("live-traffic").getAttribute("data-points")), 1500))`, &points)
	if points == "" || points == "0" {
		t.Errorf("live chart: data-points %q after 1.5 s of events", points)
	}
	b.Screenshot("overview-live-1440")
	// The one error expected: the browser logs the 404 page's status.
	errs := slices.DeleteFunc(b.ConsoleErrors(), func(s string) bool { return strings.Contains(s, "/ui/no-such-page") })
	if len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}
