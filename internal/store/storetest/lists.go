package storetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// checkList pages through one filtered list at several page sizes and compares the ids of
// what it returns, in order, with want.
func checkList[T any](t *testing.T, want []string, id func(T) string, list func(o gatehouse.ListOptions) (gatehouse.Page[T], error)) {
	t.Helper()
	for _, limit := range []int{1, 2, 3, 0} {
		items, pages := collect(t, limit, list)
		got := make([]string, 0, len(items))
		for _, v := range items {
			got = append(got, id(v))
		}
		diff(t, fmt.Sprintf("ids by pages of %d", limit), want, got)
		if limit == 1 && pages != max(1, len(want)) {
			t.Errorf("%d items by pages of 1 took %d pages", len(want), pages)
		}
	}
}

// byCreation orders resources as keys, subscriptions and admin tokens are listed: by
// creation time, then id.
func byCreation[T any](items []T, key func(T) (string, string)) []string {
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b T) int {
		at, aid := key(a)
		bt, bid := key(b)
		return cmpStrings(at, bt, aid, bid)
	})
	ids := make([]string, len(items))
	for i, v := range items {
		_, ids[i] = key(v)
	}
	return ids
}

func cmpStrings(a1, b1, a2, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

func testPaging(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	// APIs, created out of name order.
	for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
		a := &gatehouse.API{Name: fmt.Sprintf("api-%d", i), Tags: []string{"all"}}
		if i%2 == 0 {
			a.State = gatehouse.StatePublished
			a.Upstream.Targets = []gatehouse.Target{{URL: "http://upstream.internal"}}
			a.Tags = append(a.Tags, "even")
		}
		if i%3 == 0 {
			a.Tags = append(a.Tags, "three", "three") // a duplicate tag is one tag
		}
		createAPI(t, s, a)
	}
	apiName := func(a *gatehouse.API) string { return a.Name }
	for _, tc := range []struct {
		f    gatehouse.APIFilter
		want []int
	}{
		{gatehouse.APIFilter{}, []int{0, 1, 2, 3, 4, 5, 6}},
		{gatehouse.APIFilter{State: gatehouse.StatePublished}, []int{0, 2, 4, 6}},
		{gatehouse.APIFilter{State: gatehouse.StateDraft}, []int{1, 3, 5}},
		{gatehouse.APIFilter{Tag: "all"}, []int{0, 1, 2, 3, 4, 5, 6}},
		{gatehouse.APIFilter{Tag: "three"}, []int{0, 3, 6}},
		{gatehouse.APIFilter{State: gatehouse.StateDraft, Tag: "three"}, []int{3}},
		{gatehouse.APIFilter{State: gatehouse.StateRetired}, nil},
		{gatehouse.APIFilter{Tag: "thre"}, nil},
	} {
		checkList(t, names("api-%d", tc.want), apiName, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.API], error) {
			f := tc.f
			f.ListOptions = o
			return s.APIs(ctx, f)
		})
	}

	// Plans: plan i lists api-(i%3), and api-6 when i is even.
	for _, i := range []int{4, 1, 3, 0, 2} {
		p := &gatehouse.Plan{Name: fmt.Sprintf("plan-%d", i), APIs: []string{fmt.Sprintf("api-%d", i%3)}}
		if i%2 == 0 {
			p.APIs = append(p.APIs, "api-6")
		}
		if i == 1 {
			p.Approval = gatehouse.ApprovalManual
		}
		createPlan(t, s, p)
	}
	for _, tc := range []struct {
		api  string
		want []int
	}{{"", []int{0, 1, 2, 3, 4}}, {"api-0", []int{0, 3}}, {"api-6", []int{0, 2, 4}}, {"api-5", nil}} {
		checkList(t, names("plan-%d", tc.want), func(p *gatehouse.Plan) string { return p.Name },
			func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Plan], error) {
				return s.Plans(ctx, gatehouse.PlanFilter{ListOptions: o, API: tc.api})
			})
	}

	// Developers: odd ones blocked.
	for _, i := range []int{2, 4, 0, 3, 1} {
		d := &gatehouse.Developer{Email: fmt.Sprintf("Dev-%d@Example.com", i)}
		if i%2 == 1 {
			d.Status = gatehouse.DeveloperBlocked
		}
		_, err := s.CreateDeveloper(ctx, d)
		check(t, err)
	}
	for _, tc := range []struct {
		status string
		want   []int
	}{{"", []int{0, 1, 2, 3, 4}}, {gatehouse.DeveloperBlocked, []int{1, 3}}, {gatehouse.DeveloperActive, []int{0, 2, 4}}} {
		checkList(t, names("dev-%d@example.com", tc.want), func(d *gatehouse.Developer) string { return d.Email },
			func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Developer], error) {
				return s.Developers(ctx, gatehouse.DeveloperFilter{ListOptions: o, Status: tc.status})
			})
	}

	// Apps: app i belongs to dev-(i%2).
	for _, i := range []int{5, 0, 3, 1, 4, 2} {
		createApp(t, s, fmt.Sprintf("app-%d", i), fmt.Sprintf("dev-%d@example.com", i%2))
	}
	for _, tc := range []struct {
		dev  string
		want []int
	}{{"", []int{0, 1, 2, 3, 4, 5}}, {"DEV-0@example.com", []int{0, 2, 4}}, {"dev-1@example.com", []int{1, 3, 5}}, {"dev-2@example.com", nil}} {
		checkList(t, names("app-%d", tc.want), func(a *gatehouse.App) string { return a.Name },
			func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.App], error) {
				return s.Apps(ctx, gatehouse.AppFilter{ListOptions: o, Developer: tc.dev})
			})
	}

	// Keys: listed by creation, whatever their ids.
	var keys []*gatehouse.Key
	for i := range 7 {
		k, _ := createKey(t, s, fmt.Sprintf("app-%d", i%2))
		keys = append(keys, k)
	}
	keyOrder := func(k *gatehouse.Key) (string, string) { return k.CreatedAt.Format(timeKey), k.ID }
	for _, app := range []string{"", "app-0", "app-1", "app-5"} {
		want := byCreation(slices.DeleteFunc(slices.Clone(keys), func(k *gatehouse.Key) bool { return app != "" && k.App != app }), keyOrder)
		checkList(t, want, func(k *gatehouse.Key) string { return k.ID },
			func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Key], error) {
				return s.Keys(ctx, gatehouse.KeyFilter{ListOptions: o, App: app})
			})
	}

	// Subscriptions: every app subscribes to plans 0-2 (plan-1 needs approval).
	var subs []*gatehouse.Subscription
	for _, app := range []int{2, 0, 1} {
		for plan := range 3 {
			subs = append(subs, createSubscription(t, s, fmt.Sprintf("app-%d", app), fmt.Sprintf("plan-%d", plan)))
		}
	}
	subOrder := func(sub *gatehouse.Subscription) (string, string) { return sub.CreatedAt.Format(timeKey), sub.ID }
	for _, f := range []gatehouse.SubscriptionFilter{
		{}, {App: "app-0"}, {Plan: "plan-1"}, {Status: gatehouse.SubPending}, {Status: gatehouse.SubActive},
		{App: "app-2", Plan: "plan-2"}, {App: "app-2", Status: gatehouse.SubPending}, {Status: gatehouse.SubRevoked},
	} {
		want := byCreation(slices.DeleteFunc(slices.Clone(subs), func(sub *gatehouse.Subscription) bool {
			return f.App != "" && sub.App != f.App || f.Plan != "" && sub.Plan != f.Plan || f.Status != "" && sub.Status != f.Status
		}), subOrder)
		checkList(t, want, func(sub *gatehouse.Subscription) string { return sub.ID },
			func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.Subscription], error) {
				f := f
				f.ListOptions = o
				return s.Subscriptions(ctx, f)
			})
	}

	// Admin tokens: by creation.
	var toks []*gatehouse.AdminToken
	for range 5 {
		_, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
		tok, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "same-name", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash})
		check(t, err)
		toks = append(toks, tok)
	}
	checkList(t, byCreation(toks, func(tok *gatehouse.AdminToken) (string, string) { return tok.CreatedAt.Format(timeKey), tok.ID }),
		func(tok *gatehouse.AdminToken) string { return tok.ID }, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AdminToken], error) {
			return s.AdminTokens(ctx, o)
		})
}

