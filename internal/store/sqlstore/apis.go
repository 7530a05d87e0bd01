package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse"
)

// API returns the API named name, or ENotFound.
func (s *Store) API(ctx context.Context, name string) (*gatehouse.API, error) {
	return getDoc[gatehouse.API](ctx, s, gatehouse.KindAPI, "SELECT doc FROM apis WHERE name = ?", name)
}

// APIs lists APIs by name.
func (s *Store) APIs(ctx context.Context, f gatehouse.APIFilter) (gatehouse.Page[*gatehouse.API], error) {
	l := listQuery{cols: "doc", table: "apis", sort: []sortCol{{"name", keyText}}}
	if f.State != "" {
		l.filter("state = ?", string(f.State))
	}
	if f.Tag != "" {
		l.filter("EXISTS (SELECT 1 FROM api_tags t WHERE t.api = apis.name AND t.tag = ?)", f.Tag)
	}
	return list(ctx, s, l, f.ListOptions, scanDoc[gatehouse.API](gatehouse.KindAPI),
		func(a *gatehouse.API) []string { return []string{a.Name} })
}

// CreateAPI stores a new API: EInvalid, or EConflict if the name is taken.
func (s *Store) CreateAPI(ctx context.Context, in *gatehouse.API) (*gatehouse.API, error) {
	return s.putAPI(ctx, in, gatehouse.ActionCreate, 0)
}

// UpdateAPI replaces the API named a.Name: EInvalid, ENotFound or EPreconditionFailed.
func (s *Store) UpdateAPI(ctx context.Context, in *gatehouse.API, ifRevision int64) (*gatehouse.API, error) {
	return s.putAPI(ctx, in, gatehouse.ActionUpdate, ifRevision)
}

func (s *Store) putAPI(ctx context.Context, in *gatehouse.API, action string, ifRevision int64) (*gatehouse.API, error) {
	a := in.Clone()
	a.Normalize()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return writeDoc[gatehouse.API](ctx, s, gatehouse.KindAPI, func(t *tx) ([]byte, error) {
		before, err := t.stamp(&a.Meta, action, "apis", "name", gatehouse.KindAPI, a.Name, ifRevision)
		if err != nil {
			return nil, err
		}
		doc, err := encode(gatehouse.KindAPI, a)
		if err != nil {
			return nil, err
		}
		if action == gatehouse.ActionCreate {
			err = t.exec(`INSERT INTO apis (name, state, revision, created_at, updated_at, doc)
				VALUES (?, ?, ?, ?, ?, ?)`,
				a.Name, string(a.State), t.rev, t.time(t.now), t.time(t.now), string(doc))
			if err != nil {
				return nil, t.conflictOnUnique(fmt.Errorf("inserting api %q: %w", a.Name, err), "api %q already exists", a.Name)
			}
		} else {
			err = t.exec(`UPDATE apis SET state = ?, revision = ?, updated_at = ?, doc = ? WHERE name = ?`,
				string(a.State), t.rev, t.time(t.now), string(doc), a.Name)
			if err != nil {
				return nil, fmt.Errorf("updating api %q: %w", a.Name, err)
			}
		}
		if err := t.putTags(a.Name, a.Tags); err != nil {
			return nil, err
		}
		return doc, t.record(gatehouse.KindAPI, action, a.Name, before, doc)
	})
}

// DeleteAPI deletes an API: ENotFound, EPreconditionFailed, or EConflict while a plan
// lists it.
func (s *Store) DeleteAPI(ctx context.Context, name string, ifRevision int64) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("apis", "name", gatehouse.KindAPI, name, ifRevision)
		if err != nil {
			return err
		}
		plan, err := t.firstString("SELECT plan FROM plan_apis WHERE api = ? ORDER BY plan LIMIT 1", name)
		if err != nil {
			return fmt.Errorf("checking plans of api %q: %w", name, err)
		}
		if plan != "" {
			return gatehouse.Errorf(gatehouse.EConflict, "api %q is offered in plan %q: remove it from the plan first", name, plan)
		}
		return t.remove("apis", "name", gatehouse.KindAPI, name, before) // tags cascade
	})
}

// putTags replaces an API's rows in api_tags, the index behind APIFilter.Tag.
func (t *tx) putTags(api string, tags []string) error {
	if err := t.exec("DELETE FROM api_tags WHERE api = ?", api); err != nil {
		return fmt.Errorf("clearing tags of api %q: %w", api, err)
	}
	for _, tag := range slices.Compact(slices.Sorted(slices.Values(tags))) {
		if err := t.exec("INSERT INTO api_tags (api, tag) VALUES (?, ?)", api, tag); err != nil {
			return fmt.Errorf("tagging api %q: %w", api, err)
		}
	}
	return nil
}

