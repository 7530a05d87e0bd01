// Package gateway is the data plane: it compiles every served API into an immutable route
// table (internal/gateway/router) with an upstream pool per API
// (internal/gateway/upstream), swaps it atomically when the store reports a change, and
// proxies requests with the standard library's httputil.ReverseProxy, configured per API.
package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/router"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// Options configures a Gateway.
type Options struct {
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies of APIs that set no max_body_bytes; 0: no cap.
	MaxBodyBytes int64
	// Upstream configures the upstream pools (tests inject a transport here).
	Upstream upstream.Options
	// Policies are the known policy types (internal/policy/builtin); nil means none, and
	// an API that lists a policy then fails to compile.
	Policies policy.Registry
	// Services are what policies share across APIs and snapshots: the consumer directory,
	// limiter, quota counters and cache. Ctx in it is the node's lifetime.
	Services policy.Env
	// Realtime takes over GRIP responses and WebSockets of realtime APIs; nil: realtime
	// APIs are proxied like any other.
	Realtime Realtime
	// RealtimeWebSockets sends every WebSocket of a realtime API to Realtime (which
	// offers GRIP to the origin), not only websocket_over_http ones.
	RealtimeWebSockets bool
	// SigKey and SigIssuer sign Grip-Sig for realtime APIs that set none.
	SigKey, SigIssuer string
	// Recorder receives one analytics event per request; nil records nothing (and then
	// nothing is traced either).
	Recorder Recorder
	// Tracer traces requests (W3C traceparent to the upstream, spans exported when it
	// samples them); nil propagates trace context without exporting.
	Tracer *telemetry.Tracer
}

// Recorder takes analytics events; Record copies the event and must not block
// (analytics.Recorder).
type Recorder interface {
	Record(e *analytics.Event)
}

var _ http.Handler = (*Gateway)(nil)

// Gateway serves API traffic from the latest compiled snapshot.
type Gateway struct {
	log      *slog.Logger
	maxBody  int64
	pools    *upstream.Registry
	buffers  httputil.BufferPool
	policies policy.Registry
	services policy.Env
	realtime Realtime
	rec      Recorder
	tracer   *telemetry.Tracer
	wsGrip   bool
	// warnedKey holds the realtime APIs already warned about the default signing key:
	// once per process, not on every reload.
	warnedKey sync.Map
	sigKey    string
	sigIss    string

	loadMu  sync.Mutex // serialises loads, so snapshots are swapped in revision order
	snap    atomic.Pointer[Snapshot]
	loadErr atomic.Pointer[error] // last compile or load failure; nil once a load succeeds
}

