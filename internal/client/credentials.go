package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// KeyRequest asks for a new API key. ExpiresAt and ExpiresIn are alternatives; neither
// means the key never expires.
type KeyRequest struct {
	Name      string             `json:"name,omitempty"`
	ExpiresAt *time.Time         `json:"expires_at,omitempty"`
	ExpiresIn gatehouse.Duration `json:"expires_in,omitempty"`
}

// CreatedKey is a new key with its secret, which the server shows this once.
type CreatedKey struct {
	gatehouse.Key
	Secret string `json:"key"`
}

// AdminTokenRequest asks for a new admin token; Role is gatehouse.RoleAdmin or RoleReadOnly.
type AdminTokenRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreatedAdminToken is a new admin token with its secret, shown this once.
type CreatedAdminToken struct {
	gatehouse.AdminToken
	Secret string `json:"token"`
}

// Status describes the server answering the admin API.
type Status struct {
	Version  string `json:"version"`
	Revision int64  `json:"revision"`
}

// Keys returns one page of the keys of app f.App, which is required.
func (c *Client) Keys(ctx context.Context, f gatehouse.KeyFilter) (gatehouse.Page[*gatehouse.Key], error) {
	if f.App == "" {
		return gatehouse.Page[*gatehouse.Key]{}, errNoApp
	}
	return list[*gatehouse.Key](ctx, c, path("apps", f.App, "keys"), listQuery(f.ListOptions))
}

// AllKeys returns every key of app f.App.
func (c *Client) AllKeys(ctx context.Context, f gatehouse.KeyFilter) ([]*gatehouse.Key, error) {
	if f.App == "" {
		return nil, errNoApp
	}
	return all[*gatehouse.Key](ctx, c, path("apps", f.App, "keys"), listQuery(f.ListOptions))
}

var errNoApp = gatehouse.Errorf(gatehouse.EInvalid, "listing keys needs an app")

// Key returns key id of app.
func (c *Client) Key(ctx context.Context, app, id string) (*gatehouse.Key, error) {
	return get[*gatehouse.Key](ctx, c, path("apps", app, "keys", id))
}

// CreateKey creates a key for app and returns it with its secret.
func (c *Client) CreateKey(ctx context.Context, app string, req KeyRequest) (*CreatedKey, error) {
	return send[*CreatedKey](ctx, c, http.MethodPost, path("apps", app, "keys"), req, 0)
}

// RevokeKey revokes key id of app (revoking twice is not an error) and returns it.
func (c *Client) RevokeKey(ctx context.Context, app, id string) (*gatehouse.Key, error) {
	return send[*gatehouse.Key](ctx, c, http.MethodPost, path("apps", app, "keys", id, "revoke"), nil, 0)
}

// RotateKey issues a successor of key id of app and makes the old key stop working
// after overlap (at once when 0). The answer holds the new key's secret, this once.
func (c *Client) RotateKey(ctx context.Context, app, id string, overlap gatehouse.Duration) (*CreatedKey, error) {
	return send[*CreatedKey](ctx, c, http.MethodPost, path("apps", app, "keys", id, "rotate"),
		map[string]gatehouse.Duration{"overlap": overlap}, 0)
}

// DeleteKey deletes key id of app.
func (c *Client) DeleteKey(ctx context.Context, app, id string) error {
	return del(ctx, c, path("apps", app, "keys", id), 0)
}

func subscriptionQuery(f gatehouse.SubscriptionFilter) url.Values {
	return listQuery(f.ListOptions, "app", f.App, "plan", f.Plan, "status", string(f.Status))
}

// Subscriptions returns one page of subscriptions.
func (c *Client) Subscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) (gatehouse.Page[*gatehouse.Subscription], error) {
	return list[*gatehouse.Subscription](ctx, c, path("subscriptions"), subscriptionQuery(f))
}

// AllSubscriptions returns every subscription that f selects.
func (c *Client) AllSubscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) ([]*gatehouse.Subscription, error) {
	return all[*gatehouse.Subscription](ctx, c, path("subscriptions"), subscriptionQuery(f))
}

// Subscription returns the subscription with this id.
func (c *Client) Subscription(ctx context.Context, id string) (*gatehouse.Subscription, error) {
	return get[*gatehouse.Subscription](ctx, c, path("subscriptions", id))
}

// CreateSubscription subscribes s.App to s.Plan. An empty s.Status lets the plan's approval
// mode decide between active and pending.
func (c *Client) CreateSubscription(ctx context.Context, s *gatehouse.Subscription) (*gatehouse.Subscription, error) {
	return send[*gatehouse.Subscription](ctx, c, http.MethodPost, path("subscriptions"), s, 0)
}

// UpdateSubscription sets the status of subscription id (approve, reject, revoke).
func (c *Client) UpdateSubscription(ctx context.Context, id string, status gatehouse.SubscriptionStatus, ifRevision int64) (*gatehouse.Subscription, error) {
	patch := map[string]gatehouse.SubscriptionStatus{"status": status}
	return send[*gatehouse.Subscription](ctx, c, http.MethodPatch, path("subscriptions", id), patch, ifRevision)
}

// DeleteSubscription deletes subscription id.
func (c *Client) DeleteSubscription(ctx context.Context, id string, ifRevision int64) error {
	return del(ctx, c, path("subscriptions", id), ifRevision)
}

// AdminTokens returns one page of admin tokens (never their secrets).
func (c *Client) AdminTokens(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AdminToken], error) {
	return list[*gatehouse.AdminToken](ctx, c, path("admin-tokens"), listQuery(o))
}

// AllAdminTokens returns every admin token.
func (c *Client) AllAdminTokens(ctx context.Context, o gatehouse.ListOptions) ([]*gatehouse.AdminToken, error) {
	return all[*gatehouse.AdminToken](ctx, c, path("admin-tokens"), listQuery(o))
}

// CreateAdminToken creates an admin token and returns it with its secret.
func (c *Client) CreateAdminToken(ctx context.Context, req AdminTokenRequest) (*CreatedAdminToken, error) {
	return send[*CreatedAdminToken](ctx, c, http.MethodPost, path("admin-tokens"), req, 0)
}

// DeleteAdminToken deletes admin token id; callers using it are refused from then on.
func (c *Client) DeleteAdminToken(ctx context.Context, id string) error {
	return del(ctx, c, path("admin-tokens", id), 0)
}

func auditQuery(f gatehouse.AuditFilter) url.Values {
	return listQuery(f.ListOptions, "resource", f.Resource, "name", f.Name, "actor", f.Actor,
		"since", formatTime(f.Since), "until", formatTime(f.Until))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// AuditEntries returns one page of audit entries, newest first.
func (c *Client) AuditEntries(ctx context.Context, f gatehouse.AuditFilter) (gatehouse.Page[*gatehouse.AuditEntry], error) {
	return list[*gatehouse.AuditEntry](ctx, c, path("audit"), auditQuery(f))
}

// AllAuditEntries returns every audit entry that f selects, newest first.
func (c *Client) AllAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error) {
	return all[*gatehouse.AuditEntry](ctx, c, path("audit"), auditQuery(f))
}

// Status returns the server's version and the store's current revision.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return get[*Status](ctx, c, path("status"))
}

// Healthy returns nil if the server answers /healthz with success.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
}

// Ready returns nil if the server answers /readyz with success (its store is reachable).
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, nil)
}
