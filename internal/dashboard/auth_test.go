package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	good := e.token("ops", gatehouse.RoleEditor, nil)
	legacy := e.token("legacy", gatehouse.RoleReadOnly, nil)
	past := time.Now().Add(-time.Hour)
	expired := e.token("old", gatehouse.RoleAdmin, &past)
	e.user("ann", gatehouse.RoleAdmin, "correct horse battery")

	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantWho    string // the signed-in subject and role the overview shows
		wantRole   string
		wantText   string // on a refused sign-in
	}{
		{"token", url.Values{"method": {"token"}, "token": {good}}, http.StatusSeeOther, "token:ops", "editor", ""},
		{"read_only token is a viewer", url.Values{"method": {"token"}, "token": {legacy}}, http.StatusSeeOther, "token:legacy", "viewer", ""},
		{"password", url.Values{"method": {"password"}, "name": {"ann"}, "password": {"correct horse battery"}}, http.StatusSeeOther, "user:ann", "admin", ""},
		{"wrong password", url.Values{"method": {"password"}, "name": {"ann"}, "password": {"correct horse"}}, http.StatusUnauthorized, "", "", "The user name or the password is wrong."},
		{"unknown user", url.Values{"method": {"password"}, "name": {"bob"}, "password": {"correct horse battery"}}, http.StatusUnauthorized, "", "", "The user name or the password is wrong."},
		{"unknown token", url.Values{"method": {"token"}, "token": {"gha_abcdefgh_nope"}}, http.StatusUnauthorized, "", "", "That admin token is not valid."},
		{"expired token", url.Values{"method": {"token"}, "token": {expired}}, http.StatusUnauthorized, "", "", "That admin token has expired."},
		{"empty", url.Values{"method": {"token"}}, http.StatusUnauthorized, "", "", "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			r := c.post("/ui/signin", tt.form)
			if r.status != tt.wantStatus {
				t.Fatalf("sign-in: %s, want %d\n%s", describe(r), tt.wantStatus, r.body)
			}
			if tt.wantStatus != http.StatusSeeOther {
				mustContain(t, "refused sign-in page", r.body, tt.wantText)
				if r := c.get("/ui/"); r.status != http.StatusSeeOther {
					t.Errorf("after a refused sign-in, the overview answers %s", describe(r))
				}
				return
			}
			if r.location() != "/ui/" {
				t.Errorf("redirect to %q, want /ui/", r.location())
			}
			res := c.get("/ui/")
			if res.status != 200 {
				t.Fatalf("overview: %s", describe(res))
			}
			mustContain(t, "overview", res.body, `<span class="who-name">`+tt.wantWho+`</span>`, `role-`+tt.wantRole+`">`+tt.wantRole+`<`)
		})
	}
}

func TestSignInRedirects(t *testing.T) {
	e := newEnv(t)
	secret := e.token("ops", gatehouse.RoleAdmin, nil)
	// Signed out, a page sends the browser to the sign-in page with the way back.
	c := e.client()
	r := c.get("/ui/apis?state=draft")
	if r.status != http.StatusSeeOther || r.location() != "/ui/signin?next=%2Fui%2Fapis%3Fstate%3Ddraft" {
		t.Fatalf("signed-out GET: %s", describe(r))
	}
	r = c.get("/ui/signin?next=%2Fui%2Fapis%3Fstate%3Ddraft")
	mustContain(t, "sign-in page", r.body, `name="next" value="/ui/apis?state=draft"`)

	for _, tt := range []struct{ next, want string }{
		{"/ui/apis?state=draft", "/ui/apis?state=draft"},
		{"/ui/developers/ann@example.com", "/ui/developers/ann@example.com"},
		{"https://evil.example/ui/", "/ui/"},
		{"//evil.example/ui/", "/ui/"},
		{"/\\evil.example/ui/", "/ui/"},
		{"/admin", "/ui/"},
		{"javascript:alert(1)", "/ui/"},
		{"/ui/signout", "/ui/"},
		{"", "/ui/"},
	} {
		c := e.client()
		r := c.post("/ui/signin", url.Values{"method": {"token"}, "token": {secret}, "next": {tt.next}})
		if r.status != http.StatusSeeOther || r.location() != tt.want {
			t.Errorf("next %q: %s, want a redirect to %q", tt.next, describe(r), tt.want)
		}
	}
}

