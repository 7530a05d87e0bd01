package client_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/client/clienttest"
)

// named is the seven calls every named resource has, bound to one kind.
type named[T any] struct {
	page   func(context.Context, gatehouse.ListOptions) (gatehouse.Page[T], error)
	all    func(context.Context) ([]T, error)
	get    func(context.Context, string) (T, error)
	create func(context.Context, T) (T, error)
	update func(context.Context, T, int64) (T, error)
	patch  func(context.Context, string, any, int64) (T, error)
	delete func(context.Context, string, int64) error
	meta   func(T) *gatehouse.Meta
}

// exercise runs every call of one kind against the fake: two resources make two pages of
// one, the second is updated, patched and deleted, each with its revision as If-Match.
func exercise[T any](t *testing.T, n named[T], id string, first, second T, patch map[string]any) {
	t.Helper()
	ctx := context.Background()
	for _, v := range []T{first, second} {
		if _, err := n.create(ctx, v); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	page, err := n.page(ctx, gatehouse.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Next == "" {
		t.Fatalf("page = %+v, %v", page, err)
	}
	if all, err := n.all(ctx); err != nil || len(all) != 2 {
		t.Fatalf("all = %v, %v", all, err)
	}
	got, err := n.get(ctx, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	rev := n.meta(got).Revision
	if got, err = n.update(ctx, got, rev); err != nil || n.meta(got).Revision <= rev {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if _, err := n.patch(ctx, id, patch, rev); gatehouse.ErrorCode(err) != gatehouse.EPreconditionFailed {
		t.Fatalf("patch with a stale revision: %v", err)
	}
	if got, err = n.patch(ctx, id, patch, n.meta(got).Revision); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if err := n.delete(ctx, id, n.meta(got).Revision); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := n.get(ctx, id); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestNamedResources(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := context.Background()
	t.Run("apis", func(t *testing.T) {
		exercise(t, named[*gatehouse.API]{
			page: func(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.API], error) {
				return c.APIs(ctx, gatehouse.APIFilter{ListOptions: o})
			},
			all: func(ctx context.Context) ([]*gatehouse.API, error) { return c.AllAPIs(ctx, gatehouse.APIFilter{}) },
			get: c.API, create: c.CreateAPI, update: c.UpdateAPI, patch: c.PatchAPI, delete: c.DeleteAPI,
			meta: func(v *gatehouse.API) *gatehouse.Meta { return &v.Meta },
		}, "b", demoAPI("a"), demoAPI("b"), map[string]any{"description": "patched"})
	})
	must[*gatehouse.API](t)(c.CreateAPI(ctx, demoAPI("orders")))
	t.Run("plans", func(t *testing.T) {
		exercise(t, named[*gatehouse.Plan]{
			page: func(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Plan], error) {
				return c.Plans(ctx, gatehouse.PlanFilter{ListOptions: o, API: "orders"})
			},
			all: func(ctx context.Context) ([]*gatehouse.Plan, error) { return c.AllPlans(ctx, gatehouse.PlanFilter{}) },
			get: c.Plan, create: c.CreatePlan, update: c.UpdatePlan, patch: c.PatchPlan, delete: c.DeletePlan,
			meta: func(v *gatehouse.Plan) *gatehouse.Meta { return &v.Meta },
		}, "gold", &gatehouse.Plan{Name: "free", APIs: []string{"orders"}}, &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}},
			map[string]any{"approval": "manual"})
	})
	t.Run("developers", func(t *testing.T) {
		exercise(t, named[*gatehouse.Developer]{
			page: func(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Developer], error) {
				return c.Developers(ctx, gatehouse.DeveloperFilter{ListOptions: o, Status: "active"})
			},
			all: func(ctx context.Context) ([]*gatehouse.Developer, error) {
				return c.AllDevelopers(ctx, gatehouse.DeveloperFilter{})
			},
			get: c.Developer, create: c.CreateDeveloper, update: c.UpdateDeveloper, patch: c.PatchDeveloper, delete: c.DeleteDeveloper,
			meta: func(v *gatehouse.Developer) *gatehouse.Meta { return &v.Meta },
		}, "bo+test@example.com", &gatehouse.Developer{Email: "al@example.com"}, &gatehouse.Developer{Email: "bo+test@example.com"},
			map[string]any{"name": "Bo"})
	})
	must[*gatehouse.Developer](t)(c.CreateDeveloper(ctx, &gatehouse.Developer{Email: "owner@example.com"}))
	t.Run("apps", func(t *testing.T) {
		exercise(t, named[*gatehouse.App]{
			page: func(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.App], error) {
				return c.Apps(ctx, gatehouse.AppFilter{ListOptions: o, Developer: "owner@example.com"})
			},
			all: func(ctx context.Context) ([]*gatehouse.App, error) { return c.AllApps(ctx, gatehouse.AppFilter{}) },
			get: c.App, create: c.CreateApp, update: c.UpdateApp, patch: c.PatchApp, delete: c.DeleteApp,
			meta: func(v *gatehouse.App) *gatehouse.Meta { return &v.Meta },
		}, "web", &gatehouse.App{Name: "cli", Developer: "owner@example.com"}, &gatehouse.App{Name: "web", Developer: "owner@example.com"},
			map[string]any{"description": "the web app"})
	})
}

