// Package cache is the cache policy: it answers GET and HEAD requests from stored
// responses (the node's policy.Cache: memory or Redis), stores cacheable upstream
// responses as they stream through, revalidates stale entries with the upstream's
// validators, and can serve a stale entry when the upstream fails.
//
// Entries are keyed by PurgePrefix(api) and a hash of the request (host, path, query,
// chosen request headers and, by default, the calling app), so purging an API is one
// Cache.Purge. A failing cache never fails a request: it is a miss, logged once per change
// of state.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Config configures the cache policy.
type Config struct {
	// TTL is how long a response stays fresh when it gives no freshness of its own
	// (Cache-Control max-age or s-maxage, Expires), or always when cache_control is
	// false. Default "60s".
	TTL gatehouse.Duration `json:"ttl,omitempty"`
	// MaxTTL caps the freshness a response asks for. Default "1h".
	MaxTTL gatehouse.Duration `json:"max_ttl,omitempty"`
	// Methods are the request methods served from the cache, among GET and HEAD. HEAD
	// requests are answered from GET's entries. Default ["GET", "HEAD"].
	Methods []string `json:"methods,omitempty"`
	// Statuses are the response statuses that are stored. Default [200, 203, 204, 300,
	// 301, 404, 410].
	Statuses []int `json:"statuses,omitempty"`
	// VaryHeaders are request headers whose values are part of the key (Accept-Language,
	// Accept-Encoding, ...). A response whose Vary names a header not listed here is not
	// stored. Default [] (none).
	VaryHeaders []string `json:"vary_headers,omitempty"`
	// Query is how much of the query string is part of the key: "all" (every parameter,
	// in any order), "none", or "list" (only query_params). Default "all".
	Query string `json:"query,omitempty"`
	// QueryParams are the parameters in the key when query is "list". Default [] (none).
	QueryParams []string `json:"query_params,omitempty"`
	// PerApp makes the calling app (as authentication identified it) part of the key, so
	// that one app never sees a response cached for another. Default true.
	PerApp *bool `json:"per_app,omitempty"`
	// MaxBody is the largest body stored, in bytes; larger responses stream through
	// uncached. Default 1048576 (1 MiB).
	MaxBody int64 `json:"max_body,omitempty"`
	// CacheControl honours Cache-Control: a request's no-store, no-cache and max-age, and
	// a response's no-store, private, no-cache, max-age, s-maxage, must-revalidate and
	// Expires. Default true.
	CacheControl *bool `json:"cache_control,omitempty"`
	// StaleIfError is how long past its freshness an entry may still be served when the
	// upstream answers 5xx or cannot be reached. Default "0s" (never).
	StaleIfError gatehouse.Duration `json:"stale_if_error,omitempty"`
}

// Defaults.
const (
	defaultTTL     = 60 * time.Second
	defaultMaxTTL  = time.Hour
	defaultMaxBody = 1 << 20
	maxMaxBody     = 1 << 30
)

var defaultStatuses = []int{200, 203, 204, 300, 301, 404, 410}

// Query modes.
const (
	queryAll = iota
	queryNone
	queryList
)

// Validate checks the rules the JSON types cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.TTL < 0 {
		errs = append(errs, errors.New("ttl: must not be negative"))
	}
	if c.MaxTTL < 0 {
		errs = append(errs, errors.New("max_ttl: must not be negative"))
	}
	if c.TTL > 0 && c.MaxTTL > 0 && c.TTL > c.MaxTTL {
		errs = append(errs, fmt.Errorf("ttl: %s is longer than max_ttl %s", c.TTL, c.MaxTTL))
	}
	if c.TTL > 0 && c.MaxTTL == 0 && c.TTL.D() > defaultMaxTTL {
		errs = append(errs, fmt.Errorf("ttl: %s is longer than max_ttl's default %s; raise max_ttl too", c.TTL, gatehouse.Duration(defaultMaxTTL)))
	}
	if c.Methods != nil && len(c.Methods) == 0 {
		errs = append(errs, errors.New("methods: must list GET, HEAD or both"))
	}
	for i, m := range c.Methods {
		if m != http.MethodGet && m != http.MethodHead {
			errs = append(errs, fmt.Errorf("methods[%d]: %q: only GET and HEAD responses are cached", i, m))
		}
	}
	for i, s := range c.Statuses {
		if s < 200 || s > 599 || s == http.StatusPartialContent || s == http.StatusNotModified {
			errs = append(errs, fmt.Errorf("statuses[%d]: %d cannot be cached (want 200-599, not 206 or 304)", i, s))
		}
	}
	for i, h := range c.VaryHeaders {
		if !validToken(h) {
			errs = append(errs, fmt.Errorf("vary_headers[%d]: %q is not a valid header name", i, h))
		}
	}
	switch c.Query {
	case "", "all", "none":
		if len(c.QueryParams) > 0 {
			errs = append(errs, errors.New("query_params: only used when query is \"list\""))
		}
	case "list":
		if len(c.QueryParams) == 0 {
			errs = append(errs, errors.New("query_params: query \"list\" needs at least one parameter"))
		}
	default:
		errs = append(errs, fmt.Errorf("query: %q: want \"all\", \"none\" or \"list\"", c.Query))
	}
	for i, p := range c.QueryParams {
		if p == "" {
			errs = append(errs, fmt.Errorf("query_params[%d]: empty name", i))
		}
	}
	if c.MaxBody < 0 || c.MaxBody > maxMaxBody {
		errs = append(errs, fmt.Errorf("max_body: %d: want 0 to %d bytes", c.MaxBody, maxMaxBody))
	}
	if c.StaleIfError < 0 {
		errs = append(errs, errors.New("stale_if_error: must not be negative"))
	}
	return errors.Join(errs...)
}

