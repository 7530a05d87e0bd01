// Package jwt is the jwt authentication policy: callers present a signed JSON Web Token
// (RFC 7519) as a bearer token, in a query parameter or in a cookie. Tokens are verified
// with a shared secret (HS*), configured public keys (RS*, PS*, ES*, EdDSA) or the keys of
// a JWKS endpoint, which is fetched on first use and kept fresh by a refresher bound to the
// node's lifetime. A token's claims name the calling app, its subject and its scopes.
//
// A bearer token that is not shaped like a JWT (three dot-separated base64url parts) is
// left for the next authentication method, so opaque tokens can go to
// oauth2-introspection and Gatehouse API keys to key-auth.
package jwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TypeName is the policy type, also the Identity.Method it sets.
const TypeName = "jwt"

// Type registers jwt.
var Type = policy.DefineAuth(TypeName, "signed JSON Web Tokens (HS*, RS*, PS*, ES*, EdDSA; static keys or JWKS)", New)

// Config configures jwt. At least one of Secret, SecretBase64, PublicKeys and JWKSURL is
// required.
type Config struct {
	// Header is the request header that carries the token. Default "Authorization", where
	// the token must use the Bearer scheme; any other header may carry "Bearer <token>" or
	// the bare token.
	Header string `json:"header,omitempty"`
	// Query names a query parameter that may carry the token. Default "" (off): tokens in
	// URLs end up in logs and browser history.
	Query string `json:"query,omitempty"`
	// Cookie names a cookie that may carry the token. Default "" (off).
	Cookie string `json:"cookie,omitempty"`
	// Algorithms are the accepted "alg" values. Default: those the configured keys can
	// verify (HS256/384/512 for a secret; RS*/PS* for RSA keys; ES256/384/512 by curve;
	// EdDSA for Ed25519; every asymmetric algorithm for a JWKS). "none" is never accepted.
	Algorithms []string `json:"algorithms,omitempty"`
	// Secret is the HS256/384/512 shared secret, at least 32 bytes. Default "" (none).
	Secret string `json:"secret,omitempty"`
	// SecretBase64 is the shared secret in base64 (standard or URL alphabet, padding
	// optional), for secrets that are not text. Default "" (none).
	SecretBase64 string `json:"secret_base64,omitempty"`
	// PublicKeys are PEM-encoded public keys (or certificates) that verify tokens. Default
	// none.
	PublicKeys []PublicKey `json:"public_keys,omitempty"`
	// JWKSURL is an http(s) URL serving a JSON Web Key Set. Default "" (none).
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSRefresh is how often the JWKS is fetched again, at least 10s. Default "1h". A
	// token signed with an unknown kid also triggers a fetch, at most once a minute.
	JWKSRefresh gatehouse.Duration `json:"jwks_refresh,omitzero"`
	// Issuer lists the accepted "iss" values; any one matches. Default none (not checked).
	Issuer []string `json:"issuer,omitempty"`
	// Audience lists the accepted "aud" values; any one matches. Default none (not checked).
	Audience []string `json:"audience,omitempty"`
	// Leeway is the clock skew allowed when checking exp, nbf and iat. Default "30s".
	Leeway gatehouse.Duration `json:"leeway,omitzero"`
	// RequireExp rejects tokens without an "exp" claim. Default true.
	RequireExp *bool `json:"require_exp,omitempty"`
	// AppClaim is the claim that names the calling app; when a token lacks it, "azp" is
	// used. Default "client_id".
	AppClaim string `json:"app_claim,omitempty"`
	// ScopeClaim is the claim that holds the granted scopes, a space-separated string or an
	// array; when the default claim is absent, the "scp" claim is read. Default "scope".
	ScopeClaim string `json:"scope_claim,omitempty"`
	// SubjectClaim is the claim that names the subject. Default "sub".
	SubjectClaim string `json:"subject_claim,omitempty"`
}