func TestSignInThrottle(t *testing.T) {
	e := newEnv(t)
	e.user("ann", gatehouse.RoleAdmin, "correct horse battery")
	c := e.client()
	for i := range maxFailures {
		r := c.post("/ui/signin", url.Values{"method": {"password"}, "name": {"ann"}, "password": {"guess " + strconv.Itoa(i)}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s", i+1, describe(r))
		}
	}
	// The sixth try is refused before the password is looked at, right or wrong.
	r := c.post("/ui/signin", url.Values{"method": {"password"}, "name": {"ann"}, "password": {"correct horse battery"}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %s, want 429", maxFailures, describe(r))
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra <= 0 || ra > int(failureWindow/time.Second) {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	mustContain(t, "429 page", r.body, "Too many failed sign-ins")
	// The address is throttled for every account, tokens included.
	secret := e.token("ops", gatehouse.RoleAdmin, nil)
	if r := c.post("/ui/signin", url.Values{"method": {"token"}, "token": {secret}}); r.status != http.StatusTooManyRequests {
		t.Errorf("token sign-in from a throttled address: %s", describe(r))
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("ops", gatehouse.RoleViewer)
	old := c.csrf
	r := c.post("/ui/signout", nil)
	if r.status != http.StatusSeeOther || r.location() != "/ui/signin" {
		t.Fatalf("sign-out: %s", describe(r))
	}
	if r := c.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("after sign-out the overview answers %s", describe(r))
	}
	sessions, err := e.st.Sessions(context.Background(), session.KindAdmin, 10)
	if err != nil || len(sessions) != 0 {
		t.Errorf("sessions left after sign-out: %v, %v", sessions, err)
	}
	// Signing out needs the form's token too (a cross-site sign-out is a nuisance).
	c2 := e.signedIn("ops2", gatehouse.RoleViewer)
	if r := c2.post("/ui/signout", url.Values{"csrf": {old}}); r.status != http.StatusForbidden {
		t.Errorf("sign-out with another session's token: %s", describe(r))
	}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	e.developer("ann@example.com", gatehouse.DeveloperPending)
	c := e.signedIn("ops", gatehouse.RoleAdmin)
	for _, csrf := range []string{"", "c_wrong_token"} {
		r := c.post("/ui/developers/ann@example.com/status", url.Values{"csrf": {csrf}, "action": {"approve"}})
		if r.status != http.StatusForbidden {
			t.Errorf("csrf %q: %s, want 403", csrf, describe(r))
		}
		mustContain(t, "refusal", r.body, "did not come from this site")
	}
	// A cross-origin form post is refused before the token is even read.
	req, _ := http.NewRequest("POST", e.srv.URL+"/ui/developers/ann@example.com/status",
		strings.NewReader(url.Values{"csrf": {c.csrf}, "action": {"approve"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := c.do(req); r.status != http.StatusForbidden {
		t.Errorf("cross-site post: %s", describe(r))
	}
	d, err := e.st.Developer(context.Background(), "ann@example.com")
	if err != nil || d.Status != gatehouse.DeveloperPending {
		t.Errorf("developer after refused posts: %+v, %v", d, err)
	}
}

var postFormRE = regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]*)"`)

func TestViewerReadsOnly(t *testing.T) {
	e := newEnv(t)
	d := seedDemo(e)
	c := e.signedIn("watcher", gatehouse.RoleViewer)
	pages := []string{"/ui/", "/ui/apis", "/ui/apis/payments", "/ui/plans", "/ui/plans/gold", "/ui/developers", "/ui/developers/" + d.devs[2],
		"/ui/apps", "/ui/apps/" + d.apps[0], "/ui/subscriptions?status=pending", "/ui/alerts", "/ui/alerts/rules/" + d.rule,
		"/ui/alerts/webhooks/" + d.webhook, "/ui/audit", "/ui/users", "/ui/analytics"}
	for _, p := range pages {
		r := c.get(p)
		if r.status != 200 {
			t.Errorf("%s: %s", p, describe(r))
			continue
		}
		for _, m := range postFormRE.FindAllStringSubmatch(r.body, -1) {
			if m[1] != "/ui/signout" {
				t.Errorf("%s: a viewer sees a form posting to %s", p, m[1])
			}
		}
		mustNotContain(t, p, r.body, "<textarea", `name="action"`)
	}
	for _, p := range []string{"/ui/apis/new", "/ui/apis/import", "/ui/plans/new", "/ui/alerts/rules/new"} {
		if r := c.get(p); r.status != http.StatusForbidden {
			t.Errorf("viewer GET %s: %s, want 403", p, describe(r))
		}
	}
	posts := map[string]url.Values{
		"/ui/apis":                                   {"mode": {"form"}, "name": {"x"}, "path": {"/x"}},
		"/ui/apis/payments/state":                    {"state": {"retired"}},
		"/ui/apis/payments/delete":                   {},
		"/ui/plans/gold/delete":                      {},
		"/ui/developers/" + d.devs[2] + "/status":    {"action": {"approve"}},
		"/ui/developers/" + d.devs[0] + "/reset":     {},
		"/ui/subscriptions/" + d.subs[0] + "/status": {"action": {"approve"}},
		"/ui/alerts/rules/" + d.rule + "/delete":     {},
		"/ui/users":                                  {"name": {"eve"}, "role": {"admin"}, "password": {"long enough pw"}, "confirm": {"long enough pw"}},
	}
	for p, form := range posts {
		if r := c.post(p, form); r.status != http.StatusForbidden {
			t.Errorf("viewer POST %s: %s, want 403", p, describe(r))
		}
	}
	if a, _ := e.st.API(context.Background(), "payments"); a == nil || a.State != gatehouse.StatePublished {
		t.Errorf("payments after viewer posts: %+v", a)
	}
	if _, err := e.st.Account(context.Background(), session.KindAdmin, "eve"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("viewer created a user: %v", err)
	}
}

func TestAdminUsers(t *testing.T) {
	e := newEnv(t)
	editor := e.signedIn("ed", gatehouse.RoleEditor)
	r := editor.get("/ui/users")
	if r.status != 200 {
		t.Fatalf("editor GET /ui/users: %s", describe(r))
	}
	mustNotContain(t, "users page for an editor", r.body, `action="/ui/users"`)
	form := url.Values{"name": {"ann"}, "role": {"editor"}, "password": {"correct horse battery"}, "confirm": {"correct horse battery"}}
	if r := editor.post("/ui/users", form); r.status != http.StatusForbidden {
		t.Fatalf("editor creates a user: %s, want 403", describe(r))
	}
	mustContain(t, "editor refusal", editor.post("/ui/users", form).body, "Editors may not manage admin users.")

	admin := e.signedIn("root", gatehouse.RoleAdmin)
	bad := []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {"a b"}, "role": {"viewer"}, "password": {"correct horse battery"}, "confirm": {"correct horse battery"}}, "User name"},
		{url.Values{"name": {"ann"}, "role": {"root"}, "password": {"correct horse battery"}, "confirm": {"correct horse battery"}}, "must be admin, editor or viewer"},
		{url.Values{"name": {"ann"}, "role": {"viewer"}, "password": {"short"}, "confirm": {"short"}}, "at least 10 characters"},
		{url.Values{"name": {"ann"}, "role": {"viewer"}, "password": {"correct horse battery"}, "confirm": {"correct horse"}}, "does not match"},
	}
	for _, b := range bad {
		r := admin.post("/ui/users", b.form)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%v: %s", b.form, describe(r))
		}
		mustContain(t, "user form", r.body, b.field)
	}
	if r := admin.post("/ui/users", form); r.status != http.StatusSeeOther {
		t.Fatalf("admin creates a user: %s\n%s", describe(r), r.body)
	}
	ann := e.client()
	ann.signInPassword("ann", "correct horse battery")
	mustContain(t, "ann's overview", ann.get("/ui/").body, "user:ann")
	// A new role or password ends the user's sessions.
	form.Set("role", "viewer")
	if r := admin.post("/ui/users", form); r.status != http.StatusSeeOther {
		t.Fatalf("admin changes ann: %s", describe(r))
	}
	if r := ann.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("ann's old session after a role change: %s", describe(r))
	}
	ann.signInPassword("ann", "correct horse battery")
	if r := admin.post("/ui/users/ann/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("admin deletes ann: %s", describe(r))
	}
	if r := ann.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("deleted user still signed in: %s", describe(r))
	}
	if r := ann.post("/ui/signin", url.Values{"method": {"password"}, "name": {"ann"}, "password": {"correct horse battery"}}); r.status != http.StatusUnauthorized {
		t.Errorf("deleted user signs in: %s", describe(r))
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("ops", gatehouse.RoleAdmin)
	for _, p := range []string{"/ui/", "/ui/signin", "/ui/apis", "/ui/nope"} {
		r := c.get(p)
		for h, want := range map[string]string{
			"Content-Security-Policy": csp,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"Cache-Control":           "no-store",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", p, h, got, want)
			}
		}
	}
	for _, p := range []string{"/ui/static/dashboard.css", "/ui/static/dashboard.js", "/ui/static/chart/chart.css", "/ui/static/chart/live.js"} {
		r := e.client().get(p)
		if r.status != 200 || !strings.Contains(r.header.Get("Cache-Control"), "max-age") {
			t.Errorf("%s: %s, Cache-Control %q", p, describe(r), r.header.Get("Cache-Control"))
		}
	}
	// The session cookie: HttpOnly, SameSite=Lax, scoped to /ui/, Secure when asked.
	e2 := newEnv(t, func(o *Options) { o.Secure = true })
	secret := e2.token("ops", gatehouse.RoleAdmin, nil)
	req, _ := http.NewRequest("POST", e2.srv.URL+"/ui/signin", strings.NewReader(url.Values{"method": {"token"}, "token": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cs := res.Cookies()
	if len(cs) != 1 || cs[0].Name != cookieName || !cs[0].HttpOnly || !cs[0].Secure || cs[0].Path != "/ui/" || cs[0].SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie = %+v", cs)
	}
}

func TestLiveStream(t *testing.T) {
	called := 0
	e := newEnv(t, func(o *Options) {
		o.Live = func(w http.ResponseWriter, r *http.Request) {
			called++
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("event: second\ndata: {}\n\n"))
		}
	})
	if r := e.client().get("/ui/live"); r.status != http.StatusSeeOther || called != 0 {
		t.Fatalf("signed-out /ui/live: %s, stream called %d times", describe(r), called)
	}
	c := e.signedIn("ops", gatehouse.RoleViewer)
	r := c.get("/ui/live")
	if r.status != 200 || called != 1 || r.body != "event: second\ndata: {}\n\n" {
		t.Errorf("/ui/live: %s, called %d, body %q", describe(r), called, r.body)
	}
	mustContain(t, "overview", c.get("/ui/").body, `data-live-src="/ui/live"`)

	// Without a stream the overview says so and /ui/live is a 404.
	e2 := newEnv(t)
	c2 := e2.signedIn("ops", gatehouse.RoleViewer)
	mustContain(t, "overview without live", c2.get("/ui/").body, "Live analytics are not enabled")
	if r := c2.get("/ui/live"); r.status != http.StatusNotFound {
		t.Errorf("/ui/live without a stream: %s", describe(r))
	}
}

// TestLiveStreamFromAnalytics wires the real live stream (httpapi's ServeLive over an
// analytics.Live sink) and reads the first second from /ui/live.
func TestLiveStreamFromAnalytics(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	var mu sync.Mutex
	live := analytics.NewLive(analytics.LiveOptions{Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	live.Consume([]analytics.Event{{API: "orders", Status: 200, Latency: 20 * time.Millisecond}, {API: "orders", Status: 503, Latency: 90 * time.Millisecond}})
	mu.Lock()
	clock = now.Add(time.Second)
	mu.Unlock()
	live.Tick()
	api := httpapi.New(httpapi.Options{Live: live, Node: "n1"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	api.Start(ctx)
	e := newEnv(t, func(o *Options) { o.Live = api.ServeLive })
	c := e.signedIn("ops", gatehouse.RoleViewer)

	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/live", nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/ui/live: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "event: ") {
			event = strings.TrimPrefix(line, "event: ")
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev httpapi.LiveEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			if event != "second" || ev.Node != "n1" || ev.Count != 2 || ev.Errors != 1 || ev.APIs["orders"].Count != 2 {
				t.Errorf("first event %q: %+v", event, ev)
			}
			return
		}
	}
	t.Fatalf("the stream ended without an event: %v", sc.Err())
}
