package gateway

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Snapshot is an immutable, compiled route table. A request reads one snapshot from start
// to end, so it never sees half a configuration; a new configuration is a new snapshot.
type Snapshot struct {
	Revision int64
	Compiled time.Time
	exact    map[string][]*route // host → routes, longest prefix first
	wildcard []hostRoutes        // "*.example.com" buckets, longest suffix first
	anyHost  []*route            // APIs without hosts
}

type hostRoutes struct {
	suffix string // ".example.com"
	routes []*route
}

// route is one served API, compiled.
type route struct {
	api     *gatehouse.API
	prefix  string
	targets []*target
	total   int           // sum of weights
	next    atomic.Uint64 // round-robin position
	sunset  string        // preformatted Sunset header for deprecated APIs
}

type target struct {
	url    *url.URL
	weight int
}

// Compile builds a snapshot from every API. Drafts are skipped; retired APIs stay in the
// table so that their clients get 410 rather than 404.
func Compile(revision int64, apis []*gatehouse.API) (*Snapshot, error) {
	s := &Snapshot{Revision: revision, Compiled: time.Now(), exact: map[string][]*route{}}
	wild := map[string][]*route{}
	for _, a := range apis {
		if a.State == gatehouse.StateDraft {
			continue
		}
		r, err := compileRoute(a)
		if err != nil {
			return nil, fmt.Errorf("compiling api %q: %w", a.Name, err)
		}
		if len(a.Hosts) == 0 {
			s.anyHost = append(s.anyHost, r)
		}
		for _, h := range a.Hosts {
			if strings.HasPrefix(h, "*.") {
				wild[h[1:]] = append(wild[h[1:]], r)
			} else {
				s.exact[h] = append(s.exact[h], r)
			}
		}
	}
	for suffix, rs := range wild {
		s.wildcard = append(s.wildcard, hostRoutes{suffix: suffix, routes: rs})
	}
	sort.Slice(s.wildcard, func(i, j int) bool { return len(s.wildcard[i].suffix) > len(s.wildcard[j].suffix) })
	if err := sortRoutes(s.anyHost); err != nil {
		return nil, err
	}
	for _, rs := range s.exact {
		if err := sortRoutes(rs); err != nil {
			return nil, err
		}
	}
	for _, hr := range s.wildcard {
		if err := sortRoutes(hr.routes); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func compileRoute(a *gatehouse.API) (*route, error) {
	r := &route{api: a, prefix: a.Path}
	for _, t := range a.Upstream.Targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", t.URL, err)
		}
		w := gatehouse.DefaultWeight
		if t.Weight != nil {
			w = *t.Weight
		}
		if w == 0 {
			continue
		}
		r.targets = append(r.targets, &target{url: u, weight: w})
		r.total += w
	}
	// Divide by the common factor so equal weights alternate instead of running in blocks.
	g := 0
	for _, t := range r.targets {
		g = gcd(g, t.weight)
	}
	if g > 1 {
		for _, t := range r.targets {
			t.weight /= g
		}
		r.total /= g
	}
	if a.State == gatehouse.StateDeprecated && a.Sunset != nil {
		r.sunset = a.Sunset.UTC().Format(time.RFC1123)
	}
	return r, nil
}

// sortRoutes orders by longest prefix first and rejects two APIs claiming the same
// host and prefix: that is a configuration error, not a coin toss.
func sortRoutes(rs []*route) error {
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	for i := 1; i < len(rs); i++ {
		if rs[i].prefix == rs[i-1].prefix {
			return fmt.Errorf("apis %q and %q both claim path %q on the same host", rs[i-1].api.Name, rs[i].api.Name, rs[i].prefix)
		}
	}
	return nil
}

// match finds the route for host (lower case, no port) and path.
func (s *Snapshot) match(host, path string) *route {
	if rs, ok := s.exact[host]; ok {
		if r := matchPrefix(rs, path); r != nil {
			return r
		}
	}
	for _, hr := range s.wildcard {
		if strings.HasSuffix(host, hr.suffix) && len(host) > len(hr.suffix) {
			if r := matchPrefix(hr.routes, path); r != nil {
				return r
			}
		}
	}
	return matchPrefix(s.anyHost, path)
}

func matchPrefix(rs []*route, path string) *route {
	for _, r := range rs {
		p := r.prefix
		if p == "/" || path == p || strings.HasPrefix(path, p) && path[len(p)] == '/' {
			return r
		}
	}
	return nil
}

// pick chooses a target by weighted round-robin.
func (r *route) pick() *target {
	if r.total == 0 {
		return nil
	}
	n := int((r.next.Add(1) - 1) % uint64(r.total))
	for _, t := range r.targets {
		if n < t.weight {
			return t
		}
		n -= t.weight
	}
	return r.targets[len(r.targets)-1]
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
