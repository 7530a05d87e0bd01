package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// env is one dashboard over a fresh SQLite store, served on 127.0.0.1.
type env struct {
	t    testing.TB
	st   *sqlite.Store
	srv  *httptest.Server
	logs *logtest.Buffer
}

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gatehouse.db"), nil)
	if err != nil {
		tb.Fatalf("opening store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// newEnv serves a dashboard with every optional dependency wired to the store (analytics
// and alerts) or to a fixed value; mods adjust the options.
func newEnv(tb testing.TB, mods ...func(*Options)) *env {
	tb.Helper()
	st := openStore(tb)
	return newEnvWithStore(tb, st, mods...)
}

func newEnvWithStore(tb testing.TB, st *sqlite.Store, mods ...func(*Options)) *env {
	tb.Helper()
	e := &env{t: tb, st: st, logs: &logtest.Buffer{}}
	o := Options{
		Store: st, Sessions: st, Alerts: st,
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Query:     analytics.NewQuery(analytics.QueryOptions{Store: st}),
		PortalURL: "https://portal.example.com/",
	}
	for _, m := range mods {
		m(&o)
	}
	h, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	tb.Cleanup(e.srv.Close)
	return e
}

var ctxSystem = gatehouse.WithActor(context.Background(), "test")

// token stores an admin token and returns its secret.
func (e *env) token(name, role string, expires *time.Time) string {
	e.t.Helper()
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	if _, err := e.st.CreateAdminToken(ctxSystem, &gatehouse.AdminToken{Name: name, Role: role, Prefix: prefix, Hash: hash, ExpiresAt: expires}); err != nil {
		e.t.Fatalf("creating token %s: %v", name, err)
	}
	return secret
}

// user stores an admin user with a password.
func (e *env) user(name, role, password string) {
	e.t.Helper()
	if err := e.st.PutAccount(context.Background(), &session.Account{Kind: session.KindAdmin, Subject: name, Role: role,
		PasswordHash: session.HashPassword(password)}); err != nil {
		e.t.Fatal(err)
	}
}

// client is one browser: a cookie jar, no automatic redirects, and the CSRF token of
// the last page it read.
type client struct {
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// resp is an answer, read in full.
type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) location() string { return r.header.Get("Location") }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) resp {
	c.e.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

func (c *client) get(path string) resp {
	c.e.t.Helper()
	req, err := http.NewRequest("GET", c.e.srv.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.do(req)
}

// post submits a form with the client's CSRF token (unless the form sets csrf itself).
func (c *client) post(path string, form url.Values) resp {
	c.e.t.Helper()
	form = maps.Clone(form) // the caller's values stay as they were
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	req, err := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// postMultipart submits a multipart form with one file field (skipped when file is nil).
func (c *client) postMultipart(path string, fields map[string]string, fileField, fileName string, file []byte) resp {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := fields["csrf"]; !ok {
		_ = mw.WriteField("csrf", c.csrf)
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if file != nil {
		fw, err := mw.CreateFormFile(fileField, fileName)
		if err != nil {
			c.e.t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", c.e.srv.URL+path, &buf)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// signInToken signs in with an admin token and reads the overview (for its CSRF token).
func (c *client) signInToken(secret string) {
	c.e.t.Helper()
	r := c.post("/ui/signin", url.Values{"method": {"token"}, "token": {secret}})
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("token sign-in: status %d\n%s", r.status, r.body)
	}
	if r := c.get("/ui/"); r.status != 200 {
		c.e.t.Fatalf("overview after sign-in: %d\n%s", r.status, r.body)
	}
}

func (c *client) signInPassword(name, password string) {
	c.e.t.Helper()
	r := c.post("/ui/signin", url.Values{"method": {"password"}, "name": {name}, "password": {password}})
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("password sign-in: status %d\n%s", r.status, r.body)
	}
	if r := c.get("/ui/"); r.status != 200 {
		c.e.t.Fatalf("overview after sign-in: %d\n%s", r.status, r.body)
	}
}

// signedIn returns a client signed in with a fresh token of role.
func (e *env) signedIn(name, role string) *client {
	e.t.Helper()
	c := e.client()
	c.signInToken(e.token(name, role, nil))
	return c
}

func mustContain(t testing.TB, what, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(t testing.TB, what, page string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(page, w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}

var testUpstream = gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}

func (e *env) api(name string, state gatehouse.APIState) *gatehouse.API {
	e.t.Helper()
	a, err := e.st.CreateAPI(ctxSystem, &gatehouse.API{Name: name, Path: "/" + name, State: state, Upstream: testUpstream})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) developer(email, status string) *gatehouse.Developer {
	e.t.Helper()
	d, err := e.st.CreateDeveloper(ctxSystem, &gatehouse.Developer{Email: email, Name: "Dev " + email, Status: status})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) app(name, dev string) *gatehouse.App {
	e.t.Helper()
	a, err := e.st.CreateApp(ctxSystem, &gatehouse.App{Name: name, Developer: dev})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) plan(name string, approval gatehouse.Approval, apis ...string) *gatehouse.Plan {
	e.t.Helper()
	p, err := e.st.CreatePlan(ctxSystem, &gatehouse.Plan{Name: name, APIs: apis, Approval: approval})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) subscribe(app, plan string) *gatehouse.Subscription {
	e.t.Helper()
	s, err := e.st.CreateSubscription(ctxSystem, &gatehouse.Subscription{App: app, Plan: plan})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// lastAudit returns the newest audit entry of resource and name.
func (e *env) lastAudit(resource, name string) *gatehouse.AuditEntry {
	e.t.Helper()
	pg, err := e.st.AuditEntries(context.Background(), gatehouse.AuditFilter{Resource: resource, Name: name, ListOptions: gatehouse.ListOptions{Limit: 1}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(pg.Items) == 0 {
		e.t.Fatalf("no audit entry for %s %s", resource, name)
	}
	return pg.Items[0]
}

func describe(r resp) string { return fmt.Sprintf("status %d, location %q", r.status, r.location()) }
