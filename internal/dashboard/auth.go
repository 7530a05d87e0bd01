package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// call is one signed-in request: the session and the role it carries.
type call struct {
	sess *session.Session
	role string // admin, editor or viewer (read_only is read as viewer)
}

// handler serves a signed-in request; an error it returns is rendered as an error page.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// normRole maps the legacy read_only role to viewer, and anything unknown to viewer too,
// so that a role the dashboard does not understand can only read.
func normRole(role string) string {
	switch role {
	case gatehouse.RoleAdmin, gatehouse.RoleEditor:
		return role
	}
	return gatehouse.RoleViewer
}

// signedIn returns the request's session, or nil.
func (s *server) signedIn(w http.ResponseWriter, r *http.Request) (*call, bool) {
	sess, err := s.sessions.Get(r)
	if err != nil {
		s.fail(w, r, nil, err)
		return nil, false
	}
	if sess == nil {
		return nil, true
	}
	return &call{sess: sess, role: normRole(sess.Role)}, true
}

// page wraps a read-only handler: signed-in operators of any role.
func (s *server) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.signedIn(w, r)
		if !ok {
			return
		}
		if c == nil {
			http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	}
}

// form wraps a page that only shows a form to change something of kind: roles that may
// not write it get 403 rather than a form whose submission would fail.
func (s *server) form(kind string, h handler) http.HandlerFunc {
	return s.page(func(w http.ResponseWriter, r *http.Request, c *call) error {
		if !gatehouse.RoleMayWrite(c.role, kind) {
			return gatehouse.Errorf(gatehouse.EForbidden, "Your role, %s, may only read.", c.role)
		}
		return h(w, r, c)
	})
}

// action wraps a handler that changes something of kind: the session must exist, the
// form must echo its CSRF token and the role must allow the write. The handler runs with
// the operator as the audit actor.
func (s *server) action(kind string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxFormBytes)
		if kind == gatehouse.KindAPI {
			limit = maxAPIBodySize
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		c, ok := s.signedIn(w, r)
		if !ok {
			return
		}
		if c == nil {
			http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
			return
		}
		if err := parseForm(r, limit); err != nil {
			s.fail(w, r, c, err)
			return
		}
		if session.CheckCSRF(r, c.sess) != nil {
			s.fail(w, r, c, gatehouse.Errorf(gatehouse.EForbidden,
				"The form is stale or did not come from this site. Reload the page and try again."))
			return
		}
		if kind != "" && !gatehouse.RoleMayWrite(c.role, kind) {
			msg := "Your role, " + c.role + ", may only read."
			if c.role == gatehouse.RoleEditor {
				msg = "Editors may not manage admin users."
			}
			s.fail(w, r, c, gatehouse.Errorf(gatehouse.EForbidden, "%s", msg))
			return
		}
		r = r.WithContext(gatehouse.WithActor(r.Context(), c.sess.Subject))
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	}
}

// parseForm reads a urlencoded or multipart body within limit, so that later
// PostFormValue calls (CheckCSRF's included) never read more.
func parseForm(r *http.Request, limit int64) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(limit)
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return gatehouse.Errorf(gatehouse.ETooLarge, "The form is larger than %d bytes.", limit)
	case err != nil:
		return gatehouse.Errorf(gatehouse.EInvalid, "The form could not be read.")
	}
	return nil
}

type signinData struct {
	Next    string
	Name    string // kept after a failed password sign-in
	Method  string // "token" or "password": which form failed
	Message string
}

func (s *server) signinPage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if c != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "signin.html", view{base: s.base(nil, nil, "Sign in", ""), D: signinData{Next: next}})
}

// safeNext returns next if it is a dashboard path on this site, else the overview: a
// sign-in link must not send anyone elsewhere.
func safeNext(next string) string {
	if !session.LocalPath(next) {
		return basePath
	}
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(u.Path, basePath) {
		return basePath
	}
	if strings.HasPrefix(u.Path, "/ui/signin") || strings.HasPrefix(u.Path, "/ui/signout") || strings.HasPrefix(u.Path, "/ui/live") {
		return basePath
	}
	return u.RequestURI()
}

// clientIP is the connection's address: forwarded headers are not trusted, since anyone
// can send them and the throttle would then be keyed by the attacker's choice.
func clientIP(r *http.Request) string { return session.ClientKey(r) }

