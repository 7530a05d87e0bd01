package gatehouse

import (
	"context"
	"time"
	"unicode"
)

// Developer is a person who uses APIs through apps; Email is the stable identifier.
type Developer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	// Status "active" (default), "pending" (signed up, awaiting an operator's approval) or
	// "blocked". Only an active developer's keys work.
	Status string `json:"status"`
	Meta
}

// Developer statuses.
const (
	DeveloperActive  = "active"
	DeveloperPending = "pending"
	DeveloperBlocked = "blocked"
)

// Normalize fills defaults in place.
func (d *Developer) Normalize() {
	d.Email = NormalizeEmail(d.Email)
	if d.Status == "" {
		d.Status = DeveloperActive
	}
}

// Validate reports every rule d breaks.
func (d *Developer) Validate() error {
	var p Problems
	checkEmail(&p, "email", d.Email)
	if len(d.Name) > 256 {
		p.Addf("name", "must be at most 256 characters")
	}
	if !ValidDeveloperStatus(d.Status) {
		p.Addf("status", "must be active, pending or blocked")
	}
	return p.Err("developer")
}

// ValidDeveloperStatus reports whether s is a known developer status.
func ValidDeveloperStatus(s string) bool {
	return s == DeveloperActive || s == DeveloperPending || s == DeveloperBlocked
}

// App is a client program owned by a developer; it holds keys and subscriptions.
type App struct {
	Name string `json:"name"`
	// Title is the app's display name; unlike Name (an identifier that keys, analytics
	// and subscriptions refer to) it may change and hold any text.
	Title       string `json:"title,omitempty"`
	Developer   string `json:"developer"` // the owner's email
	Description string `json:"description,omitempty"`
	Meta
}

// Normalize fills canonical forms in place.
func (a *App) Normalize() { a.Developer = NormalizeEmail(a.Developer) }

// Validate reports every rule a breaks.
func (a *App) Validate() error {
	var p Problems
	checkName(&p, "name", a.Name)
	checkEmail(&p, "developer", a.Developer)
	if len(a.Title) > 128 {
		p.Addf("title", "must be at most 128 bytes")
	}
	for _, r := range a.Title {
		if unicode.IsControl(r) {
			p.Addf("title", "must not contain control characters")
			break
		}
	}
	if len(a.Description) > 4096 {
		p.Addf("description", "must be at most 4096 characters")
	}
	return p.Err("app")
}

// Key is an API key of an app. The secret is shown once at creation; the store keeps only
// its hash. Prefix is the visible start of the secret, for support and logs.
type Key struct {
	ID         string     `json:"id"`
	App        string     `json:"app"`
	Name       string     `json:"name,omitempty"`
	Prefix     string     `json:"prefix"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at,omitzero"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Active reports whether k authenticates at time now.
func (k *Key) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Status is "active", "expired" or "revoked" at time now.
func (k *Key) Status(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Validate reports every rule k breaks (the server fills ID, Prefix and Hash).
func (k *Key) Validate() error {
	var p Problems
	checkName(&p, "app", k.App)
	if k.Name != "" && !nameRE(k.Name) {
		p.Addf("name", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(k.CreatedAt) {
		p.Addf("expires_at", "must be in the future")
	}
	return p.Err("key")
}

// MaxRotationOverlap bounds how long a rotated key keeps working beside its successor.
const MaxRotationOverlap = 30 * 24 * time.Hour

// RotateKey issues a successor of old (same app, name and expiry) and makes old stop
// working overlap from now (at once when overlap is 0), so that clients can switch
// without an outage. It returns the new key and its secret. The two writes are not one
// transaction: if the second fails, both keys work and the caller may retry it.
func RotateKey(ctx context.Context, st Store, old *Key, overlap time.Duration, now time.Time) (*Key, string, error) {
	if overlap < 0 || overlap > MaxRotationOverlap {
		return nil, "", &Error{Code: EInvalid, Message: "invalid key rotation",
			Fields: []FieldError{{Field: "overlap", Message: "must be between 0s and 720h"}}}
	}
	if !old.Active(now) {
		return nil, "", Errorf(EConflict, "key %q is %s: only an active key can be rotated", old.ID, old.Status(now))
	}
	secret, prefix, hash := NewSecret(KeySecretPrefix)
	k, err := st.CreateKey(ctx, &Key{App: old.App, Name: old.Name, Prefix: prefix, Hash: hash, ExpiresAt: old.ExpiresAt})
	if err != nil {
		return nil, "", err
	}
	if _, err := st.ExpireKey(ctx, old.ID, now.Add(overlap)); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// SubscriptionStatus is where a subscription stands.
type SubscriptionStatus string

// Subscription statuses. Only active subscriptions grant access.
const (
	SubPending  SubscriptionStatus = "pending"
	SubActive   SubscriptionStatus = "active"
	SubRejected SubscriptionStatus = "rejected"
	SubRevoked  SubscriptionStatus = "revoked"
)

// Valid reports whether s is a known status.
func (s SubscriptionStatus) Valid() bool {
	switch s {
	case SubPending, SubActive, SubRejected, SubRevoked:
		return true
	}
	return false
}

// Subscription grants an app the APIs of a plan. There is at most one per app and plan.
type Subscription struct {
	ID     string             `json:"id"`
	App    string             `json:"app"`
	Plan   string             `json:"plan"`
	Status SubscriptionStatus `json:"status"` // empty at creation: active or pending by plan approval
	Meta
}

// Validate reports every rule s breaks.
func (s *Subscription) Validate() error {
	var p Problems
	checkName(&p, "app", s.App)
	checkName(&p, "plan", s.Plan)
	if s.Status != "" && !s.Status.Valid() {
		p.Addf("status", "must be one of pending, active, rejected, revoked")
	}
	return p.Err("subscription")
}
