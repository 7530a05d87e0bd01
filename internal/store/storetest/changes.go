package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
)

// testChanges checks that every kind of write sends one change notice after commit, with
// the revision it committed as, and that a failing write sends none.
func testChanges(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	ch := s.Subscribe(ctx)
	var want []gatehouse.Change
	wrote := func(kind, name, action string) {
		t.Helper()
		rev, err := s.Revision(ctx)
		check(t, err)
		want = append(want, gatehouse.Change{Kind: kind, Name: name, Action: action, Revision: rev})
	}

	a := createAPI(t, s, &gatehouse.API{Name: "a"})
	wrote(gatehouse.KindAPI, "a", gatehouse.ActionCreate)
	_, err := s.UpdateAPI(ctx, a, 0)
	check(t, err)
	wrote(gatehouse.KindAPI, "a", gatehouse.ActionUpdate)
	p := createPlan(t, s, &gatehouse.Plan{Name: "p", APIs: []string{"a"}})
	wrote(gatehouse.KindPlan, "p", gatehouse.ActionCreate)
	_, err = s.UpdatePlan(ctx, p, p.Revision)
	check(t, err)
	wrote(gatehouse.KindPlan, "p", gatehouse.ActionUpdate)
	d := createDeveloper(t, s, "D@example.com")
	wrote(gatehouse.KindDeveloper, "d@example.com", gatehouse.ActionCreate)
	_, err = s.UpdateDeveloper(ctx, d, 0)
	check(t, err)
	wrote(gatehouse.KindDeveloper, "d@example.com", gatehouse.ActionUpdate)
	app := createApp(t, s, "app", "d@example.com")
	wrote(gatehouse.KindApp, "app", gatehouse.ActionCreate)
	_, err = s.UpdateApp(ctx, app, 0)
	check(t, err)
	wrote(gatehouse.KindApp, "app", gatehouse.ActionUpdate)
	k, _ := createKey(t, s, "app")
	wrote(gatehouse.KindKey, k.ID, gatehouse.ActionCreate)
	_, err = s.RevokeKey(ctx, k.ID)
	check(t, err)
	wrote(gatehouse.KindKey, k.ID, gatehouse.ActionRevoke)
	check(t, s.DeleteKey(ctx, k.ID))
	wrote(gatehouse.KindKey, k.ID, gatehouse.ActionDelete)
	sub := createSubscription(t, s, "app", "p")
	wrote(gatehouse.KindSubscription, sub.ID, gatehouse.ActionCreate)
	_, err = s.UpdateSubscription(ctx, sub.ID, gatehouse.SubRevoked, 0)
	check(t, err)
	wrote(gatehouse.KindSubscription, sub.ID, gatehouse.ActionUpdate)
	check(t, s.DeleteSubscription(ctx, sub.ID, 0))
	wrote(gatehouse.KindSubscription, sub.ID, gatehouse.ActionDelete)
	_, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	tok, err := s.CreateAdminToken(ctx, &gatehouse.AdminToken{Name: "t", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash})
	check(t, err)
	wrote(gatehouse.KindAdminToken, tok.ID, gatehouse.ActionCreate)
	check(t, s.DeleteAdminToken(ctx, tok.ID))
	wrote(gatehouse.KindAdminToken, tok.ID, gatehouse.ActionDelete)
	check(t, s.DeleteApp(ctx, "app", 0))
	wrote(gatehouse.KindApp, "app", gatehouse.ActionDelete)
	check(t, s.DeletePlan(ctx, "p", 0))
	wrote(gatehouse.KindPlan, "p", gatehouse.ActionDelete)
	check(t, s.DeleteAPI(ctx, "a", 0))
	wrote(gatehouse.KindAPI, "a", gatehouse.ActionDelete)
	check(t, s.DeleteDeveloper(ctx, "d@example.com", 0))
	wrote(gatehouse.KindDeveloper, "d@example.com", gatehouse.ActionDelete)

	_, err = s.CreateDeveloper(ctx, &gatehouse.Developer{Email: "bad"})
	wantCode(t, err, gatehouse.EInvalid)

	diff(t, "changes", want, recvChanges(t, ch, len(want)))
	quiet(t, ch)
}

