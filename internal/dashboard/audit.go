package dashboard

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

type auditData struct {
	Items     []*gatehouse.AuditEntry
	Resource  string
	Name      string
	Actor     string
	Since     string
	Until     string
	Resources []string
	Pager     pager
}

var auditResources = []string{gatehouse.KindAPI, gatehouse.KindPlan, gatehouse.KindDeveloper, gatehouse.KindApp,
	gatehouse.KindKey, gatehouse.KindSubscription, gatehouse.KindAdminToken, gatehouse.KindAdminUser}

// parseWhen reads a datetime-local (UTC) or date filter; "" is no bound.
func parseWhen(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{localLayout, "2006-01-02T15:04:05", "2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid(field, "must be a date and time, like 2026-01-31T09:00 (UTC)")
}

func (s *server) audit(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	d := auditData{Resource: q.Get("resource"), Name: strings.TrimSpace(q.Get("name")), Actor: strings.TrimSpace(q.Get("actor")),
		Since: q.Get("since"), Until: q.Get("until"), Resources: auditResources}
	if d.Resource != "" && !slices.Contains(auditResources, d.Resource) {
		return invalid("resource", "unknown resource kind")
	}
	since, err := parseWhen("since", d.Since)
	if err != nil {
		return err
	}
	until, err := parseWhen("until", d.Until)
	if err != nil {
		return err
	}
	pg, err := s.o.Store.AuditEntries(r.Context(), gatehouse.AuditFilter{Resource: d.Resource, Name: d.Name, Actor: d.Actor,
		Since: since, Until: until, ListOptions: gatehouse.ListOptions{Limit: pageSize, After: q.Get("after")}})
	if err != nil {
		return err
	}
	d.Items, d.Pager = pg.Items, pageLinks("/ui/audit", q, pg.Next)
	s.show(w, r, c, "audit.html", "Audit log", "audit", d)
	return nil
}

// Admin users: password accounts of the dashboard. They live in the session store, so
// their changes are not in the configuration audit log; they are logged instead.

type userForm struct {
	Name string
	Role string
	Err  *formErr
}

type usersData struct {
	Users []*session.Account
	Roles []string
	Form  userForm
	Self  string // the signed-in user's name, who may not delete themselves
}

func (s *server) usersData(r *http.Request, c *call, f userForm) (usersData, error) {
	accts, err := s.o.Sessions.Accounts(r.Context(), session.KindAdmin)
	if err != nil {
		return usersData{}, err
	}
	if f.Role == "" {
		f.Role = gatehouse.RoleViewer
	}
	self, _ := strings.CutPrefix(c.sess.Subject, "user:")
	return usersData{Users: accts, Roles: []string{gatehouse.RoleViewer, gatehouse.RoleEditor, gatehouse.RoleAdmin}, Form: f, Self: self}, nil
}

func (s *server) users(w http.ResponseWriter, r *http.Request, c *call) error {
	d, err := s.usersData(r, c, userForm{})
	if err != nil {
		return err
	}
	s.show(w, r, c, "users.html", "Admin users", "users", d)
	return nil
}

// createUser creates an admin user, or replaces an existing one's role and password;
// either way the user's sessions end, so a new role or password applies at once.
func (s *server) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	f := userForm{Name: strings.TrimSpace(r.PostFormValue("name")), Role: r.PostFormValue("role")}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	var p gatehouse.Problems
	if !gatehouse.ValidName(f.Name) {
		p.Addf("name", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if f.Role != gatehouse.RoleAdmin && f.Role != gatehouse.RoleEditor && f.Role != gatehouse.RoleViewer {
		p.Addf("role", "must be admin, editor or viewer")
	}
	if err := session.CheckPassword(pw, ""); err != nil {
		p.Addf("password", "%s", err.Error())
	} else if pw != confirm {
		p.Addf("confirm", "does not match the password")
	}
	if err := p.Err("admin user"); err != nil {
		f.Err, _ = toFormErr(err)
		d, err := s.usersData(r, c, f)
		if err != nil {
			return err
		}
		s.showStatus(w, r, c, http.StatusUnprocessableEntity, "users.html", "Admin users", "users", d)
		return nil
	}
	acct := &session.Account{Kind: session.KindAdmin, Subject: f.Name, Role: f.Role, PasswordHash: session.HashPassword(pw)}
	if err := s.o.Sessions.PutAccount(r.Context(), acct); err != nil {
		return err
	}
	if err := s.o.Sessions.DeleteSessions(r.Context(), session.KindAdmin, "user:"+f.Name); err != nil {
		return err
	}
	s.log.Info("dashboard: admin user saved", "user", f.Name, "role", f.Role, "actor", c.sess.Subject)
	redirect(w, r, "/ui/users", "user")
	return nil
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	if c.sess.Subject == "user:"+name {
		return gatehouse.Errorf(gatehouse.EConflict, "You cannot delete the account you are signed in with")
	}
	if err := s.o.Sessions.DeleteAccount(r.Context(), session.KindAdmin, name); err != nil {
		return err
	}
	if err := s.o.Sessions.DeleteSessions(r.Context(), session.KindAdmin, "user:"+name); err != nil {
		return err
	}
	s.log.Info("dashboard: admin user deleted", "user", name, "actor", c.sess.Subject)
	redirect(w, r, "/ui/users", "user-delete")
	return nil
}
