package portal

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// devEnv is a portal with sign-in over a real SQLite store (which keeps sessions too).
type devEnv struct {
	t   *testing.T
	st  gatehouse.Store
	ss  session.Store
	srv *httptest.Server
}

func newDevEnv(t *testing.T, mod func(*Options)) *devEnv {
	t.Helper()
	st := openStore(t)
	o := Options{Store: st, Sessions: st.(session.Store), GatewayURL: "http://gw.test", PortalURL: "http://portal.test", SignUp: true}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &devEnv{t: t, st: st, ss: o.Sessions, srv: srv}
}

// browser is one cookie jar: one person's browser.
type browser struct {
	e *devEnv
	c *http.Client
}

func (e *devEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func (b *browser) get(path string) (int, string) { return b.do("GET", path, nil) }

// post submits a form, adding the CSRF token read from the page at from.
func (b *browser) post(from, path string, form url.Values) (int, string) {
	b.e.t.Helper()
	if from != "" {
		_, page := b.get(from)
		form.Set("csrf", csrfOf(b.e.t, page))
	}
	return b.do("POST", path, form)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

func (b *browser) signup(email, pw string) {
	b.e.t.Helper()
	st, page := b.do("POST", "/signup", url.Values{"email": {email}, "name": {"Ann"}, "password": {pw}, "confirm": {pw}})
	if st != 200 || !strings.Contains(page, "Your apps") {
		b.e.t.Fatalf("sign-up: %d\n%s", st, page)
	}
}

var secretRE = regexp.MustCompile(`id="new-secret" class="secret" type="text" value="(gh_[a-z2-7_]+)"`)

func TestSignUpAppsKeysSubscriptions(t *testing.T) {
	e := newDevEnv(t, nil)
	ctx := context.Background()
	createAPI(t, e.st, &gatehouse.API{Name: "orders"})
	if _, err := e.st.CreatePlan(ctx, &gatehouse.Plan{Name: "free", APIs: []string{"orders"}, RateLimit: &gatehouse.RateLimit{Limit: 10, Window: gatehouse.Duration(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}, Approval: gatehouse.ApprovalManual}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signup("Ann@Example.com", "correct horse battery")

	dev, err := e.st.Developer(ctx, "ann@example.com")
	if err != nil || dev.Status != gatehouse.DeveloperActive || dev.Name != "Ann" {
		t.Fatalf("developer = %+v, %v", dev, err)
	}
	acct, err := e.ss.Account(ctx, session.KindDeveloper, "ann@example.com")
	if err != nil || !strings.HasPrefix(acct.PasswordHash, "$argon2id$") || strings.Contains(acct.PasswordHash, "correct horse") {
		t.Fatalf("account = %+v, %v", acct, err)
	}

	// Create an app: the identifier comes from the title.
	st, page := b.post("/apps", "/apps", url.Values{"title": {"My Shop <b>"}, "description": {"Sells things"}})
	if st != 200 || !strings.Contains(page, "My Shop &lt;b&gt;") || !strings.Contains(page, "<code>my-shop-b</code>") {
		t.Fatalf("create app: %d\n%s", st, page)
	}
	app, err := e.st.App(ctx, "my-shop-b")
	if err != nil || app.Developer != "ann@example.com" || app.Title != "My Shop <b>" {
		t.Fatalf("app = %+v, %v", app, err)
	}
	audit, _ := e.st.AuditEntries(ctx, gatehouse.AuditFilter{Resource: gatehouse.KindApp})
	if len(audit.Items) == 0 || audit.Items[0].Actor != "portal:ann@example.com" {
		t.Errorf("audit actor = %+v", audit.Items)
	}

	// A key: shown once, stored as a hash, never shown again.
	st, page = b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"create-key"}, "key_name": {"ci"}, "expires": {"90d"}})
	m := secretRE.FindStringSubmatch(page)
	if st != 201 || m == nil {
		t.Fatalf("create key: %d\n%s", st, page)
	}
	secret := m[1]
	k, err := e.st.KeyByHash(ctx, gatehouse.HashSecret(secret))
	if err != nil || k.App != "my-shop-b" || k.Name != "ci" || k.ExpiresAt == nil {
		t.Fatalf("key = %+v, %v", k, err)
	}
	if _, page := b.get("/apps/my-shop-b"); strings.Contains(page, secret) {
		t.Fatal("the secret is shown a second time")
	}

	// Rotate with a day's overlap: a new secret, and the old key ends in a day.
	st, page = b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"rotate-key"}, "key": {k.ID}, "overlap": {"24h"}})
	m2 := secretRE.FindStringSubmatch(page)
	if st != 201 || m2 == nil || m2[1] == secret {
		t.Fatalf("rotate: %d\n%s", st, page)
	}
	old, _ := e.st.Key(ctx, k.ID)
	if old.ExpiresAt == nil || old.ExpiresAt.Sub(time.Now().Add(24*time.Hour)).Abs() > time.Minute {
		t.Errorf("old key expires %v, want in 24h", old.ExpiresAt)
	}
	// Revoke the new one.
	nk, _ := e.st.KeyByHash(ctx, gatehouse.HashSecret(m2[1]))
	if st, _ := b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"revoke-key"}, "key": {nk.ID}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if got, _ := e.st.Key(ctx, nk.ID); got.RevokedAt == nil {
		t.Error("key not revoked")
	}

	// Subscribe: auto plan active, manual plan pending; both listed.
	b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"subscribe"}, "plan": {"free"}})
	_, page = b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"subscribe"}, "plan": {"gold"}})
	mustContain(t, page, "Subscription requested.", `badge-active">active`, `badge-pending">pending`)
	subs, _ := e.st.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: "my-shop-b"})
	if len(subs.Items) != 2 {
		t.Fatalf("subscriptions = %+v", subs.Items)
	}

	// Rename keeps the identifier.
	b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"rename"}, "title": {"Shop 2"}, "description": {""}})
	if a, _ := e.st.App(ctx, "my-shop-b"); a.Title != "Shop 2" {
		t.Errorf("title = %q", a.Title)
	}

	// Another developer cannot see or touch the app.
	other := e.browser()
	other.signup("bob@example.com", "another good password")
	if st, _ := other.get("/apps/my-shop-b"); st != 404 {
		t.Errorf("another developer's app: %d", st)
	}
	if st, _ := other.post("/apps", "/apps/my-shop-b", url.Values{"action": {"delete"}}); st != 404 {
		t.Errorf("deleting another developer's app: %d", st)
	}

	// Delete takes the subscriptions with it.
	if st, _ := b.post("/apps/my-shop-b", "/apps/my-shop-b", url.Values{"action": {"delete"}}); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if _, err := e.st.App(ctx, "my-shop-b"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("app after delete: %v", err)
	}
}

