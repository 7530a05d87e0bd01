package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Token lookups are cached briefly so that a burst of admin calls (a CLI `apply` of a
// hundred resources) is one store read, not a hundred. The price is that a token deleted
// through another node keeps working for up to tokenCacheTTL here; a token deleted through
// this node stops at once (the handler evicts it).
const (
	tokenCacheTTL  = 5 * time.Second
	tokenCacheSize = 1024
)

type tokenCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]cachedToken // by secret hash
}

type cachedToken struct {
	tok   *gatehouse.AdminToken
	until time.Time
}

func newTokenCache(ttl time.Duration, size int) *tokenCache {
	return &tokenCache{ttl: ttl, max: size, m: map[string]cachedToken{}}
}

func (c *tokenCache) get(hash string, now time.Time) *gatehouse.AdminToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.tok
}

// put remembers a found token. Misses are not cached: an attacker guessing tokens could
// otherwise fill the map, and a miss costs one indexed read.
func (c *tokenCache) put(hash string, tok *gatehouse.AdminToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for h, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, h)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m) // more live tokens than the bound is unusual; start over
		}
	}
	c.m[hash] = cachedToken{tok: tok, until: now.Add(c.ttl)}
}

// forget evicts the token with id, after it is deleted.
func (c *tokenCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.m {
		if e.tok.ID == id {
			delete(c.m, h)
		}
	}
}

type tokenKey struct{}

// tokenFrom returns the admin token that authenticated the request.
func tokenFrom(ctx context.Context) *gatehouse.AdminToken {
	t, _ := ctx.Value(tokenKey{}).(*gatehouse.AdminToken)
	return t
}

// authenticate checks the bearer token and returns a context that carries the token and
// attributes the request's writes to it in the audit log.
func (s *server) authenticate(r *http.Request) (context.Context, error) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, gatehouse.Errorf(gatehouse.EUnauthorized, "send an admin token as Authorization: Bearer <token>")
	}
	now := s.now()
	hash := gatehouse.HashSecret(secret)
	tok := s.tokens.get(hash, now)
	if tok == nil {
		t, err := s.store.AdminTokenByHash(r.Context(), hash)
		switch code := gatehouse.ErrorCode(err); code {
		case "":
			tok = t
			s.tokens.put(hash, tok, now)
		case gatehouse.ENotFound:
			return nil, gatehouse.Errorf(gatehouse.EUnauthorized, "the admin token is not valid")
		default:
			return nil, fmt.Errorf("looking up admin token: %w", err)
		}
	}
	if tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt) {
		return nil, gatehouse.Errorf(gatehouse.EUnauthorized, "the admin token %q expired at %s",
			tok.Name, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !gatehouse.RoleMayWrite(tok.Role, pathKind(r.URL.Path)) {
		if tok.Role == gatehouse.RoleEditor {
			return nil, gatehouse.Errorf(gatehouse.EForbidden, "the admin token %q has role editor, which may not manage admin credentials",
				tok.Name)
		}
		return nil, gatehouse.Errorf(gatehouse.EForbidden, "the admin token %q has role %s, which may only read",
			tok.Name, tok.Role)
	}
	ctx := context.WithValue(r.Context(), tokenKey{}, tok)
	return gatehouse.WithActor(ctx, "token:"+tok.Name), nil
}

// pathKind names the resource kind of an admin path as far as roles care: admin
// credentials or anything else.
func pathKind(p string) string {
	switch {
	case strings.HasPrefix(p, "/v1/admin-tokens"):
		return gatehouse.KindAdminToken
	case strings.HasPrefix(p, "/v1/admin-users"):
		return gatehouse.KindAdminUser
	}
	return ""
}

// MinEnvTokenLength is the shortest admin token EnsureToken accepts from the environment:
// it is a password for the whole control plane, so a short one is refused outright.
const MinEnvTokenLength = 16

// EnsureToken makes sure the admin API can be used after start-up.
//
// With envToken (from GATEHOUSE_ADMIN_TOKEN) it makes sure an admin token with that
// secret's hash exists, creating one named "env" if missing; a previous "env" token (the
// variable changed) is deleted, so rotating the variable revokes the old value. The secret
// is never returned or logged. Without envToken, if the store has no admin tokens at all,
// it creates one named "bootstrap" and returns its secret so that the server can print it
// once; otherwise it returns "".
func EnsureToken(ctx context.Context, store gatehouse.Store, envToken string) (generated string, err error) {
	ctx = gatehouse.WithActor(ctx, "system:startup")
	if envToken != "" {
		return "", ensureEnvToken(ctx, store, envToken)
	}
	page, err := store.AdminTokens(ctx, gatehouse.ListOptions{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("listing admin tokens: %w", err)
	}
	if len(page.Items) > 0 {
		return "", nil
	}
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	t := &gatehouse.AdminToken{Name: "bootstrap", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash}
	if _, err := store.CreateAdminToken(ctx, t); err != nil {
		return "", fmt.Errorf("creating bootstrap admin token: %w", err)
	}
	return secret, nil
}

func ensureEnvToken(ctx context.Context, store gatehouse.Store, secret string) error {
	if len(secret) < MinEnvTokenLength {
		return fmt.Errorf("the admin token from the environment is %d characters long; "+
			"use at least %d (for example `openssl rand -hex 32`)", len(secret), MinEnvTokenLength)
	}
	hash := gatehouse.HashSecret(secret)
	t, err := store.AdminTokenByHash(ctx, hash)
	switch gatehouse.ErrorCode(err) {
	case "":
		if t.Role != gatehouse.RoleAdmin {
			return fmt.Errorf("the admin token from the environment is stored as %q with role %s; it needs role admin",
				t.Name, t.Role)
		}
		if t.ExpiresAt != nil && !time.Now().Before(*t.ExpiresAt) {
			return fmt.Errorf("the admin token from the environment is stored as %q and expired at %s",
				t.Name, t.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return nil
	case gatehouse.ENotFound:
	default:
		return fmt.Errorf("looking up the admin token from the environment: %w", err)
	}
	// The stored "env" token belongs to an earlier value of the variable.
	var stale []string
	opts := gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}
	for {
		page, err := store.AdminTokens(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing admin tokens: %w", err)
		}
		for _, t := range page.Items {
			if t.Name == envTokenName {
				stale = append(stale, t.ID)
			}
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	for _, id := range stale {
		if err := store.DeleteAdminToken(ctx, id); err != nil && gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			return fmt.Errorf("deleting the previous environment admin token: %w", err)
		}
	}
	// The prefix is shown in listings; an operator-chosen secret has no safe visible part.
	prefix := envTokenName
	p := gatehouse.SecretPrefix(secret)
	if strings.HasPrefix(p, gatehouse.AdminSecretPrefix) && len(p) == len(gatehouse.AdminSecretPrefix)+8 {
		prefix = p // it has the shape of a generated token, whose prefix is public by design
	}
	nt := &gatehouse.AdminToken{Name: envTokenName, Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash}
	if _, err := store.CreateAdminToken(ctx, nt); err != nil {
		return fmt.Errorf("storing the admin token from the environment: %w", err)
	}
	return nil
}

// envTokenName names the admin token taken from GATEHOUSE_ADMIN_TOKEN.
const envTokenName = "env"
