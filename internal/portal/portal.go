// Package portal serves the developer portal: the catalogue of published APIs that
// developers browse, and each API's reference page built from its OpenAPI document. It
// reads the store directly and only shows what is published or deprecated; drafts and
// retired APIs never leak to it.
//
// Developers sign up and in (internal/webui/session), register apps, get and rotate keys,
// subscribe to plans, try operations through the gateway with their own key, and see
// their apps' usage as charts.
//
// Pages are server-rendered with html/template (which escapes every API- and
// document-supplied string) and styled by one embedded stylesheet. Everything works
// without JavaScript; one small embedded script adds copy buttons, and the
// Content-Security-Policy allows no other script, inline or foreign.
package portal

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/webui/chart"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the portal.
type Options struct {
	Store  gatehouse.Store
	Logger *slog.Logger
	// GatewayURL is shown to developers as the base URL of the APIs, and the try-it
	// console sends its requests there.
	GatewayURL string
	// PortalURL is the portal's public URL, for password reset links.
	PortalURL string
	// Sessions keeps developer sessions and passwords. Nil: the portal is a catalogue
	// only, with no sign-in.
	Sessions session.Store
	// SignUp lets developers create accounts; ManualApproval makes them pending until an
	// operator approves them.
	SignUp, ManualApproval bool
	// Mailer sends password reset links; nil logs them for an operator to deliver.
	Mailer Mailer
	// Query answers the usage charts; nil hides them.
	Query *analytics.Query
	// Quotas returns an app's quota use in the current periods; nil hides quotas.
	Quotas func(app string) []quota.Usage
	// Brand is the portal's name, logo, colours and home page.
	Brand Branding
	// Secure forces the Secure attribute on the session cookie (it is set anyway on TLS
	// and forwarded-https requests).
	Secure bool
	// TryIt sends the try-it console's requests; nil uses a client with a 30 s timeout
	// that does not follow redirects.
	TryIt *http.Client
	Now   func() time.Time
}

// csp allows the page its own stylesheet and scripts and nothing else: no inline script
// or style, so a string that escaped escaping still could not run.
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// pageFiles are the pages; each is parsed with the layout into its own set, so pages can
// define the same blocks ("main") without clashing.
var pageFiles = []string{"index.html", "api.html", "error.html", "signin.html", "signup.html", "forgot.html",
	"reset.html", "apps.html", "app.html", "account.html"}

type portal struct {
	opts     Options
	pages    map[string]*template.Template // page file → layout + page
	sessions *session.Manager              // nil without Options.Sessions
	// Guessing passwords: failures are counted per account and per client address.
	byAccount, byIP *session.Throttle
	forgotByEmail   *session.Throttle // reset mails per address
	hashing         *session.Gate     // password hashes running at once
	brand           brand
	tryit           *http.Client
}

// New returns the portal's handler.
func New(opts Options) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.GatewayURL = strings.TrimSuffix(opts.GatewayURL, "/")
	opts.PortalURL = strings.TrimSuffix(opts.PortalURL, "/")
	if opts.Mailer != nil && opts.PortalURL == "" {
		return nil, errors.New("portal: a mailer needs PortalURL for the links it sends")
	}
	b, err := newBrand(opts.Brand)
	if err != nil {
		return nil, err
	}
	p := &portal{opts: opts, pages: map[string]*template.Template{}, brand: b,
		byAccount: session.NewThrottle(5, 15*time.Minute), byIP: session.NewThrottle(50, 15*time.Minute),
		forgotByEmail: session.NewThrottle(3, 15*time.Minute), hashing: session.NewGate(runtime.GOMAXPROCS(0)),
		tryit: opts.TryIt}
	if p.tryit == nil {
		p.tryit = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Sessions != nil {
		p.sessions = session.NewManager(session.Options{Store: opts.Sessions, Kind: session.KindDeveloper,
			Cookie: "gh_portal", TTL: 12 * time.Hour, Secure: opts.Secure, Now: opts.Now})
	}
	for _, name := range pageFiles {
		t, err := template.New(name).Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/schema.html", "templates/"+name)
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	charts := http.StripPrefix("/static/chart/", chart.Static())

	// Files are served without looking up a session: a page's stylesheets and scripts
	// would otherwise cost two store reads each.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/chart/", charts.ServeHTTP)
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		// Embedded files change only with the binary; an hour keeps restarts visible.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /brand/theme.css", p.themeCSS)
	mux.HandleFunc("GET /brand/logo", p.logo)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})

	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", p.index)
	pages.HandleFunc("GET /apis/{name}", p.apiPage)
	pages.HandleFunc("GET /api/apis", p.apisJSON)
	if p.sessions != nil {
		p.accountRoutes(pages)
	}
	pages.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "no such page")
	})
	mux.Handle("/", p.withSession(pages))
	return http.NewCrossOriginProtection().Handler(securityHeaders(mux)), nil
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"lower": strings.ToLower,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return strconv.Itoa(n) + " " + one
			}
			return strconv.Itoa(n) + " " + many
		},
	}
}

// layoutData is what layout.html reads; each page embeds it in its own data.
type layoutData struct {
	PortalName string
	Title      string // the page's own title; the portal's name is appended
	HasLogo    bool
	Themed     bool // brand colours are set: link /brand/theme.css
	Accounts   bool // sign-in is on
	SignUp     bool
	Dev        *devView // the signed-in developer, if any
	CSRF       string   // the session's CSRF token, for forms
	Scripts    bool     // the page uses portal.js
	Nav        string   // the current section: apis, apps, account
}

// devView is the signed-in developer as pages show them.
type devView struct {
	Email, Name string
	Pending     bool
}

func (p *portal) layout(title string) layoutData {
	return layoutData{PortalName: p.brand.name, Title: title, HasLogo: p.brand.logo != nil, Themed: p.brand.css != "",
		Accounts: p.sessions != nil, SignUp: p.opts.SignUp}
}

// layoutFor is layout for a request: it knows who is signed in.
func (p *portal) layoutFor(r *http.Request, title string) layoutData {
	l := p.layout(title)
	if s := currentSession(r); s != nil {
		l.CSRF = s.sess.CSRF
		l.Dev = &devView{Email: s.dev.Email, Name: s.dev.Name, Pending: s.dev.Status == gatehouse.DeveloperPending}
	}
	return l
}

// render executes page into a buffer first, so that a template error is a clean 500
// rather than half a page.
func (p *portal) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		p.opts.Logger.Error("portal render", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	layoutData
	Status  int
	Heading string
	Detail  string
}

// fail answers with a problem document, or a friendly page for a browser.
func (p *portal) fail(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	if !wantsHTML(r) {
		problem.Write(w, status, code, detail)
		return
	}
	heading := "Something went wrong"
	switch status {
	case http.StatusNotFound:
		heading = "Page not found"
	case http.StatusServiceUnavailable:
		heading = "The portal is unavailable right now"
	}
	p.render(w, status, "error.html", errorPage{p.layoutFor(r, heading), status, heading, detail})
}

// wantsHTML reports whether the client asked for HTML (browsers do); API clients and
// tools that send no Accept header get problem documents, as from every listener.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