// timeKey formats times so that text order is time order.
const timeKey = "2006-01-02T15:04:05.000000000"

func names(format string, is []int) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

func testMalformedCursor(t *testing.T, s gatehouse.Store) {
	seed(t, s)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	common := []string{"!!!", "====", b64("not json"), b64(`[1, 2]`), b64(`["a", "b", "c"]`), b64(`{"a": "b"}`), b64(`null`)}
	timed := append(slices.Clone(common), b64(`["yesterday", "key_x"]`), b64(`["a"]`))

	lists := []struct {
		name    string
		cursors []string
		list    func(ctx context.Context, o gatehouse.ListOptions) error
	}{
		{"apis", common, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.APIs(ctx, gatehouse.APIFilter{ListOptions: o})
			return err
		}},
		{"plans", common, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.Plans(ctx, gatehouse.PlanFilter{ListOptions: o})
			return err
		}},
		{"developers", common, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.Developers(ctx, gatehouse.DeveloperFilter{ListOptions: o})
			return err
		}},
		{"apps", common, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.Apps(ctx, gatehouse.AppFilter{ListOptions: o})
			return err
		}},
		{"keys", timed, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.Keys(ctx, gatehouse.KeyFilter{ListOptions: o})
			return err
		}},
		{"subscriptions", timed, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.Subscriptions(ctx, gatehouse.SubscriptionFilter{ListOptions: o})
			return err
		}},
		{"admin tokens", timed, func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.AdminTokens(ctx, o)
			return err
		}},
		{"audit", append(slices.Clone(common), b64(`["x"]`), b64(`["1.5"]`)), func(ctx context.Context, o gatehouse.ListOptions) error {
			_, err := s.AuditEntries(ctx, gatehouse.AuditFilter{ListOptions: o})
			return err
		}},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			for _, c := range l.cursors {
				wantCode(t, l.list(t.Context(), gatehouse.ListOptions{After: c}), gatehouse.EInvalid, "after")
			}
		})
	}
}
