package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// fullAPI sets every field of an API, several in a form Normalize changes.
func fullAPI(name string) *gatehouse.API {
	weight := 50
	sunset := time.Date(2031, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	return &gatehouse.API{
		Name:        name,
		Version:     "v1",
		Description: "Orders and their lines",
		State:       gatehouse.StatePublished,
		Hosts:       []string{"API.Example.com", "*.example.net"},
		Path:        "/orders",
		StripPath:   true,
		Upstream: gatehouse.Upstream{
			Targets: []gatehouse.Target{
				{URL: "http://orders.internal:8080", Weight: &weight},
				{URL: "https://orders-b.internal"},
			},
			Balancing:       gatehouse.BalanceHash,
			HashOn:          "header:X-User",
			ConnectTimeout:  gatehouse.Duration(2 * time.Second),
			ResponseTimeout: gatehouse.Duration(30 * time.Second),
			Retries:         2,
			HealthCheck: &gatehouse.HealthCheck{Path: "/healthz", Interval: gatehouse.Duration(5 * time.Second),
				Timeout: gatehouse.Duration(time.Second), Healthy: 2, Unhealthy: 3},
		},
		Routes: []gatehouse.Route{
			{Name: "get", Methods: []string{"get", "Head"}, Path: "/{id}"},
			{Path: "/search"},
		},
		Policies: []gatehouse.PolicySpec{
			{Type: "key-auth", Config: json.RawMessage(`{ "header": "X-Key", "allow": [1, 2] }`)},
			{Type: "cors", Config: json.RawMessage(`null`)},
		},
		OpenAPI: `{"openapi":"3.1.0","info":{"title":"Orders","version":"1"}}`,
		Sunset:  &sunset,
		Tags:    []string{"orders", "public"},
	}
}

func createAPI(t *testing.T, s gatehouse.Store, a *gatehouse.API) *gatehouse.API {
	t.Helper()
	got, err := s.CreateAPI(t.Context(), a)
	check(t, err)
	return got
}

func createPlan(t *testing.T, s gatehouse.Store, p *gatehouse.Plan) *gatehouse.Plan {
	t.Helper()
	got, err := s.CreatePlan(t.Context(), p)
	check(t, err)
	return got
}

func createDeveloper(t *testing.T, s gatehouse.Store, email string) *gatehouse.Developer {
	t.Helper()
	got, err := s.CreateDeveloper(t.Context(), &gatehouse.Developer{Email: email, Name: "Dev " + email})
	check(t, err)
	return got
}

func createApp(t *testing.T, s gatehouse.Store, name, developer string) *gatehouse.App {
	t.Helper()
	got, err := s.CreateApp(t.Context(), &gatehouse.App{Name: name, Developer: developer})
	check(t, err)
	return got
}

// createKey creates a key of app and returns it with its secret.
func createKey(t *testing.T, s gatehouse.Store, app string) (*gatehouse.Key, string) {
	t.Helper()
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	got, err := s.CreateKey(t.Context(), &gatehouse.Key{App: app, Prefix: prefix, Hash: hash})
	check(t, err)
	return got, secret
}

func createSubscription(t *testing.T, s gatehouse.Store, app, plan string) *gatehouse.Subscription {
	t.Helper()
	got, err := s.CreateSubscription(t.Context(), &gatehouse.Subscription{App: app, Plan: plan})
	check(t, err)
	return got
}

// world is a small, fully linked set of resources.
type world struct {
	api    *gatehouse.API       // "api-a", offered in plan gold
	plan   *gatehouse.Plan      // "gold": auto approval, lists api-a, app-a subscribes
	manual *gatehouse.Plan      // "silver": manual approval, nothing references it
	dev    *gatehouse.Developer // ann@example.com, owns app-a
	app    *gatehouse.App       // "app-a"
	key    *gatehouse.Key       // of app-a
	secret string               // of key
	sub    *gatehouse.Subscription
	token  *gatehouse.AdminToken
}

func seed(t *testing.T, s gatehouse.Store) *world {
	t.Helper()
	w := &world{}
	w.api = createAPI(t, s, fullAPI("api-a"))
	w.plan = createPlan(t, s, &gatehouse.Plan{Name: "gold", APIs: []string{"api-a"}})
	w.manual = createPlan(t, s, &gatehouse.Plan{Name: "silver", Approval: gatehouse.ApprovalManual})
	w.dev = createDeveloper(t, s, "ann@example.com")
	w.app = createApp(t, s, "app-a", w.dev.Email)
	w.key, w.secret = createKey(t, s, "app-a")
	w.sub = createSubscription(t, s, "app-a", "gold")
	_, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	tok, err := s.CreateAdminToken(t.Context(), &gatehouse.AdminToken{Name: "ops", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash})
	check(t, err)
	w.token = tok
	return w
}

func testAPIRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	in := fullAPI("orders")
	want := in.Clone()
	want.Normalize()
	got, err := s.CreateAPI(ctx, in)
	check(t, err)
	diff(t, "created api", want, got, ignoreServerFields())
	checkMeta(t, got.Meta, 0)
	if !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Errorf("new api: created_at %v != updated_at %v", got.CreatedAt, got.UpdatedAt)
	}
	read, err := s.API(ctx, "orders")
	check(t, err)
	diff(t, "read api", got, read)

	// Defaults of a minimal API.
	minimal := createAPI(t, s, &gatehouse.API{Name: "minimal"})
	if minimal.State != gatehouse.StateDraft || minimal.Path != "/" || minimal.Upstream.Balancing != gatehouse.BalanceRoundRobin {
		t.Errorf("minimal api defaults: %+v", minimal)
	}

	upd := got.Clone()
	upd.Description = "v2"
	upd.State = gatehouse.StateDeprecated
	upd.Tags = []string{"renamed"}
	upd.Routes = nil
	upd.Meta = gatehouse.Meta{Revision: 12345} // ignored: server fields come from the store
	got2, err := s.UpdateAPI(ctx, upd, got.Revision)
	check(t, err)
	want2 := upd.Clone()
	want2.Normalize()
	diff(t, "updated api", want2, got2, ignoreServerFields())
	checkMeta(t, got2.Meta, minimal.Revision)
	if !got2.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("update changed created_at from %v to %v", got.CreatedAt, got2.CreatedAt)
	}
	read, err = s.API(ctx, "orders")
	check(t, err)
	diff(t, "read updated api", got2, read)
	for tag, want := range map[string]int{"renamed": 1, "orders": 0} {
		p, err := s.APIs(ctx, gatehouse.APIFilter{Tag: tag})
		check(t, err)
		if len(p.Items) != want {
			t.Errorf("APIs tagged %q after update: %d, want %d", tag, len(p.Items), want)
		}
	}

	check(t, s.DeleteAPI(ctx, "orders", got2.Revision))
	_, err = s.API(ctx, "orders")
	wantCode(t, err, gatehouse.ENotFound)
	p, err := s.APIs(ctx, gatehouse.APIFilter{Tag: "renamed"})
	check(t, err)
	if len(p.Items) != 0 {
		t.Errorf("deleted api still found by tag: %+v", p.Items)
	}
	createAPI(t, s, &gatehouse.API{Name: "orders"}) // the name is free again
}

func testPlanRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createAPI(t, s, &gatehouse.API{Name: "a"})
	createAPI(t, s, &gatehouse.API{Name: "b"})
	in := &gatehouse.Plan{
		Name:        "gold",
		Description: "For serious users",
		APIs:        []string{"b", "a", "b"},
		RateLimit:   &gatehouse.RateLimit{Limit: 10, Window: gatehouse.Duration(time.Second)},
		Quota:       &gatehouse.Quota{Limit: 1000, Period: gatehouse.PeriodDay},
		Approval:    gatehouse.ApprovalManual,
		Policies:    []gatehouse.PolicySpec{{Type: "cors", Config: json.RawMessage(`{"origins": ["*"]}`)}},
	}
	want := in.Clone()
	want.Normalize()
	got, err := s.CreatePlan(ctx, in)
	check(t, err)
	diff(t, "created plan", want, got, ignoreServerFields())
	diff(t, "plan apis", []string{"a", "b"}, got.APIs)
	checkMeta(t, got.Meta, 0)
	read, err := s.Plan(ctx, "gold")
	check(t, err)
	diff(t, "read plan", got, read)

	free := createPlan(t, s, &gatehouse.Plan{Name: "free"})
	if free.Approval != gatehouse.ApprovalAuto || free.APIs == nil {
		t.Errorf("default plan: approval %q, apis %#v; want auto and an empty list", free.Approval, free.APIs)
	}

	upd := got.Clone()
	upd.APIs = []string{"b"}
	upd.Approval = gatehouse.ApprovalAuto
	upd.Quota = nil
	got2, err := s.UpdatePlan(ctx, upd, 0)
	check(t, err)
	want2 := upd.Clone()
	want2.Normalize()
	diff(t, "updated plan", want2, got2, ignoreServerFields())
	checkMeta(t, got2.Meta, free.Revision)
	read, err = s.Plan(ctx, "gold")
	check(t, err)
	diff(t, "read updated plan", got2, read)
	for api, want := range map[string]int{"a": 0, "b": 1} {
		p, err := s.Plans(ctx, gatehouse.PlanFilter{API: api})
		check(t, err)
		if len(p.Items) != want {
			t.Errorf("plans listing api %q after update: %d, want %d", api, len(p.Items), want)
		}
	}
	check(t, s.DeleteAPI(ctx, "a", 0)) // no plan lists it any more

	check(t, s.DeletePlan(ctx, "gold", got2.Revision))
	_, err = s.Plan(ctx, "gold")
	wantCode(t, err, gatehouse.ENotFound)
	check(t, s.DeleteAPI(ctx, "b", 0)) // its plan is gone
}

func testDeveloperRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	got, err := s.CreateDeveloper(ctx, &gatehouse.Developer{Email: " Ann@Example.COM ", Name: "Ann"})
	check(t, err)
	diff(t, "created developer", &gatehouse.Developer{Email: "ann@example.com", Name: "Ann", Status: gatehouse.DeveloperActive},
		got, ignoreServerFields())
	checkMeta(t, got.Meta, 0)
	read, err := s.Developer(ctx, "ANN@example.com")
	check(t, err)
	diff(t, "read developer (other case)", got, read)

	got2, err := s.UpdateDeveloper(ctx, &gatehouse.Developer{Email: "ANN@EXAMPLE.COM", Name: "Ann B", Status: gatehouse.DeveloperBlocked}, got.Revision)
	check(t, err)
	diff(t, "updated developer", &gatehouse.Developer{Email: "ann@example.com", Name: "Ann B", Status: gatehouse.DeveloperBlocked},
		got2, ignoreServerFields())
	checkMeta(t, got2.Meta, got.Revision)
	if !got2.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("update changed created_at")
	}
	read, err = s.Developer(ctx, "ann@example.com")
	check(t, err)
	diff(t, "read updated developer", got2, read)

	check(t, s.DeleteDeveloper(ctx, "Ann@Example.com", got2.Revision))
	_, err = s.Developer(ctx, "ann@example.com")
	wantCode(t, err, gatehouse.ENotFound)
}

func testAppRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createDeveloper(t, s, "ann@example.com")
	createDeveloper(t, s, "bob@example.com")
	got, err := s.CreateApp(ctx, &gatehouse.App{Name: "app-1", Developer: "ANN@example.com", Description: "Mobile"})
	check(t, err)
	diff(t, "created app", &gatehouse.App{Name: "app-1", Developer: "ann@example.com", Description: "Mobile"}, got, ignoreServerFields())
	checkMeta(t, got.Meta, 0)
	read, err := s.App(ctx, "app-1")
	check(t, err)
	diff(t, "read app", got, read)

	got2, err := s.UpdateApp(ctx, &gatehouse.App{Name: "app-1", Developer: "Bob@Example.com"}, got.Revision)
	check(t, err)
	diff(t, "updated app", &gatehouse.App{Name: "app-1", Developer: "bob@example.com"}, got2, ignoreServerFields())
	checkMeta(t, got2.Meta, got.Revision)
	read, err = s.App(ctx, "app-1")
	check(t, err)
	diff(t, "read updated app", got2, read)
	check(t, s.DeleteDeveloper(ctx, "ann@example.com", 0)) // owns nothing now

	check(t, s.DeleteApp(ctx, "app-1", got2.Revision))
	_, err = s.App(ctx, "app-1")
	wantCode(t, err, gatehouse.ENotFound)
}

func testKeyRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createDeveloper(t, s, "ann@example.com")
	createApp(t, s, "app-1", "ann@example.com")
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	exp := time.Now().Add(24*time.Hour + 123*time.Nanosecond)
	in := &gatehouse.Key{ID: "key_chosen_by_caller", App: "app-1", Name: "ci", Prefix: prefix, Hash: hash, ExpiresAt: &exp}
	got, err := s.CreateKey(ctx, in)
	check(t, err)
	wantExp := exp.UTC().Truncate(time.Microsecond)
	diff(t, "created key", &gatehouse.Key{App: "app-1", Name: "ci", Prefix: prefix, Hash: hash, ExpiresAt: &wantExp},
		got, ignoreServerFields())
	if got.ID == in.ID || !strings.HasPrefix(got.ID, "key_") {
		t.Errorf("key id %q: want one the store chose, starting key_", got.ID)
	}
	checkTime(t, "created_at", got.CreatedAt)
	if !got.Active(time.Now()) {
		t.Errorf("new key not active: %+v", got)
	}

	read, err := s.Key(ctx, got.ID)
	check(t, err)
	diff(t, "read key", got, read)
	read, err = s.KeyByHash(ctx, gatehouse.HashSecret(secret))
	check(t, err)
	diff(t, "key by hash", got, read)
	p, err := s.Keys(ctx, gatehouse.KeyFilter{App: "app-1"})
	check(t, err)
	diff(t, "keys of app", []*gatehouse.Key{got}, p.Items)

	check(t, s.DeleteKey(ctx, got.ID))
	_, err = s.Key(ctx, got.ID)
	wantCode(t, err, gatehouse.ENotFound)
	_, err = s.KeyByHash(ctx, hash)
	wantCode(t, err, gatehouse.ENotFound)
}

func testSubscriptionRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createAPI(t, s, &gatehouse.API{Name: "a"})
	createPlan(t, s, &gatehouse.Plan{Name: "gold", APIs: []string{"a"}})
	createPlan(t, s, &gatehouse.Plan{Name: "silver", Approval: gatehouse.ApprovalManual})
	createPlan(t, s, &gatehouse.Plan{Name: "bronze"})
	createDeveloper(t, s, "ann@example.com")
	createApp(t, s, "app-1", "ann@example.com")

	tests := []struct {
		plan   string
		status gatehouse.SubscriptionStatus // given
		want   gatehouse.SubscriptionStatus
	}{
		{"gold", "", gatehouse.SubActive},                        // auto approval
		{"silver", "", gatehouse.SubPending},                     // manual approval
		{"bronze", gatehouse.SubRejected, gatehouse.SubRejected}, // explicit
	}
	var subs []*gatehouse.Subscription
	for _, tc := range tests {
		got, err := s.CreateSubscription(ctx, &gatehouse.Subscription{App: "app-1", Plan: tc.plan, Status: tc.status})
		check(t, err)
		diff(t, "created subscription to "+tc.plan, &gatehouse.Subscription{App: "app-1", Plan: tc.plan, Status: tc.want},
			got, ignoreServerFields())
		if !strings.HasPrefix(got.ID, "sub_") {
			t.Errorf("subscription id %q does not start with sub_", got.ID)
		}
		checkMeta(t, got.Meta, 0)
		read, err := s.Subscription(ctx, got.ID)
		check(t, err)
		diff(t, "read subscription", got, read)
		subs = append(subs, got)
	}

	pending := subs[1]
	got, err := s.UpdateSubscription(ctx, pending.ID, gatehouse.SubActive, pending.Revision)
	check(t, err)
	diff(t, "approved subscription", &gatehouse.Subscription{ID: pending.ID, App: "app-1", Plan: "silver", Status: gatehouse.SubActive},
		got, ignoreServerFields())
	checkMeta(t, got.Meta, subs[2].Revision)
	if !got.CreatedAt.Equal(pending.CreatedAt) {
		t.Errorf("update changed created_at")
	}
	read, err := s.Subscription(ctx, pending.ID)
	check(t, err)
	diff(t, "read approved subscription", got, read)

	check(t, s.DeleteSubscription(ctx, subs[0].ID, subs[0].Revision))
	_, err = s.Subscription(ctx, subs[0].ID)
	wantCode(t, err, gatehouse.ENotFound)
	check(t, s.DeletePlan(ctx, "gold", 0)) // no subscriptions left
}

func testAdminTokenRoundTrip(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	_, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	exp := time.Now().Add(time.Hour + time.Nanosecond)
	got, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "ci", Role: gatehouse.RoleReadOnly, Prefix: prefix, Hash: hash, ExpiresAt: &exp})
	check(t, err)
	wantExp := exp.UTC().Truncate(time.Microsecond)
	diff(t, "created admin token", &gatehouse.AdminToken{Name: "ci", Role: gatehouse.RoleReadOnly, Prefix: prefix, Hash: hash, ExpiresAt: &wantExp},
		got, ignoreServerFields())
	if !strings.HasPrefix(got.ID, "tok_") {
		t.Errorf("admin token id %q does not start with tok_", got.ID)
	}
	checkTime(t, "created_at", got.CreatedAt)
	read, err := s.AdminTokenByHash(ctx, hash)
	check(t, err)
	diff(t, "admin token by hash", got, read)
	p, err := s.AdminTokens(ctx, gatehouse.ListOptions{})
	check(t, err)
	diff(t, "admin tokens", []*gatehouse.AdminToken{got}, p.Items)

	check(t, s.DeleteAdminToken(ctx, got.ID))
	_, err = s.AdminTokenByHash(ctx, hash)
	wantCode(t, err, gatehouse.ENotFound)
}

// testInputNotModified checks that writes leave the caller's value alone: the store
// normalises and fills a copy.
func testInputNotModified(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	api := fullAPI("a")
	apiCopy := api.Clone()
	createAPI(t, s, api)
	diff(t, "api after create", apiCopy, api)

	plan := &gatehouse.Plan{Name: "p", APIs: []string{"a", "a"}}
	planCopy := plan.Clone()
	createPlan(t, s, plan)
	diff(t, "plan after create", planCopy, plan)

	dev := &gatehouse.Developer{Email: "Ann@Example.com"}
	devCopy := *dev
	if _, err := s.CreateDeveloper(ctx, dev); err != nil {
		t.Fatal(err)
	}
	diff(t, "developer after create", &devCopy, dev)

	createApp(t, s, "app", "ann@example.com")
	key := &gatehouse.Key{App: "app", Prefix: "p", Hash: "h"}
	keyCopy := *key
	if _, err := s.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	diff(t, "key after create", &keyCopy, key)
}
