package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// testErrors checks every documented error code, and that a failing write leaves no trace:
// no revision bump, no audit entry, no change notice.
func testErrors(t *testing.T, s gatehouse.Store) {
	changes := s.Subscribe(t.Context())
	w := seed(t, s)
	catchUp(t, s, changes)
	stale := w.api.Revision + 100 // any revision but the current one
	_, _, otherHash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)

	tests := []struct {
		name   string
		code   string
		fields []string
		do     func(ctx context.Context) error
	}{
		// APIs
		{"invalid api", gatehouse.EInvalid, []string{"name", "upstream.targets[0].url"}, func(ctx context.Context) error {
			_, err := s.CreateAPI(ctx, &gatehouse.API{Name: "bad name", Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "ftp://x"}}}})
			return err
		}},
		{"duplicate api", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateAPI(ctx, &gatehouse.API{Name: "api-a"})
			return err
		}},
		{"missing api", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.API(ctx, "nope"); return err }},
		{"update missing api", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.UpdateAPI(ctx, &gatehouse.API{Name: "nope"}, 0)
			return err
		}},
		{"update invalid api", gatehouse.EInvalid, []string{"state"}, func(ctx context.Context) error {
			a := w.api.Clone()
			a.State = "gone"
			_, err := s.UpdateAPI(ctx, a, 0)
			return err
		}},
		{"update stale api", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			_, err := s.UpdateAPI(ctx, w.api, stale)
			return err
		}},
		{"delete missing api", gatehouse.ENotFound, nil, func(ctx context.Context) error { return s.DeleteAPI(ctx, "nope", 0) }},
		{"delete stale api", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error { return s.DeleteAPI(ctx, "api-a", stale) }},
		{"delete api listed by plan", gatehouse.EConflict, nil, func(ctx context.Context) error { return s.DeleteAPI(ctx, "api-a", 0) }},

		// Plans
		{"plan with missing api", gatehouse.EInvalid, []string{"apis[1]"}, func(ctx context.Context) error {
			_, err := s.CreatePlan(ctx, &gatehouse.Plan{Name: "p", APIs: []string{"zzz", "api-a"}}) // sorted: api-a, zzz
			return err
		}},
		{"update plan with missing api", gatehouse.EInvalid, []string{"apis[0]"}, func(ctx context.Context) error {
			_, err := s.UpdatePlan(ctx, &gatehouse.Plan{Name: "gold", APIs: []string{"nope"}}, 0)
			return err
		}},
		{"invalid plan", gatehouse.EInvalid, []string{"approval", "quota.period"}, func(ctx context.Context) error {
			_, err := s.CreatePlan(ctx, &gatehouse.Plan{Name: "p", Approval: "maybe", Quota: &gatehouse.Quota{Limit: 1, Period: "year"}})
			return err
		}},
		{"duplicate plan", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreatePlan(ctx, &gatehouse.Plan{Name: "gold"})
			return err
		}},
		{"missing plan", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.Plan(ctx, "nope"); return err }},
		{"update missing plan", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.UpdatePlan(ctx, &gatehouse.Plan{Name: "nope"}, 0)
			return err
		}},
		{"update stale plan", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			_, err := s.UpdatePlan(ctx, w.plan, w.plan.Revision+100)
			return err
		}},
		{"delete plan with subscriptions", gatehouse.EConflict, nil, func(ctx context.Context) error { return s.DeletePlan(ctx, "gold", 0) }},
		{"delete missing plan", gatehouse.ENotFound, nil, func(ctx context.Context) error { return s.DeletePlan(ctx, "nope", 0) }},

		// Developers
		{"invalid developer", gatehouse.EInvalid, []string{"email"}, func(ctx context.Context) error {
			_, err := s.CreateDeveloper(ctx, &gatehouse.Developer{Email: "not an email"})
			return err
		}},
		{"duplicate developer in other case", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateDeveloper(ctx, &gatehouse.Developer{Email: "ANN@example.com"})
			return err
		}},
		{"missing developer", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.Developer(ctx, "nobody@example.com")
			return err
		}},
		{"update stale developer", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			_, err := s.UpdateDeveloper(ctx, w.dev, w.dev.Revision+1000)
			return err
		}},
		{"delete developer with apps", gatehouse.EConflict, nil, func(ctx context.Context) error {
			return s.DeleteDeveloper(ctx, "ann@example.com", 0)
		}},

		// Apps
		{"app of missing developer", gatehouse.EInvalid, []string{"developer"}, func(ctx context.Context) error {
			_, err := s.CreateApp(ctx, &gatehouse.App{Name: "app-b", Developer: "nobody@example.com"})
			return err
		}},
		{"move app to missing developer", gatehouse.EInvalid, []string{"developer"}, func(ctx context.Context) error {
			_, err := s.UpdateApp(ctx, &gatehouse.App{Name: "app-a", Developer: "nobody@example.com"}, 0)
			return err
		}},
		{"duplicate app", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateApp(ctx, &gatehouse.App{Name: "app-a", Developer: "ann@example.com"})
			return err
		}},
		{"missing app", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.App(ctx, "nope"); return err }},
		{"delete app with subscriptions", gatehouse.EConflict, nil, func(ctx context.Context) error { return s.DeleteApp(ctx, "app-a", 0) }},
		{"delete stale app", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			return s.DeleteApp(ctx, "app-a", w.app.Revision+100)
		}},

		// Keys
		{"key of missing app", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.CreateKey(ctx, &gatehouse.Key{App: "nope", Prefix: "x", Hash: otherHash})
			return err
		}},
		{"key without hash", gatehouse.EInvalid, []string{"hash"}, func(ctx context.Context) error {
			_, err := s.CreateKey(ctx, &gatehouse.Key{App: "app-a"})
			return err
		}},
		{"key with duplicate hash", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateKey(ctx, &gatehouse.Key{App: "app-a", Hash: w.key.Hash})
			return err
		}},
		{"missing key", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.Key(ctx, "key_nope"); return err }},
		{"missing key hash", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.KeyByHash(ctx, otherHash); return err }},
		{"revoke missing key", gatehouse.ENotFound, nil, func(ctx context.Context) error { _, err := s.RevokeKey(ctx, "key_nope"); return err }},
		{"delete missing key", gatehouse.ENotFound, nil, func(ctx context.Context) error { return s.DeleteKey(ctx, "key_nope") }},

		// Subscriptions
		{"subscription of missing app and plan", gatehouse.EInvalid, []string{"app", "plan"}, func(ctx context.Context) error {
			_, err := s.CreateSubscription(ctx, &gatehouse.Subscription{App: "nope", Plan: "nope"})
			return err
		}},
		{"subscription to missing plan", gatehouse.EInvalid, []string{"plan"}, func(ctx context.Context) error {
			_, err := s.CreateSubscription(ctx, &gatehouse.Subscription{App: "app-a", Plan: "nope"})
			return err
		}},
		{"duplicate subscription", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateSubscription(ctx, &gatehouse.Subscription{App: "app-a", Plan: "gold"})
			return err
		}},
		{"subscription with bad status", gatehouse.EInvalid, []string{"status"}, func(ctx context.Context) error {
			_, err := s.CreateSubscription(ctx, &gatehouse.Subscription{App: "app-a", Plan: "silver", Status: "maybe"})
			return err
		}},
		{"update subscription to bad status", gatehouse.EInvalid, []string{"status"}, func(ctx context.Context) error {
			_, err := s.UpdateSubscription(ctx, w.sub.ID, "maybe", 0)
			return err
		}},
		{"update missing subscription", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.UpdateSubscription(ctx, "sub_nope", gatehouse.SubActive, 0)
			return err
		}},
		{"update stale subscription", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			_, err := s.UpdateSubscription(ctx, w.sub.ID, gatehouse.SubRevoked, w.sub.Revision+100)
			return err
		}},
		{"missing subscription", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.Subscription(ctx, "sub_nope")
			return err
		}},
		{"delete stale subscription", gatehouse.EPreconditionFailed, nil, func(ctx context.Context) error {
			return s.DeleteSubscription(ctx, w.sub.ID, w.sub.Revision+100)
		}},

		// Admin tokens
		{"invalid admin token", gatehouse.EInvalid, []string{"role", "hash"}, func(ctx context.Context) error {
			_, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "x", Role: "root"})
			return err
		}},
		{"admin token with duplicate hash", gatehouse.EConflict, nil, func(ctx context.Context) error {
			_, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "x", Role: gatehouse.RoleAdmin, Hash: w.token.Hash})
			return err
		}},
		{"missing admin token hash", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			_, err := s.AdminTokenByHash(ctx, otherHash)
			return err
		}},
		{"delete missing admin token", gatehouse.ENotFound, nil, func(ctx context.Context) error {
			return s.DeleteAdminToken(ctx, "tok_nope")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, s)
			wantCode(t, tc.do(t.Context()), tc.code, tc.fields...)
			if after := snapshot(t, s); after != before {
				t.Errorf("failed call wrote something: state %+v, then %+v", before, after)
			}
		})
	}
	quiet(t, changes)

	// Nothing was touched either: the seeded resources read back as they were.
	got, err := s.API(t.Context(), "api-a")
	check(t, err)
	diff(t, "api after failed writes", w.api, got)
	sub, err := s.Subscription(t.Context(), w.sub.ID)
	check(t, err)
	diff(t, "subscription after failed writes", w.sub, sub)
}

