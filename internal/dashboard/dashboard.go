// Package dashboard is the operator dashboard: server-rendered pages under /ui/ on the
// admin listener for the day-to-day work of running Gatehouse (APIs and their lifecycle,
// plans, the developer and subscription approval queues, apps and keys, analytics, alerts,
// the audit log and the dashboard's own users).
//
// Operators sign in with an admin token or an admin user's password; the session is a
// server-side row (internal/webui/session) and its role is enforced by every handler, not
// only by hiding buttons. Every write goes through the configuration store with the
// operator as the audit actor. Pages are html/template (every stored string is escaped)
// with one embedded stylesheet and one small script that only adds conveniences (copy
// buttons, confirmation prompts, the narrow-screen menu): everything works without it.
// The Content-Security-Policy allows nothing but the dashboard's own files.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/webui/chart"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the dashboard. Store, Sessions and Logger are required in practice;
// every other dependency is optional and the pages that need it say when it is missing.
type Options struct {
	Store    gatehouse.Store // configuration
	Sessions session.Store   // sessions and admin user accounts
	Logger   *slog.Logger    // nil discards
	// Query answers the analytics pages; nil: analytics are disabled and the pages say so.
	Query *analytics.Query
	// Live serves the live SSE stream (the analytics API's ServeLive); nil hides the live
	// chart. The dashboard authenticates the request before calling it.
	Live http.HandlerFunc
	// Alerts stores alert rules, webhooks and the alert log; nil hides the alert pages.
	Alerts alerts.Store
	// Firing returns the alerts firing now (the engine's Firing); nil: the overview asks
	// Alerts for the firing alerts of the log instead.
	Firing func() []alerts.Event
	// Gateway returns what the data plane serves (routes revision and upstream health);
	// nil hides it.
	Gateway func() *gatehouse.GatewayStatus
	// CheckAPI compiles an API as the gateway would before it is saved; nil skips it.
	CheckAPI func(*gatehouse.API) error
	// Connections returns the realtime connections (HTTP holds and WebSockets) open on
	// this node, for the overview; nil hides the figure.
	Connections func() int64
	// PortalURL is the developer portal's base URL, for password reset links.
	PortalURL string
	// GatewayURL is the gateway's base URL, shown next to API paths.
	GatewayURL string
	// Secure forces the Secure attribute on the session cookie (it is set anyway on
	// TLS requests and on requests forwarded as https).
	Secure bool
	Now    func() time.Time // nil: time.Now
}

// Sign-in throttling: five failures per account and per client address in 15 minutes
// make guessing a password or a token hopeless, and lock nobody out for long.
const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
)

const (
	sessionTTL = 12 * time.Hour // a working day; token sessions end with their token
	cookieName = "gh_dashboard"
	basePath   = "/ui/"
	pageSize   = gatehouse.DefaultPageSize
	// Request bodies: forms are small; an API's JSON may carry its OpenAPI document
	// (up to 4 MiB), and an import's upload up to maxImportBytes.
	maxFormBytes   = 64 << 10
	maxAPIBodySize = 6 << 20
)

// csp allows the dashboard's own stylesheets, scripts and live stream, and nothing else:
// no inline script or style, so even a string that escaped escaping could not run.
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type server struct {
	o        Options
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *session.Manager
	throttle *session.Throttle
	hashing  *session.Gate // password hashes running at once (19 MiB each)
	fetch    *http.Client  // OpenAPI imports by URL
}

// pageFiles are the page templates; each is parsed with the layout and the partials into
// its own set, so that every page can define "main".
var pageFiles = []string{
	"signin.html", "error.html", "overview.html",
	"apis.html", "api.html", "api_new.html", "api_import.html",
	"plans.html", "plan.html",
	"developers.html", "developer.html", "reset_link.html",
	"apps.html", "app.html", "subscriptions.html",
	"analytics.html", "alerts.html", "rule.html", "webhook.html",
	"audit.html", "users.html",
}