func TestSignInThrottleAndCSRF(t *testing.T) {
	e := newDevEnv(t, nil)
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	if st, _ := b.post("/apps", "/signout", url.Values{}); st != 200 {
		t.Fatalf("sign-out: %d", st)
	}
	if st, _ := b.get("/apps"); st != 200 { // redirected to the sign-in page
		t.Fatalf("after sign-out: %d", st)
	}
	if _, page := b.get("/apps"); !strings.Contains(page, "<h1>Sign in</h1>") {
		t.Fatal("signed-out /apps did not lead to sign-in")
	}

	// Wrong password and unknown email read the same.
	_, wrong := b.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"nope nope nope"}})
	_, unknown := b.do("POST", "/signin", url.Values{"email": {"zed@example.com"}, "password": {"nope nope nope"}})
	mustContain(t, wrong, "The email or password is not right.")
	mustContain(t, unknown, "The email or password is not right.")

	for range 4 {
		b.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"nope nope nope"}})
	}
	st, page := b.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"correct horse battery"}})
	if st != http.StatusTooManyRequests || !strings.Contains(page, "Too many failed sign-ins") {
		t.Fatalf("after 5 failures: %d", st)
	}

	// Another browser signs in fine (other account key; the IP allowance is larger).
	c := e.browser()
	c.signup("cy@example.com", "correct horse battery")
	// A POST without the CSRF token is refused and changes nothing.
	st, _ = c.do("POST", "/apps", url.Values{"title": {"x"}})
	if st != http.StatusForbidden {
		t.Errorf("POST without CSRF: %d", st)
	}
	st, _ = c.do("POST", "/apps", url.Values{"title": {"x"}, "csrf": {"forged"}})
	if st != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d", st)
	}
	if apps, _ := e.st.Apps(context.Background(), gatehouse.AppFilter{}); len(apps.Items) != 0 {
		t.Errorf("apps created without CSRF: %+v", apps.Items)
	}
	// A cross-site POST is refused by net/http's cross-origin protection.
	req, _ := http.NewRequest("POST", e.srv.URL+"/apps", strings.NewReader("title=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", resp.StatusCode)
	}
	// Open redirects are not followed after sign-in.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example/x", "/\n/evil"} {
		if got := safeNext(next); got != "/apps" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
}

