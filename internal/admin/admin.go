// Package admin serves the Gatehouse admin REST API under /v1/: one resource per noun (apis,
// plans, developers, apps, keys, subscriptions, admin tokens, audit), JSON in and out, cursor
// pagination, ETag/If-Match on revisions, JSON merge patch, and RFC 9457 problem documents
// with the stable codes of the domain package. routes.go lists every endpoint; the same list
// is checked against the embedded OpenAPI document (openapi.json) by the tests.
//
// The handlers are thin: they authenticate, decode strictly, validate, call the
// gatehouse.Store and render. The store owns transactions, revisions and the audit log.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is zero. It is larger
// than gatehouse.MaxOpenAPIBytes because an API may carry an OpenAPI document, which grows
// when escaped into a JSON string.
const DefaultMaxBodyBytes = 8 << 20

// Options configures the admin API handler.
type Options struct {
	Store        gatehouse.Store
	Logger       *slog.Logger // nil discards
	Version      string       // shown by GET /v1/status
	MaxBodyBytes int64        // default DefaultMaxBodyBytes
	// Ready is an extra readiness check (e.g. the gateway has a snapshot); nil means none.
	// /readyz shows the Message of a *gatehouse.Error it returns, and only "failed" for
	// other errors, whose text goes to the log: /readyz needs no token.
	Ready func(ctx context.Context) error
	// Degraded lists what is degraded but still serving (a shared backend down with a
	// fallback active); /readyz then answers 200 with status "degraded". nil: never.
	Degraded func() []string
	// CheckAPI is an extra check of an API before it is written (the gateway's compiler:
	// routes, OpenAPI document, upstream TLS files); nil means none.
	CheckAPI func(*gatehouse.API) error
	// PurgeCache drops the cached responses of the named API; nil: the node has no cache
	// and purging succeeds trivially.
	PurgeCache func(ctx context.Context, api string) error
	// CheckPlan is an extra check of a plan before it is written (its policies); nil: none.
	CheckPlan func(*gatehouse.Plan) error
	// Gateway reports what the node's data plane serves (GET /v1/gateway); nil answers 404.
	Gateway func() *gatehouse.GatewayStatus
	// Extra lets the server mount more routes on the same mux (publish, metrics). Those
	// routes get no authentication from this package: they call authenticate, which
	// checks the request's admin token as every admin route does (read-only roles may
	// only GET), when they need it.
	Extra func(mux *http.ServeMux, authenticate func(*http.Request) error)
	// Sessions keeps admin users and password reset links; nil answers those routes 404.
	Sessions session.Store
	// PortalURL is the base of password reset links.
	PortalURL string
}

// server holds the dependencies of every handler. It has no package-level state: two
// servers in one process (as in tests) share nothing.
type server struct {
	store     gatehouse.Store
	log       *slog.Logger
	version   string
	maxBody   int64
	ready     func(ctx context.Context) error
	gateway   func() *gatehouse.GatewayStatus
	apiCheck  func(*gatehouse.API) error
	planCheck func(*gatehouse.Plan) error
	degraded  func() []string
	sessions  session.Store
	portalURL string
	purge     func(ctx context.Context, api string) error
	now       func() time.Time
	tokens    *tokenCache
	mux       *http.ServeMux
}

// New returns the admin API handler. It serves /healthz, /readyz and /v1/openapi.json
// without authentication and everything else under /v1/ with a bearer admin token.
func New(opts Options) http.Handler {
	return newServer(opts)
}

func newServer(opts Options) *server {
	s := &server{
		store:     opts.Store,
		log:       opts.Logger,
		version:   opts.Version,
		maxBody:   opts.MaxBodyBytes,
		ready:     opts.Ready,
		gateway:   opts.Gateway,
		apiCheck:  opts.CheckAPI,
		planCheck: opts.CheckPlan,
		degraded:  opts.Degraded,
		purge:     opts.PurgeCache,
		sessions:  opts.Sessions,
		portalURL: opts.PortalURL,
		now:       time.Now,
		mux:       http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.tokens = newTokenCache(tokenCacheTTL, tokenCacheSize)
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.handler(rt))
	}
	if opts.Extra != nil {
		opts.Extra(s.mux, func(r *http.Request) error {
			_, err := s.authenticate(r)
			return err
		})
	}
	return s
}

// ServeHTTP sets the headers every answer carries and turns the mux's plain-text 404 and
// 405 answers into problem documents.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Admin answers hold configuration and secrets shown once: no cache may keep them.
	w.Header().Set("Cache-Control", "no-store")
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unmatched answers a request no route takes. The mux knows whether the path exists under
// another method (405 with Allow) or not at all (404); we ask it with a recorder and
// render its verdict as a problem.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	rec := &headerRecorder{h: http.Header{}}
	h, _ := s.mux.Handler(r)
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.h.Get("Allow"))
		s.writeError(w, r, &gatehouse.Error{
			Code:    codeMethodNotAllowed,
			Message: "method " + r.Method + " is not allowed on " + r.URL.Path,
		})
		return
	}
	s.writeError(w, r, gatehouse.Errorf(gatehouse.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// headerRecorder captures the status and headers of the mux's fallback handlers and
// discards their plain-text bodies.
type headerRecorder struct {
	h      http.Header
	status int
}

func (rec *headerRecorder) Header() http.Header         { return rec.h }
func (rec *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (rec *headerRecorder) WriteHeader(status int)      { rec.status = status }