// testSlowSubscriber checks that a subscriber that does not read neither holds up writes
// nor other subscribers, and is told to resync.
func testSlowSubscriber(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	slow := s.Subscribe(ctx)
	fast := s.Subscribe(ctx)
	n := notify.DefaultBuffer + 10
	fastGot := make(chan []gatehouse.Change, 1)
	go func() { // reads as changes come; ends when it has them all or the test ends
		var got []gatehouse.Change
		for c := range fast {
			if got = append(got, c); len(got) == n {
				break
			}
		}
		fastGot <- got
	}()
	var last int64
	for i := range n {
		last = createAPI(t, s, &gatehouse.API{Name: fmt.Sprintf("api-%03d", i)}).Revision
	}
	var got []gatehouse.Change
	select {
	case got = <-fastGot:
	case <-time.After(10 * time.Second):
		t.Fatal("fast subscriber did not get every change")
	}
	for i, c := range got {
		if c.Resync || c.Revision != last-int64(n-1-i) {
			t.Fatalf("fast subscriber's change %d: %+v", i, c)
		}
	}

	// The fast subscriber has seen the last change, so the slow one holds all it will.
	var held []gatehouse.Change
	for len(held) <= n {
		select {
		case c := <-slow:
			held = append(held, c)
			continue
		default:
		}
		break
	}
	resyncs := slices.IndexFunc(held, func(c gatehouse.Change) bool { return c.Resync })
	switch {
	case len(held) == 0 || len(held) > notify.DefaultBuffer:
		t.Fatalf("slow subscriber holds %d changes, want 1 to %d", len(held), notify.DefaultBuffer)
	case resyncs != 0:
		t.Fatalf("slow subscriber's first change is %+v, want a resync", held[0])
	case slices.ContainsFunc(held[1:], func(c gatehouse.Change) bool { return c.Resync }):
		t.Errorf("slow subscriber got several resyncs: %+v", held)
	case len(held) > 1 && held[len(held)-1].Revision != last:
		t.Errorf("slow subscriber's last change %+v, want revision %d", held[len(held)-1], last)
	}

	// Caught up, it hears the next write as usual.
	a := createAPI(t, s, &gatehouse.API{Name: "after"})
	diff(t, "change after catching up",
		[]gatehouse.Change{{Kind: gatehouse.KindAPI, Name: "after", Action: gatehouse.ActionCreate, Revision: a.Revision}},
		recvChanges(t, slow, 1))
}

func testSubscriptionEnds(t *testing.T, s gatehouse.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Subscribe(ctx)
	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				createAPI(t, s, &gatehouse.API{Name: "a"}) // publishing to no one is fine
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after its context ended")
		}
	}
}

func testConcurrentWriters(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	const n = 8
	revs := make([]int64, n)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := s.CreateAPI(ctx, &gatehouse.API{Name: fmt.Sprintf("c-%d", i), Tags: []string{"c"}})
			if err == nil {
				revs[i] = a.Revision
			}
			errs[i] = err
		})
	}
	wg.Go(func() { // a reader alongside
		for range 20 {
			if _, err := s.APIs(ctx, gatehouse.APIFilter{Tag: "c"}); err != nil {
				errs[n] = err
				return
			}
		}
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	slices.Sort(revs)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	diff(t, "revisions of concurrent writes", want, revs)
	items, _ := collect(t, 0, func(o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.API], error) {
		return s.APIs(ctx, gatehouse.APIFilter{ListOptions: o, Tag: "c"})
	})
	if len(items) != n {
		t.Errorf("%d apis stored, want %d", len(items), n)
	}
	rev, err := s.Revision(ctx)
	check(t, err)
	if rev != n {
		t.Errorf("store revision %d, want %d", rev, n)
	}
}

// testConcurrentConditionalUpdates checks that of several updates with the same ETag,
// exactly one wins.
func testConcurrentConditionalUpdates(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	a := createAPI(t, s, &gatehouse.API{Name: "a"})
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			upd := a.Clone()
			upd.Description = fmt.Sprintf("writer %d", i)
			_, errs[i] = s.UpdateAPI(ctx, upd, a.Revision)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch gatehouse.ErrorCode(err) {
		case "":
			won++
		case gatehouse.EPreconditionFailed:
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d conditional updates succeeded, want 1", won)
	}
}

func testClose(t *testing.T, s gatehouse.Store) {
	ctx := t.Context()
	ch := s.Subscribe(ctx)
	createAPI(t, s, &gatehouse.API{Name: "a"})
	check(t, s.Ping(ctx))
	check(t, s.Close())
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-ch: // what was queued before Close may still be read
		case <-timeout:
			t.Fatal("subscription not closed by Close")
		}
	}
	wantCode(t, s.Ping(ctx), gatehouse.EUnavailable)
	_, err := s.API(ctx, "a")
	wantCode(t, err, gatehouse.EUnavailable)
	_, err = s.CreateAPI(ctx, &gatehouse.API{Name: "b"})
	wantCode(t, err, gatehouse.EUnavailable)
	_ = s.Close() // again: must not panic or hang
}