func testIfRevision(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	a := createAPI(t, s, &gatehouse.API{Name: "a"})
	upd := a.Clone()
	upd.Description = "first"
	a2, err := s.UpdateAPI(ctx, upd, a.Revision) // the ETag matches
	check(t, err)

	upd.Description = "lost update"
	_, err = s.UpdateAPI(ctx, upd, a.Revision) // stale ETag
	wantCode(t, err, gatehouse.EPreconditionFailed)
	got, err := s.API(ctx, "a")
	check(t, err)
	diff(t, "api after a refused update", a2, got)

	upd.Description = "unconditional"
	a3, err := s.UpdateAPI(ctx, upd, 0)
	check(t, err)
	wantCode(t, s.DeleteAPI(ctx, "a", a2.Revision), gatehouse.EPreconditionFailed)
	check(t, s.DeleteAPI(ctx, "a", a3.Revision))
}

func testRevisionMonotonic(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	rev, err := s.Revision(ctx)
	check(t, err)
	if rev != 0 {
		t.Fatalf("empty store at revision %d, want 0", rev)
	}
	last := int64(0)
	step := func(what string, written int64) {
		t.Helper()
		now, err := s.Revision(ctx)
		check(t, err)
		if now <= last || (written != 0 && written != now) {
			t.Errorf("after %s: store revision %d (resource %d), previous %d", what, now, written, last)
		}
		last = now
	}
	a := createAPI(t, s, &gatehouse.API{Name: "a"})
	step("create api", a.Revision)
	a, err = s.UpdateAPI(ctx, a, a.Revision)
	check(t, err)
	step("update api", a.Revision)
	p := createPlan(t, s, &gatehouse.Plan{Name: "p", APIs: []string{"a"}})
	step("create plan", p.Revision)
	d := createDeveloper(t, s, "d@example.com")
	step("create developer", d.Revision)
	app := createApp(t, s, "app", "d@example.com")
	step("create app", app.Revision)
	k, _ := createKey(t, s, "app")
	step("create key", 0)
	_, err = s.RevokeKey(ctx, k.ID)
	check(t, err)
	step("revoke key", 0)
	sub := createSubscription(t, s, "app", "p")
	step("create subscription", sub.Revision)
	check(t, s.DeleteSubscription(ctx, sub.ID, 0))
	step("delete subscription", 0)
	check(t, s.DeleteApp(ctx, "app", 0))
	step("delete app", 0)
}

