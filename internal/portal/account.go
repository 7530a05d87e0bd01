package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// signedIn is the request's developer session and the developer it belongs to.
type signedIn struct {
	sess *session.Session
	dev  *gatehouse.Developer
}

type sessionKey struct{}

func currentSession(r *http.Request) *signedIn {
	s, _ := r.Context().Value(sessionKey{}).(*signedIn)
	return s
}

// withSession finds the request's session (one indexed read, and one for the developer,
// only when a session cookie is present) and puts it on the context. A session whose
// developer was deleted or blocked is ended.
func (p *portal) withSession(h http.Handler) http.Handler {
	if p.sessions == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := p.sessions.Get(r)
		if err != nil {
			p.opts.Logger.Error("portal session", "err", err)
		}
		if s != nil {
			dev, err := p.opts.Store.Developer(r.Context(), s.Subject)
			switch {
			case err == nil && dev.Status != gatehouse.DeveloperBlocked:
				r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, &signedIn{sess: s, dev: dev}))
			case err == nil || gatehouse.ErrorCode(err) == gatehouse.ENotFound:
				_ = p.sessions.End(w, r)
			default:
				p.opts.Logger.Error("portal session developer", "err", err)
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (p *portal) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /signin", p.signinPage)
	mux.HandleFunc("POST /signin", p.signin)
	mux.HandleFunc("POST /signout", p.signout)
	mux.HandleFunc("GET /signup", p.signupPage)
	mux.HandleFunc("POST /signup", p.signup)
	mux.HandleFunc("GET /forgot", p.forgotPage)
	mux.HandleFunc("POST /forgot", p.forgot)
	mux.HandleFunc("GET /reset", p.resetPage)
	mux.HandleFunc("POST /reset", p.reset)
	mux.HandleFunc("GET /account", p.signedIn(p.accountPage))
	mux.HandleFunc("POST /account", p.signedIn(p.updateAccount))
	p.appRoutes(mux)
}

// signedIn wraps a handler that needs a developer: others go to the sign-in page (and
// come back), and every POST must carry the session's CSRF token.
func (p *portal) signedIn(h func(http.ResponseWriter, *http.Request, *signedIn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s := currentSession(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			p.fail(w, r, http.StatusUnauthorized, gatehouse.EUnauthorized, "sign in first")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := session.CheckCSRF(r, s.sess); err != nil {
				p.fail(w, r, http.StatusForbidden, gatehouse.EForbidden, err.Error())
				return
			}
		}
		h(w, r, s)
	}
}

// formPage is the data of the sign-in, sign-up, forgot and reset pages.
type formPage struct {
	layoutData
	Next    string
	Email   string
	Name    string
	Token   string
	Error   string
	Notice  string
	Fields  map[string]string // field → message
	Pending bool
}

// safeNext keeps a post-sign-in destination on this site: a path, not a URL.
func safeNext(s string) string {
	if !session.LocalPath(s) {
		return "/apps"
	}
	return s
}

func (p *portal) signinPage(w http.ResponseWriter, r *http.Request) {
	if currentSession(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := formPage{layoutData: p.layoutFor(r, "Sign in"), Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("reset") == "done" {
		d.Notice = "Your password is changed. Sign in with the new one."
	}
	p.render(w, http.StatusOK, "signin.html", d)
}

// clientIP is what throttling counts by. (Behind a proxy that is the proxy; set a
// trusted front end's limits there.)
func clientIP(r *http.Request) string { return session.ClientKey(r) }

// hashWait is how long a sign-in waits for a free password-hashing slot before the
// portal answers that it is busy.
const hashWait = 2 * time.Second

func (p *portal) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "2")
	p.fail(w, r, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the portal is busy signing people in; try again in a moment")
}

func (p *portal) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := gatehouse.NormalizeEmail(r.PostFormValue("email"))
	pw := r.PostFormValue("password")
	d := formPage{layoutData: p.layoutFor(r, "Sign in"), Next: safeNext(r.PostFormValue("next")), Email: email}
	acctKey, ipKey := "a:"+email, "ip:"+clientIP(r)
	// Attempts are counted before the check, so parallel guesses cannot all slip in.
	if wait := max(p.byAccount.Begin(acctKey), p.byIP.Begin(ipKey)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		d.Error = "Too many failed sign-ins. Try again in " + humanWait(wait) + "."
		p.render(w, http.StatusTooManyRequests, "signin.html", d)
		return
	}
	if !p.hashing.Enter(hashWait) {
		p.busy(w, r)
		return
	}
	ok, dev := p.checkPassword(r.Context(), email, pw)
	p.hashing.Leave()
	if !ok {
		// One message for an unknown email and a wrong password: the form must not tell
		// which emails have accounts.
		d.Error = "The email or password is not right."
		p.render(w, http.StatusUnauthorized, "signin.html", d)
		return
	}
	if dev.Status == gatehouse.DeveloperBlocked {
		d.Error = "This account is blocked. Contact the portal's operators."
		p.render(w, http.StatusForbidden, "signin.html", d)
		return
	}
	p.byAccount.Reset(acctKey)
	p.byIP.Undo(ipKey)
	if _, err := p.sessions.Start(r.Context(), w, r, dev.Email, ""); err != nil {
		p.storeFailed(w, r, "sign in", err)
		return
	}
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// checkPassword verifies email's password; it takes as long for an unknown email.
func (p *portal) checkPassword(ctx context.Context, email, pw string) (bool, *gatehouse.Developer) {
	acct, err := p.opts.Sessions.Account(ctx, session.KindDeveloper, email)
	hash := ""
	if err == nil {
		hash = acct.PasswordHash
	}
	if !session.VerifyPassword(hash, pw) {
		return false, nil
	}
	dev, err := p.opts.Store.Developer(ctx, email)
	if err != nil {
		return false, nil
	}
	return true, dev
}

func humanWait(d time.Duration) string {
	if m := int(d.Round(time.Minute) / time.Minute); m > 1 {
		return strconv.Itoa(m) + " minutes"
	}
	return "a minute"
}

func (p *portal) signout(w http.ResponseWriter, r *http.Request) {
	if s := currentSession(r); s != nil {
		if err := session.CheckCSRF(r, s.sess); err != nil {
			p.fail(w, r, http.StatusForbidden, gatehouse.EForbidden, err.Error())
			return
		}
	}
	if err := p.sessions.End(w, r); err != nil {
		p.opts.Logger.Error("portal sign-out", "err", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *portal) signupPage(w http.ResponseWriter, r *http.Request) {
	if !p.opts.SignUp {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "sign-up is closed on this portal; ask its operators for an account")
		return
	}
	p.render(w, http.StatusOK, "signup.html", formPage{layoutData: p.layoutFor(r, "Create an account")})
}

func (p *portal) signup(w http.ResponseWriter, r *http.Request) {
	if !p.opts.SignUp {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "sign-up is closed on this portal")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := gatehouse.NormalizeEmail(r.PostFormValue("email"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	pw := r.PostFormValue("password")
	d := formPage{layoutData: p.layoutFor(r, "Create an account"), Email: email, Name: name, Fields: map[string]string{}}
	ipKey := "signup:" + clientIP(r)
	if wait := p.byIP.Begin(ipKey); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		d.Error = "Too many sign-ups from your address. Try again in " + humanWait(wait) + "."
		p.render(w, http.StatusTooManyRequests, "signup.html", d)
		return
	}
	if err := session.CheckPassword(pw, email); err != nil {
		d.Fields["password"] = "The password " + err.Error() + "."
	}
	if pw != r.PostFormValue("confirm") {
		d.Fields["confirm"] = "The passwords do not match."
	}
	status := gatehouse.DeveloperActive
	if p.opts.ManualApproval {
		status = gatehouse.DeveloperPending
	}
	dev := &gatehouse.Developer{Email: email, Name: name, Status: status}
	if err := dev.Validate(); err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			for _, f := range ge.Fields {
				d.Fields[f.Field] = "The " + f.Field + " " + f.Message + "."
			}
		}
	}
	if len(d.Fields) > 0 {
		d.Error = "Please correct the marked fields."
		p.render(w, http.StatusBadRequest, "signup.html", d)
		return
	}
	ctx := gatehouse.WithActor(r.Context(), "portal:"+email)
	created, err := p.opts.Store.CreateDeveloper(ctx, dev)
	if gatehouse.ErrorCode(err) == gatehouse.EConflict {
		d.Fields["email"] = "An account with this email exists. Sign in, or reset its password."
		d.Error = "Please correct the marked fields."
		p.render(w, http.StatusConflict, "signup.html", d)
		return
	}
	if err != nil {
		p.storeFailed(w, r, "create your account", err)
		return
	}
	if !p.hashing.Enter(hashWait) {
		p.busy(w, r)
		return
	}
	hash := session.HashPassword(pw)
	p.hashing.Leave()
	if err := p.opts.Sessions.PutAccount(r.Context(), &session.Account{Kind: session.KindDeveloper, Subject: created.Email,
		PasswordHash: hash}); err != nil {
		p.storeFailed(w, r, "save your password", err)
		return
	}
	p.opts.Logger.Info("developer signed up", "email", created.Email, "status", created.Status)
	if _, err := p.sessions.Start(r.Context(), w, r, created.Email, ""); err != nil {
		p.storeFailed(w, r, "sign you in", err)
		return
	}
	http.Redirect(w, r, "/apps?welcome=1", http.StatusSeeOther)
}

func (p *portal) forgotPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "forgot.html", formPage{layoutData: p.layoutFor(r, "Reset your password")})
}

// forgot answers the same whether or not the email has an account. A link goes by mail
// when a mailer is set; otherwise it is logged, and the request is listed in the
// dashboard so that an operator can send the developer a link.
func (p *portal) forgot(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := gatehouse.NormalizeEmail(r.PostFormValue("email"))
	d := formPage{layoutData: p.layoutFor(r, "Reset your password"), Email: email}
	ipKey := "forgot:" + clientIP(r)
	// Every request counts (this form sends mail), per address and per email, so that
	// nobody can flood a mailbox.
	if wait := max(p.byIP.Begin(ipKey), p.forgotByEmail.Begin(email)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		d.Error = "Too many requests. Try again in " + humanWait(wait) + "."
		p.render(w, http.StatusTooManyRequests, "forgot.html", d)
		return
	}
	d.Notice = "If an account has this email, a reset link is on its way. It works for an hour. If no mail arrives, the portal's operators can send you one."
	dev, err := p.opts.Store.Developer(r.Context(), email)
	if err != nil || dev.Status == gatehouse.DeveloperBlocked {
		p.render(w, http.StatusOK, "forgot.html", d)
		return
	}
	now := p.opts.Now()
	if p.opts.Mailer != nil {
		token, err := session.NewReset(r.Context(), p.opts.Sessions, dev.Email, now)
		if err != nil {
			p.storeFailed(w, r, "make a reset link", err)
			return
		}
		// Sent after answering: how long the relay takes must not tell which emails
		// have accounts.
		link, to := p.resetURL(token), dev.Email
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
			defer cancel()
			if err := p.opts.Mailer.Send(ctx, to, "Reset your password for "+p.brand.name, resetMail(p.brand.name, link)); err != nil {
				p.opts.Logger.Error("portal reset mail failed; an operator can send a link from the dashboard", "email", to, "err", err)
			}
		}()
		p.render(w, http.StatusOK, "forgot.html", d)
		return
	}
	// No mail: record the request for the dashboard's reset queue. The link itself is
	// made there, by the operator who delivers it, so no live link sits in a log.
	id := gatehouse.HashSecret(gatehouse.NewID("rq"))
	if err := p.opts.Sessions.CreateSession(r.Context(), &session.Session{ID: id, Kind: session.KindResetRequest, Subject: dev.Email,
		CreatedAt: now.UTC().Truncate(time.Microsecond), ExpiresAt: now.Add(24 * time.Hour).UTC().Truncate(time.Microsecond)}); err != nil {
		p.storeFailed(w, r, "record your request", err)
		return
	}
	p.opts.Logger.Warn("password reset requested: send the developer a link from the dashboard (Developers → reset link)", "email", dev.Email)
	p.render(w, http.StatusOK, "forgot.html", d)
}

// resetURL is the link mailed for token; New insists on a PortalURL when there is a
// mailer, so the link never takes its host from a request (which an attacker controls).
func (p *portal) resetURL(token string) string {
	return p.opts.PortalURL + "/reset?token=" + url.QueryEscape(token)
}

func (p *portal) resetPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token := r.URL.Query().Get("token")
	d := formPage{layoutData: p.layoutFor(r, "Choose a new password"), Token: token}
	email, err := session.PeekReset(r.Context(), p.opts.Sessions, token)
	if err != nil {
		d.Error = "This reset link is not valid: it may have been used or be more than an hour old. Ask for a new one."
		p.render(w, http.StatusNotFound, "reset.html", d)
		return
	}
	d.Email = email
	p.render(w, http.StatusOK, "reset.html", d)
}

func (p *portal) reset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token, pw := r.PostFormValue("token"), r.PostFormValue("password")
	d := formPage{layoutData: p.layoutFor(r, "Choose a new password"), Token: token, Fields: map[string]string{}}
	email, err := session.PeekReset(r.Context(), p.opts.Sessions, token)
	if err != nil {
		d.Error = "This reset link is not valid: it may have been used or be more than an hour old. Ask for a new one."
		p.render(w, http.StatusNotFound, "reset.html", d)
		return
	}
	d.Email = email
	if err := session.CheckPassword(pw, email); err != nil {
		d.Fields["password"] = "The password " + err.Error() + "."
	} else if pw != r.PostFormValue("confirm") {
		d.Fields["confirm"] = "The passwords do not match."
	}
	if len(d.Fields) > 0 {
		d.Error = "Please correct the marked fields."
		p.render(w, http.StatusBadRequest, "reset.html", d)
		return
	}
	if dev, err := p.opts.Store.Developer(r.Context(), email); err != nil || dev.Status == gatehouse.DeveloperBlocked {
		d.Error = "This account cannot sign in. Contact the portal's operators."
		d.Email = ""
		p.render(w, http.StatusForbidden, "reset.html", d)
		return
	}
	if _, err := session.UseReset(r.Context(), p.opts.Sessions, token); err != nil {
		d.Error = "This reset link is not valid: it may have been used or be more than an hour old. Ask for a new one."
		d.Email = ""
		p.render(w, http.StatusNotFound, "reset.html", d)
		return
	}
	if err := p.setPassword(r.Context(), email, pw); err != nil {
		p.storeFailed(w, r, "change your password", err)
		return
	}
	p.byAccount.Reset("a:" + email)
	http.Redirect(w, r, "/signin?reset=done", http.StatusSeeOther)
}

// setPassword stores a new password and ends every session of the developer: whoever
// knew the old one is signed out.
func (p *portal) setPassword(ctx context.Context, email, pw string) error {
	if !p.hashing.Enter(hashWait) {
		return gatehouse.Errorf(gatehouse.EUnavailable, "busy")
	}
	hash := session.HashPassword(pw)
	p.hashing.Leave()
	if err := p.opts.Sessions.PutAccount(ctx, &session.Account{Kind: session.KindDeveloper, Subject: email, PasswordHash: hash}); err != nil {
		return err
	}
	// Whoever knew the old password, or holds another reset link, is shut out.
	if err := p.opts.Sessions.DeleteSessions(ctx, session.KindReset, email); err != nil {
		return err
	}
	return p.opts.Sessions.DeleteSessions(ctx, session.KindDeveloper, email)
}

type accountPage struct {
	layoutData
	Name   string
	Notice string
	Error  string
	Fields map[string]string
}

func (p *portal) accountPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := accountPage{layoutData: p.layoutFor(r, "Your account"), Name: s.dev.Name}
	d.Nav = "account"
	if r.URL.Query().Get("saved") == "1" {
		d.Notice = "Saved."
	}
	p.render(w, http.StatusOK, "account.html", d)
}

// updateAccount changes the name, or the password (which needs the current one and
// signs every other browser out).
func (p *portal) updateAccount(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := accountPage{layoutData: p.layoutFor(r, "Your account"), Name: s.dev.Name, Fields: map[string]string{}}
	d.Nav = "account"
	ctx := gatehouse.WithActor(r.Context(), "portal:"+s.dev.Email)
	switch r.PostFormValue("action") {
	case "profile":
		dev := *s.dev
		dev.Name = strings.TrimSpace(r.PostFormValue("name"))
		d.Name = dev.Name
		if _, err := p.opts.Store.UpdateDeveloper(ctx, &dev, s.dev.Revision); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.EInvalid {
				d.Fields["name"] = "The name must be at most 256 characters."
				d.Error = "Please correct the marked fields."
				p.render(w, http.StatusBadRequest, "account.html", d)
				return
			}
			p.storeFailed(w, r, "save your profile", err)
			return
		}
	case "password":
		cur, pw := r.PostFormValue("current"), r.PostFormValue("password")
		acctKey := "a:" + s.dev.Email
		if wait := p.byAccount.Begin(acctKey); wait > 0 {
			d.Error = "Too many failed attempts. Try again in " + humanWait(wait) + "."
			p.render(w, http.StatusTooManyRequests, "account.html", d)
			return
		}
		if !p.hashing.Enter(hashWait) {
			p.busy(w, r)
			return
		}
		ok, _ := p.checkPassword(r.Context(), s.dev.Email, cur)
		p.hashing.Leave()
		if !ok {
			d.Fields["current"] = "This is not your current password."
		} else if err := session.CheckPassword(pw, s.dev.Email); err != nil {
			d.Fields["password"] = "The new password " + err.Error() + "."
		} else if pw != r.PostFormValue("confirm") {
			d.Fields["confirm"] = "The passwords do not match."
		}
		if len(d.Fields) > 0 {
			d.Error = "Please correct the marked fields."
			p.render(w, http.StatusBadRequest, "account.html", d)
			return
		}
		if err := p.setPassword(r.Context(), s.dev.Email, pw); err != nil {
			p.storeFailed(w, r, "change your password", err)
			return
		}
		p.byAccount.Reset(acctKey)
		if _, err := p.sessions.Start(r.Context(), w, r, s.dev.Email, ""); err != nil {
			p.storeFailed(w, r, "sign you in again", err)
			return
		}
	default:
		p.fail(w, r, http.StatusBadRequest, gatehouse.EInvalid, "unknown action")
		return
	}
	http.Redirect(w, r, "/account?saved=1", http.StatusSeeOther)
}

// storeFailed answers a store error on a form: a clean page, details in the log.
func (p *portal) storeFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.opts.Logger.Error("portal: could not "+what, "err", err)
	// Anything but a known client error reads as "unavailable": the details are logged.
	code := gatehouse.ErrorCode(err)
	switch code {
	case gatehouse.ENotFound, gatehouse.EConflict, gatehouse.EInvalid:
	default:
		code = gatehouse.EUnavailable
	}
	p.fail(w, r, problem.Status(code), code, "we could not "+what+" just now; please try again")
}
