// Package storetest is the conformance suite of gatehouse.Store: every implementation runs
// Run from its own tests and must pass all of it. It checks the behaviour documented on
// the interface (round trips, error codes, revisions and preconditions, audit entries,
// pagination and filters, change notices, concurrency), never an engine's internals.
//
// It is imported only by tests.
package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the suite. open returns a new, empty store for one test and arranges for it to
// be closed (and removed) in t.Cleanup; Close must be idempotent, as some tests close the
// store themselves. Tests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) gatehouse.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s gatehouse.Store)
	}{
		{"APIRoundTrip", testAPIRoundTrip},
		{"PlanRoundTrip", testPlanRoundTrip},
		{"DeveloperRoundTrip", testDeveloperRoundTrip},
		{"AppRoundTrip", testAppRoundTrip},
		{"KeyRoundTrip", testKeyRoundTrip},
		{"SubscriptionRoundTrip", testSubscriptionRoundTrip},
		{"AdminTokenRoundTrip", testAdminTokenRoundTrip},
		{"InputNotModified", testInputNotModified},
		{"Errors", testErrors},
		{"IfRevision", testIfRevision},
		{"RevisionMonotonic", testRevisionMonotonic},
		{"RevokeIdempotent", testRevokeIdempotent},
		{"ExpireKey", testExpireKey},
		{"DeleteAppCascadesKeys", testDeleteAppCascadesKeys},
		{"Audit", testAudit},
		{"AuditNeverHoldsSecrets", testAuditNeverHoldsSecrets},
		{"Paging", testPaging},
		{"MalformedCursor", testMalformedCursor},
		{"Changes", testChanges},
		{"SlowSubscriberResyncs", testSlowSubscriber},
		{"SubscriptionEndsWithContext", testSubscriptionEnds},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentConditionalUpdates", testConcurrentConditionalUpdates},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ignoreServerFields ignores what the store fills in, for comparing a stored resource
// with the one that was sent; nil and empty slices are equal (JSON drops empty ones).
func ignoreServerFields() cmp.Option {
	return cmp.Options{
		cmpopts.IgnoreFields(gatehouse.Meta{}, "Revision", "CreatedAt", "UpdatedAt"),
		cmpopts.IgnoreFields(gatehouse.Key{}, "ID", "CreatedAt"),
		cmpopts.IgnoreFields(gatehouse.AdminToken{}, "ID", "CreatedAt"),
		cmpopts.IgnoreFields(gatehouse.Subscription{}, "ID"),
		cmpopts.EquateEmpty(),
	}
}

// diff fails the test if want and got differ.
func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries code and, if fields are given, names each of them.
func wantCode(t *testing.T, err error, code string, fields ...string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	var e *gatehouse.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *gatehouse.Error", err)
	}
	for _, f := range fields {
		if !slices.ContainsFunc(e.Fields, func(fe gatehouse.FieldError) bool { return fe.Field == f }) {
			t.Errorf("error %v does not name field %q", err, f)
		}
	}
}

// checkMeta checks the server fields of a resource written after revision after.
func checkMeta(t *testing.T, m gatehouse.Meta, after int64) {
	t.Helper()
	if m.Revision <= after {
		t.Errorf("revision %d, want > %d", m.Revision, after)
	}
	checkTime(t, "created_at", m.CreatedAt)
	checkTime(t, "updated_at", m.UpdatedAt)
	if m.UpdatedAt.Before(m.CreatedAt) {
		t.Errorf("updated_at %v before created_at %v", m.UpdatedAt, m.CreatedAt)
	}
}

// checkTime checks that a stored time is set, UTC and whole microseconds, so that every
// engine round-trips it exactly.
func checkTime(t *testing.T, what string, v time.Time) {
	t.Helper()
	switch {
	case v.IsZero():
		t.Errorf("%s not set", what)
	case v.Location() != time.UTC:
		t.Errorf("%s %v not in UTC", what, v)
	case !v.Equal(v.Truncate(time.Microsecond)):
		t.Errorf("%s %v has sub-microsecond precision", what, v)
	case time.Since(v) > time.Hour || time.Until(v) > time.Hour:
		t.Errorf("%s %v is not now", what, v)
	}
}

// state is what a failed write must leave untouched.
type state struct {
	revision int64
	audit    int64 // id of the newest audit entry
}

func snapshot(t *testing.T, s gatehouse.Store) state {
	t.Helper()
	rev, err := s.Revision(t.Context())
	check(t, err)
	p, err := s.AuditEntries(t.Context(), gatehouse.AuditFilter{ListOptions: gatehouse.ListOptions{Limit: 1}})
	check(t, err)
	st := state{revision: rev}
	if len(p.Items) > 0 {
		st.audit = p.Items[0].ID
	}
	return st
}

// collect pages through a list with the given page size (0 for the default) and returns
// every item, checking that every page but the last is full and that the last has no
// cursor.
func collect[T any](t *testing.T, limit int, list func(o gatehouse.ListOptions) (gatehouse.Page[T], error)) (items []T, pages int) {
	t.Helper()
	o := gatehouse.ListOptions{Limit: limit}
	size := o.PageLimit()
	for {
		p, err := list(o)
		check(t, err)
		if p.Items == nil {
			t.Fatal("page items are nil, want an empty slice")
		}
		pages++
		items = append(items, p.Items...)
		if p.Next == "" {
			if len(p.Items) > size {
				t.Fatalf("last page has %d items, page size %d", len(p.Items), size)
			}
			return items, pages
		}
		if len(p.Items) != size {
			t.Fatalf("page %d has %d items and a next cursor, want %d", pages, len(p.Items), size)
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		o.After = p.Next
	}
}

// recvChanges reads n changes, or fails after a generous timeout (PostgreSQL delivers them
// asynchronously).
func recvChanges(t *testing.T, ch <-chan gatehouse.Change, n int) []gatehouse.Change {
	t.Helper()
	var got []gatehouse.Change
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change channel closed after %d of %d changes", len(got), n)
			}
			got = append(got, c)
		case <-timeout:
			t.Fatalf("got %d of %d changes: %+v", len(got), n, got)
		}
	}
	return got
}

// catchUp reads changes until one at the store's current revision has gone by, so that ch
// then holds only what comes next: engines may deliver changes asynchronously, and later
// than a write returns. ch must have been subscribed before those writes.
func catchUp(t *testing.T, s gatehouse.Store, ch <-chan gatehouse.Change) {
	t.Helper()
	rev, err := s.Revision(t.Context())
	check(t, err)
	timeout := time.After(10 * time.Second)
	for rev > 0 {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("change channel closed")
			}
			if c.Revision >= rev {
				return
			}
		case <-timeout:
			t.Fatalf("changes up to revision %d not delivered", rev)
		}
	}
}

// quiet fails if a change arrives within a short wait.
func quiet(t *testing.T, ch <-chan gatehouse.Change) {
	t.Helper()
	select {
	case c := <-ch:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}
