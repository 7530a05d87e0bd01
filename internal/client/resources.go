package client

import (
	"context"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
)

// Named resources: APIs, plans, developers (named by email) and apps. Each has the same
// seven calls. ifRevision 0 means unconditional; otherwise it is sent as If-Match and the
// call fails with EPreconditionFailed if the resource changed since that revision.
// Patch bodies are JSON merge patches (RFC 7396): a map or a struct with omitempty fields.

// APIs returns one page of APIs.
func (c *Client) APIs(ctx context.Context, f gatehouse.APIFilter) (gatehouse.Page[*gatehouse.API], error) {
	return list[*gatehouse.API](ctx, c, path("apis"), listQuery(f.ListOptions, "state", string(f.State), "tag", f.Tag))
}

// AllAPIs returns every API that f selects, following the cursor from f.After.
func (c *Client) AllAPIs(ctx context.Context, f gatehouse.APIFilter) ([]*gatehouse.API, error) {
	return all[*gatehouse.API](ctx, c, path("apis"), listQuery(f.ListOptions, "state", string(f.State), "tag", f.Tag))
}

// API returns the API called name.
func (c *Client) API(ctx context.Context, name string) (*gatehouse.API, error) {
	return get[*gatehouse.API](ctx, c, path("apis", name))
}

// CreateAPI creates a and returns it as stored.
func (c *Client) CreateAPI(ctx context.Context, a *gatehouse.API) (*gatehouse.API, error) {
	return send[*gatehouse.API](ctx, c, http.MethodPost, path("apis"), a, 0)
}

// UpdateAPI replaces the API called a.Name with a.
func (c *Client) UpdateAPI(ctx context.Context, a *gatehouse.API, ifRevision int64) (*gatehouse.API, error) {
	return send[*gatehouse.API](ctx, c, http.MethodPut, path("apis", a.Name), a, ifRevision)
}

// PatchAPI applies a merge patch to the API called name.
func (c *Client) PatchAPI(ctx context.Context, name string, patch any, ifRevision int64) (*gatehouse.API, error) {
	return send[*gatehouse.API](ctx, c, http.MethodPatch, path("apis", name), patch, ifRevision)
}

// DeleteAPI deletes the API called name.
func (c *Client) DeleteAPI(ctx context.Context, name string, ifRevision int64) error {
	return del(ctx, c, path("apis", name), ifRevision)
}

// Plans returns one page of plans.
func (c *Client) Plans(ctx context.Context, f gatehouse.PlanFilter) (gatehouse.Page[*gatehouse.Plan], error) {
	return list[*gatehouse.Plan](ctx, c, path("plans"), listQuery(f.ListOptions, "api", f.API))
}

// AllPlans returns every plan that f selects.
func (c *Client) AllPlans(ctx context.Context, f gatehouse.PlanFilter) ([]*gatehouse.Plan, error) {
	return all[*gatehouse.Plan](ctx, c, path("plans"), listQuery(f.ListOptions, "api", f.API))
}

// Plan returns the plan called name.
func (c *Client) Plan(ctx context.Context, name string) (*gatehouse.Plan, error) {
	return get[*gatehouse.Plan](ctx, c, path("plans", name))
}

// CreatePlan creates p.
func (c *Client) CreatePlan(ctx context.Context, p *gatehouse.Plan) (*gatehouse.Plan, error) {
	return send[*gatehouse.Plan](ctx, c, http.MethodPost, path("plans"), p, 0)
}

// UpdatePlan replaces the plan called p.Name with p.
func (c *Client) UpdatePlan(ctx context.Context, p *gatehouse.Plan, ifRevision int64) (*gatehouse.Plan, error) {
	return send[*gatehouse.Plan](ctx, c, http.MethodPut, path("plans", p.Name), p, ifRevision)
}

// PatchPlan applies a merge patch to the plan called name.
func (c *Client) PatchPlan(ctx context.Context, name string, patch any, ifRevision int64) (*gatehouse.Plan, error) {
	return send[*gatehouse.Plan](ctx, c, http.MethodPatch, path("plans", name), patch, ifRevision)
}

