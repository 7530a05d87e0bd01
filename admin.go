package gatehouse

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Admin roles.
const (
	RoleAdmin  = "admin"  // every admin API call
	RoleEditor = "editor" // every call except managing admin tokens and admin users
	RoleViewer = "viewer" // GET only
	// RoleReadOnly is the name viewer had before editor existed; it means viewer.
	RoleReadOnly = "read_only"
)

// AdminToken authenticates callers of the admin API. Like keys, only the hash is stored.
type AdminToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at,omitzero"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Validate reports every rule t breaks.
func (t *AdminToken) Validate() error {
	var p Problems
	checkName(&p, "name", t.Name)
	if !ValidRole(t.Role) {
		p.Addf("role", "must be admin, editor or viewer")
	}
	return p.Err("admin token")
}

// ValidRole reports whether r is an admin role.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleEditor || r == RoleViewer || r == RoleReadOnly
}

// RoleMayWrite reports whether role may change resources of kind: admins everything,
// editors everything but admin credentials, viewers nothing.
func RoleMayWrite(role, kind string) bool {
	switch role {
	case RoleAdmin:
		return true
	case RoleEditor:
		return kind != KindAdminToken && kind != KindAdminUser
	}
	return false
}

// AuditEntry records one change: who did what to which resource, and the resource before
// and after (secrets never included). Before is empty for creations, After for deletions.
type AuditEntry struct {
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`   // create, update, delete, revoke
	Resource string          `json:"resource"` // api, plan, developer, app, key, subscription, admin_token
	Name     string          `json:"name"`     // the resource's name or id
	Revision int64           `json:"revision"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

// Audit actions.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionRevoke = "revoke"
)

// Resource kinds, as they appear in audit entries and change notices.
const (
	KindAPI          = "api"
	KindPlan         = "plan"
	KindDeveloper    = "developer"
	KindApp          = "app"
	KindKey          = "key"
	KindSubscription = "subscription"
	KindAdminToken   = "admin_token"
	KindAdminUser    = "admin_user"
)

type actorKey struct{}

// WithActor returns a context whose writes are attributed to actor in the audit log.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor set by WithActor, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// Secret prefixes tell key kinds apart at a glance (and to secret scanners).
const (
	KeySecretPrefix   = "gh_"
	AdminSecretPrefix = "gha_"
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSecret returns a fresh secret "<kind>" + 8-character id + "_" + 32 random characters,
// with its visible prefix (kind and id) and its hash. The id makes the prefix unique enough
// to tell keys apart in logs without revealing the secret.
func NewSecret(kind string) (secret, prefix, hash string) {
	var b [25]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	s := b32.EncodeToString(b[:])
	prefix = kind + s[:8]
	secret = prefix + "_" + s[8:]
	return secret, prefix, HashSecret(secret)
}

// HashSecret is the stored form of a key or token: SHA-256, hex. Secrets carry 160 bits of
// randomness, so a fast hash is right here (slow hashes are for passwords).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretPrefix returns the visible prefix of a well-formed secret, or "".
func SecretPrefix(secret string) string {
	i := strings.LastIndexByte(secret, '_')
	if i <= 0 {
		return ""
	}
	return secret[:i]
}

// NewID returns a random identifier with a type prefix, such as "key_3k2j...".
func NewID(kind string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return kind + "_" + b32.EncodeToString(b[:])
}