// New returns a Gateway with no snapshot: it answers 503 until Load succeeds. Close
// releases its upstream pools.
func New(opts Options) *Gateway {
	g := &Gateway{log: opts.Logger, maxBody: opts.MaxBodyBytes, buffers: newBufferPool(), policies: opts.Policies, services: opts.Services,
		realtime: opts.Realtime, rec: opts.Recorder, tracer: opts.Tracer, wsGrip: opts.RealtimeWebSockets, sigKey: opts.SigKey, sigIss: opts.SigIssuer}
	if g.sigIss == "" {
		g.sigIss = "gatehouse"
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.services.Ctx == nil {
		g.services.Ctx = context.Background()
	}
	if g.services.Logger == nil {
		g.services.Logger = g.log
	}
	uo := opts.Upstream
	if uo.Logger == nil {
		uo.Logger = g.log
	}
	g.pools = upstream.NewRegistry(uo)
	return g
}

// Close stops health checks and closes idle upstream connections.
func (g *Gateway) Close() { g.pools.Close() }

// Snapshot returns the snapshot being served, or nil before the first load.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// Ready reports nil when a snapshot is serving and the latest load succeeded.
func (g *Gateway) Ready() error {
	s := g.snap.Load()
	if s == nil {
		return errors.New("no route table loaded yet")
	}
	if p := g.loadErr.Load(); p != nil {
		return fmt.Errorf("serving revision %d; the latest configuration failed: %w", s.Revision, *p)
	}
	return nil
}

// Status reports what the gateway serves, for the admin API.
func (g *Gateway) Status() *gatehouse.GatewayStatus {
	st := &gatehouse.GatewayStatus{APIs: []gatehouse.APIStatus{}}
	if s := g.snap.Load(); s != nil {
		st.Revision, st.LoadedAt, st.APIs = s.Revision, s.Compiled, s.status()
	}
	if p := g.loadErr.Load(); p != nil {
		st.Error = (*p).Error()
	}
	return st
}

// Load reads every API from st, compiles a snapshot and swaps it in. On failure the
// previous snapshot keeps serving and the error is reported by Ready and Status.
func (g *Gateway) Load(ctx context.Context, st gatehouse.Store) error {
	g.loadMu.Lock()
	defer g.loadMu.Unlock()
	err := g.load(ctx, st)
	if err != nil {
		g.loadErr.Store(&err)
		return err
	}
	g.loadErr.Store(nil)
	return nil
}

func (g *Gateway) load(ctx context.Context, st gatehouse.Store) error {
	rev, err := st.Revision(ctx)
	if err != nil {
		return fmt.Errorf("reading revision: %w", err)
	}
	var apis []*gatehouse.API
	f := gatehouse.APIFilter{ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}}
	for {
		page, err := st.APIs(ctx, f)
		if err != nil {
			return fmt.Errorf("listing apis: %w", err)
		}
		apis = append(apis, page.Items...)
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	var plans []*gatehouse.Plan
	pf := gatehouse.PlanFilter{ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}}
	for {
		page, err := st.Plans(ctx, pf)
		if err != nil {
			return fmt.Errorf("listing plans: %w", err)
		}
		plans = append(plans, page.Items...)
		if page.Next == "" {
			break
		}
		pf.After = page.Next
	}
	return g.Swap(rev, apis, plans...)
}

// Swap compiles apis (with the plans that grant them) as revision rev and serves them, or
// keeps the current snapshot and returns why not.
func (g *Gateway) Swap(rev int64, apis []*gatehouse.API, plans ...*gatehouse.Plan) error {
	s, err := g.compile(rev, apis, plans)
	if err != nil {
		return err
	}
	g.snap.Store(s)
	names := make([]string, 0, len(s.apis))
	for _, ar := range s.apis {
		names = append(names, ar.api.Name)
	}
	g.pools.Retain(names) // pools of removed or changed APIs close once nothing uses them
	g.log.Info("route table loaded", "revision", rev, "apis", len(s.apis))
	return nil
}

