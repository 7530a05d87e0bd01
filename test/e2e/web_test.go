package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/webtest"
)

// checkPage holds a page to the quality bar at one width: nothing spills sideways, the
// accessibility checks pass, and a screenshot is taken.
func checkPage(t *testing.T, b *webtest.Browser, name string) {
	t.Helper()
	for _, width := range []int{360, 1440} {
		b.SetViewport(width, 900)
		var overflow int
		b.Eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("%s at %d px: %d px wider than the viewport", name, width, overflow)
		}
		b.Screenshot(fmt.Sprintf("%s-%d", name, width))
	}
	if v := b.A11y(); len(v) != 0 {
		t.Errorf("%s: accessibility: %q", name, v)
	}
}

// TestDeveloperJourney is the portal end to end, in Chromium, through the real binary: a
// developer signs up, creates an app, subscribes it to a plan, gets a key, calls the API
// from the try-it console through the gateway, and sees that call in the app's usage.
func TestDeveloperJourney(t *testing.T) {
	t.Parallel()
	webtest.Chromium(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[{"sku":"tea","price":3}]}`)
	}))
	t.Cleanup(up.Close)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "shop", "state": "published", "path": "/shop", "version": "1.0",
		"description": "Browse the catalogue and place orders.",
		"upstream":    map[string]any{"targets": targets(up.URL)},
		"policies":    []map[string]any{{"type": "key-auth"}}})
	rev := n.create("/v1/plans", map[string]any{"name": "starter", "apis": []string{"shop"}, "description": "For trying things out.",
		"rate_limit": map[string]any{"limit": 100, "window": "1m"}})
	n.waitTable(rev)

	b := webtest.New(t, webtest.Timeout(30*time.Second))
	if st := b.Go(n.portal() + "/signup"); st != 200 {
		t.Fatalf("sign-up page: %d", st)
	}
	checkPage(t, b, "signup")
	b.Fill("#name", "Ada Lovelace")
	b.Fill("#email", "ada@example.com")
	b.Fill("#password", "analytical engine 1843")
	b.Fill("#confirm", "analytical engine 1843")
	b.Click("button[type=submit]")
	b.WaitVisible("#new-app-title")

	b.Fill("#title", "Tea Shop")
	b.Click("form[action='/apps'] button[type=submit]")
	b.WaitVisible("#keys-title")
	if got := b.Text("h1"); got != "Tea Shop" {
		t.Fatalf("app page heading %q", got)
	}

	b.Click("form:has(input[name=plan][value=starter]) button")
	b.WaitVisible("#sub-starter")
	if s := b.Text("#sub-starter .badge"); s != "active" {
		t.Fatalf("subscription is %q", s)
	}
	b.Click("form:has(input[name=action][value=create-key]) button")
	b.WaitVisible("#new-secret")
	var secret string
	b.Eval(`document.getElementById("new-secret").value`, &secret)
	if !strings.HasPrefix(secret, "gh_") {
		t.Fatalf("key %q", secret)
	}
	b.Click("button[data-copy=new-secret]")
	checkPage(t, b, "app-new-key")

	// The key works against the gateway directly too.
	if st, err := getWithKey(n.proxy()+"/shop/items", secret); err != nil || st != 200 {
		t.Fatalf("direct call with the new key: %d, %v", st, err)
	}

	b.Go(n.portal() + "/apis/shop")
	b.Fill("#try-path", "/items")
	b.Fill("#try-key", secret)
	b.Click("#try-it button[type=submit]")
	b.WaitVisible("#try-status")
	if s := b.Text("#try-status"); !strings.HasPrefix(s, "200") {
		t.Fatalf("try-it answered %q", s)
	}
	if body := b.Text(".response-body"); !strings.Contains(body, `"sku": "tea"`) {
		t.Errorf("try-it body %q", body)
	}
	checkPage(t, b, "try-it")

	// Both calls are in the usage, at once (queries include what is not flushed yet).
	b.Go(n.portal() + "/apps/tea-shop?range=1h")
	if total := b.Text("#usage-total"); total != "2" {
		t.Errorf("usage shows %q requests, want 2", total)
	}
	var points float64
	b.Eval(`Array.from(document.querySelectorAll("#usage-requests table tbody tr")).reduce((n, tr) => n + Number(tr.cells[1].textContent.replace(/[^0-9.]/g, "") || 0), 0)`, &points)
	if points != 2 {
		t.Errorf("the requests chart's data adds up to %v, want 2", points)
	}
	checkPage(t, b, "app-usage")
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}
