package portal

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

type routeView struct {
	Name    string
	Methods []string // empty: any method
	Path    string
}

type hostView struct{ Host, URL string }

type apiPageData struct {
	layoutData
	Name, Version, State string
	Description          []string
	BaseURL              string
	Hosts                []hostView
	Deprecated           bool
	Sunset               *date
	Tags                 []tagLink
	Routes               []routeView
	HasDocument          bool
	Reference            *reference
	DocumentError        string // why the document could not be shown
}

func (p *portal) apiPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, err := p.opts.Store.API(r.Context(), name)
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound || (err == nil && !a.State.Served()) {
		// Drafts and retired APIs are answered exactly like names that never existed.
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "no published API is called "+name)
		return
	}
	if err != nil {
		p.opts.Logger.Error("portal api", "api", name, "err", err)
		p.fail(w, r, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return
	}
	d := apiPageData{
		layoutData: p.layout(a.Name), Name: a.Name, Version: a.Version, State: string(a.State),
		Description: paragraphs(a.Description), BaseURL: p.baseURL(a),
		Deprecated: a.State == gatehouse.StateDeprecated, Sunset: newDate(a.Sunset),
		HasDocument: strings.TrimSpace(a.OpenAPI) != "",
	}
	scheme := "https"
	if strings.HasPrefix(p.opts.GatewayURL, "http://") {
		scheme = "http"
	}
	for _, h := range a.Hosts {
		hv := hostView{Host: h}
		if !strings.HasPrefix(h, "*.") { // a wildcard host is no URL anyone can use
			hv.URL = scheme + "://" + h + strings.TrimSuffix(a.Path, "/")
		}
		d.Hosts = append(d.Hosts, hv)
	}
	for _, t := range a.Tags {
		d.Tags = append(d.Tags, tagLink{Name: t, URL: tagURL(t)})
	}
	if d.HasDocument {
		ref, err := buildReference(a.OpenAPI)
		if err != nil {
			d.DocumentError = err.Error()
		} else {
			d.Reference = ref
		}
	}
	if !d.HasDocument {
		for _, rt := range a.Routes {
			d.Routes = append(d.Routes, routeView{Name: rt.Name, Methods: rt.Methods, Path: rt.Path})
		}
	}
	p.render(w, http.StatusOK, "api.html", d)
}