func TestSignUpRules(t *testing.T) {
	e := newDevEnv(t, func(o *Options) { o.ManualApproval = true })
	b := e.browser()
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"email": {"not-an-email"}, "password": {"long enough pw"}, "confirm": {"long enough pw"}}, "The email"},
		{url.Values{"email": {"a@example.com"}, "password": {"short"}, "confirm": {"short"}}, "at least 10 characters"},
		{url.Values{"email": {"a@example.com"}, "password": {"long enough pw"}, "confirm": {"different pw!"}}, "do not match"},
	} {
		st, page := b.do("POST", "/signup", c.form)
		if st != 400 || !strings.Contains(page, c.want) {
			t.Errorf("%v: %d, want 400 with %q", c.form, st, c.want)
		}
		if strings.Contains(page, c.form.Get("password")) && c.form.Get("password") != "" {
			t.Errorf("the password is echoed back")
		}
	}
	// Manual approval: pending, signed in, but no apps.
	b.signup("pat@example.com", "long enough pw")
	if d, _ := e.st.Developer(context.Background(), "pat@example.com"); d.Status != gatehouse.DeveloperPending {
		t.Fatalf("status = %q, want pending", d.Status)
	}
	_, page := b.get("/apps")
	mustContain(t, page, "waiting for an operator")
	mustNotContain(t, page, "Create app</button>")
	if st, _ := b.post("/apps", "/apps", url.Values{"title": {"x"}}); st != 403 {
		t.Errorf("pending developer created an app: %d", st)
	}
	// The email is taken now.
	st, page := e.browser().do("POST", "/signup", url.Values{"email": {"PAT@example.com"}, "password": {"long enough pw"}, "confirm": {"long enough pw"}})
	if st != 409 || !strings.Contains(page, "An account with this email exists") {
		t.Errorf("duplicate sign-up: %d", st)
	}

	closed := newDevEnv(t, func(o *Options) { o.SignUp = false })
	if st, _ := closed.browser().get("/signup"); st != 404 {
		t.Errorf("closed sign-up page: %d", st)
	}
	if st, _ := closed.browser().do("POST", "/signup", url.Values{"email": {"a@example.com"}}); st != 404 {
		t.Errorf("closed sign-up post: %d", st)
	}
}

// fakeMailer hands each mail to the test; the portal sends from a goroutine of its own.
type fakeMailer struct{ sent chan mail }

type mail struct{ to, subject, body string }

func (m *fakeMailer) Send(_ context.Context, to, subject, body string) error {
	m.sent <- mail{to, subject, body}
	return nil
}

// next waits for the next mail, or fails after a while.
func (m *fakeMailer) next(t *testing.T) mail {
	t.Helper()
	select {
	case got := <-m.sent:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("no mail was sent")
		return mail{}
	}
}

