package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// ErrNoHealthyUpstream is wrapped by RoundTrip's error when no target is available: all
// are out of rotation, marked down or ejected. The gateway answers 503 no_healthy_upstream.
var ErrNoHealthyUpstream = errors.New("no healthy upstream target")

var errBadTargetURL = errors.New("want an absolute http or https URL")

// IsTimeout reports whether err is a timeout (response headers, dial, or the request's
// deadline), which the gateway renders as 504 upstream_timeout.
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Options configures pools.
type Options struct {
	Logger *slog.Logger
	// Now replaces time.Now for breaker ejections and the retry budget's window.
	Now func() time.Time
	// Transport replaces the tuned *http.Transport for proxied requests and health checks.
	// Tests use an in-memory one inside testing/synctest bubbles, which cannot do real
	// network I/O. TLS files are still loaded and checked, but not used.
	Transport http.RoundTripper
}

// Pool is one API's upstream: an http.RoundTripper that balances requests over targets,
// tracks their health and retries failed attempts. It is safe for concurrent use.
//
// Locks: Pool.mu (round-robin state), target.mu (breaker transitions), Pool.life
// (Start/Close) and retryBudget.mu are leaves: none is held while taking another.
type Pool struct {
	name       string
	cfg        settings
	log        *slog.Logger
	now        func() time.Time
	targets    []*target // in configuration order, weight 0 included
	live       []*target // weight > 0; a target's idx is its position here
	ring       []ringPoint
	hashHeader string // canonical header name for hash_on "header:<Name>"
	transport  http.RoundTripper
	release    func() // gives the transport back to its cache
	budget     *retryBudget

	mu sync.Mutex // guards rr
	// rr is the smooth round-robin state of each live target, contiguous so that a pick
	// touches one or two cache lines rather than one per target.
	rr []int

	life    sync.Mutex // guards started, closed and cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	checks  sync.WaitGroup // active health checkers
}

var _ http.RoundTripper = (*Pool)(nil)

// NewPool builds the pool of the API name. Its errors name what is wrong: a target URL,
// an unknown balancing or hash_on, a TLS file that cannot be read or parsed.
func NewPool(name string, cfg gatehouse.Upstream, opts Options) (*Pool, error) {
	s, tc, err := resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream of api %q: %w", name, err)
	}
	return newPool(name, s, tc, opts, &transportCache{})
}

func newPool(name string, s settings, tc *tls.Config, opts Options, cache *transportCache) (*Pool, error) {
	p := &Pool{name: name, cfg: s, log: opts.Logger, now: opts.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("api", name)
	if p.now == nil {
		p.now = time.Now
	}
	for _, ts := range s.targets {
		t, err := newTarget(ts, s.health.path)
		if err != nil {
			return nil, fmt.Errorf("upstream of api %q: target %q: %w", name, ts.url, err)
		}
		p.targets = append(p.targets, t)
		if t.weight > 0 {
			t.idx = len(p.live)
			p.live = append(p.live, t)
		}
	}
	p.rr = make([]int, len(p.live))
	if s.balancing == gatehouse.BalanceHash {
		p.ring = buildRing(p.live)
		if h, ok := strings.CutPrefix(s.hashOn, "header:"); ok {
			p.hashHeader = textproto.CanonicalMIMEHeaderKey(h)
		}
	}
	if s.retries > 0 {
		p.budget = &retryBudget{percent: s.budget, now: p.now}
	}
	if opts.Transport != nil {
		p.transport, p.release = opts.Transport, func() {}
	} else {
		p.transport, p.release = cache.get(transportKey{tls: s.tls, connect: s.connect, response: s.response}, tc)
	}
	return p, nil
}

// RoundTrip sends req to a target, retrying as the package documentation describes. The
// response body must be closed, as always; closing it ends the request's in-flight count.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.budget != nil {
		p.budget.deposit()
	}
	var tried set
	t, probe := p.pick(req, &tried)
	if t == nil {
		return nil, fmt.Errorf("upstream of api %q: %w", p.name, ErrNoHealthyUpstream)
	}
	retryable := p.cfg.retries > 0 && replayable(req)
	for attempt := 0; ; attempt++ {
		resp, a, err := p.send(req, t, attempt)
		o := p.classify(req, resp, err)
		p.record(t, probe, o)
		tried.add(t.idx)
		if o != failure || !retryable || attempt >= p.cfg.retries || req.Context().Err() != nil ||
			(err != nil && !retriableErr(req.Method, err)) {
			return p.finish(t, a, resp, err)
		}
		// A different target if there is one; the same one rather than none.
		next, nextProbe := p.pick(req, &tried)
		if next == nil {
			next, nextProbe = p.pick(req, &set{})
		}
		if next == nil {
			return p.finish(t, a, resp, err)
		}
		if !p.budget.spend() {
			next.abandon(nextProbe)
			p.log.Debug("retry budget exhausted", "target", t.raw)
			return p.finish(t, a, resp, err)
		}
		if resp != nil {
			discard(resp)
		}
		t.inflight.Add(-1)
		p.log.Debug("retrying upstream request", "target", t.raw, "next", next.raw, "attempt", attempt+1, "status", statusOf(resp), "err", err)
		t, probe = next, nextProbe
	}
}

