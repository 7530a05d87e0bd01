// Package portal serves the developer portal: the catalogue of published APIs that
// developers browse. It reads the store directly and only shows what is published or
// deprecated; drafts and retired APIs never leak to it.
package portal

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options configures the portal.
type Options struct {
	Store  gatehouse.Store
	Logger *slog.Logger
	// GatewayURL is shown to developers as the base URL of the APIs.
	GatewayURL string
}

type portal struct {
	opts Options
	tmpl *template.Template
}

// New returns the portal's handler.
func New(opts Options) (http.Handler, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &portal{opts: opts, tmpl: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.index)
	mux.HandleFunc("GET /api/apis", p.apisJSON)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, http.StatusNotFound, gatehouse.ENotFound, "no such page")
	})
	return http.NewCrossOriginProtection().Handler(mux), nil
}

// catalogue lists the APIs a developer may see.
func (p *portal) catalogue(r *http.Request) ([]*gatehouse.API, error) {
	var out []*gatehouse.API
	for _, state := range []gatehouse.APIState{gatehouse.StatePublished, gatehouse.StateDeprecated} {
		f := gatehouse.APIFilter{State: state, ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}}
		for {
			page, err := p.opts.Store.APIs(r.Context(), f)
			if err != nil {
				return nil, err
			}
			out = append(out, page.Items...)
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
	}
	return out, nil
}

type apiView struct {
	Name, Version, Description, State, Path string
	Hosts                                   []string
}

func (p *portal) index(w http.ResponseWriter, r *http.Request) {
	apis, err := p.catalogue(r)
	if err != nil {
		p.opts.Logger.Error("portal catalogue", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return
	}
	views := make([]apiView, 0, len(apis))
	for _, a := range apis {
		views = append(views, apiView{a.Name, a.Version, a.Description, string(a.State), a.Path, a.Hosts})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err = p.tmpl.ExecuteTemplate(w, "index.html", map[string]any{"APIs": views, "GatewayURL": p.opts.GatewayURL})
	if err != nil {
		p.opts.Logger.Error("portal render", "err", err)
	}
}

func (p *portal) apisJSON(w http.ResponseWriter, r *http.Request) {
	apis, err := p.catalogue(r)
	if err != nil {
		problem.Write(w, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return
	}
	views := make([]map[string]any, 0, len(apis))
	for _, a := range apis {
		views = append(views, map[string]any{"name": a.Name, "version": a.Version, "description": a.Description, "state": a.State, "path": a.Path, "hosts": a.Hosts})
	}
	writeJSON(w, map[string]any{"items": views})
}
