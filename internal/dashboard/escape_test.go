package dashboard

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
	"golang.org/x/net/html"
)

// Hostile strings as users could store them: every page must show them as text.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`javascript:alert(1)`,
	`</textarea><script>alert(2)</script>`,
}

// unsafeMarkup is what an unescaped payload would leave in a page.
var unsafeMarkup = []string{
	"<script>alert", "<img src=x", "<svg onload", "</textarea><script", `href="javascript:`, `src="javascript:`, `action="javascript:`,
}

// checkMarkup parses page as a browser would and reports what no dashboard page has: an
// event handler attribute, a script that is not one of the dashboard's files, an image
// or frame, or a javascript: URL.
func checkMarkup(t *testing.T, name, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script":
			src := attr(n, "src")
			if src != "/ui/static/dashboard.js" && src != "/ui/static/chart/live.js" || n.FirstChild != nil {
				t.Errorf("%s: a script that is not the dashboard's: src %q", name, src)
			}
		case "img", "iframe", "object", "embed", "svg":
			if n.Data != "svg" || attr(n, "class") != "chart-svg" {
				t.Errorf("%s: an unexpected <%s>", name, n.Data)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
			}
			switch a.Key {
			case "href", "src", "action", "formaction":
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
				}
			}
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestHostileStringsEscaped stores the payloads wherever users can put free text (API and
// plan descriptions, OpenAPI info, app descriptions, developer names, alert names and
// messages, webhook errors, analytics group values, gateway errors, audit entries, a
// reset request, the next parameter) and checks that no page carries them as markup.
func TestHostileStringsEscaped(t *testing.T) {
	joined := strings.Join(hostile, " ")
	e := newEnv(t, func(o *Options) {
		o.Gateway = func() *gatehouse.GatewayStatus {
			return &gatehouse.GatewayStatus{Revision: 3, Error: joined, APIs: []gatehouse.APIStatus{{Name: "evil", State: gatehouse.StatePublished,
				Targets: []gatehouse.TargetStatus{{URL: "http://x/" + hostile[1], Breaker: hostile[0]}}}}}
		}
		o.Firing = func() []alerts.Event {
			return []alerts.Event{{Rule: hostile[1], RuleName: hostile[0], Subject: hostile[3], Severity: alerts.Severity(hostile[1]), Message: joined}}
		}
		o.Live = fakeLive
	})
	ctx := ctxSystem
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.st.CreateAPI(ctx, &gatehouse.API{Name: "evil", Version: hostile[1][:20], Description: joined, Path: "/evil", State: gatehouse.StatePublished,
		Upstream: testUpstream, Tags: []string{"ok"}, Policies: []gatehouse.PolicySpec{{Type: "key-auth", Config: []byte(`{"header":"` + strings.ReplaceAll(hostile[0], `"`, `\"`) + `"}`)}},
		OpenAPI: `{"openapi":"3.1.0","info":{"title":"` + strings.ReplaceAll(joined, `"`, `\"`) + `","version":"1"},"paths":{}}`}))
	must(e.st.CreatePlan(ctx, &gatehouse.Plan{Name: "evil-plan", Description: joined, APIs: []string{"evil"}, Approval: gatehouse.ApprovalManual}))
	must(e.st.CreateDeveloper(ctx, &gatehouse.Developer{Email: "evil@example.com", Name: joined, Status: gatehouse.DeveloperPending}))
	must(e.st.CreateApp(ctx, &gatehouse.App{Name: "evil-app", Developer: "evil@example.com", Description: joined}))
	_, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	must(e.st.CreateKey(ctx, &gatehouse.Key{App: "evil-app", Prefix: prefix, Hash: hash}))
	must(e.st.CreateSubscription(ctx, &gatehouse.Subscription{App: "evil-app", Plan: "evil-plan"}))
	now := time.Now().UTC()
	must(nil, e.st.CreateSession(context.Background(), sessionOf(session.KindResetRequest, joined, now)))
	must(e.st.CreateWebhook(context.Background(), &alerts.Webhook{ID: "hook", Name: joined, URL: "https://hooks.example.com/" + url.PathEscape(hostile[1]),
		Secret: "0123456789abcdef0123", Enabled: true, Events: []alerts.State{}, CreatedAt: now, UpdatedAt: now}))
	rule := &alerts.Rule{ID: "evil-rule", Name: joined, Kind: alerts.KindErrorRate, API: "evil", Threshold: 0.1, Enabled: true, CreatedAt: now, UpdatedAt: now}
	rule.Normalize()
	must(e.st.CreateAlertRule(context.Background(), rule))
	must(nil, e.st.AppendAlertEvent(context.Background(), &alerts.Event{ID: "e1", Rule: "evil-rule", RuleName: joined, Kind: alerts.KindErrorRate,
		Severity: alerts.SeverityWarning, Subject: hostile[0], State: alerts.StateFiring, StartedAt: now, At: now, Message: joined}))
	must(nil, e.st.AppendDelivery(context.Background(), &alerts.Delivery{ID: "d1", Attempt: 1, Webhook: "hook", Event: "e1", EventType: "firing",
		URL: "https://hooks.example.com/", At: now, Error: joined}))
	for _, h := range hostile {
		must(nil, e.st.WriteRollups(context.Background(), []analytics.Rollup{{Start: now.Truncate(time.Minute).Add(-5 * time.Minute), Res: analytics.Minute,
			Dims: analytics.Dims{API: h, App: h, Route: h, StatusClass: 2}, Count: 3}}))
	}
	e.user("ann", gatehouse.RoleAdmin, "correct horse battery")
	c := e.client()
	c.signInPassword("ann", "correct horse battery")

	// The API page shows a failed edit with the hostile JSON typed back into the textarea.
	typed := `{"name":"evil","path":"/evil","description":"` + strings.ReplaceAll(hostile[4], `"`, `\"`) + `", "bogus": 1}`
	pages := map[string]resp{
		"failed API edit":   c.post("/ui/apis/evil", url.Values{"json": {typed}}),
		"failed plan edit":  c.post("/ui/plans/evil-plan", url.Values{"json": {hostile[4]}}),
		"failed import":     c.postMultipart("/ui/apis/import", map[string]string{"api": "evil", "url": "https://x/" + hostile[1]}, "", "", nil),
		"failed user":       c.post("/ui/users", url.Values{"name": {hostile[1]}, "role": {hostile[0]}}),
		"signin with next":  e.client().get("/ui/signin?next=" + url.QueryEscape(hostile[3])),
		"signin with next2": e.client().get("/ui/signin?next=" + url.QueryEscape("/ui/"+hostile[1])),
	}
	for _, p := range []string{
		"/ui/", "/ui/apis", "/ui/apis/evil", "/ui/plans", "/ui/plans/evil-plan", "/ui/developers", "/ui/developers?status=pending",
		"/ui/developers/evil@example.com", "/ui/apps", "/ui/apps/evil-app", "/ui/subscriptions?status=pending", "/ui/alerts",
		"/ui/alerts/rules/evil-rule", "/ui/alerts/webhooks/hook", "/ui/audit", "/ui/audit?name=evil", "/ui/users",
		"/ui/analytics?by=app&m=count", "/ui/analytics?by=api&m=count&api=" + url.QueryEscape(hostile[0]),
		"/ui/analytics?by=" + url.QueryEscape(hostile[1]), "/ui/apis/import?api=evil",
		"/ui/" + url.PathEscape(hostile[0]), "/ui/apis?state=" + url.QueryEscape(hostile[1]),
	} {
		pages[p] = c.get(p)
	}
	for name, r := range pages {
		if r.status >= 500 {
			t.Errorf("%s: %s", name, describe(r))
		}
		mustNotContain(t, name, r.body, unsafeMarkup...)
		checkMarkup(t, name, r.body)
	}
	// The payloads are there, as text: escaping, not dropping.
	mustContain(t, "API page", pages["/ui/apis/evil"].body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	mustContain(t, "developers", pages["/ui/developers"].body, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;")
	mustContain(t, "app page", pages["/ui/apps/evil-app"].body, "&lt;svg onload=alert(1)&gt;")
	mustContain(t, "audit", pages["/ui/audit"].body, "\\u003cscript\\u003e")
}