// attempt is what one try needs beyond the transport's own, in one allocation: the
// request sent to the target, its URL, and the body wrapper that ends the try's
// in-flight count.
type attempt struct {
	req  http.Request
	url  url.URL
	body body
}

// send points a shallow copy of req at t: RoundTrippers must not modify their request,
// and ReverseProxy's outgoing request is reused across attempts.
func (p *Pool) send(req *http.Request, t *target, n int) (*http.Response, *attempt, error) {
	a := new(attempt)
	out, u := &a.req, &a.url
	*out = *req
	*u = *req.URL
	out.URL = u
	u.Scheme, u.Host = t.url.Scheme, t.url.Host
	if t.joinPath {
		u.Path, u.RawPath = joinURLPath(t.url, req.URL)
	}
	if !p.cfg.preserveHost {
		out.Host = t.url.Host
	}
	if n > 0 && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, nil, err
		}
		out.Body = b
	}
	resp, err := p.transport.RoundTrip(out)
	return resp, a, err
}

// classify turns an attempt's result into what it says about the target.
func (p *Pool) classify(req *http.Request, resp *http.Response, err error) outcome {
	if err != nil {
		if errors.Is(req.Context().Err(), context.Canceled) {
			return neutral
		}
		return failure
	}
	if p.cfg.statuses.has(resp.StatusCode) {
		return failure
	}
	return success
}

// finish hands the attempt's result to the caller, tying t's in-flight slot to the body.
func (p *Pool) finish(t *target, a *attempt, resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		t.inflight.Add(-1)
		return nil, fmt.Errorf("upstream of api %q: target %s: %w", p.name, t.raw, err)
	}
	if resp.Body == nil {
		t.inflight.Add(-1)
		return resp, nil
	}
	b := &a.body
	b.ReadCloser, b.t = resp.Body, t
	if w, ok := resp.Body.(io.Writer); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = rwBody{body: b, w: w}
	} else {
		resp.Body = b
	}
	return resp, nil
}

// replayable reports whether req may be sent again: an idempotent method, and a body that
// is empty or can be produced afresh.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retriableErr reports whether an idempotent request that failed with err may be retried.
// A timeout after the request left may mean the upstream is still working on it, so only
// reads are retried then; a failed dial means it never left.
func retriableErr(method string, err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	if IsTimeout(err) {
		return method == http.MethodGet || method == http.MethodHead
	}
	return true
}

// discard drains a small response so its connection can be reused, and closes it.
func discard(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= 4<<10 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	}
	resp.Body.Close()
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// TargetStatus is the domain's view of one target (gatehouse.TargetStatus).
type TargetStatus = gatehouse.TargetStatus

// Targets reports every target, in configuration order.
func (p *Pool) Targets() []TargetStatus {
	now := p.now()
	out := make([]TargetStatus, 0, len(p.targets))
	for _, t := range p.targets {
		s := TargetStatus{
			URL:                 t.raw,
			Weight:              t.weight,
			Healthy:             !t.down.Load(),
			Breaker:             "closed",
			InFlight:            t.inflight.Load(),
			ConsecutiveFailures: t.failures.Load(),
		}
		if until := t.ejectedUntil.Load(); until != 0 {
			s.EjectedUntil = time.Unix(0, until)
			s.Breaker = "open"
			if now.UnixNano() >= until {
				s.Breaker = "half_open"
			}
		}
		s.Available = t.weight > 0 && s.Healthy && (s.Breaker == "closed" || s.Breaker == "half_open" && !t.probing.Load())
		out = append(out, s)
	}
	return out
}

// Start runs the active health checks, if configured, until ctx ends or Close. Calling it
// again, or after Close, does nothing.
func (p *Pool) Start(ctx context.Context) {
	p.life.Lock()
	defer p.life.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	if p.cfg.health.path == "" || len(p.live) == 0 {
		return
	}
	ctx, p.cancel = context.WithCancel(ctx)
	for _, t := range p.live {
		p.checks.Go(func() { p.check(ctx, t) })
	}
}

// Close stops the health checks, waits for them to return and gives the transport back.
// Requests still reaching the pool (from a route table being swapped out) are served.
func (p *Pool) Close() {
	p.life.Lock()
	if p.closed {
		p.life.Unlock()
		return
	}
	p.closed = true
	cancel := p.cancel
	p.life.Unlock()
	if cancel != nil {
		cancel()
	}
	p.checks.Wait()
	p.release()
}
