// Package policytest runs policy chains behind real listeners for tests: Serve builds
// specs into a chain exactly as the gateway does, in front of an upstream handler, on an
// httptest server bound to 127.0.0.1; Directory is an in-memory consumer directory.
package policytest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Serve builds specs (with plans, as for an API named env.API.Name) and serves the chain
// in front of upstream. The server closes when the test ends. env.API defaults to an API
// named "test"; env.Ctx to one that ends with the test.
func Serve(t testing.TB, reg policy.Registry, env *policy.Env, specs []gatehouse.PolicySpec, plans []*gatehouse.Plan, upstream http.Handler) *httptest.Server {
	t.Helper()
	h, err := Build(t, reg, env, specs, plans, upstream)
	if err != nil {
		t.Fatalf("building the chain: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Build is Serve without the server: the chain as an http.Handler.
func Build(t testing.TB, reg policy.Registry, env *policy.Env, specs []gatehouse.PolicySpec, plans []*gatehouse.Plan, upstream http.Handler) (http.Handler, error) {
	if env.API == nil {
		env.API = &gatehouse.API{Name: "test", Path: "/", State: gatehouse.StatePublished}
	}
	if env.Ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		env.Ctx = ctx
	}
	terminal := policy.HandlerFunc(func(c *policy.Context) error {
		upstream.ServeHTTP(c.W, c.R)
		return nil
	})
	chain, err := reg.Build(env, specs, plans, terminal)
	if err != nil {
		return nil, err
	}
	api := env.API.Name
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := policy.Acquire(w, r)
		c.API = api
		if err := chain.Serve(c); err != nil {
			policy.Render(c, err)
		}
		policy.Release(c)
	}), nil
}

// Echo is an upstream that answers 200 with the request's headers echoed as
// "X-Echo-<Name>" response headers and the request path in the body.
var Echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	for k, v := range r.Header {
		w.Header()["X-Echo-"+k] = v
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(r.URL.RequestURI()))
})

// Directory is an in-memory policy.Directory. Add keys and apps with AddKey and AddApp;
// Revoke marks a key revoked as a store change notice would.
type Directory struct {
	mu   sync.Mutex
	keys map[string]*policy.Credential // by secret
	apps map[string]*policy.Consumer
}

var _ policy.Directory = (*Directory)(nil)

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{keys: map[string]*policy.Credential{}, apps: map[string]*policy.Consumer{}}
}

// AddApp adds (or replaces) an app whose active subscriptions are to plans.
func (d *Directory) AddApp(app, developer string, plans ...*gatehouse.Plan) *policy.Consumer {
	c := &policy.Consumer{App: app, Developer: developer}
	for _, p := range plans {
		c.Grants = append(c.Grants, policy.Grant{Subscription: "sub-" + app + "-" + p.Name, Plan: p})
	}
	d.mu.Lock()
	d.apps[app] = c
	d.mu.Unlock()
	return c
}

// AddKey adds a key with secret for app (which must have been added).
func (d *Directory) AddKey(secret, keyID, app string, expires time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys[secret] = &policy.Credential{KeyID: keyID, ExpiresAt: expires, Consumer: d.apps[app]}
}

// Revoke marks the key with secret revoked.
func (d *Directory) Revoke(secret string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k := d.keys[secret]; k != nil {
		c := *k
		c.Revoked = true
		d.keys[secret] = &c
	}
}

// Key implements policy.Directory.
func (d *Directory) Key(_ context.Context, secret string) (*policy.Credential, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keys[secret], nil
}

// App implements policy.Directory.
func (d *Directory) App(_ context.Context, name string) (*policy.Consumer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apps[name], nil
}
