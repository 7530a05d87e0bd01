package dashboard

import (
	"context"
	"encoding/csv"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

func TestApproveSubscription(t *testing.T) {
	e := newEnv(t)
	e.api("orders", gatehouse.StatePublished)
	e.developer("ann@example.com", gatehouse.DeveloperActive)
	e.app("ann-app", "ann@example.com")
	e.app("ann-two", "ann@example.com")
	e.plan("gold", gatehouse.ApprovalManual, "orders")
	sub := e.subscribe("ann-app", "gold")
	other := e.subscribe("ann-two", "gold")
	if sub.Status != gatehouse.SubPending {
		t.Fatalf("subscription to a manual plan starts %q", sub.Status)
	}
	c := e.signedIn("ops", gatehouse.RoleEditor)
	q := c.get("/ui/subscriptions?status=pending")
	mustContain(t, "approval queue", q.body, sub.ID, other.ID, `value="approve"`, `value="reject"`)

	tests := []struct {
		id, action string
		want       gatehouse.SubscriptionStatus
	}{
		{sub.ID, "approve", gatehouse.SubActive},
		{other.ID, "reject", gatehouse.SubRejected},
	}
	for _, tt := range tests {
		r := c.post("/ui/subscriptions/"+tt.id+"/status", url.Values{"action": {tt.action}, "back": {"/ui/subscriptions?status=pending"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/ui/subscriptions?") {
			t.Fatalf("%s %s: %s", tt.action, tt.id, describe(r))
		}
		got, err := e.st.Subscription(context.Background(), tt.id)
		if err != nil || got.Status != tt.want {
			t.Errorf("after %s: %+v, %v", tt.action, got, err)
		}
		if a := e.lastAudit(gatehouse.KindSubscription, tt.id); a.Actor != "token:ops" || a.Action != gatehouse.ActionUpdate {
			t.Errorf("audit after %s: actor %q action %q, want token:ops update", tt.action, a.Actor, a.Action)
		}
	}
	r := c.get("/ui/subscriptions?status=pending&done=approved")
	mustContain(t, "empty queue", r.body, "No subscriptions here.", "Approved.")
	mustNotContain(t, "empty queue", r.body, sub.ID)

	// A stale form (someone else changed the subscription since) is refused.
	r = c.post("/ui/subscriptions/"+sub.ID+"/status", url.Values{"action": {"revoke"}, "revision": {"1"}})
	if r.status != http.StatusPreconditionFailed {
		t.Errorf("stale revision: %s", describe(r))
	}
}

func TestApproveDeveloper(t *testing.T) {
	e := newEnv(t)
	e.developer("ann@example.com", gatehouse.DeveloperPending)
	e.developer("bob@example.com", gatehouse.DeveloperPending)
	e.developer("eve@example.com", gatehouse.DeveloperActive)
	e.user("carol", gatehouse.RoleAdmin, "correct horse battery")
	c := e.client()
	c.signInPassword("carol", "correct horse battery")

	r := c.get("/ui/developers?status=pending")
	mustContain(t, "developer queue", r.body, "ann@example.com", "bob@example.com")
	mustNotContain(t, "developer queue", r.body, "eve@example.com")
	mustContain(t, "overview", c.get("/ui/").body, `href="/ui/developers?status=pending"`)

	for _, tt := range []struct{ email, action, want string }{
		{"ann@example.com", "approve", gatehouse.DeveloperActive},
		{"bob@example.com", "reject", gatehouse.DeveloperBlocked},
		{"eve@example.com", "block", gatehouse.DeveloperBlocked},
		{"eve@example.com", "unblock", gatehouse.DeveloperActive},
	} {
		r := c.post("/ui/developers/"+tt.email+"/status", url.Values{"action": {tt.action}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s %s: %s\n%s", tt.action, tt.email, describe(r), r.body)
		}
		d, err := e.st.Developer(context.Background(), tt.email)
		if err != nil || d.Status != tt.want {
			t.Errorf("%s %s: %+v, %v", tt.action, tt.email, d, err)
		}
		if a := e.lastAudit(gatehouse.KindDeveloper, tt.email); a.Actor != "user:carol" {
			t.Errorf("audit actor %q, want user:carol", a.Actor)
		}
	}
	if r := c.post("/ui/developers/ann@example.com/status", url.Values{"action": {"delete"}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown action: %s", describe(r))
	}
	if r := c.post("/ui/developers/nobody@example.com/status", url.Values{"action": {"approve"}}); r.status != http.StatusNotFound {
		t.Errorf("unknown developer: %s", describe(r))
	}
}

func TestResetLink(t *testing.T) {
	e := newEnv(t)
	e.developer("ann@example.com", gatehouse.DeveloperActive)
	now := time.Now().UTC()
	if err := e.st.CreateSession(context.Background(), sessionOf(session.KindResetRequest, "ann@example.com", now)); err != nil {
		t.Fatal(err)
	}
	c := e.signedIn("ops", gatehouse.RoleEditor)
	mustContain(t, "developers page", c.get("/ui/developers").body, `action="/ui/developers/ann@example.com/reset"`)

	r := c.post("/ui/developers/ann@example.com/reset", nil)
	if r.status != 200 {
		t.Fatalf("reset link: %s\n%s", describe(r), r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the link is cacheable: %q", cc)
	}
	const prefix = `value="https://portal.example.com/reset?token=`
	i := strings.Index(r.body, prefix)
	if i < 0 {
		t.Fatalf("no reset link on the page:\n%s", r.body)
	}
	link := html.UnescapeString(r.body[i+len(`value="`):])
	link = link[:strings.IndexByte(link, '"')]
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	email, err := session.PeekReset(context.Background(), e.st, u.Query().Get("token"))
	if err != nil || email != "ann@example.com" {
		t.Errorf("the link's token: %q, %v", email, err)
	}
	mustContain(t, "reset page", r.body, `data-copy="reset-link"`, "only time the link is shown")
	// The request is answered, so it leaves the list.
	reqs, err := e.st.Sessions(context.Background(), session.KindResetRequest, 10)
	if err != nil || len(reqs) != 0 {
		t.Errorf("reset requests after making a link: %v, %v", reqs, err)
	}
	if r := c.post("/ui/developers/nobody@example.com/reset", nil); r.status != http.StatusNotFound {
		t.Errorf("reset link for an unknown developer: %s", describe(r))
	}
}

func TestAPICreateAndLifecycle(t *testing.T) {
	var checked []string
	e := newEnv(t, func(o *Options) {
		o.CheckAPI = func(a *gatehouse.API) error {
			checked = append(checked, a.Name+":"+string(a.State))
			if a.Name == "uncompilable" {
				return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid api", Fields: []gatehouse.FieldError{{Field: "routes", Message: "ambiguous routes"}}}
			}
			return nil
		}
	})
	e.plan("gold", gatehouse.ApprovalAuto)
	c := e.signedIn("ops", gatehouse.RoleAdmin)

	// Validation errors are shown next to the form, with what was typed kept.
	r := c.post("/ui/apis", url.Values{"mode": {"form"}, "name": {"orders"}, "path": {"orders"},
		"upstreams": {"ftp://orders.internal"}, "description": {"Orders <v2>"}, "hosts": {"API.example.com"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid API: %s", describe(r))
	}
	mustContain(t, "form with errors", r.body, "must start with /", "must be an absolute http or https URL",
		`value="orders"`, `>ftp://orders.internal</textarea>`, "Orders &lt;v2&gt;", `value="API.example.com"`)

	r = c.post("/ui/apis", url.Values{"mode": {"form"}, "name": {"orders"}, "path": {"/orders"},
		"upstreams": {"https://orders.internal\nhttps://orders-b.internal"}, "hosts": {"api.example.com, www.example.com"}, "version": {"2"}})
	if r.status != http.StatusSeeOther || r.location() != "/ui/apis/orders?done=created" {
		t.Fatalf("create: %s\n%s", describe(r), r.body)
	}
	a, err := e.st.API(context.Background(), "orders")
	if err != nil || a.State != gatehouse.StateDraft || len(a.Upstream.Targets) != 2 || len(a.Hosts) != 2 || a.Version != "2" {
		t.Fatalf("created API: %+v, %v", a, err)
	}
	if au := e.lastAudit(gatehouse.KindAPI, "orders"); au.Actor != "token:ops" || au.Action != gatehouse.ActionCreate {
		t.Errorf("audit: %+v", au)
	}
	mustContain(t, "API page", c.get("/ui/apis/orders?done=created").body, "Created.", `value="published"`, "Publish")

	for _, st := range []gatehouse.APIState{gatehouse.StatePublished, gatehouse.StateDeprecated, gatehouse.StateRetired} {
		a, _ = e.st.API(context.Background(), "orders")
		r = c.post("/ui/apis/orders/state", url.Values{"state": {string(st)}, "revision": {itoa(a.Revision)}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("state %s: %s\n%s", st, describe(r), r.body)
		}
		if a, _ = e.st.API(context.Background(), "orders"); a.State != st {
			t.Errorf("after the %s button: state %s", st, a.State)
		}
	}
	if len(checked) == 0 || checked[len(checked)-1] != "orders:retired" {
		t.Errorf("CheckAPI calls: %q", checked)
	}
	// Publishing an API without targets fails validation, shown on the API page.
	e.st.CreateAPI(ctxSystem, &gatehouse.API{Name: "empty", Path: "/empty"})
	r = c.post("/ui/apis/empty/state", url.Values{"state": {"published"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("publish without targets: %s", describe(r))
	}
	mustContain(t, "API page with error", r.body, "needs at least one target", "<h1>empty")

	// Edit as JSON: the revision guards against lost updates; the typed JSON is kept.
	a, _ = e.st.API(context.Background(), "orders")
	edit := `{"name":"orders","state":"retired","path":"/orders/v2","upstream":{"targets":[{"url":"https://orders.internal"}]}}`
	r = c.post("/ui/apis/orders", url.Values{"json": {edit}, "revision": {itoa(a.Revision - 1)}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("stale edit: %s", describe(r))
	}
	mustContain(t, "stale edit", r.body, "Someone else changed this", html.EscapeString(`"path":"/orders/v2"`))
	r = c.post("/ui/apis/orders", url.Values{"json": {edit}, "revision": {itoa(a.Revision)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %s\n%s", describe(r), r.body)
	}
	if a, _ = e.st.API(context.Background(), "orders"); a.Path != "/orders/v2" {
		t.Errorf("after edit: path %q", a.Path)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"name":"orders","path":"/x","upstream":{},"colour":"red"}`, "unknown field"},
		{`{"name":"renamed","path":"/x"}`, "names cannot change"},
		{`{"name":`, "is not valid"},
	} {
		r = c.post("/ui/apis/orders", url.Values{"json": {bad.json}})
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %s", bad.json, describe(r))
		}
		mustContain(t, "bad JSON", r.body, bad.want, html.EscapeString(bad.json))
	}
	// CheckAPI's verdict is shown like validation.
	r = c.post("/ui/apis", url.Values{"mode": {"json"}, "json": {`{"name":"uncompilable","state":"published","path":"/u","upstream":{"targets":[{"url":"http://u.internal"}]}}`}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("uncompilable: %s", describe(r))
	}
	mustContain(t, "uncompilable", r.body, "ambiguous routes", "uncompilable")
	if _, err := e.st.API(context.Background(), "uncompilable"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("an API CheckAPI refused was stored: %v", err)
	}
	// A plan that lists the API shows on its page and blocks deleting it.
	p, _ := e.st.Plan(context.Background(), "gold")
	p.APIs = []string{"orders"}
	if _, err := e.st.UpdatePlan(ctxSystem, p, 0); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "API page", c.get("/ui/apis/orders").body, `href="/ui/plans/gold"`)
	if r := c.post("/ui/apis/orders/delete", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "plan") {
		t.Errorf("delete while a plan lists it: %s", describe(r))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

const petstore = `openapi: 3.0.3
info:
  title: Pet store
  version: 1.0.7
  description: Pets, <b>lots</b> of them.
paths:
  /pets:
    get:
      responses:
        '200':
          description: ok
`

func TestOpenAPIImport(t *testing.T) {
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/petstore.yaml":
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write([]byte(petstore))
		case "/big.json":
			_, _ = w.Write([]byte(`{"openapi":"3.1.0","x":"`))
			_, _ = w.Write([]byte(strings.Repeat("a", maxImportBytes)))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(fetchTimeout + 5*time.Second):
			}
		case "/redirect":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(docs.Close)
	e := newEnv(t)
	e.api("orders", gatehouse.StateDraft)
	c := e.signedIn("ops", gatehouse.RoleEditor)
	mustContain(t, "import page", c.get("/ui/apis/import").body, `enctype="multipart/form-data"`, `name="file"`, `name="url"`)

	// By URL, into a new draft API that takes the document's version and description.
	r := c.postMultipart("/ui/apis/import", map[string]string{"api": "pets", "path": "/pets", "url": docs.URL + "/petstore.yaml"}, "", "", nil)
	if r.status != http.StatusSeeOther || r.location() != "/ui/apis/pets?done=imported" {
		t.Fatalf("import by URL: %s\n%s", describe(r), r.body)
	}
	a, err := e.st.API(context.Background(), "pets")
	if err != nil || a.OpenAPI != petstore || a.Version != "1.0.7" || a.Description != "Pets, <b>lots</b> of them." || a.State != gatehouse.StateDraft || a.Path != "/pets" {
		t.Fatalf("imported API: %+v, %v", a, err)
	}
	if au := e.lastAudit(gatehouse.KindAPI, "pets"); au.Actor != "token:ops" {
		t.Errorf("audit actor %q", au.Actor)
	}
	// By upload, into an existing API.
	doc := `{"openapi":"3.1.0","info":{"title":"Orders","version":"3"},"paths":{}}`
	r = c.postMultipart("/ui/apis/import", map[string]string{"api": "orders"}, "file", "orders.json", []byte(doc))
	if r.status != http.StatusSeeOther {
		t.Fatalf("import by upload: %s\n%s", describe(r), r.body)
	}
	if a, _ := e.st.API(context.Background(), "orders"); a.OpenAPI != doc {
		t.Errorf("orders' document: %q", a.OpenAPI)
	}
	mustContain(t, "orders page", c.get("/ui/apis/orders").body, "An OpenAPI document of")

	bad := []struct {
		name   string
		fields map[string]string
		file   []byte
		want   string
	}{
		{"ftp", map[string]string{"api": "x", "url": "ftp://example.com/doc.json"}, nil, "must be an absolute http or https URL"},
		{"credentials", map[string]string{"api": "x", "url": "https://user:pw@example.com/doc"}, nil, "must not carry a user name"},
		{"404", map[string]string{"api": "x", "url": docs.URL + "/missing"}, nil, "answered 404"},
		{"too big", map[string]string{"api": "x", "url": docs.URL + "/big.json"}, nil, "is larger than 5 MB"},
		{"redirect elsewhere", map[string]string{"api": "x", "url": docs.URL + "/redirect"}, nil, "could not be fetched"},
		{"not OpenAPI", map[string]string{"api": "x", "path": "/x"}, []byte(`{"hello":"world"}`), "is not an OpenAPI document"},
		{"nothing", map[string]string{"api": "x"}, nil, "choose a file or give a URL"},
		{"no name", map[string]string{"url": docs.URL + "/petstore.yaml"}, nil, "name the API"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := c.postMultipart("/ui/apis/import", b.fields, "file", "doc.json", b.file)
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s", describe(r))
			}
			mustContain(t, "import form", r.body, b.want)
			if u := b.fields["url"]; u != "" {
				mustContain(t, "import form", r.body, `value="`+html.EscapeString(u)+`"`)
			}
		})
	}
	if _, err := e.st.API(context.Background(), "x"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("a failed import created an API: %v", err)
	}
	if testing.Short() {
		return
	}
	start := time.Now()
	r = c.postMultipart("/ui/apis/import", map[string]string{"api": "x", "url": docs.URL + "/slow"}, "", "", nil)
	if took := time.Since(start); r.status != http.StatusUnprocessableEntity || took > fetchTimeout+3*time.Second {
		t.Errorf("slow URL: %s after %v", describe(r), took)
	}
	mustContain(t, "slow import", r.body, "did not answer within 10 seconds")
}

func TestAnalyticsExplorerAndCSV(t *testing.T) {
	e := newEnv(t)
	hostile := `=HYPERLINK("http://evil.example","click")`
	now := time.Now().UTC().Truncate(time.Minute)
	rows := []analytics.Rollup{
		{Start: now.Add(-10 * time.Minute), Res: analytics.Minute, Dims: analytics.Dims{API: "orders", App: hostile, StatusClass: 2}, Count: 7},
		{Start: now.Add(-10 * time.Minute), Res: analytics.Minute, Dims: analytics.Dims{API: "orders", App: "+cmd", StatusClass: 5}, Count: 2, Errors: 2},
		{Start: now.Add(-5 * time.Minute), Res: analytics.Minute, Dims: analytics.Dims{API: "orders", App: "good-app", StatusClass: 2}, Count: 5},
	}
	if err := e.st.WriteRollups(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	c := e.signedIn("ops", gatehouse.RoleViewer)
	r := c.get("/ui/analytics?m=count&m=errors&by=app&range=1h")
	if r.status != 200 {
		t.Fatalf("explorer: %s", describe(r))
	}
	mustContain(t, "explorer", r.body, `<figure class="chart"`, "good-app", html.EscapeString(hostile),
		`href="/ui/analytics.csv?by=app&amp;m=count&amp;m=errors&amp;range=1h"`)

	r = c.get("/ui/analytics.csv?by=app&m=count&m=errors&range=1h")
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %s, %q, %q", describe(r), r.header.Get("Content-Type"), r.header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "time,app,count,errors" {
		t.Errorf("CSV header %q", recs[0])
	}
	totals := map[string][2]float64{}
	for _, rec := range recs[1:] {
		if c := rec[1]; c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
			t.Errorf("CSV cell %q would run as a formula", c)
		}
		v := totals[rec[1]]
		v[0] += atof(rec[2])
		v[1] += atof(rec[3])
		totals[rec[1]] = v
	}
	if totals["'"+hostile] != [2]float64{7, 0} || totals["'+cmd"] != [2]float64{2, 2} || totals["good-app"] != [2]float64{5, 0} {
		t.Errorf("CSV totals by app: %v", totals)
	}

	for _, tt := range []struct{ query, want string }{
		{"m=nonsense", "unknown measure"},
		{"by=colour", "unknown dimension"},
		{"range=custom&from=yesterday", "must be a date and time"},
		{"range=custom&from=2026-01-02T00:00&to=2026-01-01T00:00", "must be after from"},
	} {
		r := c.get("/ui/analytics?" + tt.query)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %s", tt.query, describe(r))
		}
		mustContain(t, tt.query, r.body, tt.want)
		if r := c.get("/ui/analytics.csv?" + tt.query); r.status != http.StatusBadRequest {
			t.Errorf("CSV %s: %s", tt.query, describe(r))
		}
	}
	// Without a query engine the pages say analytics are off.
	e2 := newEnv(t, func(o *Options) { o.Query = nil })
	c2 := e2.signedIn("ops", gatehouse.RoleViewer)
	mustContain(t, "explorer without analytics", c2.get("/ui/analytics").body, "Analytics are not enabled")
	mustContain(t, "overview without analytics", c2.get("/ui/").body, "Analytics are not enabled")
	if r := c2.get("/ui/analytics.csv"); r.status != http.StatusNotFound {
		t.Errorf("CSV without analytics: %s", describe(r))
	}
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"app":               "app",
		"=1+2":              "'=1+2",
		"+1":                "'+1",
		"-1":                "'-1",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"\rx":               "'\rx",
		"a=b":               "a=b",
		"payments-v2":       "payments-v2",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// failingStore is a store whose list calls fail with an internal error.
type failingStore struct{ gatehouse.Store }

func (failingStore) APIs(context.Context, gatehouse.APIFilter) (gatehouse.Page[*gatehouse.API], error) {
	return gatehouse.Page[*gatehouse.API]{}, errors.New("database is locked: secret internal detail")
}

func (failingStore) Plans(context.Context, gatehouse.PlanFilter) (gatehouse.Page[*gatehouse.Plan], error) {
	return gatehouse.Page[*gatehouse.Plan]{}, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
}

func TestErrorPages(t *testing.T) {
	st := openStore(t)
	e := newEnvWithStore(t, st, func(o *Options) { o.Store = failingStore{st} })
	c := e.signedIn("ops", gatehouse.RoleAdmin)
	r := c.get("/ui/apis")
	if r.status != http.StatusInternalServerError {
		t.Errorf("failing store: %s", describe(r))
	}
	mustContain(t, "500 page", r.body, "<h1>Something went wrong</h1>", "server log has the details")
	mustNotContain(t, "500 page", r.body, "secret internal detail", "database is locked", "goroutine")
	if !strings.Contains(e.logs.String(), "secret internal detail") {
		t.Error("the cause is not logged")
	}
	r = c.get("/ui/plans")
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("unavailable store: %s", describe(r))
	}
	mustContain(t, "503 page", r.body, "unavailable right now")

	r = c.get("/ui/no/such/page")
	if r.status != http.StatusNotFound {
		t.Errorf("unknown page: %s", describe(r))
	}
	mustContain(t, "404 page", r.body, "<h1>Not found</h1>", `href="/ui/"`)
	for _, p := range []string{"/ui/apis/nope", "/ui/plans/nope", "/ui/apps/nope", "/ui/developers/nope@example.com", "/ui/alerts/rules/nope"} {
		if r := c.get(p); r.status != http.StatusNotFound {
			t.Errorf("%s: %s", p, describe(r))
		}
	}
	if r := c.get("/ui/developers?after=garbage"); r.status != http.StatusBadRequest {
		t.Errorf("bad cursor: %s", describe(r))
	}
}

func TestPlansAndAlertsEditing(t *testing.T) {
	e := newEnv(t)
	e.api("orders", gatehouse.StatePublished)
	c := e.signedIn("ops", gatehouse.RoleEditor)

	r := c.post("/ui/plans", url.Values{"json": {`{"name":"gold","apis":["orders"],"approval":"manual"}`}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create plan: %s\n%s", describe(r), r.body)
	}
	mustContain(t, "plans list", c.get("/ui/plans").body, "gold", "manual")
	r = c.post("/ui/plans", url.Values{"json": {`{"name":"silver","apis":["nope"],"approval":"sometimes"}`}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid plan: %s", describe(r))
	}
	mustContain(t, "plan form", r.body, "must be auto or manual", html.EscapeString(`"approval":"sometimes"`))
	p, _ := e.st.Plan(context.Background(), "gold")
	r = c.post("/ui/plans/gold", url.Values{"json": {`{"apis":["orders"],"approval":"auto"}`}, "revision": {itoa(p.Revision)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("update plan: %s\n%s", describe(r), r.body)
	}
	if p, _ := e.st.Plan(context.Background(), "gold"); p.Approval != gatehouse.ApprovalAuto {
		t.Errorf("plan after update: %+v", p)
	}

	// Alert rules and webhooks are JSON documents too.
	r = c.post("/ui/alerts/webhooks", url.Values{"json": {`{"id":"pager","url":"https://hooks.example.com/x"}`}})
	if r.status != 200 {
		t.Fatalf("create webhook: %s\n%s", describe(r), r.body)
	}
	mustContain(t, "new webhook page", r.body, "only time the signing secret is shown", `value="whsec_`)
	r = c.post("/ui/alerts/rules", url.Values{"json": {`{"id":"errs","kind":"error_rate","threshold":0.1,"webhooks":["pager","nope"]}`}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("rule naming a missing webhook: %s", describe(r))
	}
	mustContain(t, "rule form", r.body, `no webhook has the id &#34;nope&#34;`)
	r = c.post("/ui/alerts/rules", url.Values{"json": {`{"id":"errs","kind":"error_rate","threshold":0.1,"webhooks":["pager"]}`}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create rule: %s\n%s", describe(r), r.body)
	}
	rule, err := e.st.AlertRule(context.Background(), "errs")
	if err != nil || !rule.Enabled || rule.Window.D() != time.Minute || rule.CreatedAt.IsZero() {
		t.Fatalf("stored rule: %+v, %v", rule, err)
	}
	r = c.post("/ui/alerts/rules/errs", url.Values{"json": {`{"kind":"error_rate","threshold":0.2,"enabled":false}`}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("update rule: %s\n%s", describe(r), r.body)
	}
	if rule, _ := e.st.AlertRule(context.Background(), "errs"); rule.Threshold != 0.2 || rule.Enabled {
		t.Errorf("rule after update: %+v", rule)
	}
	h, _ := e.st.Webhook(context.Background(), "pager")
	r = c.post("/ui/alerts/webhooks/pager", url.Values{"json": {`{"url":"https://hooks.example.com/y","enabled":true}`}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("update webhook: %s\n%s", describe(r), r.body)
	}
	if h2, _ := e.st.Webhook(context.Background(), "pager"); h2.URL != "https://hooks.example.com/y" || h2.Secret != h.Secret {
		t.Errorf("webhook after update: %+v (the secret must be kept)", h2)
	}
	mustNotContain(t, "webhook page", c.get("/ui/alerts/webhooks/pager").body, h.Secret)
	if r := c.post("/ui/alerts/rules/errs/delete", nil); r.status != http.StatusSeeOther {
		t.Errorf("delete rule: %s", describe(r))
	}
	if _, err := e.st.AlertRule(context.Background(), "errs"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("rule after delete: %v", err)
	}
	// Without an alerts store the pages are hidden.
	e2 := newEnv(t, func(o *Options) { o.Alerts = nil })
	c2 := e2.signedIn("ops", gatehouse.RoleAdmin)
	if r := c2.get("/ui/alerts"); r.status != http.StatusNotFound {
		t.Errorf("alerts page without alerting: %s", describe(r))
	}
	mustNotContain(t, "nav without alerting", c2.get("/ui/").body, `href="/ui/alerts"`)
}

func TestAppsKeysAudit(t *testing.T) {
	e := newEnv(t)
	d := seedDemo(e)
	c := e.signedIn("ops", gatehouse.RoleAdmin)
	r := c.get("/ui/apps?developer=" + d.devs[0])
	mustContain(t, "apps of dev1", r.body, "checkout-web", "weather-widget")
	mustNotContain(t, "apps of dev1", r.body, "checkout-ios")

	keys, _ := e.st.Keys(context.Background(), gatehouse.KeyFilter{App: "checkout-ios"})
	k := keys.Items[0]
	r = c.get("/ui/apps/checkout-ios")
	mustContain(t, "app page", r.body, k.Prefix, "key-active", `action="/ui/keys/`+k.ID+`/revoke"`, "gold")
	if r := c.post("/ui/keys/"+k.ID+"/revoke", nil); r.status != http.StatusSeeOther || r.location() != "/ui/apps/checkout-ios?done=revoked" {
		t.Fatalf("revoke: %s", describe(r))
	}
	if k2, _ := e.st.Key(context.Background(), k.ID); k2.RevokedAt == nil {
		t.Error("key not revoked")
	}
	if a := e.lastAudit(gatehouse.KindKey, k.ID); a.Actor != "token:ops" || a.Action != gatehouse.ActionRevoke {
		t.Errorf("audit: %+v", a)
	}

	r = c.get("/ui/audit?actor=token:ops")
	mustContain(t, "audit filtered by actor", r.body, k.ID, "<details>", "revoked_at")
	mustNotContain(t, "audit filtered by actor", r.body, "weather-widget")
	r = c.get("/ui/audit?resource=app&name=weather-widget")
	mustContain(t, "audit filtered by name", r.body, "weather-widget")
	future := time.Now().Add(time.Hour).UTC().Format(localLayout)
	mustContain(t, "audit since the future", c.get("/ui/audit?since="+future).body, "No entries match.")
	if r := c.get("/ui/audit?since=soon"); r.status != http.StatusBadRequest {
		t.Errorf("bad since: %s", describe(r))
	}
	// Paging: a page of 50, then the rest.
	for i := range 60 {
		e.api("bulk-"+itoa(int64(100+i)), gatehouse.StateDraft)
	}
	r = c.get("/ui/apis")
	if !strings.Contains(r.body, `rel="next"`) {
		t.Fatal("no next page link with 65 APIs")
	}
	next := html.UnescapeString(r.body[strings.Index(r.body, `/ui/apis?after=`):])
	next = next[:strings.IndexByte(next, '"')]
	r2 := c.get(next)
	mustContain(t, "second page", r2.body, "weather-forecasts", "First page")
	mustNotContain(t, "second page", r2.body, "bulk-100")
}
