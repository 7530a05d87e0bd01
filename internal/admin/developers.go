package admin

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

// Developers are named by email, compared case-insensitively (NormalizeEmail), so
// /v1/developers/Dev@Example.com and /v1/developers/dev@example.com are one resource.
func (s *server) developerKind() *kind[gatehouse.Developer] {
	return &kind[gatehouse.Developer]{
		collection: "developers",
		key:        "email",
		canonical:  gatehouse.NormalizeEmail,
		ident:      func(d *gatehouse.Developer) string { return d.Email },
		setIdent:   func(d *gatehouse.Developer, e string) { d.Email = e },
		revision:   func(d *gatehouse.Developer) int64 { return d.Revision },
		check: func(d *gatehouse.Developer) error {
			d.Normalize()
			return d.Validate()
		},
		get:    s.store.Developer,
		create: s.store.CreateDeveloper,
		update: s.store.UpdateDeveloper,
		remove: s.store.DeleteDeveloper,
	}
}

func (s *server) listDevelopers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "status")
	if err != nil {
		return err
	}
	f := gatehouse.DeveloperFilter{ListOptions: o, Status: q.Get("status")}
	if f.Status != "" && !gatehouse.ValidDeveloperStatus(f.Status) {
		return invalidParam("status", "must be active, pending or blocked")
	}
	pg, err := s.store.Developers(r.Context(), f)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func (s *server) createDeveloper(w http.ResponseWriter, r *http.Request) error {
	return createOne(s, w, r, s.developerKind())
}

func (s *server) getDeveloper(w http.ResponseWriter, r *http.Request) error {
	return getOne(s, w, r, s.developerKind())
}

func (s *server) putDeveloper(w http.ResponseWriter, r *http.Request) error {
	return putOne(s, w, r, s.developerKind())
}

func (s *server) patchDeveloper(w http.ResponseWriter, r *http.Request) error {
	return patchOne(s, w, r, s.developerKind())
}

func (s *server) deleteDeveloper(w http.ResponseWriter, r *http.Request) error {
	return deleteOne(s, w, r, s.developerKind())
}
