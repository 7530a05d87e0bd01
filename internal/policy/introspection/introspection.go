// Package introspection is the oauth2-introspection policy: opaque bearer tokens are
// checked with the authorization server's token introspection endpoint (RFC 7662), and the
// answer is cached by the token's SHA-256 (never the token itself) for a short while, never
// past the token's expiry. Concurrent requests with the same uncached token share one call.
//
// Bearer tokens that start with "gh_" are Gatehouse API keys: they are left for key-auth.
package introspection

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TypeName is the policy type, also the Identity.Method it sets.
const TypeName = "oauth2-introspection"

// Type registers oauth2-introspection.
var Type = policy.DefineAuth(TypeName, "opaque OAuth 2.0 tokens checked with an introspection endpoint (RFC 7662)", New)

// Config configures oauth2-introspection.
type Config struct {
	// URL is the introspection endpoint (http or https). Required.
	URL string `json:"url"`
	// ClientID authenticates the gateway to the endpoint with HTTP Basic, together with
	// ClientSecret. Default "" (no client authentication).
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the client's secret. Default "".
	ClientSecret string `json:"client_secret,omitempty"`
	// TokenTypeHint is sent as token_type_hint; "-" sends none. Default "access_token".
	TokenTypeHint string `json:"token_type_hint,omitempty"`
	// Timeout bounds one introspection call. Default "5s".
	Timeout gatehouse.Duration `json:"timeout,omitzero"`
	// CacheTTL is how long an active token's answer is reused, never past its "exp".
	// Default "60s".
	CacheTTL gatehouse.Duration `json:"cache_ttl,omitzero"`
	// NegativeTTL is how long a rejected token's answer is reused. Default "10s".
	NegativeTTL gatehouse.Duration `json:"negative_ttl,omitzero"`
	// CacheSize bounds the cached answers (entries). Default 10000.
	CacheSize int `json:"cache_size,omitempty"`
	// AppClaim is the response member that names the calling app. Default "client_id".
	AppClaim string `json:"app_claim,omitempty"`
	// ScopeClaim is the response member with the granted scopes (a space-separated string
	// or an array). Default "scope".
	ScopeClaim string `json:"scope_claim,omitempty"`
	// Audience lists accepted "aud" values; any one matches. Default none (not checked).
	Audience []string `json:"audience,omitempty"`
	// Issuer lists accepted "iss" values; any one matches. Default none (not checked).
	Issuer []string `json:"issuer,omitempty"`
}

const (
	defaultTimeout     = 5 * time.Second
	defaultCacheTTL    = 60 * time.Second
	defaultNegativeTTL = 10 * time.Second
	defaultCacheSize   = 10000
	maxBody            = 1 << 20
	// KeyPrefix starts every Gatehouse API key; such tokens belong to key-auth.
	KeyPrefix = "gh_"
)

// Validate checks the config without network access.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("url: %q is not an http(s) URL", c.URL)
	}
	if u.User != nil {
		return errors.New("url: put credentials in client_id and client_secret, not in the URL")
	}
	if c.ClientSecret != "" && c.ClientID == "" {
		return errors.New("client_id: required with client_secret")
	}
	if strings.ContainsAny(c.TokenTypeHint, "&= \t\r\n") {
		return fmt.Errorf("token_type_hint: %q is not a token type", c.TokenTypeHint)
	}
	if c.Timeout < 0 || c.Timeout.D() > time.Minute {
		return errors.New("timeout: must be between 0 and 1m")
	}
	if c.CacheTTL < 0 {
		return errors.New("cache_ttl: must not be negative")
	}
	if c.NegativeTTL < 0 {
		return errors.New("negative_ttl: must not be negative")
	}
	if c.CacheSize < 0 || c.CacheSize > 10_000_000 {
		return errors.New("cache_size: must be between 0 and 10000000")
	}
	return nil
}

