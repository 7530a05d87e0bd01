package upstream

import (
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one upstream server and everything the pool knows about it. The pick path
// reads only atomics (and, for round-robin, Pool.rr under Pool.mu); the breaker's writers
// serialise on mu.
type target struct {
	raw       string // the configured URL, for logs and Targets
	url       *url.URL
	joinPath  bool   // the URL has a base path that prefixes every request path
	healthURL string // scheme://host + the health check path
	weight    int
	idx       int // bit in a set and index in Pool.rr: position among live targets; -1 at weight 0

	// Read on every pick, written only on health transitions.
	down         atomic.Bool  // marked down by the active checker
	ejectedUntil atomic.Int64 // passive breaker: unix nanoseconds; 0 while closed
	probing      atomic.Bool  // the half-open probe is in flight
	failures     atomic.Int64 // consecutive passive failures

	mu        sync.Mutex // serialises breaker transitions
	ejections int        // consecutive ejections, for the growing ejection; guarded by mu

	// Written by every request: on its own cache line, so that counting in-flight requests
	// on one core does not evict the fields above from the others.
	_        [64]byte
	inflight atomic.Int64
	_        [56]byte
}

func newTarget(ts targetSettings, healthPath string) (*target, error) {
	u, err := url.Parse(ts.url)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errBadTargetURL
	}
	t := &target{raw: ts.url, url: u, weight: ts.weight, idx: -1}
	t.joinPath = u.Path != "" && u.Path != "/"
	t.healthURL = u.Scheme + "://" + u.Host + healthPath
	return t, nil
}

// clock reads the time at most once per pick, and only when a breaker needs it.
type clock struct {
	now func() time.Time
	ns  int64
}

func (c *clock) get() int64 {
	if c.ns == 0 {
		c.ns = c.now().UnixNano()
	}
	return c.ns
}

// usable reports whether t may take a request now; probe is set when the request would be
// the breaker's half-open probe, which the caller must claim before using it.
func (t *target) usable(c *clock) (ok, probe bool) {
	if t.down.Load() {
		return false, false
	}
	until := t.ejectedUntil.Load()
	if until == 0 {
		return true, false
	}
	if t.probing.Load() || c.get() < until {
		return false, false
	}
	return true, true
}

// claimProbe makes this request the one half-open probe. It fails when another request
// claimed it first or a concurrent probe re-ejected the target; when the breaker closed
// meanwhile, the request goes through as ordinary traffic (isProbe false).
func (t *target) claimProbe(c *clock) (ok, isProbe bool) {
	if !t.probing.CompareAndSwap(false, true) {
		return false, false
	}
	switch until := t.ejectedUntil.Load(); {
	case until == 0:
		t.probing.Store(false)
		return true, false
	case c.get() < until:
		t.probing.Store(false)
		return false, false
	}
	return true, true
}

// abandon gives back a target that was picked but not used.
func (t *target) abandon(probe bool) {
	t.inflight.Add(-1)
	if probe {
		t.probing.Store(false)
	}
}

// outcome is what an attempt says about its target.
type outcome uint8

const (
	neutral outcome = iota // the client went away: nothing learned about the target
	success
	failure
)

// record feeds an attempt's outcome to t's breaker. Transitions are logged after the lock
// is released, so a slow log handler never holds up other requests' results.
func (p *Pool) record(t *target, probe bool, o outcome) {
	if o == neutral && !probe {
		return
	}
	if o == success && !probe {
		// The common case takes no lock.
		if t.failures.Load() != 0 && t.ejectedUntil.Load() == 0 {
			t.failures.Store(0)
		}
		return
	}
	var ejected time.Duration
	t.mu.Lock()
	switch {
	case !probe:
		// Failures of requests sent before the breaker opened say nothing new.
		if t.ejectedUntil.Load() == 0 && t.failures.Add(1) >= int64(p.cfg.failures) {
			t.ejections = 1
			ejected = p.cfg.ejection
			t.ejectedUntil.Store(p.now().Add(ejected).UnixNano())
		}
	case o == success:
		t.ejections = 0
		t.failures.Store(0)
		t.ejectedUntil.Store(0)
	case o == failure:
		t.ejections++
		ejected = p.ejectionFor(t.ejections)
		t.ejectedUntil.Store(p.now().Add(ejected).UnixNano())
	}
	if probe {
		t.probing.Store(false) // after ejectedUntil, so no second probe slips in between
	}
	n := t.ejections
	t.mu.Unlock()
	switch {
	case ejected > 0 && n == 1:
		p.log.Warn("upstream target ejected", "target", t.raw, "failures", p.cfg.failures, "for", ejected)
	case ejected > 0:
		p.log.Warn("upstream target ejected again after a failed probe", "target", t.raw, "ejections", n, "for", ejected)
	case probe && o == success:
		p.log.Info("upstream target restored", "target", t.raw)
	}
}

// ejectionFor doubles the ejection for each consecutive failed probe, up to 10 times the
// configured one: a target that keeps failing is tried less and less often, one that had
// a blip is back soon.
func (p *Pool) ejectionFor(n int) time.Duration {
	base := p.cfg.ejection
	limit := 10 * base
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// body gives a target's in-flight slot back when ReverseProxy closes the response body,
// so that least_conn counts streams for as long as they last.
type body struct {
	io.ReadCloser
	t    *target
	done atomic.Bool
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.t.inflight.Add(-1)
	}
	return err
}

// rwBody keeps a 101 Switching Protocols body writable: ReverseProxy needs an
// io.ReadWriteCloser to relay an upgraded connection.
type rwBody struct {
	*body
	w io.Writer
}

func (b rwBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// joinURLPath joins the target's base path and the request path, keeping RawPath
// consistent, as httputil.ProxyRequest.SetURL does.
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath, bpath := a.EscapedPath(), b.EscapedPath()
	aslash, bslash := strings.HasSuffix(apath, "/"), strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}
