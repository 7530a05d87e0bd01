// Package session signs people in to the web pages: developers to the portal, operators
// to the dashboard. It owns the session cookie, CSRF tokens, password hashing (argon2id)
// and sign-in throttling; a Store (the SQL store, or Memory in tests) keeps sessions and
// password accounts.
//
// Sessions are server-side rows keyed by the SHA-256 of a random cookie token, so a stolen
// database does not yield live cookies and signing out, or changing a password, ends a
// session everywhere at once.
package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Kinds of session and account.
const (
	KindDeveloper = "developer" // portal
	KindAdmin     = "admin"     // dashboard
	// KindReset is a password reset link: a single-use "session" whose token is in the
	// link rather than a cookie.
	KindReset = "reset"
	// KindResetRequest records that a developer asked for a reset link, so that the
	// dashboard can show it to an operator who delivers one. It carries no secret.
	KindResetRequest = "reset_request"
)

// Session is one signed-in browser.
type Session struct {
	ID        string // SHA-256 of the cookie token, hex; the token itself is never stored
	Kind      string
	Subject   string // the developer's email, or "user:NAME" / "token:NAME" for operators
	Role      string // operators' role; empty for developers
	CSRF      string // the token forms must echo
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Account is a password that signs a subject in.
type Account struct {
	Kind         string    `json:"kind"`
	Subject      string    `json:"subject"` // developer email or admin user name
	Role         string    `json:"role,omitempty"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Store keeps sessions and accounts. They are not configuration: writes bump no revision
// and send no change notice. Lookups of a missing or expired session or a missing account
// return a gatehouse.Error with code ENotFound.
type Store interface {
	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, id string) (*Session, error)
	DeleteSession(ctx context.Context, id string) error
	// TakeSession deletes an unexpired session and returns it, in one step: of two
	// callers taking the same id, one gets ENotFound (a reset link works once).
	TakeSession(ctx context.Context, id string) (*Session, error)
	// DeleteSessions ends every session of kind and subject (sign out everywhere).
	DeleteSessions(ctx context.Context, kind, subject string) error
	// Sessions lists the unexpired sessions of kind, newest first, at most limit.
	Sessions(ctx context.Context, kind string, limit int) ([]*Session, error)
	// PruneSessions deletes sessions that expired before now.
	PruneSessions(ctx context.Context, now time.Time) (int64, error)

	// PutAccount creates or replaces an account.
	PutAccount(ctx context.Context, a *Account) error
	Account(ctx context.Context, kind, subject string) (*Account, error)
	Accounts(ctx context.Context, kind string) ([]*Account, error)
	DeleteAccount(ctx context.Context, kind, subject string) error
}

// Options configure a Manager.
type Options struct {
	Store  Store
	Kind   string
	Cookie string        // cookie name
	TTL    time.Duration // session lifetime (default 12h)
	// Secure forces the Secure cookie attribute; it is set anyway on TLS requests and on
	// requests forwarded as https.
	Secure bool
	Path   string           // cookie path (default "/")
	Now    func() time.Time // nil: time.Now
}

// Manager starts, finds and ends sessions of one kind.
type Manager struct {
	o Options
}

// NewManager returns a Manager.
func NewManager(o Options) *Manager {
	if o.TTL <= 0 {
		o.TTL = 12 * time.Hour
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o}
}

// Start creates a session for subject and sets its cookie on w.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, subject, role string) (*Session, error) {
	token, _, id := gatehouse.NewSecret("s_")
	csrf, _, _ := gatehouse.NewSecret("c_")
	now := m.o.Now().UTC().Truncate(time.Microsecond)
	s := &Session{ID: id, Kind: m.o.Kind, Subject: subject, Role: role, CSRF: csrf, CreatedAt: now, ExpiresAt: now.Add(m.o.TTL)}
	if err := m.o.Store.CreateSession(ctx, s); err != nil {
		return nil, err
	}
	http.SetCookie(w, m.cookie(r, token, m.o.TTL))
	return s, nil
}

// Get returns the request's session, or nil when there is none (no cookie, unknown,
// expired, or of another kind). Only store failures are errors.
func (m *Manager) Get(r *http.Request) (*Session, error) {
	c, err := r.Cookie(m.o.Cookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	s, err := m.o.Store.Session(r.Context(), gatehouse.HashSecret(c.Value))
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Kind != m.o.Kind || !m.o.Now().Before(s.ExpiresAt) {
		return nil, nil
	}
	return s, nil
}

// End deletes the request's session, if any, and clears its cookie.
func (m *Manager) End(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, m.cookie(r, "", -1))
	c, err := r.Cookie(m.o.Cookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return m.o.Store.DeleteSession(r.Context(), gatehouse.HashSecret(c.Value))
}

func (m *Manager) cookie(r *http.Request, value string, ttl time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: m.o.Cookie, Value: value, Path: m.o.Path, HttpOnly: true,
		// Lax: links from elsewhere arrive signed in, cross-site form posts do not.
		SameSite: http.SameSiteLaxMode,
		Secure:   m.o.Secure || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
	if ttl < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(ttl / time.Second)
	}
	return c
}

// CSRFField is the form field (and X-CSRF-Token the header) that carries the token.
const CSRFField = "csrf"

// ErrCSRF is returned by CheckCSRF for a missing or wrong token.
var ErrCSRF = errors.New("the form is stale or did not come from this site: reload the page and try again")

// CheckCSRF verifies that a state-changing request echoes the session's CSRF token, as a
// form field or the X-CSRF-Token header. (Cross-origin requests are refused before this
// by net/http's CrossOriginProtection; the token covers old browsers and same-site hosts.)
func CheckCSRF(r *http.Request, s *Session) error {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	if s == nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		return ErrCSRF
	}
	return nil
}
