package portal

import (
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// catalogue lists the APIs a developer may see, by name: one paged scan per state, never
// a read per API.
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
	slices.SortFunc(out, func(a, b *gatehouse.API) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

type tagLink struct {
	Name, URL string
	Current   bool
}

type card struct {
	Name, URL, Version, Summary, State, BaseURL string
	Deprecated                                  bool
	Sunset                                      *date
	Tags                                        []tagLink
}

type indexPage struct {
	layoutData
	Query, Tag string
	AllTags    []string // for the tag select
	Cards      []card
	Total      int           // APIs in the catalogue before filtering
	Filtered   bool          // a query or tag is in effect
	Home       template.HTML // the branded home text, sanitised Markdown; only unfiltered
}

func apiURL(name string) string { return "/apis/" + url.PathEscape(name) }

func tagURL(tag string) string { return "/?tag=" + url.QueryEscape(tag) }

func (p *portal) baseURL(a *gatehouse.API) string {
	if a.Path == "/" {
		return p.opts.GatewayURL + "/"
	}
	return p.opts.GatewayURL + a.Path
}

// matches reports whether a fits the search: q (already lower case) in its name,
// description or a tag, and tag (case-insensitive) among its tags.
func matches(a *gatehouse.API, q, tag string) bool {
	if tag != "" && !slices.ContainsFunc(a.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
		return false
	}
	if q == "" {
		return true
	}
	if strings.Contains(strings.ToLower(a.Name), q) || strings.Contains(strings.ToLower(a.Description), q) {
		return true
	}
	return slices.ContainsFunc(a.Tags, func(t string) bool { return strings.Contains(strings.ToLower(t), q) })
}

func (p *portal) index(w http.ResponseWriter, r *http.Request) {
	apis, err := p.catalogue(r)
	if err != nil {
		p.opts.Logger.Error("portal catalogue", "err", err)
		p.fail(w, r, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	tag := strings.TrimSpace(r.URL.Query().Get("tag"))
	lq := strings.ToLower(q)
	title := "API catalogue"
	if q != "" || tag != "" {
		title = "Search results"
	}
	page := indexPage{layoutData: p.layoutFor(r, title), Query: q, Tag: tag, Total: len(apis), Filtered: q != "" || tag != ""}
	page.Nav = "apis"
	if !page.Filtered {
		page.Home = p.brand.home
	}
	seen := map[string]bool{}
	for _, a := range apis {
		for _, t := range a.Tags {
			if !seen[t] {
				seen[t] = true
				page.AllTags = append(page.AllTags, t)
			}
		}
		if !matches(a, lq, tag) {
			continue
		}
		c := card{
			Name: a.Name, URL: apiURL(a.Name), Version: a.Version, Summary: summary(a.Description),
			State: string(a.State), BaseURL: p.baseURL(a),
			Deprecated: a.State == gatehouse.StateDeprecated, Sunset: newDate(a.Sunset),
		}
		for _, t := range a.Tags {
			c.Tags = append(c.Tags, tagLink{Name: t, URL: tagURL(t), Current: strings.EqualFold(t, tag)})
		}
		page.Cards = append(page.Cards, c)
	}
	slices.Sort(page.AllTags)
	p.render(w, http.StatusOK, "index.html", page)
}

func (p *portal) apisJSON(w http.ResponseWriter, r *http.Request) {
	apis, err := p.catalogue(r)
	if err != nil {
		problem.Write(w, http.StatusServiceUnavailable, gatehouse.EUnavailable, "the catalogue is unavailable right now")
		return
	}
	views := make([]map[string]any, 0, len(apis))
	for _, a := range apis {
		v := map[string]any{"name": a.Name, "version": a.Version, "description": a.Description, "state": a.State, "path": a.Path, "hosts": a.Hosts, "tags": a.Tags}
		if a.Sunset != nil {
			v["sunset"] = a.Sunset
		}
		views = append(views, v)
	}
	writeJSON(w, map[string]any{"items": views})
}
