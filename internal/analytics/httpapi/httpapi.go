// Package httpapi is the admin HTTP API of analytics: time series, top-N, totals and the
// raw request log under /v1/analytics/, as JSON or CSV, and the live stream of per-second
// aggregates over server-sent events. The same queries, restricted to one app, answer the
// developer portal's usage pages (AppUsage).
//
// The live stream is carried by Gatehouse's own realtime broker: Start publishes every
// completed second of this node's analytics.Live to a realtime channel, and every SSE
// connection is a fanout subscriber of that channel, so a dashboard connected to any
// node sees the seconds of every node that shares the broker.
//
// docs/analytics-api.md describes the endpoints for their users.
package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
)

// DefaultChannel is the realtime channel live seconds are published on.
const DefaultChannel = "gatehouse.analytics.live"

// Options configure an API.
type Options struct {
	Query *analytics.Query
	// Store holds the raw request log (ReadRequests). Nil answers /requests with 404.
	Store analytics.Store
	// Live is this node's live sink. Nil answers /live with 404 and publishes nothing.
	Live *analytics.Live
	// Fanout is the realtime channel table: Start publishes live seconds to it and the
	// SSE endpoint reads them from it. Nil: the SSE endpoint reads this node's Live
	// directly (no other node's seconds) and Start publishes nothing.
	Fanout *fanout.Fanout
	// Node is this node's id, put on published seconds.
	Node string
	// Channel is the realtime channel of live seconds (default DefaultChannel).
	Channel string
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil discards
	// Quotas returns each app's quota use in its current period (app "" for all); nil
	// answers /quota with 404.
	Quotas func(app string) []quota.Usage
}

// Stats are the live stream's counters, for metrics.
type Stats struct {
	Streams       int64  `json:"streams"`        // SSE connections open now
	Published     uint64 `json:"published"`      // seconds published to the channel
	PublishErrors uint64 `json:"publish_errors"` // seconds the broker refused
	Dropped       uint64 `json:"dropped"`        // seconds not sent to a slow SSE client
}

// API serves the analytics endpoints. It is safe for concurrent use.
type API struct {
	q       *analytics.Query
	store   analytics.Store
	live    *analytics.Live
	fan     *fanout.Fanout
	node    string
	channel string
	now     func() time.Time
	log     *slog.Logger
	quotas  func(app string) []quota.Usage

	// Live stream tuning; tests shorten them.
	keepAlive    time.Duration // comment lines on an idle stream
	backlog      time.Duration // seconds sent first
	bufSize      int           // seconds queued per connection
	writeTimeout time.Duration // per write to an SSE client

	stopOnce sync.Once
	stopped  chan struct{} // closed when Start's context ends: streams end

	streams                       atomic.Int64
	published, pubErrors, dropped atomic.Uint64
}

// New returns an API; call Start to publish live seconds and Mount to serve.
func New(o Options) *API {
	a := &API{
		q: o.Query, store: o.Store, live: o.Live, fan: o.Fanout, node: o.Node, quotas: o.Quotas,
		channel: o.Channel, now: o.Now, log: o.Logger,
		keepAlive: 15 * time.Second, backlog: 60 * time.Second, bufSize: 16, writeTimeout: 30 * time.Second,
		stopped: make(chan struct{}),
	}
	if a.channel == "" {
		a.channel = DefaultChannel
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Stats reports the live stream's counters.
func (a *API) Stats() Stats {
	return Stats{Streams: a.streams.Load(), Published: a.published.Load(), PublishErrors: a.pubErrors.Load(), Dropped: a.dropped.Load()}
}

// Mount adds the analytics routes to the admin mux. Every route calls authenticate first;
// its error answers 403 when its code is gatehouse.EForbidden, else 401.
func (a *API) Mount(mux *http.ServeMux, authenticate func(*http.Request) error) {
	guard := func(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			if err := authenticate(r); err != nil {
				problem.WriteAuthError(w, err)
				return
			}
			h(w, r, "")
		}
	}
	mux.HandleFunc("GET /v1/analytics/series", guard(a.series))
	mux.HandleFunc("GET /v1/analytics/top", guard(a.top))
	mux.HandleFunc("GET /v1/analytics/totals", guard(a.totals))
	mux.HandleFunc("GET /v1/analytics/requests", guard(a.requests))
	mux.HandleFunc("GET /v1/analytics/quota", guard(a.quota))
	mux.HandleFunc("GET /v1/analytics/live", guard(func(w http.ResponseWriter, r *http.Request, _ string) { a.stream(w, r) }))
}

// usageQueries are the queries AppUsage answers.
var usageQueries = []string{"series", "top", "totals", "quota"}

// AppUsage answers the series, top and totals queries restricted to one app, for the
// developer portal: the app filter is forced to app (an app parameter naming another app
// is a 400), every other parameter works as on the admin endpoints. The query is the
// `query` parameter if given, else the last element of the request's path ("series",
// "top" or "totals"), so the portal may mount it as .../usage/{query} or pass
// ?query=series. It does not authenticate: the caller has checked that the session may
// see app. The raw request log and the live stream are not offered.
func (a *API) AppUsage(w http.ResponseWriter, r *http.Request, app string) {
	w.Header().Set("Cache-Control", "no-store")
	if app == "" {
		a.fail(w, r, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid usage query",
			Fields: []gatehouse.FieldError{{Field: "app", Message: "required"}}})
		return
	}
	which := r.URL.Query().Get("query")
	if which == "" {
		which = path.Base(r.URL.Path)
	}
	// The selector is not a query parameter of the endpoints themselves.
	if r.URL.Query().Has("query") {
		r2 := r.Clone(r.Context())
		q := r2.URL.Query()
		q.Del("query")
		r2.URL.RawQuery = q.Encode()
		r = r2
	}
	switch which {
	case "series":
		a.series(w, r, app)
	case "top":
		a.top(w, r, app)
	case "totals":
		a.totals(w, r, app)
	case "quota":
		a.quota(w, r, app)
	default:
		a.fail(w, r, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid usage query",
			Fields: []gatehouse.FieldError{{Field: "query", Message: "must be one of " + strings.Join(usageQueries, ", ")}}})
	}
}

