// Package scopes is the scopes policy: a route (or a whole API) may require scopes and
// claim values of the caller's token, beyond the subscription every caller needs.
package scopes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Config lists what the caller's identity must carry.
type Config struct {
	// Scopes must all be granted to the caller (a token's scope claim). Default none.
	Scopes []string `json:"scopes,omitempty"`
	// AnyScopes: at least one must be granted, when non-empty. Default none.
	AnyScopes []string `json:"any_scopes,omitempty"`
	// Claims maps a claim name (dots for nesting: "realm.role") to the values it may take;
	// the claim must equal one of them (or, for an array claim, contain one). Default none.
	Claims map[string][]string `json:"claims,omitempty"`
}

// Validate requires something to check.
func (c *Config) Validate() error {
	if len(c.Scopes) == 0 && len(c.AnyScopes) == 0 && len(c.Claims) == 0 {
		return fmt.Errorf("scopes: list at least one of scopes, any_scopes or claims")
	}
	for _, s := range append(slices.Clone(c.Scopes), c.AnyScopes...) {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return fmt.Errorf("scopes: %q is not a valid scope", s)
		}
	}
	for k, v := range c.Claims {
		if k == "" || len(v) == 0 {
			return fmt.Errorf("claims: %q needs a claim name and at least one value", k)
		}
	}
	return nil
}

// Type registers scopes.
var Type = policy.Define("scopes", policy.Authz, "require scopes or claim values of the caller's token", New)

type check struct {
	next      policy.Handler
	cfg       Config
	claimPath map[string][]string
	denied    *policy.Error
	challenge string
}

// New builds the check.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	k := &check{next: next, cfg: *cfg, claimPath: map[string][]string{}}
	for c := range cfg.Claims {
		k.claimPath[c] = strings.Split(c, ".")
	}
	need := strings.Join(append(slices.Clone(cfg.Scopes), cfg.AnyScopes...), " ")
	k.denied = policy.Reject(name, http.StatusForbidden, "insufficient_scope", "the caller's token lacks a required scope or claim")
	k.challenge = fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, need)
	return k, nil
}

func (k *check) Serve(c *policy.Context) error {
	id := &c.Identity
	for _, s := range k.cfg.Scopes {
		if !slices.Contains(id.Scopes, s) {
			return k.deny(c)
		}
	}
	if len(k.cfg.AnyScopes) > 0 && !slices.ContainsFunc(k.cfg.AnyScopes, func(s string) bool { return slices.Contains(id.Scopes, s) }) {
		return k.deny(c)
	}
	for name, want := range k.cfg.Claims {
		if !claimMatches(lookup(id.Claims, k.claimPath[name]), want) {
			return k.deny(c)
		}
	}
	return k.next.Serve(c)
}

func (k *check) deny(c *policy.Context) error {
	c.W.Header().Set("WWW-Authenticate", k.challenge)
	return k.denied
}

func lookup(m map[string]any, path []string) any {
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[p]
	}
	return v
}

func claimMatches(v any, want []string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(want, x)
	case []any:
		for _, e := range x {
			if claimMatches(e, want) {
				return true
			}
		}
	case []string:
		return slices.ContainsFunc(x, func(s string) bool { return slices.Contains(want, s) })
	case bool, float64, json.Number:
		return slices.Contains(want, fmt.Sprint(x))
	}
	return false
}