// signin checks an admin token or an admin user's password and starts a session.
func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := parseForm(r, maxFormBytes); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	d := signinData{Next: safeNext(r.PostFormValue("next")), Method: r.PostFormValue("method")}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	if d.Method != "token" && d.Method != "password" {
		d.Method = "password"
		if secret != "" {
			d.Method = "token"
		}
	}
	ipKey := "ip:" + clientIP(r)
	var who string // the throttle key of the account tried
	if d.Method == "token" {
		// The visible prefix of a generated token (gha_ and 8 characters) names it
		// without revealing it; anything else typed here may be a secret, so only its
		// hash is used.
		if p := gatehouse.SecretPrefix(secret); strings.HasPrefix(p, gatehouse.AdminSecretPrefix) && len(p) == len(gatehouse.AdminSecretPrefix)+8 {
			who = "token:" + p
		} else {
			who = "token:#" + gatehouse.HashSecret(secret)[:12]
		}
	} else {
		d.Name = name
		who = "user:" + strings.ToLower(name)
	}
	// Counted before the check, so parallel guesses cannot all slip in.
	if wait := max(s.throttle.Begin(ipKey), s.throttle.Begin(who)); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		d.Message = "Too many failed sign-ins. Try again in " + waitText(wait) + "."
		s.render(w, http.StatusTooManyRequests, "signin.html", view{base: s.base(nil, nil, "Sign in", ""), D: d})
		return
	}

	var subject, role string
	var expires *time.Time
	var err error
	if d.Method == "token" {
		subject, role, expires, err = s.checkToken(r, secret)
	} else {
		if !s.hashing.Enter(2 * time.Second) {
			w.Header().Set("Retry-After", "2")
			s.fail(w, r, nil, gatehouse.Errorf(gatehouse.EUnavailable, "the dashboard is busy signing people in; try again in a moment"))
			return
		}
		subject, role, err = s.checkPassword(r, name, r.PostFormValue("password"))
		s.hashing.Leave()
	}
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EUnauthorized {
			s.fail(w, r, nil, err)
			return
		}
		s.log.Info("dashboard: sign-in refused", "method", d.Method, "account", who, "ip", clientIP(r))
		d.Message = gatehouse.ErrorMessage(err)
		s.render(w, http.StatusUnauthorized, "signin.html", view{base: s.base(nil, nil, "Sign in", ""), D: d})
		return
	}
	s.throttle.Reset(who)
	s.throttle.Undo(ipKey)

	mgr := s.sessions
	if expires != nil {
		// A session must not outlive the token that started it.
		ttl := min(sessionTTL, expires.Sub(s.o.Now()))
		mgr = session.NewManager(session.Options{Store: s.o.Sessions, Kind: session.KindAdmin, Cookie: cookieName,
			Path: basePath, TTL: ttl, Secure: s.o.Secure, Now: s.o.Now})
	}
	if _, err := mgr.Start(r.Context(), w, r, subject, role); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.log.Info("dashboard: signed in", "subject", subject, "role", role, "ip", clientIP(r))
	// Sign-ins are rare enough to sweep expired sessions on, so the table stays small
	// without a goroutine of the dashboard's own.
	if _, err := s.o.Sessions.PruneSessions(r.Context(), s.o.Now()); err != nil {
		s.log.Warn("dashboard: pruning expired sessions", "err", err)
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func waitText(d time.Duration) string {
	if m := int((d + time.Minute - 1) / time.Minute); m > 1 {
		return strconv.Itoa(m) + " minutes"
	}
	return "a minute"
}

var errBadToken = gatehouse.Errorf(gatehouse.EUnauthorized, "That admin token is not valid.")

func (s *server) checkToken(r *http.Request, secret string) (subject, role string, expires *time.Time, err error) {
	if secret == "" || len(secret) > 256 {
		return "", "", nil, errBadToken
	}
	tok, err := s.o.Store.AdminTokenByHash(r.Context(), gatehouse.HashSecret(secret))
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		return "", "", nil, errBadToken
	}
	if err != nil {
		return "", "", nil, err
	}
	if tok.ExpiresAt != nil && !s.o.Now().Before(*tok.ExpiresAt) {
		return "", "", nil, gatehouse.Errorf(gatehouse.EUnauthorized, "That admin token has expired.")
	}
	return "token:" + tok.Name, normRole(tok.Role), tok.ExpiresAt, nil
}

var errBadPassword = gatehouse.Errorf(gatehouse.EUnauthorized, "The user name or the password is wrong.")

func (s *server) checkPassword(r *http.Request, name, password string) (subject, role string, err error) {
	if name == "" || password == "" || len(name) > 64 || len(password) > session.MaxPassword {
		return "", "", errBadPassword
	}
	acct, err := s.o.Sessions.Account(r.Context(), session.KindAdmin, name)
	switch gatehouse.ErrorCode(err) {
	case "":
	case gatehouse.ENotFound:
		session.VerifyPassword("", password) // as slow as a wrong password
		return "", "", errBadPassword
	default:
		return "", "", err
	}
	if !session.VerifyPassword(acct.PasswordHash, password) {
		return "", "", errBadPassword
	}
	return "user:" + acct.Subject, normRole(acct.Role), nil
}

func (s *server) signout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.sessions.End(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
	return nil
}

// live serves the live traffic stream to a signed-in operator.
func (s *server) live(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.o.Live == nil {
		return gatehouse.Errorf(gatehouse.ENotFound, "Live analytics are not enabled on this node.")
	}
	s.o.Live(w, r)
	return nil
}
