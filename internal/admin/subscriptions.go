package admin

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

func (s *server) subscriptionKind() *kind[gatehouse.Subscription] {
	return &kind[gatehouse.Subscription]{
		collection: "subscriptions",
		key:        "id",
		ident:      func(v *gatehouse.Subscription) string { return v.ID },
		setIdent:   func(v *gatehouse.Subscription, id string) { v.ID = id },
		revision:   func(v *gatehouse.Subscription) int64 { return v.Revision },
		check:      func(v *gatehouse.Subscription) error { return v.Validate() },
		frozen:     subscriptionFrozen,
		get:        s.store.Subscription,
		create:     s.store.CreateSubscription,
		update: func(ctx context.Context, v *gatehouse.Subscription, ifRevision int64) (*gatehouse.Subscription, error) {
			return s.store.UpdateSubscription(ctx, v.ID, v.Status, ifRevision)
		},
		remove: s.store.DeleteSubscription,
	}
}

// subscriptionFrozen enforces that a PATCH changes only the status, which is all the store
// can change: app and plan may be repeated but not altered.
func subscriptionFrozen(cur, next *gatehouse.Subscription) error {
	var p gatehouse.Problems
	if next.App != cur.App {
		p.Addf("app", "cannot be changed (is %q); create a new subscription instead", cur.App)
	}
	if next.Plan != cur.Plan {
		p.Addf("plan", "cannot be changed (is %q); create a new subscription instead", cur.Plan)
	}
	if next.Status == "" {
		p.Addf("status", "is required: one of pending, active, rejected, revoked")
	}
	return p.Err("subscription")
}

func (s *server) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "app", "plan", "status")
	if err != nil {
		return err
	}
	f := gatehouse.SubscriptionFilter{ListOptions: o, App: q.Get("app"), Plan: q.Get("plan"),
		Status: gatehouse.SubscriptionStatus(q.Get("status"))}
	if f.Status != "" && !f.Status.Valid() {
		return invalidParam("status", fmt.Sprintf("must be one of %s, %s, %s, %s",
			gatehouse.SubPending, gatehouse.SubActive, gatehouse.SubRejected, gatehouse.SubRevoked))
	}
	pg, err := s.store.Subscriptions(r.Context(), f)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func (s *server) createSubscription(w http.ResponseWriter, r *http.Request) error {
	return createOne(s, w, r, s.subscriptionKind())
}

func (s *server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	return getOne(s, w, r, s.subscriptionKind())
}

// patchSubscription approves (active), rejects, or revokes a subscription.
func (s *server) patchSubscription(w http.ResponseWriter, r *http.Request) error {
	return patchOne(s, w, r, s.subscriptionKind())
}

func (s *server) deleteSubscription(w http.ResponseWriter, r *http.Request) error {
	return deleteOne(s, w, r, s.subscriptionKind())
}
