package admin

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

func (s *server) planKind() *kind[gatehouse.Plan] {
	return &kind[gatehouse.Plan]{
		collection: "plans",
		key:        "name",
		ident:      func(p *gatehouse.Plan) string { return p.Name },
		setIdent:   func(p *gatehouse.Plan, n string) { p.Name = n },
		revision:   func(p *gatehouse.Plan) int64 { return p.Revision },
		check: func(p *gatehouse.Plan) error {
			p.Normalize()
			if err := p.Validate(); err != nil || s.planCheck == nil {
				return err
			}
			return s.planCheck(p)
		},
		get:    s.store.Plan,
		create: s.store.CreatePlan,
		update: s.store.UpdatePlan,
		remove: s.store.DeletePlan,
	}
}

func (s *server) listPlans(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "api")
	if err != nil {
		return err
	}
	pg, err := s.store.Plans(r.Context(), gatehouse.PlanFilter{ListOptions: o, API: q.Get("api")})
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func (s *server) createPlan(w http.ResponseWriter, r *http.Request) error {
	return createOne(s, w, r, s.planKind())
}

func (s *server) getPlan(w http.ResponseWriter, r *http.Request) error {
	return getOne(s, w, r, s.planKind())
}

func (s *server) putPlan(w http.ResponseWriter, r *http.Request) error {
	return putOne(s, w, r, s.planKind())
}

func (s *server) patchPlan(w http.ResponseWriter, r *http.Request) error {
	return patchOne(s, w, r, s.planKind())
}

func (s *server) deletePlan(w http.ResponseWriter, r *http.Request) error {
	return deleteOne(s, w, r, s.planKind())
}
