// Package subscription is the authorization check every authenticated API gets: the
// calling app must hold an active subscription to a plan that includes the API. It also
// tells the upstream who is calling, in headers the API chooses, and removes any copies of
// those headers a client sent, so they cannot be forged.
package subscription

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Headers names the request headers that carry the caller's identity upstream. An empty
// string turns one off.
type Headers struct {
	// App carries the app name. Default "X-Consumer-App".
	App *string `json:"app,omitempty"`
	// Developer carries the owning developer's email. Default "X-Consumer-Developer".
	Developer *string `json:"developer,omitempty"`
	// Plan carries the plan that granted access. Default "X-Consumer-Plan".
	Plan *string `json:"plan,omitempty"`
	// KeyID carries the key's id (never the secret). Default "X-Consumer-Key-Id".
	KeyID *string `json:"key_id,omitempty"`
	// Subject carries a token's or certificate's subject. Default "X-Consumer-Subject".
	Subject *string `json:"subject,omitempty"`
}

// Config configures the subscription check. It is added with defaults to every API with an
// authentication policy; list it to change the headers, or disable it to only authenticate.
type Config struct {
	// Headers are the identity headers sent upstream; see Headers for defaults.
	Headers Headers `json:"headers,omitzero"`
}

// Validate checks header names.
func (c *Config) Validate() error {
	for field, v := range map[string]*string{"headers.app": c.Headers.App, "headers.developer": c.Headers.Developer,
		"headers.plan": c.Headers.Plan, "headers.key_id": c.Headers.KeyID, "headers.subject": c.Headers.Subject} {
		if v != nil && *v != "" && !policy.ValidHeaderName(*v) {
			return fmt.Errorf("%s: %q is not a valid header name", field, *v)
		}
	}
	return nil
}

// Type registers the subscription check.
var Type = policy.Define(policy.SubscriptionType, policy.Authz, "the app must subscribe to a plan that includes the API", New)

type check struct {
	next Handler
	api  string
	// header names, canonical; "" when off
	app, developer, plan, keyID, subject string
	anonymous                            *policy.Error
}

// Handler is policy.Handler, named here for brevity.
type Handler = policy.Handler

func header(v *string, def string) string {
	if v == nil {
		return def
	}
	return http.CanonicalHeaderKey(*v)
}

// New builds the check.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	api := "this API"
	if env.API != nil {
		api = env.API.Name
	}
	h := cfg.Headers
	return &check{
		next:      next,
		api:       api,
		app:       header(h.App, "X-Consumer-App"),
		developer: header(h.Developer, "X-Consumer-Developer"),
		plan:      header(h.Plan, "X-Consumer-Plan"),
		keyID:     header(h.KeyID, "X-Consumer-Key-Id"),
		subject:   header(h.Subject, "X-Consumer-Subject"),
		anonymous: policy.Reject(name, http.StatusForbidden, "not_subscribed", fmt.Sprintf("the caller is not an app with a subscription to %s", api)),
	}, nil
}

func (k *check) Serve(c *policy.Context) error {
	id := &c.Identity
	if id.Consumer == nil {
		return k.anonymous
	}
	g := id.Consumer.GrantFor(k.api)
	if g == nil {
		return policy.Reject(k.anonymous.Policy, http.StatusForbidden, "not_subscribed",
			fmt.Sprintf("app %q has no active subscription to a plan that includes API %q", id.App, k.api))
	}
	id.Plan = g.Plan.Name
	h := c.R.Header
	set(c, h, k.app, id.App)
	set(c, h, k.developer, id.Developer)
	set(c, h, k.plan, id.Plan)
	set(c, h, k.keyID, id.KeyID)
	set(c, h, k.subject, id.Subject)
	return k.next.Serve(c)
}

// set replaces a header (dropping any client-sent copies) or removes it when v is empty,
// without allocating.
func set(c *policy.Context, h http.Header, name, v string) {
	if name == "" {
		return
	}
	if v == "" {
		delete(h, name)
		return
	}
	h[name] = c.OneValue(v)
}