// New returns the dashboard's handler. It serves every path under /ui/ and expects the
// full path (mount it at "/ui/" without stripping the prefix).
func New(o Options) (http.Handler, error) {
	if o.Store == nil || o.Sessions == nil {
		return nil, errors.New("dashboard: Store and Sessions are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.PortalURL = strings.TrimSuffix(o.PortalURL, "/")
	o.GatewayURL = strings.TrimSuffix(o.GatewayURL, "/")
	s := &server{
		o:     o,
		log:   o.Logger,
		pages: map[string]*template.Template{},
		sessions: session.NewManager(session.Options{Store: o.Sessions, Kind: session.KindAdmin, Cookie: cookieName,
			Path: basePath, TTL: sessionTTL, Secure: o.Secure, Now: o.Now}),
		throttle: session.NewThrottle(maxFailures, failureWindow),
		hashing:  session.NewGate(runtime.GOMAXPROCS(0)),
		fetch:    newFetchClient(),
	}
	s.throttle.Now = o.Now
	for _, name := range pageFiles {
		t, err := template.New(name).Funcs(funcs(o.Now)).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("dashboard: parsing %s: %w", name, err)
		}
		s.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return http.NewCrossOriginProtection().Handler(securityHeaders(s.routes(static))), nil
}

func (s *server) routes(static fs.FS) *http.ServeMux {
	mux := http.NewServeMux()
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	charts := http.StripPrefix("/ui/static/chart/", chart.Static())
	mux.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		// Embedded files change only with the binary; an hour keeps restarts visible.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if strings.HasPrefix(r.URL.Path, "/ui/static/chart/") {
			charts.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /ui/signin", s.signinPage)
	mux.HandleFunc("POST /ui/signin", s.signin)
	mux.HandleFunc("POST /ui/signout", s.action("", s.signout))
	mux.HandleFunc("GET /ui/live", s.page(s.live))

	mux.HandleFunc("GET /ui/{$}", s.page(s.overview))

	mux.HandleFunc("GET /ui/apis", s.page(s.apis))
	mux.HandleFunc("GET /ui/apis/new", s.form(gatehouse.KindAPI, s.newAPIPage))
	mux.HandleFunc("POST /ui/apis", s.action(gatehouse.KindAPI, s.createAPI))
	mux.HandleFunc("GET /ui/apis/import", s.form(gatehouse.KindAPI, s.importPage))
	mux.HandleFunc("POST /ui/apis/import", s.action(gatehouse.KindAPI, s.importOpenAPI))
	mux.HandleFunc("GET /ui/apis/{name}", s.page(s.apiPage))
	mux.HandleFunc("POST /ui/apis/{name}", s.action(gatehouse.KindAPI, s.updateAPI))
	mux.HandleFunc("POST /ui/apis/{name}/state", s.action(gatehouse.KindAPI, s.setAPIState))
	mux.HandleFunc("POST /ui/apis/{name}/delete", s.action(gatehouse.KindAPI, s.deleteAPI))

	mux.HandleFunc("GET /ui/plans", s.page(s.plans))
	mux.HandleFunc("GET /ui/plans/new", s.form(gatehouse.KindPlan, s.newPlanPage))
	mux.HandleFunc("POST /ui/plans", s.action(gatehouse.KindPlan, s.createPlan))
	mux.HandleFunc("GET /ui/plans/{name}", s.page(s.planPage))
	mux.HandleFunc("POST /ui/plans/{name}", s.action(gatehouse.KindPlan, s.updatePlan))
	mux.HandleFunc("POST /ui/plans/{name}/delete", s.action(gatehouse.KindPlan, s.deletePlan))

	mux.HandleFunc("GET /ui/developers", s.page(s.developers))
	mux.HandleFunc("GET /ui/developers/{email}", s.page(s.developerPage))
	mux.HandleFunc("POST /ui/developers/{email}/status", s.action(gatehouse.KindDeveloper, s.setDeveloperStatus))
	mux.HandleFunc("POST /ui/developers/{email}/reset", s.action(gatehouse.KindDeveloper, s.resetLink))

	mux.HandleFunc("GET /ui/apps", s.page(s.apps))
	mux.HandleFunc("GET /ui/apps/{name}", s.page(s.appPage))
	mux.HandleFunc("POST /ui/keys/{id}/revoke", s.action(gatehouse.KindKey, s.revokeKey))
	mux.HandleFunc("GET /ui/subscriptions", s.page(s.subscriptions))
	mux.HandleFunc("POST /ui/subscriptions/{id}/status", s.action(gatehouse.KindSubscription, s.setSubscriptionStatus))

	mux.HandleFunc("GET /ui/analytics", s.page(s.analyticsPage))
	mux.HandleFunc("GET /ui/analytics.csv", s.page(s.analyticsCSV))

	mux.HandleFunc("GET /ui/alerts", s.page(s.alertsPage))
	mux.HandleFunc("GET /ui/alerts/rules/new", s.form(kindAlerting, s.newRulePage))
	mux.HandleFunc("POST /ui/alerts/rules", s.action(kindAlerting, s.createRule))
	mux.HandleFunc("GET /ui/alerts/rules/{id}", s.page(s.rulePage))
	mux.HandleFunc("POST /ui/alerts/rules/{id}", s.action(kindAlerting, s.updateRule))
	mux.HandleFunc("POST /ui/alerts/rules/{id}/delete", s.action(kindAlerting, s.deleteRule))
	mux.HandleFunc("GET /ui/alerts/webhooks/new", s.form(kindAlerting, s.newWebhookPage))
	mux.HandleFunc("POST /ui/alerts/webhooks", s.action(kindAlerting, s.createWebhook))
	mux.HandleFunc("GET /ui/alerts/webhooks/{id}", s.page(s.webhookPage))
	mux.HandleFunc("POST /ui/alerts/webhooks/{id}", s.action(kindAlerting, s.updateWebhook))
	mux.HandleFunc("POST /ui/alerts/webhooks/{id}/delete", s.action(kindAlerting, s.deleteWebhook))

	mux.HandleFunc("GET /ui/audit", s.page(s.audit))

	mux.HandleFunc("GET /ui/users", s.page(s.users))
	mux.HandleFunc("POST /ui/users", s.action(gatehouse.KindAdminUser, s.createUser))
	mux.HandleFunc("POST /ui/users/{name}/delete", s.action(gatehouse.KindAdminUser, s.deleteUser))

	mux.HandleFunc("/ui/", s.page(func(w http.ResponseWriter, r *http.Request, c *call) error {
		return gatehouse.Errorf(gatehouse.ENotFound, "There is no page at this address.")
	}))
	return mux
}

// kindAlerting names alert rules and webhooks for RoleMayWrite: configuration that
// editors may change, like APIs.
const kindAlerting = "alerting"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		// Pages show secrets once and reflect the signed-in role; static files override it.
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// base is what the layout reads; every page's data embeds it.
type base struct {
	Title    string
	Nav      string // the active section, for aria-current
	Subject  string // the signed-in operator, "" on the sign-in page
	Role     string
	CSRF     string
	CanWrite bool // may change configuration (admin, editor)
	IsAdmin  bool // may manage admin users
	Flash    string

	Analytics bool // Options.Query is set
	Alerts    bool // Options.Alerts is set
}

// view is a page's template data: the layout's fields and the page's own (D).
type view struct {
	base
	D any
}

// render executes page into a buffer first, so that a template error is a clean 500
// rather than half a page.
func (s *server) render(w http.ResponseWriter, status int, page string, v view) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("dashboard: rendering a page", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// show renders a page for the signed-in operator with status 200.
func (s *server) show(w http.ResponseWriter, r *http.Request, c *call, page, title, nav string, data any) {
	s.showStatus(w, r, c, http.StatusOK, page, title, nav, data)
}

func (s *server) showStatus(w http.ResponseWriter, r *http.Request, c *call, status int, page, title, nav string, data any) {
	s.render(w, status, page, view{base: s.base(r, c, title, nav), D: data})
}

func (s *server) base(r *http.Request, c *call, title, nav string) base {
	b := base{Title: title, Nav: nav, Analytics: s.o.Query != nil, Alerts: s.o.Alerts != nil}
	if c != nil {
		b.Subject, b.Role, b.CSRF = c.sess.Subject, c.role, c.sess.CSRF
		b.CanWrite = gatehouse.RoleMayWrite(c.role, "")
		b.IsAdmin = gatehouse.RoleMayWrite(c.role, gatehouse.KindAdminUser)
	}
	if r != nil {
		b.Flash = flashes[r.URL.Query().Get("done")]
	}
	return b
}

// flashes are the messages a redirect after a write may show (?done=key). They are fixed
// text, so a crafted link cannot make the dashboard say anything else.
var flashes = map[string]string{
	"created":     "Created.",
	"saved":       "Saved.",
	"deleted":     "Deleted.",
	"state":       "The lifecycle state was changed.",
	"imported":    "The OpenAPI document was imported.",
	"approved":    "Approved.",
	"rejected":    "Rejected.",
	"blocked":     "Blocked.",
	"unblocked":   "Unblocked.",
	"revoked":     "Revoked.",
	"user":        "The user was saved. Their other sessions were ended.",
	"user-delete": "The user was deleted and signed out everywhere.",
}

// redirect answers a successful form post with 303 See Other to path, showing flash.
func redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if u, err := url.Parse(path); err == nil {
		q := u.Query()
		q.Del("done")
		if flash != "" {
			q.Set("done", flash)
		}
		u.RawQuery = q.Encode()
		path = u.String()
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

type errorData struct {
	Status  int
	Heading string
	Detail  string
}

// fail renders err as an error page. Only the caller-safe message of a *gatehouse.Error
// is shown; anything else is logged and shown as a generic failure.
func (s *server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	code := gatehouse.ErrorCode(err)
	status := statusOf(code)
	if status >= 500 {
		s.log.Error("dashboard: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	heading := "Something went wrong"
	detail := gatehouse.ErrorMessage(err)
	switch status {
	case http.StatusNotFound:
		heading = "Not found"
	case http.StatusForbidden:
		heading = "Not allowed"
	case http.StatusServiceUnavailable:
		heading = "The store is unavailable right now"
		detail = "Try again in a moment."
	case http.StatusInternalServerError:
		detail = "The request failed. The server log has the details."
	case http.StatusPreconditionFailed:
		heading = "Changed by someone else"
	case http.StatusConflict:
		heading = "Conflict"
	case http.StatusBadRequest:
		heading = "That did not work"
	}
	s.render(w, status, "error.html", view{base: s.base(nil, c, heading, ""), D: errorData{status, heading, detail}})
}

// statusOf maps a stable error code to its HTTP status, as every listener does.
func statusOf(code string) int { return problem.Status(code) }