func TestPasswordReset(t *testing.T) {
	mailer := &fakeMailer{sent: make(chan mail, 4)}
	e := newDevEnv(t, func(o *Options) { o.Mailer = mailer })
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	other := e.browser()
	other.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"correct horse battery"}})

	// Unknown emails get the same answer and no mail.
	_, page := e.browser().do("POST", "/forgot", url.Values{"email": {"nobody@example.com"}})
	mustContain(t, page, "If an account has this email")
	e.browser().do("POST", "/forgot", url.Values{"email": {"ann@example.com"}})
	// The first mail is Ann's: none went to the unknown address.
	got := mailer.next(t)
	link := regexp.MustCompile(`http://portal\.test/reset\?token=\S+`).FindString(got.body)
	if got.to != "ann@example.com" || link == "" {
		t.Fatalf("mail = %+v", got)
	}
	// A second link made before the reset dies with the password change.
	second, err := session.NewReset(context.Background(), e.ss, "ann@example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, _ := url.Parse(link)
	tok := token.Query().Get("token")
	st, page := e.browser().get("/reset?token=" + url.QueryEscape(tok))
	if st != 200 || !strings.Contains(page, "ann@example.com") {
		t.Fatalf("reset page: %d", st)
	}
	st, _ = e.browser().do("POST", "/reset", url.Values{"token": {tok}, "password": {"a brand new password"}, "confirm": {"a brand new password"}})
	if st != 200 {
		t.Fatalf("reset: %d", st)
	}
	if _, err := session.PeekReset(context.Background(), e.ss, second); err == nil {
		t.Error("another reset link survived the password change")
	}
	// Used once only; the old password and old sessions are gone; the new one works.
	if st, _ := e.browser().get("/reset?token=" + url.QueryEscape(tok)); st != 404 {
		t.Errorf("reused link: %d", st)
	}
	if _, page := other.get("/apps"); !strings.Contains(page, "<h1>Sign in</h1>") {
		t.Error("a session survived the password reset")
	}
	if st, _ := e.browser().do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"correct horse battery"}}); st != 401 {
		t.Errorf("old password: %d", st)
	}
	if st, page := e.browser().do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"a brand new password"}}); st != 200 || !strings.Contains(page, "Your apps") {
		t.Errorf("new password: %d", st)
	}

	// Without a mailer the request is queued for operators, with no secret in it.
	e2 := newDevEnv(t, nil)
	e2.browser().signup("bo@example.com", "correct horse battery")
	e2.browser().do("POST", "/forgot", url.Values{"email": {"bo@example.com"}})
	reqs, err := e2.ss.Sessions(context.Background(), session.KindResetRequest, 10)
	if err != nil || len(reqs) != 1 || reqs[0].Subject != "bo@example.com" {
		t.Fatalf("reset requests = %+v, %v", reqs, err)
	}
}