// Watch reloads the snapshot whenever st reports a change, until ctx ends. Bursts of
// changes coalesce into one reload; a failed load is retried with backoff.
func (g *Gateway) Watch(ctx context.Context, st gatehouse.Store) {
	changes := st.Subscribe(ctx)
	backoff := time.Second
	var retry <-chan time.Time
	// A write that landed between the caller's first Load and this subscription sent its
	// notice to nobody: catch up once now if the store has moved past what is served.
	if rev, err := st.Revision(ctx); err != nil || g.snap.Load() == nil || rev != g.snap.Load().Revision {
		now := make(chan time.Time, 1)
		now <- time.Now()
		retry = now
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			// Keys, apps and subscriptions do not change the route table: the consumer
			// directory follows those on its own.
			if !affectsRoutes(ch) && !drainRelevant(changes) {
				continue
			}
		case <-retry:
		}
		if err := g.Load(ctx, st); err != nil {
			if ctx.Err() != nil {
				return
			}
			g.log.Error("route table reload failed; still serving the previous one", "err", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		retry, backoff = nil, time.Second
	}
}

func affectsRoutes(ch gatehouse.Change) bool {
	return ch.Resync || ch.Kind == gatehouse.KindAPI || ch.Kind == gatehouse.KindPlan
}

// drainRelevant empties c and reports whether anything in it affects the route table.
func drainRelevant(c <-chan gatehouse.Change) bool {
	any := false
	for {
		select {
		case ch, ok := <-c:
			if !ok {
				return any
			}
			any = any || affectsRoutes(ch)
		default:
			return any
		}
	}
}

// ServeHTTP routes one request and, with a recorder, records it as an analytics event.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.rec == nil {
		g.serve(w, r, nil)
		return
	}
	st := statePool.Get().(*reqState)
	start := time.Now()
	st.rw = recWriter{ResponseWriter: w}
	ev := &st.ev
	ev.Time, ev.Method = start, r.Method
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &countingBody{ReadCloser: r.Body}
		r.Body = st.body
	}
	// The trace continues the client's (or starts one); traceparent goes upstream with the
	// request's headers, which the proxy copies.
	sp := g.tracer.StartAt(r, r.Header, start)
	g.serve(&st.rw, r, st)
	g.finishEvent(st, r, start)
	ev.TraceID = sp.TraceID()
	if sp.Recording() {
		sp.End(ev.Status, telemetry.String(telemetry.AttrAPI, ev.API), telemetry.String(telemetry.AttrRoute, ev.Route), telemetry.String(telemetry.AttrApp, ev.App))
	} else {
		sp.End(ev.Status)
	}
	g.rec.Record(ev)
	st.release()
}

// serve routes one request; st, when not nil, is the pooled state that records it.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, st *reqState) {
	s := g.snap.Load()
	if s == nil {
		problem.Write(w, http.StatusServiceUnavailable, "not_ready", "the gateway has not loaded its configuration yet")
		return
	}
	var m router.Match[*apiRoute]
	switch s.table.Lookup(r.Host, r.URL.Path, r.Method, &m) {
	case router.NotFound:
		detail := "no API is served at this host and path"
		if m.Value != nil {
			detail = m.Value.unrouted
		}
		problem.Write(w, http.StatusNotFound, "no_route", detail)
		return
	case router.MethodNotAllowed:
		w.Header().Set("Allow", m.Allow)
		problem.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", m.Value.unrouted)
		return
	}
	ar := m.Value
	if st != nil {
		st.ev.API = ar.api.Name
	}
	if ar.retired != "" {
		problem.Write(w, http.StatusGone, "api_retired", ar.retired)
		return
	}
	h := w.Header()
	if ar.deprecation != "" {
		h.Set("Deprecation", ar.deprecation)
		if ar.sunset != "" {
			h.Set("Sunset", ar.sunset)
		}
	}
	if ar.maxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > ar.maxBody {
			problem.Write(w, http.StatusRequestEntityTooLarge, gatehouse.ETooLarge, fmt.Sprintf("the request body exceeds %d bytes", ar.maxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, ar.maxBody) // a streamed body is cut at the limit
	}
	// Both headers' values in one array, each capped at its length (see rewrite).
	ids := make([]string, 2)
	ids[0] = r.Header.Get("X-Request-Id")
	if ids[0] == "" || len(ids[0]) > 200 {
		ids[0] = newRequestID()
		r.Header["X-Request-Id"] = ids[0:1:1]
	}
	ids[1] = ids[0]
	h["X-Request-Id"] = ids[1:2:2]
	if isUpgrade(r) {
		w = upgradeWriter{w}
	}
	chain := ar.chain
	route := ""
	if m.Route >= 0 && m.Route < len(ar.routes) {
		rc := &ar.routes[m.Route]
		route = rc.name
		if rc.chain != nil {
			chain = rc.chain
		}
	}
	if st != nil {
		st.ev.Route = route
		st.rw.proxied = true // until a policy answers itself
	}
	if chain == nil {
		if ar.rt != nil {
			g.serveRealtime(ar, w, r, "")
			return
		}
		ar.proxy.ServeHTTP(w, r)
		return
	}
	own := st == nil
	if own {
		st = statePool.Get().(*reqState)
	}
	st.m = m
	c := &st.c
	c.Reset(w, r)
	c.API, c.Route, c.Params = ar.api.Name, route, &st.m.Params
	if err := chain.Serve(c); err != nil {
		policy.Render(c, err)
	}
	if own {
		st.release()
		return
	}
	// The event reads the identity and outcome after the chain; release clears them.
	id2 := &c.Identity
	st.ev.App, st.ev.Developer, st.ev.KeyID, st.ev.Plan = id2.App, id2.Developer, id2.KeyID, id2.Plan
	st.ev.Cache = c.Cache
	if c.Rejected != nil {
		st.ev.RejectedBy, st.ev.RejectCode = c.Rejected.Policy, c.Rejected.Code
		st.rw.proxied = false
	}
	if c.Cache == "HIT" {
		st.rw.proxied = false
	}
}

