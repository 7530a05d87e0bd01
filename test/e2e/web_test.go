package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

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
	// Keyboard: the first Tab reaches the skip link, which leads into the form.
	if f := b.Tab(); f.Role != "link" || f.Name != "Skip to main content" {
		t.Errorf("first Tab: %s, want the skip link", f)
	}
	b.Press(kb.Enter)
	if f := b.Tab(); f.ID != "name" {
		t.Errorf("Tab after the skip link: %s, want #name", f)
	}
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

// TestOperatorApprovesAndWatchesLive is the dashboard end to end, in Chromium, through the
// real binary: an operator signs in with the admin token, approves a pending subscription
// from the queue, and watches the live chart move as the newly approved app's traffic
// arrives.
func TestOperatorApprovesAndWatchesLive(t *testing.T) {
	t.Parallel()
	webtest.Chromium(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	t.Cleanup(up.Close)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "ledger", "state": "published", "path": "/ledger",
		"upstream": map[string]any{"targets": targets(up.URL)}, "policies": []map[string]any{{"type": "key-auth"}}})
	planRev := n.create("/v1/plans", map[string]any{"name": "partner", "apis": []string{"ledger"}, "approval": "manual"})
	n.create("/v1/developers", map[string]any{"email": "pat@example.com", "name": "Pat"})
	n.create("/v1/apps", map[string]any{"name": "pat-app", "developer": "pat@example.com"})
	var sub struct{ ID, Status string }
	n.call("POST", "/v1/subscriptions", map[string]any{"app": "pat-app", "plan": "partner"}, &sub)
	if sub.Status != "pending" {
		t.Fatalf("subscription %+v", sub)
	}
	var key struct{ Key string }
	n.call("POST", "/v1/apps/pat-app/keys", map[string]any{}, &key)
	n.waitTable(planRev)
	if st, _ := getWithKey(n.proxy()+"/ledger/x", key.Key); st != http.StatusForbidden && st != http.StatusUnauthorized {
		t.Fatalf("pending subscription: the key got %d", st)
	}

	b := webtest.New(t, webtest.Timeout(30*time.Second))
	if st := b.Go(n.admin() + "/ui/"); st != 200 { // redirected to the sign-in page
		t.Fatalf("dashboard: %d", st)
	}
	checkPage(t, b, "signin")
	b.Fill("#token", n.token)
	b.Click("#signin-token")
	b.WaitVisible("#live-traffic")

	b.Go(n.admin() + "/ui/subscriptions?status=pending")
	checkPage(t, b, "queue")
	b.Click("button[name=action][value=approve]")
	eventually(t, 10*time.Second, func() error {
		var got struct{ Status string }
		n.call("GET", "/v1/subscriptions/"+sub.ID, nil, &got)
		if got.Status != "active" {
			return fmt.Errorf("after approval the subscription is %q", got.Status)
		}
		return nil
	})
	var audit struct {
		Items []struct{ Actor, Resource string }
	}
	n.call("GET", "/v1/audit?resource=subscription", nil, &audit)
	if len(audit.Items) == 0 || !strings.HasPrefix(audit.Items[0].Actor, "token:") {
		t.Errorf("audit of the approval: %+v", audit.Items)
	}

	// Traffic with the approved key, while the overview is open.
	b.Go(n.admin() + "/ui/")
	b.WaitVisible("#live-traffic")
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		ok := 0
		for {
			select {
			case <-stop:
				done <- ok
				return
			default:
			}
			if st, err := getWithKey(n.proxy()+"/ledger/x", key.Key); err == nil && st == 200 {
				ok++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	var live struct {
		State  string
		Points int
		Max    float64
	}
	for time.Now().Before(deadline) {
		b.Eval(`(() => { const f = document.getElementById("live-traffic");
			const o = f.querySelector('output[data-field="count"]');
			return {state: f.dataset.state || "", points: Number(f.dataset.points || 0), max: Number((o && o.textContent || "").replace(/[^0-9.]/g, "")) || 0}; })()`, &live)
		if live.Points >= 3 && live.Max > 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	if ok := <-done; ok == 0 {
		t.Fatal("the approved key never got through")
	}
	if live.State != "open" || live.Points < 3 || live.Max <= 0 {
		t.Fatalf("the live chart did not move: %+v", live)
	}
	checkPage(t, b, "overview-live")
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}