// Plan returns the plan named name, or ENotFound.
func (s *Store) Plan(ctx context.Context, name string) (*gatehouse.Plan, error) {
	return getDoc[gatehouse.Plan](ctx, s, gatehouse.KindPlan, "SELECT doc FROM plans WHERE name = ?", name)
}

// Plans lists plans by name.
func (s *Store) Plans(ctx context.Context, f gatehouse.PlanFilter) (gatehouse.Page[*gatehouse.Plan], error) {
	l := listQuery{cols: "doc", table: "plans", sort: []sortCol{{"name", keyText}}}
	if f.API != "" {
		l.filter("EXISTS (SELECT 1 FROM plan_apis pa WHERE pa.plan = plans.name AND pa.api = ?)", f.API)
	}
	return list(ctx, s, l, f.ListOptions, scanDoc[gatehouse.Plan](gatehouse.KindPlan),
		func(p *gatehouse.Plan) []string { return []string{p.Name} })
}

// CreatePlan stores a new plan: EInvalid (also when a listed API is missing), or
// EConflict if the name is taken.
func (s *Store) CreatePlan(ctx context.Context, in *gatehouse.Plan) (*gatehouse.Plan, error) {
	return s.putPlan(ctx, in, gatehouse.ActionCreate, 0)
}

// UpdatePlan replaces the plan named p.Name: EInvalid, ENotFound or EPreconditionFailed.
func (s *Store) UpdatePlan(ctx context.Context, in *gatehouse.Plan, ifRevision int64) (*gatehouse.Plan, error) {
	return s.putPlan(ctx, in, gatehouse.ActionUpdate, ifRevision)
}

func (s *Store) putPlan(ctx context.Context, in *gatehouse.Plan, action string, ifRevision int64) (*gatehouse.Plan, error) {
	p := in.Clone()
	p.Normalize()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return writeDoc[gatehouse.Plan](ctx, s, gatehouse.KindPlan, func(t *tx) ([]byte, error) {
		before, err := t.stamp(&p.Meta, action, "plans", "name", gatehouse.KindPlan, p.Name, ifRevision)
		if err != nil {
			return nil, err
		}
		if err := t.checkPlanAPIs(p); err != nil {
			return nil, err
		}
		doc, err := encode(gatehouse.KindPlan, p)
		if err != nil {
			return nil, err
		}
		if action == gatehouse.ActionCreate {
			err = t.exec(`INSERT INTO plans (name, revision, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?)`,
				p.Name, t.rev, t.time(t.now), t.time(t.now), string(doc))
			if err != nil {
				return nil, t.conflictOnUnique(fmt.Errorf("inserting plan %q: %w", p.Name, err), "plan %q already exists", p.Name)
			}
		} else {
			err = t.exec(`UPDATE plans SET revision = ?, updated_at = ?, doc = ? WHERE name = ?`,
				t.rev, t.time(t.now), string(doc), p.Name)
			if err != nil {
				return nil, fmt.Errorf("updating plan %q: %w", p.Name, err)
			}
		}
		if err := t.exec("DELETE FROM plan_apis WHERE plan = ?", p.Name); err != nil {
			return nil, fmt.Errorf("clearing apis of plan %q: %w", p.Name, err)
		}
		for _, api := range p.APIs { // unique: Normalize sorts and compacts them
			if err := t.exec("INSERT INTO plan_apis (plan, api) VALUES (?, ?)", p.Name, api); err != nil {
				return nil, fmt.Errorf("adding api %q to plan %q: %w", api, p.Name, err)
			}
		}
		return doc, t.record(gatehouse.KindPlan, action, p.Name, before, doc)
	})
}

// checkPlanAPIs reports every API the plan lists that does not exist, as EInvalid.
func (t *tx) checkPlanAPIs(p *gatehouse.Plan) error {
	var probs gatehouse.Problems
	for i, api := range p.APIs {
		ok, err := t.exists("SELECT 1 FROM apis WHERE name = ?", api)
		if err != nil {
			return fmt.Errorf("checking api %q: %w", api, err)
		}
		if !ok {
			probs.Addf(fmt.Sprintf("apis[%d]", i), "no such api %q", api)
		}
	}
	return probs.Err("plan")
}

// DeletePlan deletes a plan: ENotFound, EPreconditionFailed, or EConflict while
// subscriptions to it exist.
func (s *Store) DeletePlan(ctx context.Context, name string, ifRevision int64) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("plans", "name", gatehouse.KindPlan, name, ifRevision)
		if err != nil {
			return err
		}
		app, err := t.firstString("SELECT app FROM subscriptions WHERE plan = ? ORDER BY app LIMIT 1", name)
		if err != nil {
			return fmt.Errorf("checking subscriptions to plan %q: %w", name, err)
		}
		if app != "" {
			return gatehouse.Errorf(gatehouse.EConflict, "plan %q has subscriptions (app %q): delete them first", name, app)
		}
		return t.remove("plans", "name", gatehouse.KindPlan, name, before) // plan_apis cascade
	})
}
