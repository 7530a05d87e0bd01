package client

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// AdminUser is a person who signs in to the dashboard with a password.
type AdminUser struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AdminUserRequest creates or changes an admin user; on a change, empty fields stay.
type AdminUserRequest struct {
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
}

// ResetLink is a single-use portal password reset link.
type ResetLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AdminUsers lists every admin user.
func (c *Client) AdminUsers(ctx context.Context) ([]*AdminUser, error) {
	pg, err := get[gatehouse.Page[*AdminUser]](ctx, c, path("admin-users"))
	return pg.Items, err
}

// CreateAdminUser creates an admin user.
func (c *Client) CreateAdminUser(ctx context.Context, req AdminUserRequest) (*AdminUser, error) {
	return send[*AdminUser](ctx, c, http.MethodPost, path("admin-users"), req, 0)
}

// UpdateAdminUser changes an admin user's role or password; either ends their sessions.
func (c *Client) UpdateAdminUser(ctx context.Context, name string, req AdminUserRequest) (*AdminUser, error) {
	return send[*AdminUser](ctx, c, http.MethodPut, path("admin-users", name), req, 0)
}

// DeleteAdminUser deletes an admin user.
func (c *Client) DeleteAdminUser(ctx context.Context, name string) error {
	return del(ctx, c, path("admin-users", name), 0)
}

// ResetLink makes a password reset link for a developer, for an operator to deliver.
func (c *Client) ResetLink(ctx context.Context, email string) (*ResetLink, error) {
	return send[*ResetLink](ctx, c, http.MethodPost, path("developers", email, "reset-link"), nil, 0)
}
