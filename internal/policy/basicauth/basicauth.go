// Package basicauth is the basic-auth policy: HTTP Basic authentication (RFC 7617) where
// the user name is the app's name and the password is one of the app's API keys. It suits
// clients that can only send a user and a password; the key is resolved through the
// node's Directory exactly as key-auth resolves it, and must belong to the named app.
package basicauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TypeName is the policy type, also the Identity.Method it sets.
const TypeName = "basic-auth"

// Type registers basic-auth.
var Type = policy.DefineAuth(TypeName, "HTTP Basic: the app's name and one of its API keys", New)

// Config configures basic-auth.
type Config struct {
	// Realm is the realm named in the WWW-Authenticate challenge. Default: the API's name.
	Realm string `json:"realm,omitempty"`
	// HideCredentials removes the Authorization header before the request goes upstream.
	// Default true.
	HideCredentials *bool `json:"hide_credentials,omitempty"`
}

// Validate checks the realm.
func (c *Config) Validate() error {
	if len(c.Realm) > 256 {
		return errors.New("realm: at most 256 characters")
	}
	for _, r := range c.Realm {
		if r < 0x20 || r == 0x7f {
			return errors.New("realm: must not contain control characters")
		}
	}
	return nil
}

type auth struct {
	dir  policy.Directory
	now  func() time.Time
	hide bool

	challenge                                       string
	invalid, expired, revoked, blocked, unavailable *policy.Error
}

// New builds basic-auth.
func New(env *policy.Env, cfg *Config, name string) (policy.Authenticator, error) {
	if env.Directory == nil {
		return nil, errors.New("no consumer directory on this node")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	realm := cfg.Realm
	if realm == "" && env.API != nil {
		realm = env.API.Name
	}
	if realm == "" {
		realm = "gatehouse"
	}
	return &auth{
		dir:       env.Directory,
		now:       env.Clock(),
		hide:      cfg.HideCredentials == nil || *cfg.HideCredentials,
		challenge: "Basic realm=" + policy.Quote(realm),

		invalid:     policy.Reject(name, http.StatusUnauthorized, "invalid_credentials", "the user name or password is not valid"),
		expired:     policy.Reject(name, http.StatusUnauthorized, "key_expired", "the API key used as password has expired"),
		revoked:     policy.Reject(name, http.StatusUnauthorized, "key_revoked", "the API key used as password has been revoked"),
		blocked:     policy.Reject(name, http.StatusForbidden, "developer_blocked", "the developer who owns this app is blocked"),
		unavailable: policy.Reject(name, http.StatusServiceUnavailable, "directory_unavailable", "credentials cannot be checked right now; retry shortly"),
	}, nil
}

func (a *auth) Challenge() string { return a.challenge }

// maxEncoded bounds the credentials decoded on the stack; longer ones are not app
// names and keys.
const maxEncoded = 1024

// Authenticate checks "Authorization: Basic <base64(app:key)>".
func (a *auth) Authenticate(c *policy.Context) (bool, error) {
	v := c.R.Header["Authorization"]
	if len(v) == 0 {
		return false, nil
	}
	enc, ok := basicCredentials(v[0])
	if !ok {
		return false, nil
	}
	// Decode on the stack: the app name is only compared, so only the key becomes a string.
	var src [maxEncoded]byte
	var dst [maxEncoded * 3 / 4]byte
	if len(enc) > maxEncoded {
		return false, a.invalid
	}
	n, err := base64.StdEncoding.Decode(dst[:], src[:copy(src[:], enc)])
	if err != nil {
		return false, a.invalid
	}
	user, pass, ok := splitUserPass(dst[:n])
	if !ok {
		return false, a.invalid
	}
	cred, err := a.dir.Key(c.R.Context(), string(pass))
	switch {
	case err != nil:
		return false, a.unavailable
	case cred == nil || cred.Consumer == nil || cred.Consumer.App != string(user):
		return false, a.invalid // the same answer whether the key exists or not
	case cred.Revoked:
		return false, a.revoked
	case !cred.ExpiresAt.IsZero() && !a.now().Before(cred.ExpiresAt):
		return false, a.expired
	case cred.Consumer.Blocked:
		return false, a.blocked
	}
	if a.hide {
		delete(c.R.Header, "Authorization")
	}
	con := cred.Consumer
	c.Identity = policy.Identity{
		Method:    TypeName,
		App:       con.App,
		Developer: con.Developer,
		KeyID:     cred.KeyID,
		Subject:   con.App, // equal to the user name, without allocating it
		Consumer:  con,
	}
	return true, nil
}

// basicCredentials returns the credentials of "Basic <credentials>" (scheme
// case-insensitive).
func basicCredentials(v string) (string, bool) {
	const p = "basic "
	if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
		return strings.TrimSpace(v[len(p):]), true
	}
	return "", false
}

// splitUserPass splits decoded credentials at the first colon (RFC 7617: user names
// cannot contain one); both parts must be non-empty.
func splitUserPass(b []byte) (user, pass []byte, ok bool) {
	for i, c := range b {
		if c == ':' {
			user, pass = b[:i], b[i+1:]
			return user, pass, len(user) > 0 && len(pass) > 0
		}
	}
	return nil, nil, false
}