func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c < 0x80 && slices.Contains([]byte("!#$%&'*+-.^_`|~"), c)) {
			return false
		}
	}
	return true
}

// Type registers the cache policy.
var Type = policy.Define("cache", policy.Caching, "serve GET and HEAD responses from a cache", New)

// handler is a compiled cache policy.
type handler struct {
	next         policy.Handler
	cache        policy.Cache
	log          *slog.Logger
	now          func() time.Time
	prefix       string
	ttl          time.Duration
	maxTTL       time.Duration
	staleIfError time.Duration
	get, head    bool
	statuses     []int
	vary         []string // canonical
	query        int
	params       []string
	perApp       bool
	cacheControl bool
	maxBody      int64

	failing  atomic.Bool // the cache's last call failed
	recorder sync.Pool
}

// New builds the cache policy over env.Cache.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if env.Cache == nil {
		return nil, errors.New("no response cache on this node")
	}
	if env.API == nil {
		return nil, errors.New("the cache policy needs an API")
	}
	h := &handler{
		next:         next,
		cache:        env.Cache,
		log:          env.Log().With("policy", name, "api", env.API.Name),
		now:          env.Clock(),
		prefix:       PurgePrefix(env.API.Name),
		ttl:          cfg.TTL.D(),
		maxTTL:       cfg.MaxTTL.D(),
		staleIfError: cfg.StaleIfError.D(),
		statuses:     cfg.Statuses,
		params:       cfg.QueryParams,
		perApp:       cfg.PerApp == nil || *cfg.PerApp,
		cacheControl: cfg.CacheControl == nil || *cfg.CacheControl,
		maxBody:      cfg.MaxBody,
	}
	if h.ttl == 0 {
		h.ttl = defaultTTL
	}
	if h.maxTTL == 0 {
		h.maxTTL = defaultMaxTTL
	}
	if h.maxBody == 0 {
		h.maxBody = defaultMaxBody
	}
	if h.statuses == nil {
		h.statuses = defaultStatuses
	}
	methods := cfg.Methods
	if methods == nil {
		methods = []string{http.MethodGet, http.MethodHead}
	}
	h.get = slices.Contains(methods, http.MethodGet)
	h.head = slices.Contains(methods, http.MethodHead)
	for _, v := range cfg.VaryHeaders {
		if k := http.CanonicalHeaderKey(v); !slices.Contains(h.vary, k) {
			h.vary = append(h.vary, k)
		}
	}
	switch cfg.Query {
	case "none":
		h.query = queryNone
	case "list":
		h.query = queryList
	}
	h.recorder.New = func() any { return &recorder{h: h, hdr: make(http.Header)} }
	return h, nil
}

// Outcomes, for X-Cache and c.Cache.
const (
	outHit         = "HIT"         // served from a fresh entry
	outMiss        = "MISS"        // fetched from upstream (and stored when cacheable)
	outBypass      = "BYPASS"      // the request may not use the cache
	outRevalidated = "REVALIDATED" // a stale entry the upstream confirmed (304)
	outStale       = "STALE"       // a stale entry served because the upstream failed
)

