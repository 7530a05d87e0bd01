package admin

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

func (s *server) apiKind() *kind[gatehouse.API] {
	return &kind[gatehouse.API]{
		collection: "apis",
		key:        "name",
		ident:      func(a *gatehouse.API) string { return a.Name },
		setIdent:   func(a *gatehouse.API, n string) { a.Name = n },
		revision:   func(a *gatehouse.API) int64 { return a.Revision },
		check:      s.checkAPI,
		get:        s.store.API,
		create:     s.store.CreateAPI,
		update:     s.store.UpdateAPI,
		remove:     s.store.DeleteAPI,
	}
}

// checkAPI normalizes and validates a, adding the admin API's check of the attached
// OpenAPI document and, once a is valid on its own, the server's CheckAPI hook.
func (s *server) checkAPI(a *gatehouse.API) error {
	a.Normalize()
	var p gatehouse.Problems
	p.Merge("", a.Validate())
	if msg := gatehouse.OpenAPIHeadProblem(a.OpenAPI); msg != "" {
		p.Addf("openapi", "%s", msg)
	}
	if err := p.Err("api"); err != nil || s.apiCheck == nil {
		return err
	}
	return s.apiCheck(a)
}

func (s *server) listAPIs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "state", "tag")
	if err != nil {
		return err
	}
	f := gatehouse.APIFilter{ListOptions: o, State: gatehouse.APIState(q.Get("state")), Tag: q.Get("tag")}
	if f.State != "" && !f.State.Valid() {
		return invalidParam("state", "must be one of draft, published, deprecated, retired")
	}
	pg, err := s.store.APIs(r.Context(), f)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func (s *server) createAPI(w http.ResponseWriter, r *http.Request) error {
	return createOne(s, w, r, s.apiKind())
}

func (s *server) getAPI(w http.ResponseWriter, r *http.Request) error {
	return getOne(s, w, r, s.apiKind())
}

func (s *server) putAPI(w http.ResponseWriter, r *http.Request) error {
	return putOne(s, w, r, s.apiKind())
}

func (s *server) patchAPI(w http.ResponseWriter, r *http.Request) error {
	return patchOne(s, w, r, s.apiKind())
}

func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request) error {
	return deleteOne(s, w, r, s.apiKind())
}

// invalidParam reports a bad query parameter.
func invalidParam(name, msg string) error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid query",
		Fields: []gatehouse.FieldError{{Field: name, Message: msg}}}
}

// purgeCache drops an API's cached responses. It changes no configuration, so it bumps no
// revision; it is logged with the actor instead.
func (s *server) purgeCache(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.store.API(r.Context(), name); err != nil {
		return err
	}
	if s.purge != nil {
		if err := s.purge(r.Context(), name); err != nil {
			return &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "the cache could not be purged; retry shortly", Err: err}
		}
	}
	s.log.InfoContext(r.Context(), "cache purged", "api", name, "actor", gatehouse.ActorFrom(r.Context()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
