package admin

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// Admin users sign in to the dashboard with a password (tokens are for programs). They
// live in the session store's accounts, not in the configuration store: creating or
// deleting one bumps no revision and is logged rather than audited.

// userWrite is the body of POST /v1/admin-users and PUT /v1/admin-users/{name}.
type userWrite struct {
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
}

// userView is an admin user as the API shows it: never the password hash.
type userView struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewUser(a *session.Account) userView {
	return userView{Name: a.Subject, Role: a.Role, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// readInto reads a JSON body into dst, refusing unknown fields.
func (s *server) readInto(w http.ResponseWriter, r *http.Request, dst any) error {
	doc, err := s.readBody(w, r, false, mediaJSON)
	if err != nil {
		return err
	}
	return decodeInto(doc, dst, append(serverFields(), "created_at", "updated_at")...)
}

func (s *server) needSessions() error {
	if s.sessions == nil {
		return gatehouse.Errorf(gatehouse.ENotFound, "this node's store keeps no accounts: admin users and reset links are not available")
	}
	return nil
}

func (s *server) listAdminUsers(w http.ResponseWriter, r *http.Request) error {
	if err := s.needSessions(); err != nil {
		return err
	}
	accts, err := s.sessions.Accounts(r.Context(), session.KindAdmin)
	if err != nil {
		return err
	}
	out := make([]userView, 0, len(accts))
	for _, a := range accts {
		out = append(out, viewUser(a))
	}
	s.writePage(w, r, out, "")
	return nil
}

func (s *server) createAdminUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needSessions(); err != nil {
		return err
	}
	var req userWrite
	if err := s.readInto(w, r, &req); err != nil {
		return err
	}
	var p gatehouse.Problems
	if !gatehouse.ValidName(req.Name) {
		p.Addf("name", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	checkUser(&p, req, true)
	if err := p.Err("admin user"); err != nil {
		return err
	}
	if _, err := s.sessions.Account(r.Context(), session.KindAdmin, req.Name); err == nil {
		return gatehouse.Errorf(gatehouse.EConflict, "admin user %q already exists", req.Name)
	}
	a := &session.Account{Kind: session.KindAdmin, Subject: req.Name, Role: normRole(req.Role), PasswordHash: session.HashPassword(req.Password)}
	if err := s.sessions.PutAccount(r.Context(), a); err != nil {
		return err
	}
	s.log.Info("admin user created", "user", req.Name, "role", a.Role, "by", gatehouse.ActorFrom(r.Context()))
	s.writeCreated(w, r, pathOf("admin-users", a.Subject), 0, viewUser(a))
	return nil
}

// updateAdminUser changes a user's role and/or password; either ends their sessions.
func (s *server) updateAdminUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needSessions(); err != nil {
		return err
	}
	name := r.PathValue("name")
	cur, err := s.sessions.Account(r.Context(), session.KindAdmin, name)
	if err != nil {
		return err
	}
	var req userWrite
	if err := s.readInto(w, r, &req); err != nil {
		return err
	}
	var p gatehouse.Problems
	if req.Name != "" && req.Name != name {
		p.Addf("name", "is %q but the path names %q; names cannot change", req.Name, name)
	}
	checkUser(&p, req, false)
	if err := p.Err("admin user"); err != nil {
		return err
	}
	if req.Role != "" {
		cur.Role = normRole(req.Role)
	}
	if req.Password != "" {
		cur.PasswordHash = session.HashPassword(req.Password)
	}
	if err := s.sessions.PutAccount(r.Context(), cur); err != nil {
		return err
	}
	if err := s.sessions.DeleteSessions(r.Context(), session.KindAdmin, "user:"+name); err != nil {
		return err
	}
	s.log.Info("admin user updated", "user", name, "role", cur.Role, "by", gatehouse.ActorFrom(r.Context()))
	s.writeJSON(w, r, http.StatusOK, viewUser(cur))
	return nil
}

func (s *server) deleteAdminUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needSessions(); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.sessions.DeleteAccount(r.Context(), session.KindAdmin, name); err != nil {
		return err
	}
	if err := s.sessions.DeleteSessions(r.Context(), session.KindAdmin, "user:"+name); err != nil {
		return err
	}
	s.log.Info("admin user deleted", "user", name, "by", gatehouse.ActorFrom(r.Context()))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func checkUser(p *gatehouse.Problems, req userWrite, create bool) {
	if (create || req.Role != "") && !gatehouse.ValidRole(req.Role) {
		p.Addf("role", "must be admin, editor or viewer")
	}
	if create || req.Password != "" {
		if err := session.CheckPassword(req.Password, ""); err != nil {
			p.Addf("password", "%s", err.Error())
		}
	}
}

// normRole stores viewer for its old name.
func normRole(r string) string {
	if r == gatehouse.RoleReadOnly {
		return gatehouse.RoleViewer
	}
	return r
}

// resetLink is the answer of POST /v1/developers/{email}/reset-link.
type resetLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createResetLink makes a single-use password reset link for a developer, for an operator
// to deliver (or a program to mail). It is shown only in this answer.
func (s *server) createResetLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.needSessions(); err != nil {
		return err
	}
	dev, err := s.store.Developer(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	now := s.now()
	token, err := session.NewReset(r.Context(), s.sessions, dev.Email, now)
	if err != nil {
		return err
	}
	s.log.Info("password reset link made", "developer", dev.Email, "by", gatehouse.ActorFrom(r.Context()))
	base := strings.TrimSuffix(s.portalURL, "/")
	s.writeJSON(w, r, http.StatusCreated, resetLink{URL: base + "/reset?token=" + url.QueryEscape(token), ExpiresAt: now.Add(session.ResetTTL).UTC()})
	return nil
}

// endTokenSessions ends the dashboard sessions started with a deleted token.
func (s *server) endTokenSessions(ctx context.Context, name string) {
	if s.sessions == nil {
		return
	}
	if err := s.sessions.DeleteSessions(ctx, session.KindAdmin, "token:"+name); err != nil {
		s.log.Warn("ending the dashboard sessions of a deleted token", "token", name, "err", err)
	}
}