func TestTryIt(t *testing.T) {
	var got *http.Request
	var gotBody string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id":1,"note":"<script>alert(1)</script>"}`))
	}))
	defer gw.Close()
	e := newDevEnv(t, func(o *Options) { o.GatewayURL = gw.URL })
	createAPI(t, e.st, &gatehouse.API{Name: "orders", Path: "/orders", Hosts: []string{"api.example.com"},
		Policies: []gatehouse.PolicySpec{{Type: "key-auth", Config: []byte(`{"header":"X-Key"}`)}}})
	b := e.browser()
	// Signed out: an invitation to sign in, no form.
	_, page := b.get("/apis/orders")
	mustContain(t, page, `id="try-it"`, "to send requests to this API")
	mustNotContain(t, page, `name="key"`)
	b.signup("ann@example.com", "correct horse battery")
	_, page = b.get("/apis/orders?try=POST+/items/{id}")
	mustContain(t, page, `<option selected>POST</option>`, `value="/items/{id}"`)

	st, page := b.post("/apis/orders", "/apis/orders/try", url.Values{"method": {"POST"}, "path": {"/items/7"}, "query": {"x=1"},
		"headers": {"X-Trace: abc"}, "body": {`{"a":1}`}, "content_type": {"application/json"}, "key": {"gh_secret"}})
	if st != 200 || got == nil {
		t.Fatalf("try: %d\n%s", st, page)
	}
	if got.Method != "POST" || got.URL.Path != "/orders/items/7" || got.URL.RawQuery != "x=1" || got.Host != "api.example.com" ||
		got.Header.Get("X-Key") != "gh_secret" || got.Header.Get("X-Trace") != "abc" || gotBody != `{"a":1}` {
		t.Errorf("gateway got %s %s?%s host %s key %q trace %q body %q", got.Method, got.URL.Path, got.URL.RawQuery, got.Host,
			got.Header.Get("X-Key"), got.Header.Get("X-Trace"), gotBody)
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the developer's address", xff)
	}
	mustContain(t, page, `id="try-status">201 Created`, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;id&#34;: 1")
	mustNotContain(t, page, "gh_secret")
	assertInert(t, page)

	// The console reaches only the gateway under the API's path.
	for _, bad := range []url.Values{
		{"method": {"GET"}, "path": {"//evil.example/x"}},
		{"method": {"GET"}, "path": {"http://evil.example/"}},
		{"method": {"TRACE"}, "path": {"/"}},
		{"method": {"GET"}, "path": {"/"}, "headers": {"Host: evil.example"}},
		{"method": {"GET"}, "path": {"/a/../../admin"}},
		{"method": {"GET"}, "path": {"/a/%2e%2e/x"}},
		{"method": {"GET"}, "path": {"/"}, "headers": {"X-Forwarded-For: 10.0.0.1"}},
		{"method": {"GET"}, "path": {"/"}, "headers": {"forwarded: for=10.0.0.1"}},
	} {
		got = nil
		_, page := b.post("/apis/orders", "/apis/orders/try", bad)
		if got != nil || !strings.Contains(page, `class="notice notice-error"`) {
			t.Errorf("%v reached the gateway (or no error shown)", bad)
		}
	}
	// Signed-out POSTs are refused.
	if st, _ := e.browser().do("POST", "/apis/orders/try", url.Values{"method": {"GET"}, "path": {"/"}}); st != 401 {
		t.Errorf("signed-out try: %d", st)
	}
}

