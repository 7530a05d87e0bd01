package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/client/clienttest"
	"github.com/google/go-cmp/cmp"
)

func newClient(t *testing.T) (*client.Client, *clienttest.Server) {
	t.Helper()
	srv := clienttest.NewServer(t)
	srv.Token = "secret"
	return client.New(srv.URL, "secret", srv.Client()), srv
}

func demoAPI(name string) *gatehouse.API {
	return &gatehouse.API{Name: name, Path: "/" + name,
		Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:9000"}}}}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestAPILifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newClient(t)

	created := must[*gatehouse.API](t)(c.CreateAPI(ctx, demoAPI("orders")))
	if created.Revision == 0 || created.State != gatehouse.StateDraft || created.CreatedAt.IsZero() {
		t.Fatalf("created = %+v, want server fields and defaults filled", created)
	}
	got := must[*gatehouse.API](t)(c.API(ctx, "orders"))
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("API() differs from CreateAPI() (-created +got):\n%s", diff)
	}

	got.Description = "orders of the shop"
	updated := must[*gatehouse.API](t)(c.UpdateAPI(ctx, got, got.Revision))
	if updated.Description != "orders of the shop" || updated.Revision <= got.Revision {
		t.Errorf("updated = %+v", updated)
	}

	// The revision we read is now stale: the update must be refused, not lost.
	_, err := c.UpdateAPI(ctx, got, got.Revision)
	if code := gatehouse.ErrorCode(err); code != gatehouse.EPreconditionFailed {
		t.Errorf("stale update: code %q (%v), want %q", code, err, gatehouse.EPreconditionFailed)
	}

	patched := must[*gatehouse.API](t)(c.PatchAPI(ctx, "orders", map[string]any{"state": gatehouse.StatePublished}, 0))
	if patched.State != gatehouse.StatePublished || patched.Description != "orders of the shop" {
		t.Errorf("patched = %+v, want state changed and the rest kept", patched)
	}

	if err := c.DeleteAPI(ctx, "orders", created.Revision); gatehouse.ErrorCode(err) != gatehouse.EPreconditionFailed {
		t.Errorf("delete with stale revision: %v", err)
	}
	if err := c.DeleteAPI(ctx, "orders", patched.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = c.API(ctx, "orders")
	if gatehouse.ErrorCode(err) != gatehouse.ENotFound || err.Error() != `api "orders" not found` {
		t.Errorf("after delete: %v (code %q)", err, gatehouse.ErrorCode(err))
	}

	var sawIfMatch bool
	for _, r := range srv.Requests() {
		sawIfMatch = sawIfMatch || strings.HasPrefix(r, "PUT /v1/apis/orders")
	}
	if !sawIfMatch {
		t.Error("no PUT request seen")
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newClient(t)
	for _, n := range []string{"e", "a", "d", "c", "b"} {
		must[*gatehouse.API](t)(c.CreateAPI(ctx, demoAPI(n)))
	}

	page := must[gatehouse.Page[*gatehouse.API]](t)(c.APIs(ctx, gatehouse.APIFilter{ListOptions: gatehouse.ListOptions{Limit: 3}}))
	if names(page.Items) != "a b c" || page.Next == "" {
		t.Fatalf("first page = %q next %q", names(page.Items), page.Next)
	}
	page = must[gatehouse.Page[*gatehouse.API]](t)(c.APIs(ctx, gatehouse.APIFilter{ListOptions: gatehouse.ListOptions{Limit: 3, After: page.Next}}))
	if names(page.Items) != "d e" || page.Next != "" {
		t.Fatalf("second page = %q next %q", names(page.Items), page.Next)
	}

	before := len(srv.Requests())
	apis := must[[]*gatehouse.API](t)(c.AllAPIs(ctx, gatehouse.APIFilter{}))
	if names(apis) != "a b c d e" {
		t.Errorf("AllAPIs = %q", names(apis))
	}
	want := []string{"GET /v1/apis", "GET /v1/apis?after=b", "GET /v1/apis?after=d"}
	if diff := cmp.Diff(want, srv.Requests()[before:]); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// Filters travel as query parameters.
	must[*gatehouse.API](t)(c.PatchAPI(ctx, "c", map[string]string{"state": "published"}, 0))
	published := must[[]*gatehouse.API](t)(c.AllAPIs(ctx, gatehouse.APIFilter{State: gatehouse.StatePublished}))
	if names(published) != "c" {
		t.Errorf("published = %q", names(published))
	}
}

func names(apis []*gatehouse.API) string {
	var s []string
	for _, a := range apis {
		s = append(s, a.Name)
	}
	return strings.Join(s, " ")
}

func TestProblemDocument(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	bad := demoAPI("bad name")
	bad.Path = "/bad"
	bad.Upstream.Targets[0].URL = "ftp://x"
	_, err := c.CreateAPI(context.Background(), bad)
	var e *gatehouse.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v, want *gatehouse.Error", err, err)
	}
	want := &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid api", Fields: []gatehouse.FieldError{
		{Field: "name", Message: "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"},
		{Field: "upstream.targets[0].url", Message: "must be an absolute http or https URL"},
	}}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestNotAProblem(t *testing.T) {
	t.Parallel()
	// A proxy in front of the admin API answers in its own words.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream connect error\nmore", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, "", srv.Client()).Status(context.Background())
	if gatehouse.ErrorCode(err) != gatehouse.EUnavailable || err.Error() != "admin API answered 502 Bad Gateway: upstream connect error" {
		t.Errorf("err = %v (code %q)", err, gatehouse.ErrorCode(err))
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv := clienttest.NewServer(t)
	srv.Token = "right"
	_, err := client.New(srv.URL, "wrong", srv.Client()).AllAPIs(context.Background(), gatehouse.APIFilter{})
	if gatehouse.ErrorCode(err) != gatehouse.EUnauthorized {
		t.Errorf("err = %v, want unauthorized", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := client.New(url, "", nil).Status(context.Background())
	want := "cannot reach the admin API at " + url + ": is `gatehouse serve` running?"
	if gatehouse.ErrorCode(err) != gatehouse.EUnavailable || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want it to start with %q", err, want)
	}
	if gatehouse.ErrorMessage(err) != want {
		t.Errorf("message = %q, want %q", gatehouse.ErrorMessage(err), want)
	}
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestRepeatedCursor(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"items":[{"name":"a"}],"next":"same"}`))
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, "", srv.Client()).AllPlans(context.Background(), gatehouse.PlanFilter{})
	if err == nil || !strings.Contains(err.Error(), `cursor "same" twice`) {
		t.Errorf("err = %v", err)
	}
}

func TestEscapesPathSegments(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := client.New(srv.URL+"/", "", srv.Client()) // a trailing slash must not double up
	ctx := context.Background()
	must[*gatehouse.Developer](t)(c.Developer(ctx, "ann+test@example.com"))
	must[*gatehouse.App](t)(c.App(ctx, "../admin-tokens"))
	must[*gatehouse.Key](t)(c.Key(ctx, "a/b", "k?x"))
	want := []string{"/v1/developers/ann+test@example.com", "/v1/apps/..%2Fadmin-tokens", "/v1/apps/a%2Fb/keys/k%3Fx"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestPeopleAndCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newClient(t)
	must[*gatehouse.API](t)(c.CreateAPI(ctx, demoAPI("orders")))
	must[*gatehouse.Plan](t)(c.CreatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}, Approval: gatehouse.ApprovalManual}))
	dev := must[*gatehouse.Developer](t)(c.CreateDeveloper(ctx, &gatehouse.Developer{Email: "Ann@Example.com", Name: "Ann"}))
	if dev.Email != "ann@example.com" {
		t.Errorf("email = %q, want normalized", dev.Email)
	}
	dev = must[*gatehouse.Developer](t)(c.PatchDeveloper(ctx, dev.Email, map[string]string{"status": "blocked"}, dev.Revision))
	if dev.Status != gatehouse.DeveloperBlocked {
		t.Errorf("status = %q", dev.Status)
	}
	must[*gatehouse.App](t)(c.CreateApp(ctx, &gatehouse.App{Name: "shop", Developer: dev.Email}))
	apps := must[[]*gatehouse.App](t)(c.AllApps(ctx, gatehouse.AppFilter{Developer: dev.Email}))
	if len(apps) != 1 || apps[0].Name != "shop" {
		t.Errorf("apps = %v", apps)
	}

	// Keys: the secret comes back once, with the expiry the server computed.
	key := must[*client.CreatedKey](t)(c.CreateKey(ctx, "shop", client.KeyRequest{Name: "ci", ExpiresIn: gatehouse.Duration(720 * time.Hour)}))
	if !strings.HasPrefix(key.Secret, key.Prefix+"_") || key.ID == "" || key.App != "shop" {
		t.Errorf("created key = %+v", key)
	}
	if want := srv.Now().Add(720 * time.Hour); key.ExpiresAt == nil || !key.ExpiresAt.Equal(want) {
		t.Errorf("expires_at = %v, want %v", key.ExpiresAt, want)
	}
	revoked := must[*gatehouse.Key](t)(c.RevokeKey(ctx, "shop", key.ID))
	if revoked.RevokedAt == nil {
		t.Error("revoked key has no revoked_at")
	}
	keys := must[[]*gatehouse.Key](t)(c.AllKeys(ctx, gatehouse.KeyFilter{App: "shop"}))
	if len(keys) != 1 || keys[0].ID != key.ID {
		t.Errorf("keys = %v", keys)
	}
	if _, err := c.AllKeys(ctx, gatehouse.KeyFilter{}); gatehouse.ErrorCode(err) != gatehouse.EInvalid {
		t.Errorf("keys without app: %v", err)
	}
	if err := c.DeleteKey(ctx, "shop", key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Key(ctx, "shop", key.ID); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("deleted key: %v", err)
	}

	// Subscriptions to a manual plan wait for approval.
	sub := must[*gatehouse.Subscription](t)(c.CreateSubscription(ctx, &gatehouse.Subscription{App: "shop", Plan: "gold"}))
	if sub.Status != gatehouse.SubPending {
		t.Errorf("status = %q, want pending", sub.Status)
	}
	sub = must[*gatehouse.Subscription](t)(c.UpdateSubscription(ctx, sub.ID, gatehouse.SubActive, sub.Revision))
	subs := must[[]*gatehouse.Subscription](t)(c.AllSubscriptions(ctx, gatehouse.SubscriptionFilter{Status: gatehouse.SubActive}))
	if len(subs) != 1 || subs[0].ID != sub.ID {
		t.Errorf("active subscriptions = %v", subs)
	}
	if err := c.DeletePlan(ctx, "gold", 0); gatehouse.ErrorCode(err) != gatehouse.EConflict {
		t.Errorf("deleting a plan with subscriptions: %v", err)
	}
	if err := c.DeleteSubscription(ctx, sub.ID, sub.Revision); err != nil {
		t.Fatal(err)
	}

	tok := must[*client.CreatedAdminToken](t)(c.CreateAdminToken(ctx, client.AdminTokenRequest{Name: "ci", Role: gatehouse.RoleReadOnly}))
	if !strings.HasPrefix(tok.Secret, gatehouse.AdminSecretPrefix) || tok.Role != gatehouse.RoleReadOnly {
		t.Errorf("token = %+v", tok)
	}
	toks := must[[]*gatehouse.AdminToken](t)(c.AllAdminTokens(ctx, gatehouse.ListOptions{}))
	if len(toks) != 1 {
		t.Errorf("tokens = %v", toks)
	}
	if err := c.DeleteAdminToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}

	entries := must[[]*gatehouse.AuditEntry](t)(c.AllAuditEntries(ctx, gatehouse.AuditFilter{Resource: gatehouse.KindKey}))
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if diff := cmp.Diff([]string{"delete", "revoke", "create"}, actions); diff != "" {
		t.Errorf("key audit, newest first (-want +got):\n%s", diff)
	}
	st := must[*client.Status](t)(c.Status(ctx))
	if st.Version != clienttest.Version || st.Revision != srv.Revision() {
		t.Errorf("status = %+v", st)
	}
	if err := c.Ready(ctx); err != nil {
		t.Error(err)
	}
	if err := c.Healthy(ctx); err != nil {
		t.Error(err)
	}
}
