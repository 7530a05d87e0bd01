package admin

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

func (s *server) appKind() *kind[gatehouse.App] {
	return &kind[gatehouse.App]{
		collection: "apps",
		key:        "name",
		ident:      func(a *gatehouse.App) string { return a.Name },
		setIdent:   func(a *gatehouse.App, n string) { a.Name = n },
		revision:   func(a *gatehouse.App) int64 { return a.Revision },
		check: func(a *gatehouse.App) error {
			a.Normalize()
			return a.Validate()
		},
		get:    s.store.App,
		create: s.store.CreateApp,
		update: s.store.UpdateApp,
		remove: s.store.DeleteApp,
	}
}

func (s *server) listApps(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "developer")
	if err != nil {
		return err
	}
	f := gatehouse.AppFilter{ListOptions: o, Developer: gatehouse.NormalizeEmail(q.Get("developer"))}
	pg, err := s.store.Apps(r.Context(), f)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) error {
	return createOne(s, w, r, s.appKind())
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request) error {
	return getOne(s, w, r, s.appKind())
}

func (s *server) putApp(w http.ResponseWriter, r *http.Request) error {
	return putOne(s, w, r, s.appKind())
}

func (s *server) patchApp(w http.ResponseWriter, r *http.Request) error {
	return patchOne(s, w, r, s.appKind())
}

func (s *server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	return deleteOne(s, w, r, s.appKind())
}