// reqState is what a request needs beyond the stack: pooled, so that the policy Context,
// the match it points into and the analytics event cost no allocation.
type reqState struct {
	c    policy.Context
	m    router.Match[*apiRoute]
	rw   recWriter
	body *countingBody // nil without a request body
	ev   analytics.Event
}

func (st *reqState) release() {
	st.c.Reset(nil, nil)
	st.m = router.Match[*apiRoute]{}
	st.rw = recWriter{}
	st.body = nil
	st.ev = analytics.Event{}
	statePool.Put(st)
}

// finishEvent completes st.ev once the request is answered.
func (g *Gateway) finishEvent(st *reqState, r *http.Request, start time.Time) {
	ev, rw := &st.ev, &st.rw
	now := time.Now()
	ev.Latency = now.Sub(start)
	ev.Status = rw.status
	if ev.Status == 0 {
		// Nothing went through the writer: the connection was hijacked (a WebSocket, a
		// held realtime stream) or the handler wrote nothing, which net/http sends as 200.
		ev.Status = http.StatusOK
		if isUpgrade(r) {
			ev.Status = http.StatusSwitchingProtocols
		}
	}
	if rw.proxied && !rw.headerAt.IsZero() {
		ev.UpstreamLatency = rw.headerAt.Sub(start)
	}
	ev.BytesOut = rw.bytes
	if st.body != nil {
		ev.BytesIn = st.body.n.Load()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.ClientIP = host
	} else {
		ev.ClientIP = r.RemoteAddr
	}
	ev.UserAgent = r.Header.Get("User-Agent")
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// rewrite shapes the outgoing request. The pool sets scheme, host and the target's base
// path per attempt (a retry may go elsewhere), so only what is the same for every target
// is done here.
func (ar *apiRoute) rewrite(pr *httputil.ProxyRequest) {
	if ar.strip {
		p := strings.TrimPrefix(pr.In.URL.Path, ar.prefix)
		if p == "" || p[0] != '/' {
			p = "/" + p
		}
		pr.Out.URL.Path = p
		pr.Out.URL.RawPath = ""
		if raw := pr.In.URL.RawPath; raw != "" {
			if rp := strings.TrimPrefix(raw, ar.prefix); rp != raw {
				if rp == "" || rp[0] != '/' {
					rp = "/" + rp
				}
				pr.Out.URL.RawPath = rp
			}
		}
	}
	// What ProxyRequest.SetXForwarded sets (ReverseProxy has removed the client's
	// X-Forwarded-* and Forwarded before Rewrite), plus Forwarded and Via. The values
	// share one backing array, each slice capped at its length so that a later Add gets
	// its own, and the keys are canonical already: this runs on every request.
	in, out := pr.In, pr.Out.Header
	host, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		host = in.RemoteAddr
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	vals := make([]string, 5)
	vals[0], vals[1], vals[2], vals[3], vals[4] = host, in.Host, proto, forwarded(host, in.Host, proto), via(in)
	if err == nil {
		out["X-Forwarded-For"] = vals[0:1:1]
	}
	out["X-Forwarded-Host"] = vals[1:2:2]
	out["X-Forwarded-Proto"] = vals[2:3:3]
	out["Forwarded"] = vals[3:4:4]
	// The client's 100-continue is this gateway's to answer, and it does (its server sends
	// the 100 when the body is first read, after the policies passed), as Envoy does by
	// default. Not forwarding it keeps such requests (curl's uploads over 1 MiB) on the
	// lean upstream transport, whose early-response handling relays an upstream's 413 to
	// an upload it refuses; net/http's Transport could turn that into a 502.
	delete(out, "Expect")
	if prior := out["Via"]; len(prior) > 0 {
		out["Via"] = append(prior, vals[4])
	} else {
		out["Via"] = vals[4:5:5]
	}
}

// forwarded renders RFC 7239's Forwarded for this hop: the client's address, the Host
// it asked for and the protocol. Earlier hops' values are not kept: like
// X-Forwarded-For's, they are client-supplied until trusted proxies are configured.
func forwarded(client, host, proto string) string {
	node := client
	if strings.Contains(client, ":") {
		node = `"[` + client + `]"` // IPv6 must be bracketed and quoted
	}
	return "for=" + node + ";host=" + quoteForwarded(host) + ";proto=" + proto
}

// quoteForwarded makes v a token or a quoted-string. It runs per request, and a Host
// with a port always needs quotes, so the common case is one concatenation.
func quoteForwarded(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			if strings.ContainsAny(v, `"\`) {
				v = strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`)
			}
			return `"` + v + `"`
		}
	}
	return v
}