// DeletePlan deletes the plan called name.
func (c *Client) DeletePlan(ctx context.Context, name string, ifRevision int64) error {
	return del(ctx, c, path("plans", name), ifRevision)
}

// Developers returns one page of developers.
func (c *Client) Developers(ctx context.Context, f gatehouse.DeveloperFilter) (gatehouse.Page[*gatehouse.Developer], error) {
	return list[*gatehouse.Developer](ctx, c, path("developers"), listQuery(f.ListOptions, "status", f.Status))
}

// AllDevelopers returns every developer that f selects.
func (c *Client) AllDevelopers(ctx context.Context, f gatehouse.DeveloperFilter) ([]*gatehouse.Developer, error) {
	return all[*gatehouse.Developer](ctx, c, path("developers"), listQuery(f.ListOptions, "status", f.Status))
}

// Developer returns the developer with this email.
func (c *Client) Developer(ctx context.Context, email string) (*gatehouse.Developer, error) {
	return get[*gatehouse.Developer](ctx, c, path("developers", email))
}

// CreateDeveloper creates d.
func (c *Client) CreateDeveloper(ctx context.Context, d *gatehouse.Developer) (*gatehouse.Developer, error) {
	return send[*gatehouse.Developer](ctx, c, http.MethodPost, path("developers"), d, 0)
}

// UpdateDeveloper replaces the developer with d.Email by d.
func (c *Client) UpdateDeveloper(ctx context.Context, d *gatehouse.Developer, ifRevision int64) (*gatehouse.Developer, error) {
	return send[*gatehouse.Developer](ctx, c, http.MethodPut, path("developers", d.Email), d, ifRevision)
}

// PatchDeveloper applies a merge patch to the developer with this email.
func (c *Client) PatchDeveloper(ctx context.Context, email string, patch any, ifRevision int64) (*gatehouse.Developer, error) {
	return send[*gatehouse.Developer](ctx, c, http.MethodPatch, path("developers", email), patch, ifRevision)
}

// DeleteDeveloper deletes the developer with this email.
func (c *Client) DeleteDeveloper(ctx context.Context, email string, ifRevision int64) error {
	return del(ctx, c, path("developers", email), ifRevision)
}

// Apps returns one page of apps.
func (c *Client) Apps(ctx context.Context, f gatehouse.AppFilter) (gatehouse.Page[*gatehouse.App], error) {
	return list[*gatehouse.App](ctx, c, path("apps"), listQuery(f.ListOptions, "developer", f.Developer))
}

// AllApps returns every app that f selects.
func (c *Client) AllApps(ctx context.Context, f gatehouse.AppFilter) ([]*gatehouse.App, error) {
	return all[*gatehouse.App](ctx, c, path("apps"), listQuery(f.ListOptions, "developer", f.Developer))
}

// App returns the app called name.
func (c *Client) App(ctx context.Context, name string) (*gatehouse.App, error) {
	return get[*gatehouse.App](ctx, c, path("apps", name))
}

// CreateApp creates a.
func (c *Client) CreateApp(ctx context.Context, a *gatehouse.App) (*gatehouse.App, error) {
	return send[*gatehouse.App](ctx, c, http.MethodPost, path("apps"), a, 0)
}

// UpdateApp replaces the app called a.Name with a.
func (c *Client) UpdateApp(ctx context.Context, a *gatehouse.App, ifRevision int64) (*gatehouse.App, error) {
	return send[*gatehouse.App](ctx, c, http.MethodPut, path("apps", a.Name), a, ifRevision)
}

// PatchApp applies a merge patch to the app called name.
func (c *Client) PatchApp(ctx context.Context, name string, patch any, ifRevision int64) (*gatehouse.App, error) {
	return send[*gatehouse.App](ctx, c, http.MethodPatch, path("apps", name), patch, ifRevision)
}

// DeleteApp deletes the app called name, and its keys with it.
func (c *Client) DeleteApp(ctx context.Context, name string, ifRevision int64) error {
	return del(ctx, c, path("apps", name), ifRevision)
}
