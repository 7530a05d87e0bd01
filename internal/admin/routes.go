package admin

import (
	"net/http"
	"runtime/debug"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// handlerFunc is an admin endpoint. It returns an error instead of writing one, so that
// errors are rendered (and internal ones logged) in exactly one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one endpoint: a method, a ServeMux path pattern, whether it needs no admin
// token, and its handler.
type route struct {
	method string
	path   string
	public bool
	h      handlerFunc
}

// routes lists every endpoint of the admin API. openapi.json describes exactly these; a
// test keeps the two equal.
func (s *server) routes() []route {
	const get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	return []route{
		{get, "/healthz", true, s.healthz},
		{get, "/readyz", true, s.readyz},
		{get, "/v1/openapi.json", true, s.openapi},
		{get, "/v1/status", false, s.status},
		{get, "/v1/gateway", false, s.gatewayStatus},

		{get, "/v1/apis", false, s.listAPIs},
		{post, "/v1/apis", false, s.createAPI},
		{get, "/v1/apis/{name}", false, s.getAPI},
		{put, "/v1/apis/{name}", false, s.putAPI},
		{patch, "/v1/apis/{name}", false, s.patchAPI},
		{del, "/v1/apis/{name}", false, s.deleteAPI},
		{del, "/v1/apis/{name}/cache", false, s.purgeCache},

		{get, "/v1/plans", false, s.listPlans},
		{post, "/v1/plans", false, s.createPlan},
		{get, "/v1/plans/{name}", false, s.getPlan},
		{put, "/v1/plans/{name}", false, s.putPlan},
		{patch, "/v1/plans/{name}", false, s.patchPlan},
		{del, "/v1/plans/{name}", false, s.deletePlan},

		{get, "/v1/developers", false, s.listDevelopers},
		{post, "/v1/developers", false, s.createDeveloper},
		{get, "/v1/developers/{email}", false, s.getDeveloper},
		{put, "/v1/developers/{email}", false, s.putDeveloper},
		{patch, "/v1/developers/{email}", false, s.patchDeveloper},
		{del, "/v1/developers/{email}", false, s.deleteDeveloper},

		{get, "/v1/apps", false, s.listApps},
		{post, "/v1/apps", false, s.createApp},
		{get, "/v1/apps/{name}", false, s.getApp},
		{put, "/v1/apps/{name}", false, s.putApp},
		{patch, "/v1/apps/{name}", false, s.patchApp},
		{del, "/v1/apps/{name}", false, s.deleteApp},

		{get, "/v1/apps/{name}/keys", false, s.listKeys},
		{post, "/v1/apps/{name}/keys", false, s.createKey},
		{get, "/v1/apps/{name}/keys/{id}", false, s.getKey},
		{del, "/v1/apps/{name}/keys/{id}", false, s.deleteKey},
		{post, "/v1/apps/{name}/keys/{id}/revoke", false, s.revokeKey},
		{post, "/v1/apps/{name}/keys/{id}/rotate", false, s.rotateKey},

		{get, "/v1/subscriptions", false, s.listSubscriptions},
		{post, "/v1/subscriptions", false, s.createSubscription},
		{get, "/v1/subscriptions/{id}", false, s.getSubscription},
		{patch, "/v1/subscriptions/{id}", false, s.patchSubscription},
		{del, "/v1/subscriptions/{id}", false, s.deleteSubscription},

		{get, "/v1/admin-tokens", false, s.listAdminTokens},
		{post, "/v1/admin-tokens", false, s.createAdminToken},
		{del, "/v1/admin-tokens/{id}", false, s.deleteAdminToken},

		{get, "/v1/admin-users", false, s.listAdminUsers},
		{post, "/v1/admin-users", false, s.createAdminUser},
		{put, "/v1/admin-users/{name}", false, s.updateAdminUser},
		{del, "/v1/admin-users/{name}", false, s.deleteAdminUser},
		{post, "/v1/developers/{email}/reset-link", false, s.createResetLink},

		{get, "/v1/audit", false, s.listAudit},
	}
}

// handler wraps an endpoint: panic recovery, authentication unless public, and error
// rendering.
func (s *server) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "admin api: panic", "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				// Logged above with its stack; the caller learns only that it failed.
				problem.Write(w, http.StatusInternalServerError, gatehouse.EInternal, "internal error")
			}
		}()
		if !rt.public {
			ctx, err := s.authenticate(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
		}
		if err := rt.h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