func TestHostileAppPages(t *testing.T) {
	e := newDevEnv(t, nil)
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	ctx := context.Background()
	if _, err := e.st.UpdateDeveloper(ctx, &gatehouse.Developer{Email: "ann@example.com", Name: hostile[0]}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateApp(ctx, &gatehouse.App{Name: "evil", Title: hostile[1], Description: hostileText(), Developer: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreatePlan(ctx, &gatehouse.Plan{Name: "p", Description: hostileText()}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/apps", "/apps/evil", "/account", "/apps?welcome=1"} {
		st, page := b.get(path)
		if st != 200 {
			t.Fatalf("%s: %d", path, st)
		}
		assertInert(t, page)
	}
}

// TestUsageAndQuotaCharts: the app page draws the app's own traffic (not another app's)
// and its quota use over the period against the limit.
func TestUsageAndQuotaCharts(t *testing.T) {
	mem := analytics.NewMemoryStore()
	now := time.Now().UTC()
	minute := now.Truncate(time.Minute).Add(-2 * time.Minute)
	rows := []analytics.Rollup{
		{Res: analytics.Minute, Start: minute, Node: "n", Count: 7, Errors: 2, LatencySum: 70 * time.Millisecond,
			Dims: analytics.Dims{Kind: analytics.KindRequest, API: "orders", App: "mine", Plan: "free", StatusClass: 2}},
		{Res: analytics.Minute, Start: minute, Node: "n", Count: 1000,
			Dims: analytics.Dims{Kind: analytics.KindRequest, API: "orders", App: "theirs", Plan: "free", StatusClass: 2}},
	}
	if err := mem.WriteRollups(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	e := newDevEnv(t, func(o *Options) {
		o.Query = analytics.NewQuery(analytics.QueryOptions{Store: mem})
		o.Quotas = func(app string) []quota.Usage {
			if app != "mine" {
				return nil
			}
			return []quota.Usage{{API: "orders", App: "mine", Plan: "free", Period: "day", Used: 7, Limit: 100,
				Reset: now.Truncate(24 * time.Hour).Add(24 * time.Hour)}}
		}
	})
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	if _, err := e.st.CreateApp(context.Background(), &gatehouse.App{Name: "mine", Developer: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, page := b.get("/apps/mine?range=1h")
	mustContain(t, page, `<dd id="usage-total">7</dd>`, "Quota used this day", `value="7"`, "7 of 100 (7%)")
	mustNotContain(t, page, ">1000<", ">1,007<")
	assertInert(t, page)
}

func TestParallelGuessesAreThrottled(t *testing.T) {
	e := newDevEnv(t, nil)
	e.browser().signup("ann@example.com", "correct horse battery")
	var wg sync.WaitGroup
	var refused, throttled atomic.Int64
	for range 20 {
		wg.Go(func() {
			st, _ := e.browser().do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"wrong wrong wrong"}})
			switch st {
			case http.StatusUnauthorized:
				refused.Add(1)
			case http.StatusTooManyRequests:
				throttled.Add(1)
			}
		})
	}
	wg.Wait()
	if refused.Load() != 5 || throttled.Load() != 15 {
		t.Errorf("20 parallel guesses: %d checked, %d throttled; want 5 and 15", refused.Load(), throttled.Load())
	}
}

func TestOperatorDecisionsStick(t *testing.T) {
	e := newDevEnv(t, nil)
	ctx := context.Background()
	createAPI(t, e.st, &gatehouse.API{Name: "orders"})
	if _, err := e.st.CreatePlan(ctx, &gatehouse.Plan{Name: "free", APIs: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	if _, err := e.st.CreateApp(ctx, &gatehouse.App{Name: "mine", Developer: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	sub, err := e.st.CreateSubscription(ctx, &gatehouse.Subscription{App: "mine", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateSubscription(ctx, sub.ID, gatehouse.SubRevoked, 0); err != nil {
		t.Fatal(err)
	}
	st, page := b.post("/apps/mine", "/apps/mine", url.Values{"action": {"unsubscribe"}, "subscription": {sub.ID}})
	if st != http.StatusConflict || !strings.Contains(page, "revoked by the portal") {
		t.Errorf("cancelling a revoked subscription: %d", st)
	}
	if got, err := e.st.Subscription(ctx, sub.ID); err != nil || got.Status != gatehouse.SubRevoked {
		t.Errorf("subscription after the attempt: %+v, %v", got, err)
	}
}

// countingSessions counts session lookups.
type countingSessions struct {
	session.Store
	lookups atomic.Int64
}

func (c *countingSessions) Session(ctx context.Context, id string) (*session.Session, error) {
	c.lookups.Add(1)
	return c.Store.Session(ctx, id)
}

// TestFilesSkipSessions: a signed-in page's stylesheets and scripts cost no session
// lookups; the page itself costs one.
func TestFilesSkipSessions(t *testing.T) {
	var cs *countingSessions
	e := newDevEnv(t, func(o *Options) { cs = &countingSessions{Store: o.Sessions}; o.Sessions = cs })
	b := e.browser()
	b.signup("ann@example.com", "correct horse battery")
	before := cs.lookups.Load()
	for _, path := range []string{"/static/portal.css", "/static/portal.js", "/static/chart/chart.css", "/brand/theme.css", "/healthz"} {
		b.get(path)
	}
	if n := cs.lookups.Load() - before; n != 0 {
		t.Errorf("files made %d session lookups", n)
	}
	if _, page := b.get("/apps"); !strings.Contains(page, "Your apps") {
		t.Fatal("not signed in")
	}
	if n := cs.lookups.Load() - before; n != 1 {
		t.Errorf("a page made %d session lookups, want 1", n)
	}
}
