package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/router"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Snapshot is an immutable, compiled configuration. A request reads one snapshot from
// start to end, so it never sees half a configuration; a new configuration is a new
// snapshot, swapped in atomically.
type Snapshot struct {
	Revision int64
	Compiled time.Time
	table    *router.Table[*apiRoute]
	apis     []*apiRoute
}

// apiRoute is one API, compiled: everything a request needs is precomputed here so that
// the hot path only reads.
type apiRoute struct {
	api         *gatehouse.API
	pool        *upstream.Pool // nil for retired APIs
	proxy       *httputil.ReverseProxy
	maxBody     int64
	strip       bool
	prefix      string
	deprecation string // RFC 9745 Deprecation value, "" unless deprecated
	sunset      string // RFC 8594 Sunset value
	retired     string // the 410 detail, "" unless retired
	unrouted    string // the 404 detail
	// chain is the API's policy chain ending at proxy; nil when it has no policies, so
	// that such APIs pay nothing for the framework.
	chain  policy.Handler
	routes []routeChain // by route index; a route with policies of its own has its chain
	rt     *rtRoute     // nil unless the API has realtime enabled
}

type routeChain struct {
	name  string
	chain policy.Handler // nil: the API's chain
}

// compile builds a snapshot from every API. Drafts are skipped; retired APIs stay in the
// table so that their clients get 410 rather than 404. Pools come from g's registry, so
// targets whose upstream did not change keep their health state and connections.
func (g *Gateway) compile(revision int64, apis []*gatehouse.API, plans []*gatehouse.Plan) (*Snapshot, error) {
	s := &Snapshot{Revision: revision, Compiled: time.Now()}
	var entries []router.Entry[*apiRoute]
	var errs []error
	for _, a := range apis {
		if a.State == gatehouse.StateDraft {
			continue
		}
		ar, routes, err := g.compileAPI(a, plans)
		if err != nil {
			errs = append(errs, fmt.Errorf("api %q: %w", a.Name, err))
			continue
		}
		s.apis = append(s.apis, ar)
		entries = append(entries, router.Entry[*apiRoute]{Name: "api " + a.Name, Hosts: a.Hosts, Prefix: a.Path, Routes: routes, Value: ar})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t, err := router.Build(entries)
	if err != nil {
		return nil, err
	}
	s.table = t
	return s, nil
}

func (g *Gateway) compileAPI(a *gatehouse.API, plans []*gatehouse.Plan) (*apiRoute, []router.Route, error) {
	ar := &apiRoute{
		api:      a,
		maxBody:  a.MaxBodyBytes,
		strip:    a.StripPath && a.Path != "/",
		prefix:   a.Path,
		unrouted: fmt.Sprintf("API %q has no route for this method and path", a.Name),
	}
	if ar.maxBody == 0 {
		ar.maxBody = g.maxBody
	}
	routes, err := apiRoutes(a)
	if err != nil {
		return nil, nil, fmt.Errorf("routes from its openapi document: %w", err)
	}
	switch a.State {
	case gatehouse.StateRetired:
		ar.retired = fmt.Sprintf("API %q is retired", a.Name)
		return ar, routes, nil // no upstream: nothing is proxied
	case gatehouse.StateDeprecated:
		ar.deprecation = "@" + strconv.FormatInt(a.UpdatedAt.Unix(), 10)
		if a.Sunset != nil {
			ar.sunset = a.Sunset.UTC().Format(http.TimeFormat)
		}
	}
	pool, err := g.pools.Pool(a.Name, a.Upstream)
	if err != nil {
		return nil, nil, err
	}
	ar.pool = pool
	name := a.Name
	ar.proxy = &httputil.ReverseProxy{
		Rewrite:        ar.rewrite,
		Transport:      pool,
		BufferPool:     g.buffers,
		ModifyResponse: addVia,
		ErrorHandler:   func(w http.ResponseWriter, r *http.Request, err error) { g.proxyError(w, r, err, name) },
		// Zero: ReverseProxy already flushes at once for event streams and responses of
		// unknown length (chunked), and buffers fixed-length bodies, which is cheapest.
		FlushInterval: 0,
	}
	if ar.rt, err = compileRealtime(a, g.sigKey, g.sigIss); err != nil {
		return nil, nil, err
	}
	if ar.rt != nil {
		ar.proxy.Rewrite = ar.rtRewrite
		ar.proxy.ModifyResponse = g.rtModify
		ar.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { g.rtError(ar, w, r, err) }
		if _, seen := g.warnedKey.LoadOrStore(a.Name, true); ar.rt.defaulted && !seen {
			g.log.Warn("realtime API signs Grip-Sig with the well-known default key; set realtime.sig_key", "api", a.Name)
		}
	}
	if err := g.compilePolicies(ar, routes, plans); err != nil {
		return nil, nil, err
	}
	return ar, routes, nil
}

// compilePolicies builds the API's chain and, for routes that add policies, theirs. Only
// plans that include the API take part.
func (g *Gateway) compilePolicies(ar *apiRoute, routes []router.Route, plans []*gatehouse.Plan) error {
	a := ar.api
	var mine []*gatehouse.Plan
	for _, p := range plans {
		if slices.Contains(p.APIs, a.Name) {
			mine = append(mine, p)
		}
	}
	proxy := ar.proxy
	terminal := policy.HandlerFunc(func(c *policy.Context) error {
		proxy.ServeHTTP(c.W, c.R)
		return nil
	})
	if ar.rt != nil {
		terminal = func(c *policy.Context) error {
			g.serveRealtime(ar, c.W, c.R, c.Identity.App)
			return nil
		}
	}
	build := func(specs []gatehouse.PolicySpec, route *gatehouse.Route) (policy.Handler, error) {
		if !anyEnabled(specs) {
			return nil, nil
		}
		env := g.services
		env.API, env.Route = a, route
		return g.policies.Build(&env, specs, mine, terminal)
	}
	var err error
	if ar.chain, err = build(a.Policies, nil); err != nil {
		return fmt.Errorf("policies: %w", err)
	}
	ar.routes = make([]routeChain, len(routes))
	for i := range routes {
		ar.routes[i].name = routes[i].Name
		if len(routes[i].Policies) == 0 {
			continue
		}
		r := routes[i]
		if ar.routes[i].chain, err = build(policy.Merge(a.Policies, r.Policies), &r); err != nil {
			return fmt.Errorf("route %q: policies: %w", routeLabel(r), err)
		}
		if ar.routes[i].chain == nil {
			ar.routes[i].chain = terminal // the route disabled every API policy
		}
	}
	return nil
}

func anyEnabled(specs []gatehouse.PolicySpec) bool {
	return slices.ContainsFunc(specs, func(s gatehouse.PolicySpec) bool { return !s.Disabled })
}

func routeLabel(r router.Route) string {
	if r.Name != "" {
		return r.Name
	}
	return strings.Join(r.Methods, ",") + " " + r.Path
}

// status reports what the snapshot serves, with every target's health.
func (s *Snapshot) status() []gatehouse.APIStatus {
	out := make([]gatehouse.APIStatus, 0, len(s.apis))
	for _, ar := range s.apis {
		st := gatehouse.APIStatus{Name: ar.api.Name, State: ar.api.State, Targets: []gatehouse.TargetStatus{}}
		if ar.pool != nil {
			st.Targets = ar.pool.Targets()
		}
		out = append(out, st)
	}
	return out
}

// apiRoutes is what an API serves: its explicit routes, else its OpenAPI document's
// operations, else nil (every path under its prefix). An error is the document's.
func apiRoutes(a *gatehouse.API) ([]router.Route, error) {
	if len(a.Routes) > 0 || strings.TrimSpace(a.OpenAPI) == "" {
		return a.Routes, nil
	}
	return router.RoutesFromOpenAPI([]byte(a.OpenAPI))
}
