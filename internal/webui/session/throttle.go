package session

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Throttle slows down password guessing: after Max attempts for a key within Window, the
// key is refused until Window has passed since its first attempt. Callers key it by
// account and by client address, so one attacker cannot lock out a victim from elsewhere
// for longer than a window and cannot spray accounts from one address.
//
// It is per node; with several nodes an attacker gets Max tries per node per window,
// which is still far too few to guess a password.
type Throttle struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

// maxThrottleKeys bounds memory under a flood of distinct keys.
const maxThrottleKeys = 100_000

// NewThrottle returns a Throttle of max failures per window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{Max: max, Window: window, Now: time.Now, m: map[string]*failures{}}
}

// Begin counts an attempt for key before it is checked, and returns how long key must
// wait instead (counting nothing) when it has used its tries. Counting first matters:
// a password check takes tens of milliseconds, and attempts sent in parallel would all
// pass a check made before any of them failed. Call Reset after a success.
func (t *Throttle) Begin(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	f := t.m[key]
	if f == nil || !now.Before(f.first.Add(t.Window)) {
		if len(t.m) >= maxThrottleKeys {
			t.sweep(now)
		}
		t.m[key] = &failures{n: 1, first: now}
		return 0
	}
	if f.n >= t.Max {
		return f.first.Add(t.Window).Sub(now)
	}
	f.n++
	return 0
}

// Undo takes back one attempt counted by Begin that succeeded, so that sign-ins that
// work do not use up a shared key's (an address's) allowance.
func (t *Throttle) Undo(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.m[key]; f != nil && f.n > 0 {
		f.n--
	}
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

func (t *Throttle) sweep(now time.Time) {
	for k, f := range t.m {
		if !now.Before(f.first.Add(t.Window)) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxThrottleKeys {
		// A flood of live keys: drop the ones with the fewest failures rather than grow
		// without bound, keeping the lockouts.
		for k, f := range t.m {
			if f.n < t.Max {
				delete(t.m, k)
			}
		}
	}
}

// ClientKey is the part of the request's client address that throttling counts by: the
// connection's peer (forwarded headers are not trusted: anyone can send them), the
// address for IPv4 and its /64 network for IPv6 (one subscriber usually holds a whole
// /64).
func ClientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return addrKey(host)
}

func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is4() || a.Is4In6() {
		return a.Unmap().String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// Gate bounds how many password hashes run at once: each takes 19 MiB, so a burst of
// sign-ins could otherwise exhaust memory (and the portal shares its process with the
// gateway).
type Gate struct{ c chan struct{} }

// NewGate returns a Gate of n slots.
func NewGate(n int) *Gate { return &Gate{c: make(chan struct{}, max(n, 1))} }

// Enter takes a slot, waiting up to wait; false means the node is too busy.
func (g *Gate) Enter(wait time.Duration) bool {
	select {
	case g.c <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.c <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// Leave gives the slot back.
func (g *Gate) Leave() { <-g.c }

// LocalPath reports whether next may be the target of a redirect after signing in: a path
// on this site. Browsers drop tabs and newlines from URLs and read '\\' as '/', so
// "/\t/evil" and "/\\evil" would leave the site; so would anything with a scheme or host.
func LocalPath(next string) bool {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.ContainsAny(next, "\\\t\r\n") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && !strings.HasPrefix(u.Path, "//")
}
