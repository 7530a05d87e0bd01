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
	Changelog            []changeEntry
	TryEnabled           bool // the console is offered (sign-in is on)
	Try                  tryForm
	TryResult            *tryResult
	Methods              []string
}

func (p *portal) apiPage(w http.ResponseWriter, r *http.Request) {
	a, ok := p.servedAPI(w, r)
	if !ok {
		return
	}
	p.render(w, http.StatusOK, "api.html", p.apiPageData(r, a))
}

// servedAPI loads the API named in the path, answering 404 for drafts and retired APIs
// exactly as for names that never existed.
func (p *portal) servedAPI(w http.ResponseWriter, r *http.Request) (*gatehouse.API, bool) {
	name := r.PathValue("name")
	a, err := p.opts.Store.API(r.Context(), name)
	if gatehouse.ErrorCode(err) == gatehouse.ENotFound || (err == nil && !a.State.Served()) {
		p.fail(w, r, http.StatusNotFound, gatehouse.ENotFound, "no published API is called "+name)
		return nil, false
	}
	if err != nil {
		p.opts.Logger.Error("portal api", "api", name, "err", err)
		p.fail(w, r, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return nil, false
	}
	return a, true
}

func (p *portal) apiPageData(r *http.Request, a *gatehouse.API) apiPageData {
	d := apiPageData{
		layoutData: p.layoutFor(r, a.Name), Name: a.Name, Version: a.Version, State: string(a.State),
		Description: paragraphs(a.Description), BaseURL: p.baseURL(a),
		Deprecated: a.State == gatehouse.StateDeprecated, Sunset: newDate(a.Sunset),
		HasDocument: strings.TrimSpace(a.OpenAPI) != "",
	}
	d.Nav = "apis"
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
	d.Changelog = p.changelog(r.Context(), a.Name)
	d.TryEnabled = p.sessions != nil
	d.Try = defaultTry(a, r.URL.Query())
	d.Methods = tryMethods
	return d
}
