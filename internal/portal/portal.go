// Package portal serves the developer portal: the catalogue of published APIs that
// developers browse, and each API's reference page built from its OpenAPI document. It
// reads the store directly and only shows what is published or deprecated; drafts and
// retired APIs never leak to it.
//
// Pages are server-rendered with html/template (which escapes every API- and
// document-supplied string) and styled by one embedded stylesheet; there is no
// JavaScript, and the Content-Security-Policy forbids any.
package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the portal.
type Options struct {
	Store  gatehouse.Store
	Logger *slog.Logger
	// GatewayURL is shown to developers as the base URL of the APIs.
	GatewayURL string
}

// portalName heads every page until branding comes from settings.
const portalName = "Gatehouse developer portal"

// csp allows the page its own stylesheet and nothing else: no script at all, so even a
// string that escaped escaping could not run.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type portal struct {
	opts  Options
	pages map[string]*template.Template // page file → layout + page
}

// New returns the portal's handler.
func New(opts Options) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.GatewayURL = strings.TrimSuffix(opts.GatewayURL, "/")
	p := &portal{opts: opts, pages: map[string]*template.Template{}}
	// Each page is its own template set, layout included, so pages can define the same
	// blocks ("main") without clashing.
	for _, name := range []string{"index.html", "api.html", "error.html"} {
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

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.index)
	mux.HandleFunc("GET /apis/{name}", p.apiPage)
	mux.HandleFunc("GET /api/apis", p.apisJSON)
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		// Embedded files change only with the binary; an hour keeps restarts visible.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "no such page")
	})
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
}

func (p *portal) layout(title string) layoutData {
	return layoutData{PortalName: portalName, Title: title}
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
	p.render(w, status, "error.html", errorPage{p.layout(heading), status, heading, detail})
}

// wantsHTML reports whether the client asked for HTML (browsers do); API clients and
// tools that send no Accept header get problem documents, as from every listener.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
