package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/router"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// CheckAPI reports whether a would compile into a route table: its routes (or those of its
// OpenAPI document) must be valid and unambiguous, its upstream's TLS files must load, and
// its policies must be known types with valid configurations. The admin API calls it
// before writing. Without it, a bad document would be stored and then fail every later
// configuration swap until someone fixed it.
func (g *Gateway) CheckAPI(a *gatehouse.API) error {
	if a.State == gatehouse.StateDraft {
		return nil // drafts are not compiled; they are checked when they are published
	}
	var p gatehouse.Problems
	routes, err := apiRoutes(a)
	if err != nil {
		p.Addf("openapi", "%s", strings.TrimPrefix(err.Error(), "openapi: "))
		return p.Err("api")
	}
	if _, err := router.Build([]router.Entry[struct{}]{{Name: "api " + a.Name, Hosts: a.Hosts, Prefix: a.Path, Routes: routes}}); err != nil {
		field := "routes"
		if len(a.Routes) == 0 {
			field = "openapi"
		}
		p.Addf(field, "%s", err.Error())
	}
	if a.State != gatehouse.StateRetired {
		if err := upstream.Check(a.Upstream); err != nil {
			p.Addf("upstream", "%s", err.Error())
		}
		g.checkPolicies(&p, a, routes)
	}
	return p.Err("api")
}

// checkPolicies compiles a's chains with a short-lived Env, so nothing a policy starts
// outlives the check. Plans are left out: their policies are checked by CheckPlan.
func (g *Gateway) checkPolicies(p *gatehouse.Problems, a *gatehouse.API, routes []router.Route) {
	ctx, cancel := context.WithCancel(g.services.Ctx)
	defer cancel()
	env := g.services
	env.Ctx = ctx
	terminal := policy.HandlerFunc(func(*policy.Context) error { return nil })
	if anyEnabled(a.Policies) {
		e := env
		e.API = a
		if _, err := g.policies.Build(&e, a.Policies, nil, terminal); err != nil {
			addPolicyProblems(p, "policies", err)
		}
	}
	for i, r := range routes {
		if len(r.Policies) == 0 {
			continue
		}
		e := env
		e.API, e.Route = a, &r
		if _, err := g.policies.Build(&e, policy.Merge(a.Policies, r.Policies), nil, terminal); err != nil {
			// Indexes are into the merged list, so the route's field names the list only.
			p.Addf(fmt.Sprintf("routes[%d].policies", i), "%s", err.Error())
		}
	}
}

// CheckPlan reports whether a plan's policies are known limits-phase types with valid
// configurations.
func (g *Gateway) CheckPlan(pl *gatehouse.Plan) error {
	if err := g.policies.CheckPlan(pl); err != nil {
		var p gatehouse.Problems
		addPolicyProblems(&p, "policies", err)
		return p.Err("plan")
	}
	return nil
}

// addPolicyProblems reports each spec's problem at its own field path, e.g.
// policies[1].config: "rate-limit: limit: must be positive".
func addPolicyProblems(p *gatehouse.Problems, field string, err error) {
	specs, other := policy.SpecErrors(err)
	for _, se := range specs {
		msg := se.Err.Error()
		if se.Type != "" {
			msg = se.Type + ": " + msg
		}
		p.Addf(fmt.Sprintf("%s[%d].%s", field, se.Index, se.Field), "%s", msg)
	}
	for _, e := range other {
		p.Addf(field, "%s", e.Error())
	}
}