// PublicKey is one verification key. In configuration it is either an object or just
// the PEM string.
type PublicKey struct {
	// KID is the key id tokens name in their "kid" header. Default "" (the key is tried
	// for every token whose algorithm fits it).
	KID string `json:"kid,omitempty"`
	// PEM is the key: a PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or CERTIFICATE block
	// holding an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 key. Required.
	PEM string `json:"pem"`
}

const (
	defaultLeeway      = 30 * time.Second
	defaultJWKSRefresh = time.Hour
	minJWKSRefresh     = 10 * time.Second
	minSecret          = 32 // RFC 7518 §3.2: a key at least as long as the hash output
)

// Validate checks the config without network access.
func (c *Config) Validate() error {
	if c.Header != "" && !validToken(c.Header) {
		return fmt.Errorf("header: %q is not a valid header name", c.Header)
	}
	if c.Query != "" && (strings.ContainsAny(c.Query, "&=#?+% ") || len(c.Query) > 64) {
		return fmt.Errorf("query: %q is not a valid parameter name", c.Query)
	}
	if c.Cookie != "" && !validToken(c.Cookie) {
		return fmt.Errorf("cookie: %q is not a valid cookie name", c.Cookie)
	}
	if c.Secret != "" && c.SecretBase64 != "" {
		return errors.New("secret, secret_base64: set one, not both")
	}
	if c.Secret != "" && len(c.Secret) < minSecret {
		return fmt.Errorf("secret: must be at least %d bytes (RFC 7518 §3.2)", minSecret)
	}
	if c.SecretBase64 != "" {
		b, err := decodeBase64(c.SecretBase64)
		if err != nil {
			return errors.New("secret_base64: not valid base64")
		}
		if len(b) < minSecret {
			return fmt.Errorf("secret_base64: must decode to at least %d bytes (RFC 7518 §3.2)", minSecret)
		}
	}
	kinds := keyKinds{}
	if c.Secret != "" || c.SecretBase64 != "" {
		kinds.hmac = true
	}
	kids := map[string]bool{}
	for i, k := range c.PublicKeys {
		pk, err := parsePublicKey(k.PEM)
		if err != nil {
			return fmt.Errorf("public_keys[%d].pem: %w", i, err)
		}
		kinds.add(pk)
		if k.KID != "" {
			if kids[k.KID] {
				return fmt.Errorf("public_keys[%d].kid: %q is used twice", i, k.KID)
			}
			kids[k.KID] = true
		}
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("jwks_url: %q is not an http(s) URL", c.JWKSURL)
		}
		kinds.jwks = true
	}
	if !kinds.hmac && !kinds.any() && !kinds.jwks {
		return errors.New("secret, secret_base64, public_keys or jwks_url: one is required")
	}
	if c.JWKSRefresh != 0 && c.JWKSRefresh.D() < minJWKSRefresh {
		return fmt.Errorf("jwks_refresh: must be at least %s", minJWKSRefresh)
	}
	if c.Leeway < 0 {
		return errors.New("leeway: must not be negative")
	}
	for i, a := range c.Algorithms {
		if strings.EqualFold(a, "none") {
			return fmt.Errorf("algorithms[%d]: \"none\" is never accepted", i)
		}
		if !slices.Contains(allAlgorithms, a) {
			return fmt.Errorf("algorithms[%d]: unknown algorithm %q (known: %s)", i, a, strings.Join(allAlgorithms, ", "))
		}
		if !kinds.canVerify(a) {
			return fmt.Errorf("algorithms[%d]: no configured key can verify %s", i, a)
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (header and cookie names).
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

type auth struct {
	dir     policy.Directory
	parser  *jwtlib.Parser
	keys    *staticKeys // nil when no secret or public key is configured
	jwks    *jwksSet    // nil without jwks_url
	static  jwtlib.Keyfunc
	header  string // canonical
	bearer  bool   // the header must use the Bearer scheme (Authorization)
	query   string
	cookie  string
	issuers []string

	appClaim, scopeClaim, subjectClaim string

	challenge string
	errs      rejections
}

// rejections are built once per instance so that rejecting allocates nothing.
type rejections struct {
	malformed, signature, noKey, expired, notYet, issuer, audience, claims, invalid *policy.Error
	jwksDown, unknownApp, blocked, directory                                        *policy.Error
}

// New builds jwt. It does no network I/O: a JWKS is fetched on first use.
func New(env *policy.Env, cfg *Config, name string) (policy.Authenticator, error) {
	if env.Directory == nil {
		return nil, errors.New("no consumer directory on this node")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &auth{
		dir:          env.Directory,
		header:       http.CanonicalHeaderKey(cfg.Header),
		query:        cfg.Query,
		cookie:       cfg.Cookie,
		issuers:      cfg.Issuer,
		appClaim:     orDefault(cfg.AppClaim, "client_id"),
		scopeClaim:   orDefault(cfg.ScopeClaim, "scope"),
		subjectClaim: orDefault(cfg.SubjectClaim, "sub"),
	}
	if a.header == "" {
		a.header = "Authorization"
	}
	a.bearer = a.header == "Authorization"

	keys, err := newStaticKeys(cfg)
	if err != nil {
		return nil, err
	}
	algs := cfg.Algorithms
	if keys != nil {
		a.keys = keys
		a.static = keys.keyfunc
		if len(algs) == 0 {
			algs = slices.Clone(keys.algorithms())
		}
	}
	if cfg.JWKSURL != "" {
		refresh := cfg.JWKSRefresh.D()
		if refresh == 0 {
			refresh = defaultJWKSRefresh
		}
		a.jwks = sharedJWKS(env, cfg.JWKSURL, refresh)
		if len(cfg.Algorithms) == 0 {
			algs = appendMissing(algs, asymmetricAlgorithms...)
		}
	}

	leeway := cfg.Leeway.D()
	if leeway == 0 {
		leeway = defaultLeeway
	}
	opts := []jwtlib.ParserOption{
		jwtlib.WithValidMethods(algs), // always: the token's alg never picks the verifier
		jwtlib.WithLeeway(leeway),
		jwtlib.WithTimeFunc(env.Clock()),
		jwtlib.WithIssuedAt(),
	}
	if cfg.RequireExp == nil || *cfg.RequireExp {
		opts = append(opts, jwtlib.WithExpirationRequired())
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwtlib.WithAudience(cfg.Audience...))
	}
	a.parser = jwtlib.NewParser(opts...)

	realm := "gatehouse"
	if env.API != nil && env.API.Name != "" {
		realm = env.API.Name
	}
	a.challenge = "Bearer realm=" + policy.Quote(realm)

	unauthorized := func(code, detail string) *policy.Error {
		return policy.Reject(name, http.StatusUnauthorized, code, detail)
	}
	a.errs = rejections{
		malformed: unauthorized("invalid_token", "the token is not a well-formed JWT"),
		signature: unauthorized("invalid_token", "the token's signature or algorithm is not accepted"),
		noKey:     unauthorized("invalid_token", "no configured key matches the token"),
		expired:   unauthorized("token_expired", "the token has expired"),
		notYet:    unauthorized("invalid_token", "the token is not valid yet"),
		issuer:    unauthorized("invalid_token", "the token's issuer is not accepted"),
		audience:  unauthorized("invalid_token", "the token's audience is not accepted"),
		claims:    unauthorized("invalid_token", "the token lacks a required claim or has a malformed one"),
		invalid:   unauthorized("invalid_token", "the token is not valid"),
		jwksDown: policy.Reject(name, http.StatusServiceUnavailable, "jwks_unavailable",
			"the keys that verify this token cannot be fetched right now; retry shortly"),
		unknownApp: policy.Reject(name, http.StatusForbidden, "unknown_app", "the token names an app that does not exist"),
		blocked:    policy.Reject(name, http.StatusForbidden, "developer_blocked", "the developer who owns this app is blocked"),
		directory: policy.Reject(name, http.StatusServiceUnavailable, "directory_unavailable",
			"credentials cannot be checked right now; retry shortly"),
	}
	return a, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func appendMissing(list []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func (a *auth) Challenge() string { return a.challenge }

// Where a token was found, so that exactly that copy is removed.
const (
	fromNone = iota
	fromHeader
	fromQuery
	fromCookie
)

// Authenticate verifies the first JWT-shaped token it finds: header, then query, then
// cookie.
func (a *auth) Authenticate(c *policy.Context) (bool, error) {
	tok, from := a.find(c.R)
	if from == fromNone {
		return false, nil
	}
	kf := a.static
	if a.jwks != nil {
		ctx := c.R.Context()
		kf = func(t *jwtlib.Token) (any, error) { return a.key(ctx, t) }
	}
	claims := jwtlib.MapClaims{}
	if _, err := a.parser.ParseWithClaims(tok, claims, kf); err != nil {
		return false, a.classify(err)
	}
	if len(a.issuers) > 0 {
		iss, _ := claims["iss"].(string)
		if !slices.Contains(a.issuers, iss) {
			return false, a.errs.issuer
		}
	}

	app, _ := claims[a.appClaim].(string)
	if app == "" {
		app, _ = claims["azp"].(string)
	}
	id := policy.Identity{
		Method: TypeName,
		App:    app,
		Scopes: scopes(claims, a.scopeClaim),
		Claims: claims,
	}
	id.Subject, _ = claims[a.subjectClaim].(string)
	if app != "" {
		consumer, err := a.dir.App(c.R.Context(), app)
		switch {
		case err != nil:
			return false, a.errs.directory
		case consumer == nil:
			return false, a.errs.unknownApp
		case consumer.Blocked:
			return false, a.errs.blocked
		}
		id.Developer = consumer.Developer
		id.Consumer = consumer
	}
	a.strip(c.R, from)
	c.Identity = id
	return true, nil
}

// key picks the verification key for t: the secret for HS*, a static key, or the JWKS.
func (a *auth) key(ctx context.Context, t *jwtlib.Token) (any, error) {
	if a.keys != nil {
		if k, ok := a.keys.lookup(t, a.jwks != nil); ok {
			return k, nil
		}
	}
	if isHMAC(t.Method.Alg()) {
		return nil, errNoKey
	}
	return a.jwks.keyfunc(ctx)(t)
}

var errNoKey = errors.New("no key for this token")

// classify maps a parse error to its prebuilt rejection.
func (a *auth) classify(err error) *policy.Error {
	switch {
	case errors.Is(err, errJWKSUnavailable):
		return a.errs.jwksDown
	case errors.Is(err, jwtlib.ErrTokenExpired):
		return a.errs.expired
	case errors.Is(err, jwtlib.ErrTokenNotValidYet), errors.Is(err, jwtlib.ErrTokenUsedBeforeIssued):
		return a.errs.notYet
	case errors.Is(err, jwtlib.ErrTokenInvalidAudience):
		return a.errs.audience
	case errors.Is(err, jwtlib.ErrTokenMalformed):
		return a.errs.malformed
	case errors.Is(err, jwtlib.ErrTokenSignatureInvalid):
		return a.errs.signature
	case errors.Is(err, jwtlib.ErrTokenUnverifiable):
		return a.errs.noKey
	case errors.Is(err, jwtlib.ErrTokenRequiredClaimMissing), errors.Is(err, jwtlib.ErrTokenInvalidClaims):
		return a.errs.claims
	}
	return a.errs.invalid
}

// scopes reads the scope claim: a space-separated string or an array of strings. When the
// claim is "scope" and absent, "scp" (Azure AD, Okta) is read instead.
func scopes(claims jwtlib.MapClaims, claim string) []string {
	v, ok := claims[claim]
	if !ok && claim == "scope" {
		v = claims["scp"]
	}
	switch s := v.(type) {
	case string:
		return strings.Fields(s)
	case []any:
		out := make([]string, 0, len(s))
		for _, e := range s {
			if str, ok := e.(string); ok && str != "" {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}