func TestListsOnePage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, srv := newClient(t)
	must[*gatehouse.API](t)(c.CreateAPI(ctx, demoAPI("orders")))
	must[*gatehouse.Plan](t)(c.CreatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}}))
	must[*gatehouse.Developer](t)(c.CreateDeveloper(ctx, &gatehouse.Developer{Email: "ann@example.com"}))
	must[*gatehouse.App](t)(c.CreateApp(ctx, &gatehouse.App{Name: "shop", Developer: "ann@example.com"}))
	sub := must[*gatehouse.Subscription](t)(c.CreateSubscription(ctx, &gatehouse.Subscription{App: "shop", Plan: "gold"}))
	must[*client.CreatedKey](t)(c.CreateKey(ctx, "shop", client.KeyRequest{}))
	must[*client.CreatedAdminToken](t)(c.CreateAdminToken(ctx, client.AdminTokenRequest{Name: "ci", Role: gatehouse.RoleAdmin}))

	before := len(srv.Requests())
	one := gatehouse.ListOptions{Limit: 1}
	if p := must[gatehouse.Page[*gatehouse.Key]](t)(c.Keys(ctx, gatehouse.KeyFilter{ListOptions: one, App: "shop"})); len(p.Items) != 1 {
		t.Errorf("keys page = %+v", p)
	}
	if _, err := c.Keys(ctx, gatehouse.KeyFilter{}); gatehouse.ErrorCode(err) != gatehouse.EInvalid {
		t.Errorf("keys without app: %v", err)
	}
	if p := must[gatehouse.Page[*gatehouse.Subscription]](t)(c.Subscriptions(ctx, gatehouse.SubscriptionFilter{ListOptions: one, App: "shop", Plan: "gold"})); len(p.Items) != 1 {
		t.Errorf("subscriptions page = %+v", p)
	}
	if got := must[*gatehouse.Subscription](t)(c.Subscription(ctx, sub.ID)); got.Plan != "gold" {
		t.Errorf("subscription = %+v", got)
	}
	if p := must[gatehouse.Page[*gatehouse.AdminToken]](t)(c.AdminTokens(ctx, one)); len(p.Items) != 1 {
		t.Errorf("tokens page = %+v", p)
	}
	since := srv.Now()
	p := must[gatehouse.Page[*gatehouse.AuditEntry]](t)(c.AuditEntries(ctx, gatehouse.AuditFilter{ListOptions: one, Actor: "admin", Since: since, Until: since.Add(1)}))
	if len(p.Items) != 1 || p.Items[0].Resource != gatehouse.KindAdminToken || p.Next == "" {
		t.Errorf("audit page = %+v", p)
	}
	want := []string{
		"GET /v1/apps/shop/keys?limit=1",
		"GET /v1/subscriptions?app=shop&limit=1&plan=gold",
		"GET /v1/subscriptions/" + sub.ID,
		"GET /v1/admin-tokens?limit=1",
		"GET /v1/audit?actor=admin&limit=1&since=2026-01-02T03%3A04%3A05Z&until=2026-01-02T03%3A04%3A05.000000001Z",
	}
	got := srv.Requests()[before:]
	if len(got) != len(want) {
		t.Fatalf("requests = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %q, want %q", i, got[i], want[i])
		}
	}
	if c.BaseURL() != srv.URL {
		t.Errorf("BaseURL = %q", c.BaseURL())
	}
}

func TestStatusCodesWithoutCode(t *testing.T) {
	t.Parallel()
	// A problem document without a code still gets one, from its status.
	for status, want := range map[int]string{
		400: gatehouse.EInvalid, 401: gatehouse.EUnauthorized, 403: gatehouse.EForbidden,
		404: gatehouse.ENotFound, 409: gatehouse.EConflict, 412: gatehouse.EPreconditionFailed,
		413: gatehouse.ETooLarge, 422: gatehouse.EInvalid, 500: gatehouse.EInternal,
		503: gatehouse.EUnavailable, 504: gatehouse.EUnavailable,
	} {
		srv := clienttest.NewServer(t)
		srv.Hook = func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			w.Write([]byte(`{"title": "something"}`))
			return true
		}
		_, err := client.New(srv.URL, "", srv.Client()).Status(context.Background())
		if gatehouse.ErrorCode(err) != want || gatehouse.ErrorMessage(err) != "something" {
			t.Errorf("%d: code %q message %q, want %q", status, gatehouse.ErrorCode(err), gatehouse.ErrorMessage(err), want)
		}
	}
}