// client never follows redirects: a redirected POST would lose the token, or send it to a
// host nobody configured.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// answer is one introspection result as cached. Values are shared by every request that
// presents the token: read only.
type answer struct {
	until  int64         // unix ns: reuse until then
	reject *policy.Error // nil when the token is good
	app    string
	sub    string
	scopes []string
	claims map[string]any
}

type auth struct {
	dir      policy.Directory
	ctx      context.Context
	now      func() time.Time
	log      *slog.Logger
	url      string
	basic    string // the Authorization header for the endpoint, "" for none
	hint     string
	timeout  time.Duration
	ttl      time.Duration
	negTTL   time.Duration
	cache    *otter.Cache[[sha256.Size]byte, *answer]
	flight   singleflight.Group
	appClaim string
	scopeKey string
	audience []string
	issuer   []string

	challenge string
	inactive, badAudience, badIssuer, unavailable,
	unknownApp, blocked, directory *policy.Error
}

// New builds oauth2-introspection. It does no network I/O and starts no goroutine.
func New(env *policy.Env, cfg *Config, name string) (policy.Authenticator, error) {
	if env.Directory == nil {
		return nil, errors.New("no consumer directory on this node")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	size := cfg.CacheSize
	if size == 0 {
		size = defaultCacheSize
	}
	// Size-bounded only: entries carry their own expiry, read with env's clock, and an
	// otter cache without expiration runs no background goroutine.
	cache, err := otter.New(&otter.Options[[sha256.Size]byte, *answer]{MaximumSize: size})
	if err != nil {
		return nil, err
	}
	ctx := env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	a := &auth{
		dir:      env.Directory,
		ctx:      ctx,
		now:      env.Clock(),
		log:      env.Log(),
		url:      cfg.URL,
		hint:     cfg.TokenTypeHint,
		timeout:  orDuration(cfg.Timeout, defaultTimeout),
		ttl:      orDuration(cfg.CacheTTL, defaultCacheTTL),
		negTTL:   orDuration(cfg.NegativeTTL, defaultNegativeTTL),
		cache:    cache,
		appClaim: orString(cfg.AppClaim, "client_id"),
		scopeKey: orString(cfg.ScopeClaim, "scope"),
		audience: cfg.Audience,
		issuer:   cfg.Issuer,

		inactive:    policy.Reject(name, http.StatusUnauthorized, "invalid_token", "the token is not active"),
		badAudience: policy.Reject(name, http.StatusUnauthorized, "invalid_token", "the token's audience is not accepted"),
		badIssuer:   policy.Reject(name, http.StatusUnauthorized, "invalid_token", "the token's issuer is not accepted"),
		unavailable: policy.Reject(name, http.StatusServiceUnavailable, "introspection_unavailable", "the token cannot be checked right now; retry shortly"),
		unknownApp:  policy.Reject(name, http.StatusForbidden, "unknown_app", "the token names an app that does not exist"),
		blocked:     policy.Reject(name, http.StatusForbidden, "developer_blocked", "the developer who owns this app is blocked"),
		directory:   policy.Reject(name, http.StatusServiceUnavailable, "directory_unavailable", "credentials cannot be checked right now; retry shortly"),
	}
	switch a.hint {
	case "":
		a.hint = "access_token"
	case "-":
		a.hint = ""
	}
	if cfg.ClientID != "" {
		// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
		cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
		a.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
	}
	realm := "gatehouse"
	if env.API != nil && env.API.Name != "" {
		realm = env.API.Name
	}
	a.challenge = "Bearer realm=" + policy.Quote(realm)
	return a, nil
}

func orDuration(d gatehouse.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *auth) Challenge() string { return a.challenge }

// Authenticate checks "Authorization: Bearer <token>" for tokens that are not API keys.
func (a *auth) Authenticate(c *policy.Context) (bool, error) {
	v := c.R.Header["Authorization"]
	if len(v) == 0 {
		return false, nil
	}
	tok, ok := policy.BearerToken(v[0])
	if !ok || tok == "" || strings.HasPrefix(tok, KeyPrefix) {
		return false, nil
	}
	key := hashToken(tok)
	ans, ok := a.cache.GetIfPresent(key)
	if !ok || a.now().UnixNano() >= ans.until {
		var err error
		if ans, err = a.introspect(c.R.Context(), key, tok); err != nil {
			return false, a.unavailable
		}
	}
	if ans.reject != nil {
		return false, ans.reject
	}
	id := policy.Identity{Method: TypeName, App: ans.app, Subject: ans.sub, Scopes: ans.scopes, Claims: ans.claims}
	if ans.app != "" {
		consumer, err := a.dir.App(c.R.Context(), ans.app)
		switch {
		case err != nil:
			return false, a.directory
		case consumer == nil:
			return false, a.unknownApp
		case consumer.Blocked:
			return false, a.blocked
		}
		id.Developer = consumer.Developer
		id.Consumer = consumer
	}
	delete(c.R.Header, "Authorization")
	c.Identity = id
	return true, nil
}

// hashToken is the cache key. Tokens up to 2 KiB are copied to the stack first, so that
// hashing a string does not allocate.
func hashToken(tok string) [sha256.Size]byte {
	var buf [2048]byte
	if len(tok) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], tok)])
	}
	return sha256.Sum256([]byte(tok))
}

