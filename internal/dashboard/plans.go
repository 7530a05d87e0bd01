package dashboard

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

type plansData struct {
	Items []*gatehouse.Plan
	API   string
	Pager pager
}

func (s *server) plans(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	pg, err := s.o.Store.Plans(r.Context(), gatehouse.PlanFilter{API: q.Get("api"),
		ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	s.show(w, r, c, "plans.html", "Plans", "plans", plansData{Items: pg.Items, API: q.Get("api"), Pager: pageLinks("/ui/plans", q, pg.Next)})
	return nil
}

type planData struct {
	Plan     *gatehouse.Plan // nil for a new plan
	Revision int64
	JSON     string
	Subs     int  // subscriptions to the plan (first page)
	MoreSubs bool // more than Subs
	Err      *formErr
}

const planTemplate = `{
  "name": "gold",
  "description": "",
  "apis": ["orders"],
  "rate_limit": {"limit": 100, "window": "1s"},
  "quota": {"limit": 1000000, "period": "month"},
  "approval": "manual"
}`

func (s *server) newPlanPage(w http.ResponseWriter, r *http.Request, c *call) error {
	s.show(w, r, c, "plan.html", "New plan", "plans", planData{JSON: planTemplate})
	return nil
}

func (s *server) planPage(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := s.o.Store.Plan(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	d, err := s.planData(r, p)
	if err != nil {
		return err
	}
	s.show(w, r, c, "plan.html", "Plan "+p.Name, "plans", d)
	return nil
}

func (s *server) planData(r *http.Request, p *gatehouse.Plan) (planData, error) {
	shown := p.Clone()
	shown.Meta = gatehouse.Meta{}
	subs, err := s.o.Store.Subscriptions(r.Context(), gatehouse.SubscriptionFilter{Plan: p.Name,
		ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}})
	if err != nil {
		return planData{}, err
	}
	return planData{Plan: p, Revision: p.Revision, JSON: indentJSON(shown), Subs: len(subs.Items), MoreSubs: subs.Next != ""}, nil
}

func (s *server) createPlan(w http.ResponseWriter, r *http.Request, c *call) error {
	text := r.PostFormValue("json")
	p := &gatehouse.Plan{}
	err := decodeJSON(text, p)
	if err == nil {
		p.Meta = gatehouse.Meta{}
		_, err = s.o.Store.CreatePlan(r.Context(), p)
	}
	if err != nil {
		d := planData{JSON: text}
		if d.Err, err = toFormErr(err); err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "plan.html", "New plan", "plans", d)
		return nil
	}
	redirect(w, r, "/ui/plans/"+pathEscape(p.Name), "created")
	return nil
}

func (s *server) updatePlan(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	text := r.PostFormValue("json")
	rev := revision(r.PostFormValue("revision"))
	p := &gatehouse.Plan{}
	err := decodeJSON(text, p)
	if err == nil && p.Name != "" && p.Name != name {
		err = invalid("name", "names cannot change; create a new plan instead")
	}
	if err == nil {
		p.Name, p.Meta = name, gatehouse.Meta{}
		_, err = s.o.Store.UpdatePlan(r.Context(), p, rev)
	}
	if err != nil {
		return s.renderPlanError(w, r, c, name, text, rev, err)
	}
	redirect(w, r, "/ui/plans/"+pathEscape(name), "saved")
	return nil
}

func (s *server) renderPlanError(w http.ResponseWriter, r *http.Request, c *call, name, text string, rev int64, err error) error {
	fe, err := toFormErr(err)
	if err != nil {
		return err
	}
	cur, err := s.o.Store.Plan(r.Context(), name)
	if err != nil {
		return err
	}
	d, err := s.planData(r, cur)
	if err != nil {
		return err
	}
	d.Err = fe
	if text != "" {
		d.JSON, d.Revision = text, rev
	}
	s.showStatus(w, r, c, http.StatusUnprocessableEntity, "plan.html", "Plan "+name, "plans", d)
	return nil
}

func (s *server) deletePlan(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	if err := s.o.Store.DeletePlan(r.Context(), name, revision(r.PostFormValue("revision"))); err != nil {
		return s.renderPlanError(w, r, c, name, "", 0, err)
	}
	redirect(w, r, "/ui/plans", "deleted")
	return nil
}