// statusOf maps a stable code to its HTTP status.
func statusOf(code string) int { return problem.Status(code) }

// queryFields renames the query engine's field names to the parameters that set them.
var queryFields = map[string]string{
	"filters.apis": "api", "filters.routes": "route", "filters.apps": "app",
	"filters.developers": "developer", "filters.plans": "plan",
	"filters.status_classes": "status_class", "filters.kinds": "kind",
}

// fail answers err as a problem document. Invalid queries (analytics.QueryError and our
// own checks) are 400 with one errors[] entry per parameter; internal errors are logged
// and shown only as "internal error".
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := gatehouse.ErrorCode(err)
	status := statusOf(code)
	switch {
	case status == http.StatusInternalServerError:
		code = gatehouse.EInternal
		if r.Context().Err() == nil { // a client that went away is not worth a log line
			a.log.ErrorContext(r.Context(), "analytics api: internal error", "path", r.URL.Path, "err", err)
		}
	case code == gatehouse.EUnavailable:
		a.log.WarnContext(r.Context(), "analytics api: dependency unavailable", "path", r.URL.Path, "err", err)
	}
	doc := problem.Document{Status: status, Code: code, Detail: gatehouse.ErrorMessage(err)}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		for _, f := range ge.Fields {
			if n, ok := queryFields[f.Field]; ok {
				f.Field = n
			}
			doc.Errors = append(doc.Errors, f)
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	}
	problem.WriteDoc(w, doc)
}

// notFound answers 404 with a detail saying what is missing.
func (a *API) notFound(w http.ResponseWriter, r *http.Request, detail string) {
	a.fail(w, r, gatehouse.Errorf(gatehouse.ENotFound, "%s", detail))
}

// writeJSON sends v as compact JSON.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// QuotaAnswer is GET /v1/analytics/quota: each app's use of its quotas in the current
// period, as the quota policies last counted it, most used first.
type QuotaAnswer struct {
	Items []quota.Usage `json:"items"`
}

// quota answers the quota use of one app (the app parameter, or the portal's app) or all.
func (a *API) quota(w http.ResponseWriter, r *http.Request, forced string) {
	if a.quotas == nil {
		a.notFound(w, r, "quota usage is not available on this node")
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "app" {
			a.fail(w, r, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid quota query",
				Fields: []gatehouse.FieldError{{Field: k, Message: "unknown parameter"}}})
			return
		}
	}
	app := q.Get("app")
	if forced != "" {
		if app != "" && app != forced {
			a.fail(w, r, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid quota query",
				Fields: []gatehouse.FieldError{{Field: "app", Message: "must be your own app"}}})
			return
		}
		app = forced
	}
	items := a.quotas(app)
	if items == nil {
		items = []quota.Usage{}
	}
	a.writeJSON(w, r, QuotaAnswer{Items: items})
}