func (h *handler) Serve(c *policy.Context) error {
	r := c.R
	isHead := r.Method == http.MethodHead
	if !(h.get && r.Method == http.MethodGet || h.head && isHead) || r.Header["Upgrade"] != nil {
		return h.bypass(c)
	}
	req := directives{maxAge: -1, sMaxAge: -1}
	if h.cacheControl {
		req = requestDirectives(r.Header)
		if req.noStore {
			return h.bypass(c)
		}
	}
	// A credential still on the request at this phase is one the upstream checks itself:
	// the response may be the caller's own, so it is cached only per identified app.
	if r.Header["Authorization"] != nil && (!h.perApp || c.Identity.App == "") {
		return h.bypass(c)
	}
	key := h.key(c)
	now := h.now()
	var stale *entry
	b, ok, err := h.cache.Get(r.Context(), key)
	if err != nil {
		if r.Context().Err() == nil { // a client that left says nothing about the cache
			h.cacheFailed(err)
		}
	} else {
		h.cacheWorks()
	}
	if ok {
		e, err := decodeEntry(b)
		if err == nil {
			age := max(now.Sub(e.storedAt), 0)
			if age < e.fresh && !req.noCache && (req.maxAge < 0 || age < time.Duration(req.maxAge)*time.Second) {
				h.serve(c, &e, outHit, age, first(r.Header["If-None-Match"]), first(r.Header["If-Modified-Since"]))
				return nil
			}
			stale = &e
		}
	}
	return h.fetch(c, key, now, stale, !isHead)
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (h *handler) bypass(c *policy.Context) error {
	c.Cache = outBypass
	c.W.Header()["X-Cache"] = []string{outBypass}
	return h.next.Serve(c)
}

// fetch goes upstream for a miss or a stale entry, through a recorder that tees the
// response into a new entry (store) and, for a stale entry, turns the upstream's 304 (or
// a failure, with stale_if_error) into an answer from the entry.
func (h *handler) fetch(c *policy.Context, key string, now time.Time, stale *entry, store bool) error {
	r := c.R
	inm, ims := first(r.Header["If-None-Match"]), first(r.Header["If-Modified-Since"])
	rec := h.recorder.Get().(*recorder)
	rec.start(c, now, store)
	if stale != nil {
		age := max(now.Sub(stale.storedAt), 0)
		rec.staleOK = h.staleIfError > 0 && !stale.mustRevalidate() && age <= stale.fresh+h.staleIfError
		rec.revalidating = stale.etag != "" || stale.lastMod != ""
	}
	if store || rec.revalidating {
		// The upstream is asked for the full response (or about the entry): the client's
		// own conditional is answered here, from what comes back.
		delete(r.Header, "If-None-Match")
		delete(r.Header, "If-Modified-Since")
		rec.inm, rec.ims = inm, ims
	}
	if rec.revalidating {
		if stale.etag != "" {
			r.Header["If-None-Match"] = []string{stale.etag}
		}
		if stale.lastMod != "" {
			r.Header["If-Modified-Since"] = []string{stale.lastMod}
		}
	}

	c.W = rec
	err := h.next.Serve(c)
	c.W = rec.w

	switch {
	case rec.notModified && err == nil:
		h.refresh(c, key, now, stale, rec.hdr, inm, ims)
	case rec.staleOK && !rec.forwarded && (rec.swallowed && !rec.notModified && err == nil || serverError(err)):
		h.serve(c, stale, outStale, max(now.Sub(stale.storedAt), 0), inm, ims)
		err = nil
	case err != nil:
		if !rec.forwarded {
			c.Cache = outMiss
			c.W.Header()["X-Cache"] = []string{outMiss}
		}
	default:
		if !rec.wrote {
			// Nothing written: net/http sends an empty 200, which is what the upstream meant.
			rec.WriteHeader(http.StatusOK)
		}
		if rec.complete() {
			buf := rec.buf
			if cap(buf)-len(buf) > len(buf)/4 {
				// The body grew the buffer: a cache keeps the whole array, so keep it tight.
				buf = append(make([]byte, 0, len(buf)), buf...)
			}
			ctx := context.WithoutCancel(r.Context()) // the client leaving does not undo a good response
			if err := h.cache.Set(ctx, key, buf, rec.keep); err != nil {
				h.cacheFailed(err)
			}
		}
	}
	rec.reset()
	h.recorder.Put(rec)
	return err
}

// serverError reports whether a later policy's rejection is a failure (5xx) rather than a
// verdict on the request.
func serverError(err error) bool {
	var pe *policy.Error
	return errors.As(err, &pe) && pe.Status >= 500
}

// refresh updates a stale entry with the headers of the upstream's 304 (RFC 9111 §4.3.4),
// stores it again, and serves it.
func (h *handler) refresh(c *policy.Context, key string, now time.Time, stale *entry, got http.Header, inm, ims string) {
	merged := stale.header()
	for k, vs := range got {
		if storedHeader(k, got) {
			merged[k] = vs
		}
	}
	fresh, flags, keep, ok := h.freshness(merged, now)
	b := appendEntryHead(make([]byte, 0, 256+len(stale.head)+len(stale.body)), stale.status, now, fresh, flags, merged)
	b = append(b, stale.body...)
	e, err := decodeEntry(b)
	if err != nil { // cannot happen: b was just encoded
		h.serve(c, stale, outRevalidated, 0, inm, ims)
		return
	}
	if cookies := got["Set-Cookie"]; cookies != nil {
		// For this client only: the entry never holds cookies.
		c.W.Header()["Set-Cookie"] = cookies
	} else if ok && h.storable(stale.status, merged) {
		if err := h.cache.Set(context.WithoutCancel(c.R.Context()), key, b, keep); err != nil {
			h.cacheFailed(err)
		}
	}
	h.serve(c, &e, outRevalidated, 0, inm, ims)
}

// serve writes entry e as the response: 304 when the client's conditional (inm, ims)
// matches its validators, else the stored status, headers and body.
func (h *handler) serve(c *policy.Context, e *entry, outcome string, age time.Duration, inm, ims string) {
	c.Cache = outcome
	dst := c.W.Header()
	nm := notModified(inm, ims, e.etag, e.lastMod)
	extra := e.apply(dst, nm, 3)
	extra[0] = outcome
	dst["X-Cache"] = extra[0:1:1]
	extra[1] = strconv.FormatInt(int64(age/time.Second), 10)
	dst["Age"] = extra[1:2:2]
	status := e.status
	body := bodyAllowed(status)
	switch {
	case nm:
		status = http.StatusNotModified
		body = false
	case body:
		extra[2] = e.clen
		dst["Content-Length"] = extra[2:3:3]
	}
	c.W.WriteHeader(status)
	if body && c.R.Method != http.MethodHead {
		_, _ = c.W.Write(e.body)
	}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// freshness decides whether a response with headers hdr may be stored, and for how long:
// fresh for fresh, kept for keep (fresh plus the time it stays useful when stale).
func (h *handler) freshness(hdr http.Header, now time.Time) (fresh time.Duration, flags byte, keep time.Duration, ok bool) {
	fresh = h.ttl
	if h.cacheControl {
		d := parseCacheControl(hdr["Cache-Control"])
		if d.noStore || d.private || d.noCache {
			return 0, 0, 0, false
		}
		fresh = lifetime(d, hdr, now, h.ttl, h.maxTTL)
		if d.mustRevalidate {
			flags |= flagMustRevalidate
		}
	}
	// A stale entry with a validator is still worth revalidating (the 304 saves the body)
	// for as long again as it was fresh; one that may be served on errors, for that long.
	var grace time.Duration
	if hdr["Etag"] != nil || hdr["Last-Modified"] != nil {
		grace = max(fresh, h.ttl)
	}
	if flags&flagMustRevalidate == 0 {
		grace = max(grace, h.staleIfError)
	}
	keep = fresh + grace
	return fresh, flags, keep, keep > 0
}

// storable reports whether a response is stored (before its body, which must also be
// complete and within max_body).
func (h *handler) storable(status int, hdr http.Header) bool {
	if !slices.Contains(h.statuses, status) || hdr["Set-Cookie"] != nil || hdr["Trailer"] != nil {
		return false
	}
	for k := range hdr {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			return false
		}
	}
	if ct := first(hdr["Content-Type"]); len(ct) >= 17 && ct[:17] == "text/event-stream" {
		return false // a stream, not a document
	}
	return h.varyCovered(hdr["Vary"])
}

// varyCovered reports whether every header the response varies on is part of the key.
func (h *handler) varyCovered(vary []string) bool {
	for _, v := range vary {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if name == "*" || !slices.ContainsFunc(h.vary, func(k string) bool { return strings.EqualFold(k, name) }) {
				return false
			}
		}
	}
	return true
}

func (h *handler) cacheFailed(err error) {
	if h.failing.CompareAndSwap(false, true) {
		h.log.Warn("response cache unavailable; requests go upstream until it recovers", "error", err)
	}
}

func (h *handler) cacheWorks() {
	if h.failing.Load() && h.failing.CompareAndSwap(true, false) {
		h.log.Info("response cache available again")
	}
}
