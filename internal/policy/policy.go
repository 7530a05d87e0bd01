// Package policy is the policy framework: the phases policies run in, the per-request
// Context they share, the Error a rejecting policy returns, and Build, which compiles an
// API's (and a route's) policy specs into one Handler chain in front of the proxy.
//
// Each policy type lives in its own package under internal/policy/<name>, exposing a
// documented Config and New; internal/policy/builtin is the one list of them. Policies
// never import the gateway, the admin API or a store: what they need from the node comes
// in Env.
package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// Phase orders policies: a chain runs phase by phase, and in configuration order within a
// phase, whatever order the specs were listed in.
type Phase int8

// The phases, in the order a request meets them.
const (
	Edge       Phase = iota // before anything else: ip-filter, cors preflight, bot, request-size
	Authn                   // who is calling: key-auth, jwt, basic-auth, ... (first match wins)
	Authz                   // may they: subscription, scopes
	Limits                  // how much: rate-limit, quota, concurrency (plans' limits first)
	Validation              // is the request well-formed: openapi-validate
	Caching                 // answered from cache?
	Transform               // reshape what goes upstream and what comes back
)

var phaseNames = [...]string{"edge", "authentication", "authorization", "limits", "validation", "cache", "transform"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Handler is one link of a chain. A policy's handler either calls the next handler (the
// one it was built with) or returns an *Error without calling it.
type Handler interface {
	Serve(c *Context) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *Context) error

// Serve calls f(c).
func (f HandlerFunc) Serve(c *Context) error { return f(c) }

// Authenticator is what an authentication-phase policy builds. Authenticate returns
// (false, nil) when the request carries none of its credentials, so that the next method
// is tried; (true, nil) after setting c.Identity; or an *Error when credentials are
// present but wrong (a bad key is 401 even if another method would have matched).
// On success it removes its credentials from c.R, so the secret never goes upstream.
type Authenticator interface {
	Authenticate(c *Context) (bool, error)
	// Challenge is this method's WWW-Authenticate challenge, "" for none.
	Challenge() string
}

// Error is a rejection: the gateway renders it once as a problem document with Status and
// Code, and analytics records Policy and Code. Build errors once in New and return the same
// value per rejection where the detail does not vary, so rejecting allocates nothing.
type Error struct {
	Status int
	Code   string
	Detail string
	Policy string // the rejecting policy's instance name
}

func (e *Error) Error() string { return e.Policy + ": " + e.Code + ": " + e.Detail }

// Reject returns an *Error from policy name.
func Reject(name string, status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail, Policy: name}
}

// Identity is who a request comes from, set by the authentication phase and completed by
// authorization (Plan). Values are shared with the caches that produced them: read only.
type Identity struct {
	Method    string // the policy type that identified the caller: "key-auth", "jwt", ...
	App       string
	Developer string
	KeyID     string // the key or credential id, never the secret
	Plan      string // the plan that grants this API, set by the subscription check
	Subject   string // a token's sub, a certificate's subject, a basic-auth user
	Scopes    []string
	Claims    map[string]any // a token's claims (jwt, introspection), nil otherwise
	// Consumer is the resolved app with its grants (nil when the method identifies a
	// subject but no app); the subscription check reads its Grants.
	Consumer *Consumer
}

// Params are the matched route's path parameters.
type Params interface {
	Get(name string) (string, bool)
}

// Context is one request's state on its way through a chain. The gateway takes one from a
// pool per request and puts it back when the chain returns: policies must not keep it, or
// anything from it, after Serve returns.
type Context struct {
	W http.ResponseWriter
	R *http.Request
	// API and Route name what matched; Route is "" for an API without named routes.
	API    string
	Route  string
	Params Params
	// Identity is set by authentication; zero for anonymous requests.
	Identity Identity
	// Cache is the cache outcome for analytics and X-Cache: "", "HIT", "MISS", "BYPASS"...
	Cache string
	// Rejected is the error that ended the chain early, for analytics.
	Rejected *Error

	clientIP netip.Addr
	vals     [8]string // backing for OneValue
	nvals    int
}

