package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/router"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
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
}

// compile builds a snapshot from every API. Drafts are skipped; retired APIs stay in the
// table so that their clients get 410 rather than 404. Pools come from g's registry, so
// targets whose upstream did not change keep their health state and connections.
func (g *Gateway) compile(revision int64, apis []*gatehouse.API) (*Snapshot, error) {
	s := &Snapshot{Revision: revision, Compiled: time.Now()}
	var entries []router.Entry[*apiRoute]
	var errs []error
	for _, a := range apis {
		if a.State == gatehouse.StateDraft {
			continue
		}
		ar, routes, err := g.compileAPI(a)
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

func (g *Gateway) compileAPI(a *gatehouse.API) (*apiRoute, []router.Route, error) {
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
	return ar, routes, nil
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