// introspect asks the endpoint once for every concurrent request with this token. The
// call runs under the node's context, so one client going away does not fail the others.
func (a *auth) introspect(ctx context.Context, key [sha256.Size]byte, tok string) (*answer, error) {
	ch := a.flight.DoChan(string(key[:]), func() (any, error) {
		// Another flight may have just filled the cache.
		if ans, ok := a.cache.GetIfPresent(key); ok && a.now().UnixNano() < ans.until {
			return ans, nil
		}
		ans, err := a.call(tok)
		if err != nil {
			a.log.Warn("oauth2-introspection: the endpoint failed", "url", a.url, "error", err)
			return nil, err
		}
		if ans.until > a.now().UnixNano() {
			a.cache.Set(key, ans)
		}
		return ans, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*answer), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// call posts the token to the endpoint and reads its answer.
func (a *auth) call(tok string) (*answer, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.timeout)
	defer cancel()
	form := url.Values{"token": {tok}}
	if a.hint != "" {
		form.Set("token_type_hint", a.hint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.basic != "" {
		req.Header.Set("Authorization", a.basic)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxBody)
	}
	return a.parse(body, a.now())
}

// parse reads an RFC 7662 answer into what the cache keeps, deciding its lifetime.
func (a *auth) parse(body []byte, now time.Time) (*answer, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object: %w", err)
	}
	active, ok := m["active"].(bool)
	if !ok && m["active"] != nil {
		return nil, errors.New(`"active" is not a boolean`)
	}
	rejected := func(e *policy.Error) *answer {
		return &answer{until: now.Add(a.negTTL).UnixNano(), reject: e}
	}
	if !active {
		return rejected(a.inactive), nil
	}
	if len(a.audience) > 0 && !anyIn(m["aud"], a.audience) {
		return rejected(a.badAudience), nil
	}
	if len(a.issuer) > 0 && !anyIn(m["iss"], a.issuer) {
		return rejected(a.badIssuer), nil
	}
	until := now.Add(a.ttl)
	if exp, ok := m["exp"].(float64); ok {
		if e := time.Unix(int64(exp), 0); e.Before(until) {
			until = e // the answer must not outlive the token
		}
	}
	ans := &answer{until: until.UnixNano(), claims: m, scopes: scopes(m[a.scopeKey])}
	ans.app, _ = m[a.appClaim].(string)
	if ans.sub, _ = m["sub"].(string); ans.sub == "" {
		ans.sub, _ = m["username"].(string)
	}
	return ans, nil
}

// anyIn reports whether v (a string or an array of strings) holds one of want.
func anyIn(v any, want []string) bool {
	switch v := v.(type) {
	case string:
		return slices.Contains(want, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// scopes reads a space-separated string or an array of strings.
func scopes(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