// OneValue returns []string{v} for a header value, backed by storage in c so that setting
// a header allocates nothing. The slice is valid until the Context is released, when the
// chain returns. That is safe for request headers (the proxy copies them while the chain
// runs) and for response headers set before the status is written within the chain:
// net/http (HTTP/1 and HTTP/2) and httptest snapshot the header map at WriteHeader, and the
// proxy and Render always write the status before the chain returns. A response header
// set after WriteHeader, or by a chain that returns without writing, must not use it.
func (c *Context) OneValue(v string) []string {
	if c.nvals == len(c.vals) {
		return []string{v}
	}
	i := c.nvals
	c.nvals++
	c.vals[i] = v
	return c.vals[i : i+1 : i+1]
}

var pool = sync.Pool{New: func() any { return new(Context) }}

// Acquire returns a reset Context for w and r from a pool.
func Acquire(w http.ResponseWriter, r *http.Request) *Context {
	c := pool.Get().(*Context)
	c.Reset(w, r)
	return c
}

// Release resets c and returns it to the pool; c must not be used afterwards.
func Release(c *Context) {
	c.Reset(nil, nil)
	pool.Put(c)
}

// Reset clears c for a new request (or, with nils, for reuse), for callers that pool
// Contexts themselves.
func (c *Context) Reset(w http.ResponseWriter, r *http.Request) {
	*c = Context{W: w, R: r}
}

// ClientIP is the client's address: the connection's peer, unless an edge policy that
// trusts the proxy in front replaced it with SetClientIP.
func (c *Context) ClientIP() netip.Addr {
	if !c.clientIP.IsValid() {
		if ap, err := netip.ParseAddrPort(c.R.RemoteAddr); err == nil {
			c.clientIP = ap.Addr().Unmap()
		} else if a, err := netip.ParseAddr(c.R.RemoteAddr); err == nil {
			c.clientIP = a.Unmap()
		}
	}
	return c.clientIP
}

// SetClientIP replaces the client address (trusted proxies, see ip-filter).
func (c *Context) SetClientIP(a netip.Addr) { c.clientIP = a.Unmap() }

// Param returns the path parameter name, or "".
func (c *Context) Param(name string) string {
	if c.Params == nil {
		return ""
	}
	v, _ := c.Params.Get(name)
	return v
}

// Env is what a policy may use from the node it runs on. Shared services (limiter,
// counters, cache, directory) live as long as the node, across snapshots, so that a
// configuration change does not reset a rate limit or empty a cache.
type Env struct {
	// Ctx lives as long as the node: background work (JWKS refresh) stops when it ends.
	Ctx    context.Context
	Logger *slog.Logger
	// API is the API being compiled; Route is the route, nil for API-level policies.
	API   *gatehouse.API
	Route *gatehouse.Route
	// Now is the clock (tests move it).
	Now func() time.Time
	// Services shared by every API.
	Directory Directory
	Limiter   Limiter
	Quotas    Quotas
	Cache     Cache
	// QuotaUsage, when set, hears each app's quota use (analytics, quota alerts).
	QuotaUsage QuotaUsage
}

// QuotaUsage receives an app's use of a quota after each counted request. Report must be
// quick and must copy the strings it keeps.
type QuotaUsage interface {
	Report(scope, api, app, plan, period string, used, limit int64, reset time.Time)
}

// Clock returns e.Now, or time.Now when unset.
func (e *Env) Clock() func() time.Time {
	if e.Now != nil {
		return e.Now
	}
	return time.Now
}

// Log returns e.Logger or a discarding logger.
func (e *Env) Log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Render writes err as the response: an *Error as its problem document, anything else as
// a 500. It records the rejection on c for analytics.
func Render(c *Context, err error) {
	var pe *Error
	if !errors.As(err, &pe) {
		c.Rejected = &Error{Status: http.StatusInternalServerError, Code: gatehouse.EInternal, Detail: "a policy failed", Policy: "unknown"}
		problem.Write(c.W, http.StatusInternalServerError, gatehouse.EInternal, "a policy failed")
		return
	}
	c.Rejected = pe
	problem.Write(c.W, pe.Status, pe.Code, pe.Detail)
}
