package upstream

import (
	"cmp"
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// set is a fixed-size bitset of live-target positions: a pick excludes the targets a
// request already tried without allocating.
type set [maxTargets / 64]uint64

func (s *set) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s *set) has(i int) bool { return s[i>>6]&(1<<(i&63)) != 0 }

// pick chooses an available target not in skip, counts the request in its in-flight
// total and reports whether the request is the target's half-open probe. It returns nil
// when no target is available.
func (p *Pool) pick(req *http.Request, skip *set) (*target, bool) {
	c := clock{now: p.now}
	refused := *skip
	// Each round either returns or refuses one more target, so this ends.
	for range len(p.live) + 1 {
		var t *target
		var probe bool
		switch {
		case p.ring != nil:
			if key, ok := p.hashKey(req); ok {
				t, probe = p.pickHash(key, &refused, &c)
			} else {
				t, probe = p.pickRoundRobin(&refused, &c)
			}
		case p.cfg.balancing == gatehouse.BalanceLeastConn:
			t, probe = p.pickLeastConn(&refused, &c)
		default:
			t, probe = p.pickRoundRobin(&refused, &c)
		}
		if t == nil || !probe {
			return t, false
		}
		ok, isProbe := t.claimProbe(&c)
		if ok {
			return t, isProbe
		}
		// Another request is the probe: this target is not available after all.
		t.inflight.Add(-1)
		refused.add(t.idx)
	}
	return nil, false
}

// pickRoundRobin is nginx's smooth weighted round-robin: every available target gains its
// weight, the one with the most is chosen and pays back the total. Weights 5:1:1 give
// a a b a c a a rather than a a a a a b c.
func (p *Pool) pickRoundRobin(skip *set, c *clock) (*target, bool) {
	p.mu.Lock()
	rr := p.rr
	var best *target
	var bestProbe bool
	total := 0
	for _, t := range p.live {
		if skip.has(t.idx) {
			continue
		}
		ok, probe := t.usable(c)
		if !ok {
			continue
		}
		rr[t.idx] += t.weight
		total += t.weight
		if best == nil || rr[t.idx] > rr[best.idx] {
			best, bestProbe = t, probe
		}
	}
	if best != nil {
		rr[best.idx] -= total
		best.inflight.Add(1)
	}
	p.mu.Unlock()
	return best, bestProbe
}

// pickLeastConn chooses the target with the fewest requests in flight per unit of weight.
// Ties go through the smooth round-robin, so that idle targets share the load in
// proportion to their weights. The in-flight count rises under the lock, so concurrent
// picks see each other.
func (p *Pool) pickLeastConn(skip *set, c *clock) (*target, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *target
	var bestLoad int64
	var usable, probes set
	ties := false
	for _, t := range p.live {
		if skip.has(t.idx) {
			continue
		}
		ok, probe := t.usable(c)
		if !ok {
			continue
		}
		usable.add(t.idx)
		if probe {
			probes.add(t.idx)
		}
		// load/weight < bestLoad/bestWeight, without division.
		load := t.inflight.Load()
		switch {
		case best == nil || load*int64(best.weight) < bestLoad*int64(t.weight):
			best, bestLoad, ties = t, load, false
		case load*int64(best.weight) == bestLoad*int64(t.weight):
			ties = true
		}
	}
	if best == nil {
		return nil, false
	}
	if ties {
		var pick *target
		total := 0
		for _, t := range p.live {
			// In-flight counts drop outside the lock, so a target may now look lighter
			// than best; it is still a fair choice, and best remains the fallback.
			if !usable.has(t.idx) || t.inflight.Load()*int64(best.weight) > bestLoad*int64(t.weight) {
				continue
			}
			p.rr[t.idx] += t.weight
			total += t.weight
			if pick == nil || p.rr[t.idx] > p.rr[pick.idx] {
				pick = t
			}
		}
		if pick != nil {
			p.rr[pick.idx] -= total
			best = pick
		}
	}
	best.inflight.Add(1)
	return best, probes.has(best.idx)
}

// ringPoint is one virtual node of a target on the hash ring.
type ringPoint struct {
	hash uint64
	idx  int // position in Pool.live
}

// Ring resolution: the lightest target gets pointsPerUnit virtual nodes and the others
// proportionally more, up to maxRingPoints in all (1 MiB).
const (
	pointsPerUnit = 100
	maxRingPoints = 1 << 16
)

// buildRing places virtual nodes in proportion to the weights, scaled to the lightest
// target so that small weights (5:1:1) get as fine a ring as large ones. A node's position
// depends only on its target's URL and its ordinal, so removing a target moves only its
// keys, unless it was the lightest one, which rescales the others (adding or dropping
// nodes at their end, so even then most keys stay).
func buildRing(live []*target) []ringPoint {
	if len(live) == 0 {
		return []ringPoint{}
	}
	lightest := live[0].weight
	for _, t := range live {
		lightest = min(lightest, t.weight)
	}
	total := 0
	for _, t := range live {
		total += pointsPerUnit * t.weight / lightest
	}
	ring := make([]ringPoint, 0, min(total, maxRingPoints)+len(live))
	for _, t := range live {
		n := pointsPerUnit * t.weight / lightest
		if total > maxRingPoints {
			n = n * maxRingPoints / total
		}
		for i := range max(n, 1) {
			ring = append(ring, ringPoint{hash: hashString(t.raw + "#" + strconv.Itoa(i)), idx: t.idx})
		}
	}
	slices.SortFunc(ring, func(a, b ringPoint) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.idx, b.idx))
	})
	return ring
}

// pickHash walks the ring clockwise from the key's position to the first available
// target, so that a target's absence sends its keys to the next one and no other key moves.
func (p *Pool) pickHash(key string, skip *set, c *clock) (*target, bool) {
	h := hashString(key)
	ring := p.ring
	lo, hi := 0, len(ring)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ring[m].hash < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	var seen set
	left := len(p.live)
	for j := 0; j < len(ring) && left > 0; j++ {
		pt := ring[(lo+j)%len(ring)]
		if seen.has(pt.idx) {
			continue
		}
		seen.add(pt.idx)
		left--
		t := p.live[pt.idx]
		if skip.has(t.idx) {
			continue
		}
		if ok, probe := t.usable(c); ok {
			t.inflight.Add(1)
			return t, probe
		}
	}
	return nil, false
}

type clientIPKey struct{}

// WithClientIP returns a context that tells hash balancing on "ip" who the client is.
// The gateway sets it because the outgoing request's RemoteAddr is not reliable.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// hashKey returns the request's hash key, or false when it has none.
func (p *Pool) hashKey(req *http.Request) (string, bool) {
	if p.hashHeader != "" {
		if v := req.Header[p.hashHeader]; len(v) > 0 && v[0] != "" {
			return v[0], true
		}
		return "", false
	}
	if ip, ok := req.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		return ip, true
	}
	// The gateway appends the client it saw to X-Forwarded-For; earlier elements are
	// whatever the client claimed and must not steer the hash.
	if v := req.Header["X-Forwarded-For"]; len(v) > 0 {
		last := v[len(v)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if last = strings.TrimSpace(last); last != "" {
			return last, true
		}
	}
	if host, _, err := net.SplitHostPort(req.RemoteAddr); err == nil && host != "" {
		return host, true
	}
	return "", false
}

// hashString is FNV-1a followed by a 64-bit finaliser: deterministic across processes
// (unlike hash/maphash), so every gateway node maps a key to the same target, and well
// mixed, so nearby strings ("t#1", "t#2") land far apart on the ring.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