// via is the Via entry this gateway adds (RFC 9110 §7.6.3), naming the protocol it received.
func via(in *http.Request) string {
	switch in.ProtoMajor {
	case 2:
		return "2 gatehouse"
	case 3:
		return "3 gatehouse"
	}
	return "1.1 gatehouse"
}

// addVia appends this hop to the response's Via, after the upstream's own.
func addVia(resp *http.Response) error {
	resp.Header["Via"] = append(resp.Header["Via"], via(resp.Request))
	return nil
}

// proxyError renders a failed proxy attempt once, as a problem document.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error, api string) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		problem.Write(w, http.StatusRequestEntityTooLarge, gatehouse.ETooLarge, fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit))
	case errors.Is(err, upstream.ErrNoHealthyUpstream):
		g.log.Warn("no healthy upstream", "api", api)
		problem.Write(w, http.StatusServiceUnavailable, "no_healthy_upstream", fmt.Sprintf("API %q has no healthy upstream target", api))
	case r.Context().Err() != nil:
		// The client went away; nobody is listening for an error. 499 is nginx's habit
		// for the access log; the status never reaches the client.
		w.WriteHeader(499)
	case upstream.IsTimeout(err):
		g.log.Warn("upstream timeout", "api", api, "err", err)
		problem.Write(w, http.StatusGatewayTimeout, "upstream_timeout", "the upstream did not answer in time")
	default:
		g.log.Warn("upstream unavailable", "api", api, "err", err)
		problem.Write(w, http.StatusBadGateway, "upstream_unavailable", "the upstream could not be reached")
	}
}

// newRequestID returns 128 random bits in hex. math/rand/v2's generator is ChaCha8 seeded
// by the OS and kept per thread: unique enough for tracing, without a syscall per request.
func newRequestID() string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], rand.Uint64())
	binary.BigEndian.PutUint64(raw[8:], rand.Uint64())
	var b [32]byte
	hex.Encode(b[:], raw[:])
	return string(b[:])
}

// bufferPool recycles ReverseProxy's copy buffers. It pools array pointers so that Put
// converts the slice back without allocating a new slice header each time.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(p []byte) {
	if cap(p) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(p[:copyBufferSize]))
	}
}