func testRevokeIdempotent(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	changes := s.Subscribe(ctx)
	createDeveloper(t, s, "d@example.com")
	createApp(t, s, "app", "d@example.com")
	k, secret := createKey(t, s, "app")
	r1, err := s.RevokeKey(ctx, k.ID)
	check(t, err)
	if r1.RevokedAt == nil {
		t.Fatalf("revoked key has no revoked_at: %+v", r1)
	}
	checkTime(t, "revoked_at", *r1.RevokedAt)
	if r1.Status(*r1.RevokedAt) != "revoked" {
		t.Errorf("revoked key status %q", r1.Status(*r1.RevokedAt))
	}
	catchUp(t, s, changes)
	before := snapshot(t, s)
	r2, err := s.RevokeKey(ctx, k.ID)
	check(t, err)
	diff(t, "key revoked twice", r1, r2)
	if after := snapshot(t, s); after != before {
		t.Errorf("revoking a revoked key wrote something: %+v, then %+v", before, after)
	}
	quiet(t, changes)
	got, err := s.KeyByHash(ctx, gatehouse.HashSecret(secret)) // found whatever its status
	check(t, err)
	diff(t, "revoked key by hash", r1, got)
}

func testDeleteAppCascadesKeys(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	changes := s.Subscribe(ctx)
	createDeveloper(t, s, "d@example.com")
	createApp(t, s, "doomed", "d@example.com")
	createApp(t, s, "kept", "d@example.com")
	k1, _ := createKey(t, s, "doomed")
	k2, _ := createKey(t, s, "doomed")
	k3, _ := createKey(t, s, "kept")
	catchUp(t, s, changes)

	check(t, s.DeleteApp(ctx, "doomed", 0))
	for _, k := range []*gatehouse.Key{k1, k2} {
		_, err := s.Key(ctx, k.ID)
		wantCode(t, err, gatehouse.ENotFound)
		_, err = s.KeyByHash(ctx, k.Hash)
		wantCode(t, err, gatehouse.ENotFound)
	}
	p, err := s.Keys(ctx, gatehouse.KeyFilter{})
	check(t, err)
	diff(t, "keys left", []*gatehouse.Key{k3}, p.Items)

	// One write: the keys and the app go at one revision, each with an audit entry and a
	// change notice.
	rev, err := s.Revision(ctx)
	check(t, err)
	got := recvChanges(t, changes, 3)
	keyChanges := map[string]bool{}
	for _, c := range got[:2] {
		if c.Kind != gatehouse.KindKey || c.Action != gatehouse.ActionDelete || c.Revision != rev {
			t.Errorf("key change %+v", c)
		}
		keyChanges[c.Name] = true
	}
	if !keyChanges[k1.ID] || !keyChanges[k2.ID] {
		t.Errorf("key changes %+v, want deletes of %s and %s", got[:2], k1.ID, k2.ID)
	}
	diff(t, "app change", gatehouse.Change{Kind: gatehouse.KindApp, Name: "doomed", Action: gatehouse.ActionDelete, Revision: rev}, got[2])
	audit, err := s.AuditEntries(ctx, gatehouse.AuditFilter{Resource: gatehouse.KindKey, Name: k1.ID})
	check(t, err)
	if len(audit.Items) != 2 || audit.Items[0].Action != gatehouse.ActionDelete || audit.Items[0].Revision != rev {
		t.Errorf("audit of cascaded key: %+v", audit.Items)
	}
}

