package policy

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Consumer is an app as authentication resolves it, with what its active subscriptions
// grant. Directories cache and share these values: read only.
type Consumer struct {
	App       string
	Developer string
	// Blocked is true when the app's developer is blocked: its credentials stop working.
	Blocked bool
	// Grants are the app's active subscriptions, ordered by plan name.
	Grants []Grant
}

// Grant is one active subscription: the plan and what it allows.
type Grant struct {
	Subscription string
	Plan         *gatehouse.Plan
}

// GrantFor returns the first grant (by plan name) whose plan includes api, or nil.
func (c *Consumer) GrantFor(api string) *Grant {
	for i := range c.Grants {
		for _, a := range c.Grants[i].Plan.APIs {
			if a == api {
				return &c.Grants[i]
			}
		}
	}
	return nil
}

// Credential is a resolved API key.
type Credential struct {
	KeyID     string
	ExpiresAt time.Time // zero: never
	Revoked   bool
	Consumer  *Consumer
}

// Directory resolves credentials and apps, through a bounded cache that the store's change
// notices invalidate (a revoked key stops working within a second).
type Directory interface {
	// Key resolves an API key secret; (nil, nil) when no key has that secret.
	Key(ctx context.Context, secret string) (*Credential, error)
	// App resolves an app by name; (nil, nil) when there is no such app.
	App(ctx context.Context, name string) (*Consumer, error)
}

// Rate is a GCRA limit: Limit requests per Window, with bursts of up to Burst requests
// (Burst 0 means Limit).
type Rate struct {
	Limit  int64
	Window time.Duration
	Burst  int64
}

// Decision is a limiter's answer.
type Decision struct {
	Allowed   bool
	Remaining int64         // requests still allowed right now
	Reset     time.Duration // until the bucket is full again (RateLimit's "t")
	Retry     time.Duration // until a rejected request could pass (Retry-After); 0 if allowed
}

// Limiter takes tokens from GCRA buckets. A rejected request consumes nothing. The key is
// valid only during the call (policies build it in reused buffers): an implementation
// that keeps it must copy it. Implementations: internal/limit (memory, Redis).
type Limiter interface {
	Allow(ctx context.Context, key string, r Rate, n int64) (Decision, error)
}

// Quotas counts requests per calendar period, persistently. As with Limiter, the key is
// valid only during the call.
type Quotas interface {
	// Take adds n to key's count for the period [start, end) unless that would pass limit,
	// and returns the count after the call (unchanged when not ok).
	Take(ctx context.Context, key string, start, end time.Time, limit, n int64) (used int64, ok bool, err error)
}

// Cache stores serialized responses. Keys are opaque; Purge drops every key with prefix.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Purge(ctx context.Context, prefix string) error
}
