// Package keyauth is the key-auth policy: callers present one of their app's API keys in a
// header, as a bearer token, or (when enabled) in a query parameter. Keys are resolved by
// the hash of the secret through the node's Directory, whose cache makes a known key cost
// no store query and no allocation.
package keyauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Config configures key-auth.
type Config struct {
	// Header is the request header that carries the key. Default "X-API-Key".
	Header string `json:"header,omitempty"`
	// Bearer also accepts the key as "Authorization: Bearer <key>" when the token looks like
	// a Gatehouse key (starts with "gh_"), so other bearer tokens are left for jwt or
	// oauth2-introspection. Default true.
	Bearer *bool `json:"bearer,omitempty"`
	// Query names a query parameter that may carry the key. Default "" (off): keys in URLs
	// end up in logs and browser history, so this is opt-in.
	Query string `json:"query,omitempty"`
	// HideCredentials removes the key from the request before it goes upstream. Default true.
	HideCredentials *bool `json:"hide_credentials,omitempty"`
}

// Validate checks the names.
func (c *Config) Validate() error {
	if c.Header != "" && !policy.ValidHeaderName(c.Header) {
		return fmt.Errorf("header: %q is not a valid header name", c.Header)
	}
	if strings.EqualFold(c.Header, "Authorization") {
		return fmt.Errorf("header: use bearer for the Authorization header")
	}
	if c.Query != "" && (strings.ContainsAny(c.Query, "&=#?") || len(c.Query) > 64) {
		return fmt.Errorf("query: %q is not a valid parameter name", c.Query)
	}
	return nil
}

// Type registers key-auth.
var Type = policy.DefineAuth("key-auth", "API keys in a header, a bearer token or a query parameter", New)

type auth struct {
	dir    policy.Directory
	now    func() (t int64)
	header string
	bearer bool
	query  string
	hide   bool

	invalid, expired, revoked, blocked, unavailable *policy.Error
	challenge                                       string
}

// New builds key-auth.
func New(env *policy.Env, cfg *Config, name string) (policy.Authenticator, error) {
	if env.Directory == nil {
		return nil, fmt.Errorf("no consumer directory on this node")
	}
	clock := env.Clock()
	a := &auth{
		dir:    env.Directory,
		now:    func() int64 { return clock().UnixNano() },
		header: http.CanonicalHeaderKey(cfg.Header),
		bearer: cfg.Bearer == nil || *cfg.Bearer,
		query:  cfg.Query,
		hide:   cfg.HideCredentials == nil || *cfg.HideCredentials,

		invalid:     policy.Reject(name, http.StatusUnauthorized, "invalid_key", "the API key is not valid"),
		expired:     policy.Reject(name, http.StatusUnauthorized, "key_expired", "the API key has expired"),
		revoked:     policy.Reject(name, http.StatusUnauthorized, "key_revoked", "the API key has been revoked"),
		blocked:     policy.Reject(name, http.StatusForbidden, "developer_blocked", "the developer who owns this app is blocked"),
		unavailable: policy.Reject(name, http.StatusServiceUnavailable, "directory_unavailable", "credentials cannot be checked right now; retry shortly"),
	}
	if a.header == "" {
		a.header = "X-Api-Key"
	}
	realm := "gatehouse"
	if env.API != nil {
		realm = env.API.Name
	}
	a.challenge = fmt.Sprintf("ApiKey realm=%q, header=%q", realm, a.header)
	return a, nil
}

// KeyPrefix starts every Gatehouse API key (see gatehouse.NewSecret).
const KeyPrefix = "gh_"

func (a *auth) Challenge() string { return a.challenge }

// Authenticate finds the key: header first, then bearer, then query.
func (a *auth) Authenticate(c *policy.Context) (bool, error) {
	h := c.R.Header
	secret, from := "", 0
	if v := h[a.header]; len(v) > 0 && v[0] != "" {
		secret, from = v[0], 1
	} else if a.bearer {
		if v := h["Authorization"]; len(v) > 0 {
			if tok, ok := policy.BearerToken(v[0]); ok && strings.HasPrefix(tok, KeyPrefix) {
				secret, from = tok, 2
			}
		}
	}
	if from == 0 && a.query != "" && c.R.URL.RawQuery != "" {
		if v := c.R.URL.Query().Get(a.query); v != "" {
			secret, from = v, 3
		}
	}
	if from == 0 {
		return false, nil
	}
	cred, err := a.dir.Key(c.R.Context(), secret)
	if err != nil {
		return false, a.unavailable
	}
	switch {
	case cred == nil:
		return false, a.invalid
	case cred.Revoked:
		return false, a.revoked
	case !cred.ExpiresAt.IsZero() && a.now() >= cred.ExpiresAt.UnixNano():
		return false, a.expired
	case cred.Consumer.Blocked:
		return false, a.blocked
	}
	if a.hide {
		switch from {
		case 1:
			delete(h, a.header)
		case 2:
			delete(h, "Authorization")
		case 3:
			q := c.R.URL.Query()
			q.Del(a.query)
			c.R.URL.RawQuery = q.Encode()
		}
	}
	c.Identity = policy.Identity{
		Method:    "key-auth",
		App:       cred.Consumer.App,
		Developer: cred.Consumer.Developer,
		KeyID:     cred.KeyID,
		Consumer:  cred.Consumer,
	}
	return true, nil
}