// testExpireKey: a rotation shortens a key's life; a later or equal expiry, or a revoked
// key, writes nothing.
func testExpireKey(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createDeveloper(t, s, "d@example.com")
	createApp(t, s, "app", "d@example.com")
	k, _ := createKey(t, s, "app")
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	got, err := s.ExpireKey(ctx, k.ID, at)
	check(t, err)
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(at) {
		t.Fatalf("expires_at = %v, want %v", got.ExpiresAt, at)
	}
	if got.Status(time.Now()) != "active" || got.Status(at) != "expired" {
		t.Errorf("status now %q, at expiry %q", got.Status(time.Now()), got.Status(at))
	}
	before := snapshot(t, s)
	later, err := s.ExpireKey(ctx, k.ID, at.Add(time.Hour))
	check(t, err)
	if !later.ExpiresAt.Equal(at) {
		t.Errorf("a later expiry extended the key to %v", later.ExpiresAt)
	}
	if after := snapshot(t, s); after != before {
		t.Errorf("a later expiry wrote something")
	}
	stored, err := s.Key(ctx, k.ID)
	check(t, err)
	if stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(at) {
		t.Errorf("stored expires_at = %v", stored.ExpiresAt)
	}
	if _, err := s.ExpireKey(ctx, "key_nope", at); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("missing key: %v", err)
	}
	audit, err := s.AuditEntries(ctx, gatehouse.AuditFilter{Resource: gatehouse.KindKey, Name: k.ID})
	check(t, err)
	if len(audit.Items) == 0 || audit.Items[0].Action != gatehouse.ActionUpdate {
		t.Errorf("no update audit entry for the expiry: %+v", audit.Items)
	}
}
