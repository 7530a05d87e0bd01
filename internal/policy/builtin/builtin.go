// Package builtin is the one list of policy types the gateway knows. Adding a policy means
// adding its package's Type here (and its docs page; a test checks both).
package builtin

import (
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/basicauth"
	"github.com/gatehouse-dev/gatehouse/internal/policy/bot"
	"github.com/gatehouse-dev/gatehouse/internal/policy/cache"
	"github.com/gatehouse-dev/gatehouse/internal/policy/concurrency"
	"github.com/gatehouse-dev/gatehouse/internal/policy/cors"
	"github.com/gatehouse-dev/gatehouse/internal/policy/header"
	"github.com/gatehouse-dev/gatehouse/internal/policy/introspection"
	"github.com/gatehouse-dev/gatehouse/internal/policy/ipfilter"
	"github.com/gatehouse-dev/gatehouse/internal/policy/jwt"
	"github.com/gatehouse-dev/gatehouse/internal/policy/keyauth"
	"github.com/gatehouse-dev/gatehouse/internal/policy/mtls"
	"github.com/gatehouse-dev/gatehouse/internal/policy/openapivalidate"
	"github.com/gatehouse-dev/gatehouse/internal/policy/quota"
	"github.com/gatehouse-dev/gatehouse/internal/policy/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/policy/requestsize"
	"github.com/gatehouse-dev/gatehouse/internal/policy/scopes"
	"github.com/gatehouse-dev/gatehouse/internal/policy/subscription"
	"github.com/gatehouse-dev/gatehouse/internal/policy/transform"
)

// Types lists every built-in policy type.
func Types() []policy.Type {
	return []policy.Type{
		// edge
		ipfilter.Type,
		cors.Type,
		bot.Type,
		requestsize.Type,
		// authentication
		keyauth.Type,
		jwt.Type,
		basicauth.Type,
		introspection.Type,
		mtls.Type,
		// authorization
		subscription.Type,
		scopes.Type,
		// limits
		ratelimit.Type,
		quota.Type,
		concurrency.Type,
		// validation
		openapivalidate.Type,
		// caching
		cache.Type,
		// transformation
		header.Type,
		transform.Type,
	}
}

// Registry indexes Types.
func Registry() policy.Registry { return policy.NewRegistry(Types()...) }
