// Package gateway is the data plane: it compiles every served API into an immutable route
// table, swaps it atomically when the store reports a change, and proxies requests to the
// upstream targets with the standard library's httputil.ReverseProxy.
package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// Options configures a Gateway.
type Options struct {
	Logger *slog.Logger
	// Transport carries requests upstream; nil means a tuned clone of the default.
	Transport http.RoundTripper
	// MaxBodyBytes caps request bodies of APIs that set no max_body_bytes; 0: no cap.
	MaxBodyBytes int64
}

// Gateway serves API traffic from the latest compiled snapshot.
type Gateway struct {
	log     *slog.Logger
	maxBody int64
	snap    atomic.Pointer[Snapshot]
	loadErr atomic.Pointer[error] // last compile or load failure; nil once a load succeeds
	proxy   *httputil.ReverseProxy
}

// New returns a Gateway with no snapshot: it answers 503 until Load succeeds.
func New(opts Options) *Gateway {
	g := &Gateway{log: opts.Logger, maxBody: opts.MaxBodyBytes}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	tr := opts.Transport
	if tr == nil {
		tr = newTransport()
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    tr,
		BufferPool:   newBufferPool(),
		ErrorHandler: g.proxyError,
		// Responses stream as they arrive; ReverseProxy flushes event streams itself.
		FlushInterval: 0,
	}
	return g
}

// newTransport tunes the pool for a proxy: the stdlib keeps only 2 idle connections per
// host, which makes a busy gateway redial constantly.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	// The client's Accept-Encoding is forwarded as is; the transport must not add its own
	// and transparently decompress, or the client would get a body it did not ask for.
	t.DisableCompression = true
	return t
}

// Snapshot returns the snapshot being served, or nil before the first load.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// Ready reports nil when a snapshot is serving and the latest load succeeded.
func (g *Gateway) Ready() error {
	if g.snap.Load() == nil {
		return errors.New("no route table loaded yet")
	}
	if p := g.loadErr.Load(); p != nil {
		return fmt.Errorf("serving revision %d; latest configuration failed: %w", g.snap.Load().Revision, *p)
	}
	return nil
}

// Load reads every API from st, compiles a snapshot and swaps it in. On failure the
// previous snapshot keeps serving and the error is reported by Ready.
func (g *Gateway) Load(ctx context.Context, st gatehouse.Store) error {
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
	s, err := Compile(rev, apis)
	if err != nil {
		return err
	}
	g.snap.Store(s)
	g.log.Info("route table loaded", "revision", rev, "apis", len(apis))
	return nil
}

// Watch reloads the snapshot whenever st reports a change, until ctx ends. Bursts of
// changes coalesce into one reload; a failed load is retried with backoff.
func (g *Gateway) Watch(ctx context.Context, st gatehouse.Store) {
	changes := st.Subscribe(ctx)
	backoff := time.Second
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
			drain(changes)
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

func drain(c <-chan gatehouse.Change) {
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

type ctxKey struct{}

// hop is what the handler decided, carried to the proxy's Rewrite.
type hop struct {
	route  *route
	target *target
}

// ServeHTTP routes one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := g.snap.Load()
	if s == nil {
		problem.Write(w, http.StatusServiceUnavailable, "not_ready", "the gateway has not loaded its configuration yet")
		return
	}
	rt := s.match(hostOf(r.Host), r.URL.Path)
	if rt == nil {
		problem.Write(w, http.StatusNotFound, "no_route", "no API is served at this host and path")
		return
	}
	switch rt.api.State {
	case gatehouse.StateRetired:
		problem.Write(w, http.StatusGone, "api_retired", fmt.Sprintf("API %q is retired", rt.api.Name))
		return
	case gatehouse.StateDeprecated:
		// RFC 9745: the date the API was deprecated, as a structured-field date.
		w.Header().Set("Deprecation", "@"+strconv.FormatInt(rt.api.UpdatedAt.Unix(), 10))
		if rt.sunset != "" {
			w.Header().Set("Sunset", rt.sunset) // RFC 8594
		}
	}
	t := rt.pick()
	if t == nil {
		problem.Write(w, http.StatusServiceUnavailable, "no_healthy_upstream", fmt.Sprintf("API %q has no upstream target in rotation", rt.api.Name))
		return
	}
	if limit := cmp.Or(rt.api.MaxBodyBytes, g.maxBody); limit > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > limit {
			problem.Write(w, http.StatusRequestEntityTooLarge, gatehouse.ETooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit) // a streamed body is cut at the limit
	}
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", newRequestID())
	}
	w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
	ctx := r.Context()
	if d := rt.api.Upstream.ResponseTimeout.D(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if isUpgrade(r) {
		w = upgradeWriter{w}
	}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, hop{rt, t})))
}

func rewrite(pr *httputil.ProxyRequest) {
	h := pr.In.Context().Value(ctxKey{}).(hop)
	if h.route.api.StripPath && h.route.prefix != "/" {
		p := strings.TrimPrefix(pr.In.URL.Path, h.route.prefix)
		if p == "" {
			p = "/"
		}
		pr.Out.URL.Path = p
		pr.Out.URL.RawPath = ""
		if raw := pr.In.URL.RawPath; raw != "" {
			pr.Out.URL.RawPath = strings.TrimPrefix(raw, h.route.prefix)
			if pr.Out.URL.RawPath == "" {
				pr.Out.URL.RawPath = "/"
			}
		}
	}
	pr.SetURL(h.target.url)
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Request-Id", pr.In.Header.Get("X-Request-Id"))
}

func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	h, _ := r.Context().Value(ctxKey{}).(hop)
	name := ""
	if h.route != nil {
		name = h.route.api.Name
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		problem.Write(w, http.StatusRequestEntityTooLarge, gatehouse.ETooLarge, fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit))
		return
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		g.log.Warn("upstream timeout", "api", name, "err", err)
		problem.Write(w, http.StatusGatewayTimeout, "upstream_timeout", "the upstream did not answer in time")
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody is listening for an error
	}
	g.log.Warn("upstream unavailable", "api", name, "err", err)
	problem.Write(w, http.StatusBadGateway, "upstream_unavailable", "the upstream could not be reached")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hostOf(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }
