package dashboard

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

type appsData struct {
	Items     []*gatehouse.App
	Developer string
	Pager     pager
}

func (s *server) apps(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	dev := q.Get("developer")
	pg, err := s.o.Store.Apps(r.Context(), gatehouse.AppFilter{Developer: gatehouse.NormalizeEmail(dev),
		ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	s.show(w, r, c, "apps.html", "Apps", "apps", appsData{Items: pg.Items, Developer: dev, Pager: pageLinks("/ui/apps", q, pg.Next)})
	return nil
}

type appData struct {
	App      *gatehouse.App
	Keys     []*gatehouse.Key
	MoreKeys bool
	Subs     []*gatehouse.Subscription
	MoreSubs bool
	Back     string
}

func (s *server) appPage(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	app, err := s.o.Store.App(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	keys, err := s.o.Store.Keys(ctx, gatehouse.KeyFilter{App: app.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return err
	}
	subs, err := s.o.Store.Subscriptions(ctx, gatehouse.SubscriptionFilter{App: app.Name, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return err
	}
	s.show(w, r, c, "app.html", "App "+app.Name, "apps", appData{App: app, Keys: keys.Items, MoreKeys: keys.Next != "",
		Subs: subs.Items, MoreSubs: subs.Next != "", Back: r.URL.Path})
	return nil
}

func (s *server) revokeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := s.o.Store.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	redirect(w, r, "/ui/apps/"+pathEscape(k.App), "revoked")
	return nil
}

type subscriptionsData struct {
	Items    []*gatehouse.Subscription
	Status   string
	App      string
	Plan     string
	Pager    pager
	Back     string
	Statuses []gatehouse.SubscriptionStatus
}

func (s *server) subscriptions(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	status := gatehouse.SubscriptionStatus(q.Get("status"))
	if status != "" && !status.Valid() {
		return invalid("status", "must be pending, active, rejected or revoked")
	}
	pg, err := s.o.Store.Subscriptions(r.Context(), gatehouse.SubscriptionFilter{Status: status, App: q.Get("app"), Plan: q.Get("plan"),
		ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	title := "Subscriptions"
	if status == gatehouse.SubPending {
		title = "Subscriptions awaiting approval"
	}
	s.show(w, r, c, "subscriptions.html", title, "subscriptions", subscriptionsData{
		Items: pg.Items, Status: string(status), App: q.Get("app"), Plan: q.Get("plan"),
		Pager: pageLinks("/ui/subscriptions", q, pg.Next), Back: r.URL.RequestURI(),
		Statuses: []gatehouse.SubscriptionStatus{gatehouse.SubPending, gatehouse.SubActive, gatehouse.SubRejected, gatehouse.SubRevoked},
	})
	return nil
}

// subscriptionActions are the status changes the dashboard offers.
var subscriptionActions = map[string]struct {
	status gatehouse.SubscriptionStatus
	flash  string
}{
	"approve":    {gatehouse.SubActive, "approved"},
	"reject":     {gatehouse.SubRejected, "rejected"},
	"revoke":     {gatehouse.SubRevoked, "revoked"},
	"reactivate": {gatehouse.SubActive, "saved"},
}

func (s *server) setSubscriptionStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	act, ok := subscriptionActions[r.PostFormValue("action")]
	if !ok {
		return invalid("action", "must be approve, reject, revoke or reactivate")
	}
	sub, err := s.o.Store.UpdateSubscription(r.Context(), r.PathValue("id"), act.status, revision(r.PostFormValue("revision")))
	if err != nil {
		return err
	}
	back := safeNext(r.PostFormValue("back"))
	if back == basePath {
		back = "/ui/apps/" + pathEscape(sub.App)
	}
	redirect(w, r, back, act.flash)
	return nil
}
