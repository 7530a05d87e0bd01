package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// auditView is what a test can predict of an audit entry: everything but ID and At, with
// documents decoded so that engines may store them in any JSON formatting.
type auditView struct {
	Actor, Action, Resource, Name string
	Revision                      int64
	Before, After                 map[string]any
}

// doc is the JSON object form of a resource, or nil.
func doc(t *testing.T, v any) map[string]any {
	t.Helper()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	check(t, err)
	return rawDoc(t, b)
}

func rawDoc(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("audit document %s: %v", raw, err)
	}
	return m
}

func view(t *testing.T, e *gatehouse.AuditEntry) auditView {
	t.Helper()
	return auditView{Actor: e.Actor, Action: e.Action, Resource: e.Resource, Name: e.Name, Revision: e.Revision,
		Before: rawDoc(t, e.Before), After: rawDoc(t, e.After)}
}

func testAudit(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	alice := gatehouse.WithActor(ctx, "alice")
	bob := gatehouse.WithActor(ctx, "bob")

	a, err := s.CreateAPI(alice, &gatehouse.API{Name: "a"})
	check(t, err)
	upd := a.Clone()
	upd.Description = "changed"
	a2, err := s.UpdateAPI(alice, upd, 0)
	check(t, err)
	d, err := s.CreateDeveloper(bob, &gatehouse.Developer{Email: "d@example.com"})
	check(t, err)
	check(t, s.DeleteAPI(alice, "a", 0))
	b := createAPI(t, s, &gatehouse.API{Name: "b"}) // no actor: "system"

	want := []auditView{ // newest first
		{Actor: "system", Action: gatehouse.ActionCreate, Resource: gatehouse.KindAPI, Name: "b", Revision: b.Revision, After: doc(t, b)},
		{Actor: "alice", Action: gatehouse.ActionDelete, Resource: gatehouse.KindAPI, Name: "a", Revision: b.Revision - 1, Before: doc(t, a2)},
		{Actor: "bob", Action: gatehouse.ActionCreate, Resource: gatehouse.KindDeveloper, Name: "d@example.com", Revision: d.Revision, After: doc(t, d)},
		{Actor: "alice", Action: gatehouse.ActionUpdate, Resource: gatehouse.KindAPI, Name: "a", Revision: a2.Revision, Before: doc(t, a), After: doc(t, a2)},
		{Actor: "alice", Action: gatehouse.ActionCreate, Resource: gatehouse.KindAPI, Name: "a", Revision: a.Revision, After: doc(t, a)},
	}
	all, pages := collect(t, 2, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AuditEntry], error) {
		return s.AuditEntries(ctx, gatehouse.AuditFilter{ListOptions: o})
	})
	if pages != 3 {
		t.Errorf("5 entries by 2 took %d pages, want 3", pages)
	}
	var got []auditView
	for i, e := range all {
		got = append(got, view(t, e))
		checkTime(t, "audit at", e.At)
		if i > 0 && (e.ID >= all[i-1].ID || e.At.After(all[i-1].At)) {
			t.Errorf("entry %d (id %d, at %v) not older than entry %d (id %d, at %v)", i, e.ID, e.At, i-1, all[i-1].ID, all[i-1].At)
		}
	}
	diff(t, "audit entries", want, got)

	// Every filter, alone and together, by pages of 2.
	type filterCase struct {
		name string
		f    gatehouse.AuditFilter
		keep func(e *gatehouse.AuditEntry) bool
	}
	filters := []filterCase{
		{"resource", gatehouse.AuditFilter{Resource: gatehouse.KindAPI}, func(e *gatehouse.AuditEntry) bool { return e.Resource == gatehouse.KindAPI }},
		{"name", gatehouse.AuditFilter{Name: "a"}, func(e *gatehouse.AuditEntry) bool { return e.Name == "a" }},
		{"actor", gatehouse.AuditFilter{Actor: "alice"}, func(e *gatehouse.AuditEntry) bool { return e.Actor == "alice" }},
		{"resource and actor", gatehouse.AuditFilter{Resource: gatehouse.KindDeveloper, Actor: "bob"},
			func(e *gatehouse.AuditEntry) bool { return e.Resource == gatehouse.KindDeveloper && e.Actor == "bob" }},
		{"no match", gatehouse.AuditFilter{Actor: "carol"}, func(*gatehouse.AuditEntry) bool { return false }},
	}
	for i, e := range all {
		filters = append(filters,
			filterCase{fmt.Sprintf("since entry %d", i), gatehouse.AuditFilter{Since: e.At},
				func(x *gatehouse.AuditEntry) bool { return !x.At.Before(e.At) }},
			filterCase{fmt.Sprintf("until entry %d by alice", i), gatehouse.AuditFilter{Until: e.At, Actor: "alice"},
				func(x *gatehouse.AuditEntry) bool { return x.At.Before(e.At) && x.Actor == "alice" }},
			filterCase{fmt.Sprintf("between entries %d", i), gatehouse.AuditFilter{Since: all[len(all)-1].At, Until: e.At.Add(time.Nanosecond)},
				func(x *gatehouse.AuditEntry) bool { return !x.At.After(e.At) }},
		)
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			var want []int64
			for _, e := range all {
				if tc.keep(e) {
					want = append(want, e.ID)
				}
			}
			items, _ := collect(t, 2, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AuditEntry], error) {
				f := tc.f
				f.ListOptions = o
				return s.AuditEntries(ctx, f)
			})
			var got []int64
			for _, e := range items {
				got = append(got, e.ID)
			}
			diff(t, "entry ids", want, got)
		})
	}
}

func testAuditNeverHoldsSecrets(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	createDeveloper(t, s, "d@example.com")
	createApp(t, s, "app", "d@example.com")
	k, secret := createKey(t, s, "app")
	_, err := s.RevokeKey(ctx, k.ID)
	check(t, err)
	check(t, s.DeleteKey(ctx, k.ID))
	tokSecret, prefix, tokHash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	tok, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "ci", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: tokHash})
	check(t, err)
	check(t, s.DeleteAdminToken(ctx, tok.ID))

	entries, _ := collect(t, 100, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AuditEntry], error) {
		return s.AuditEntries(ctx, gatehouse.AuditFilter{ListOptions: o})
	})
	if len(entries) != 7 {
		t.Errorf("%d audit entries, want 7", len(entries))
	}
	for _, e := range entries {
		for _, d := range []json.RawMessage{e.Before, e.After} {
			for _, secret := range []string{secret, k.Hash, tokSecret, tokHash} {
				if strings.Contains(string(d), secret) {
					t.Errorf("audit entry %d (%s %s) holds a secret or its hash: %s", e.ID, e.Action, e.Resource, d)
				}
			}
		}
	}
}
