package gatehouse

import (
	"context"
	"time"
)

// Store persists every entity. Implementations: internal/store/sqlite (default) and
// internal/store/postgres; internal/store/storetest is the conformance suite both pass.
//
// Every write is one transaction that also bumps the global revision, writes an audit
// entry attributed to ActorFrom(ctx), and, after commit, sends a Change to subscribers.
// Writes validate (after Normalize) and return EInvalid without writing anything.
//
// Updates take ifRevision: 0 means unconditional; otherwise the write happens only if the
// stored revision equals it, else EPreconditionFailed. Returned resources are the stored
// ones, with server fields (revision, timestamps, ids) filled.
//
// Names are immutable: an update names its resource by the Name (or ID) in the value.
type Store interface {
	Notifier

	// API returns ENotFound if there is no such API.
	API(ctx context.Context, name string) (*API, error)
	APIs(ctx context.Context, f APIFilter) (Page[*API], error)
	// CreateAPI returns EConflict if the name is taken.
	CreateAPI(ctx context.Context, a *API) (*API, error)
	// UpdateAPI returns ENotFound or EPreconditionFailed.
	UpdateAPI(ctx context.Context, a *API, ifRevision int64) (*API, error)
	// DeleteAPI returns ENotFound, EPreconditionFailed, or EConflict while a plan lists it.
	DeleteAPI(ctx context.Context, name string, ifRevision int64) error

	Plan(ctx context.Context, name string) (*Plan, error)
	Plans(ctx context.Context, f PlanFilter) (Page[*Plan], error)
	// CreatePlan returns EConflict if the name is taken, EInvalid if a listed API is missing.
	CreatePlan(ctx context.Context, p *Plan) (*Plan, error)
	UpdatePlan(ctx context.Context, p *Plan, ifRevision int64) (*Plan, error)
	// DeletePlan returns EConflict while subscriptions to it exist.
	DeletePlan(ctx context.Context, name string, ifRevision int64) error

	// Developer looks up by email (case-insensitive).
	Developer(ctx context.Context, email string) (*Developer, error)
	Developers(ctx context.Context, f DeveloperFilter) (Page[*Developer], error)
	CreateDeveloper(ctx context.Context, d *Developer) (*Developer, error)
	UpdateDeveloper(ctx context.Context, d *Developer, ifRevision int64) (*Developer, error)
	// DeleteDeveloper returns EConflict while the developer owns apps.
	DeleteDeveloper(ctx context.Context, email string, ifRevision int64) error

	App(ctx context.Context, name string) (*App, error)
	Apps(ctx context.Context, f AppFilter) (Page[*App], error)
	// CreateApp returns EInvalid if the developer does not exist.
	CreateApp(ctx context.Context, a *App) (*App, error)
	UpdateApp(ctx context.Context, a *App, ifRevision int64) (*App, error)
	// DeleteApp deletes the app's keys with it and returns EConflict while it has
	// subscriptions.
	DeleteApp(ctx context.Context, name string, ifRevision int64) error

	Key(ctx context.Context, id string) (*Key, error)
	Keys(ctx context.Context, f KeyFilter) (Page[*Key], error)
	// KeyByHash finds a key by HashSecret(secret), whatever its status.
	KeyByHash(ctx context.Context, hash string) (*Key, error)
	// CreateKey stores k; the caller sets Prefix and Hash (see NewSecret). It returns
	// ENotFound if the app does not exist.
	CreateKey(ctx context.Context, k *Key) (*Key, error)
	// RevokeKey marks a key revoked (idempotent) and returns it.
	RevokeKey(ctx context.Context, id string) (*Key, error)
	// ExpireKey makes a key stop working at `at` (a rotation's overlap window), unless it
	// already expires sooner or is revoked, and returns it. It returns ENotFound.
	ExpireKey(ctx context.Context, id string, at time.Time) (*Key, error)
	DeleteKey(ctx context.Context, id string) error

	Subscription(ctx context.Context, id string) (*Subscription, error)
	Subscriptions(ctx context.Context, f SubscriptionFilter) (Page[*Subscription], error)
	// CreateSubscription returns EInvalid if the app or plan is missing, EConflict if the app
	// already subscribes to the plan. An empty status becomes active or pending by the plan's
	// approval mode.
	CreateSubscription(ctx context.Context, s *Subscription) (*Subscription, error)
	// UpdateSubscription changes only the status.
	UpdateSubscription(ctx context.Context, id string, status SubscriptionStatus, ifRevision int64) (*Subscription, error)
	DeleteSubscription(ctx context.Context, id string, ifRevision int64) error

	AdminTokens(ctx context.Context, f ListOptions) (Page[*AdminToken], error)
	AdminTokenByHash(ctx context.Context, hash string) (*AdminToken, error)
	// CreateAdminToken stores t; the caller sets Prefix and Hash.
	CreateAdminToken(ctx context.Context, t *AdminToken) (*AdminToken, error)
	DeleteAdminToken(ctx context.Context, id string) error

	// AuditEntries lists newest first.
	AuditEntries(ctx context.Context, f AuditFilter) (Page[*AuditEntry], error)

	// Revision is the revision of the latest write (0 for an empty store).
	Revision(ctx context.Context) (int64, error)
	// Ping reports whether the store is reachable (EUnavailable if not).
	Ping(ctx context.Context) error
	Close() error
}

// Notifier tells subscribers what changed after each committed write.
type Notifier interface {
	// Subscribe returns a channel of changes that is closed when ctx ends. A subscriber
	// that falls behind is never waited for: it gets one Change with Resync set and
	// must reload what it caches.
	Subscribe(ctx context.Context) <-chan Change
}

// Change is a notice that one resource changed at Revision.
type Change struct {
	Kind     string `json:"kind"`   // one of the Kind* constants
	Name     string `json:"name"`   // name, email or id
	Action   string `json:"action"` // one of the Action* constants
	Revision int64  `json:"revision"`
	Resync   bool   `json:"resync,omitempty"` // changes were dropped; reload everything
}

// DefaultPageSize and MaxPageSize bound list calls.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListOptions pages through a collection in its natural order: by name (email for
// developers), by creation for keys and subscriptions, newest first for audit entries.
type ListOptions struct {
	Limit int    // 1..MaxPageSize; 0 means DefaultPageSize
	After string // the Next cursor of the previous page
}

// PageLimit returns the effective page size.
func (o ListOptions) PageLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultPageSize
	case o.Limit > MaxPageSize:
		return MaxPageSize
	}
	return o.Limit
}

// Page is one page of a list; Next is empty on the last page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// APIFilter selects APIs; zero fields match everything.
type APIFilter struct {
	ListOptions
	State APIState
	Tag   string
}

// PlanFilter selects plans; API matches plans that list that API.
type PlanFilter struct {
	ListOptions
	API string
}

// DeveloperFilter selects developers.
type DeveloperFilter struct {
	ListOptions
	Status string
}

// AppFilter selects apps.
type AppFilter struct {
	ListOptions
	Developer string
}

// KeyFilter selects keys.
type KeyFilter struct {
	ListOptions
	App string
}

// SubscriptionFilter selects subscriptions.
type SubscriptionFilter struct {
	ListOptions
	App    string
	Plan   string
	Status SubscriptionStatus
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	ListOptions
	Resource string
	Name     string
	Actor    string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
}
