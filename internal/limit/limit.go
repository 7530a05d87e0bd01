// Package limit implements policy.Limiter: GCRA buckets kept in memory (one node) or in
// Redis (shared by every node), and a Fallback that keeps a Redis limiter's policies
// answering while Redis is down. It also holds the node-local in-flight counters of the
// concurrency policy, and what both limit policies share: By (the "by" option) and Keys.
//
// GCRA (the generic cell rate algorithm) keeps one number per key: the theoretical
// arrival time (TAT) of the next request were requests to arrive exactly at the rate. A
// request of n passes when TAT + n·T - τ ≤ now, where T = Window/Limit is the emission
// interval and τ = T·Burst the burst tolerance; it then moves TAT to max(TAT, now) + n·T.
// A rejected request leaves TAT alone, so it consumes nothing.
//
// Keys passed to Allow may be backed by memory the caller reuses after the call returns
// (Keys builds them in pooled buffers so the hot path does not allocate): every limiter
// here copies a key before keeping it, and a limiter wrapped around them must too.
package limit

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// ErrUnavailable is returned (wrapped) when the shared limiter cannot decide, with a
// rejecting Decision: the policy answers 503 limiter_unavailable rather than letting the
// request through unchecked or blaming the client with a 429.
var ErrUnavailable = errors.New("rate limiter unavailable")

// maxTolerance bounds τ so that now+τ never overflows int64 nanoseconds (about 36 years).
const maxTolerance = int64(1) << 60

// gcra is a rate resolved to nanoseconds.
type gcra struct {
	interval  int64 // T: nanoseconds per request
	tolerance int64 // τ = T·burst
	burst     int64
}

// resolve checks r and derives T and τ. Rates come from validated configs, so an error
// here is a programming error the caller reports as such.
func resolve(r policy.Rate, n int64) (gcra, error) {
	if r.Limit <= 0 || r.Window <= 0 || r.Burst < 0 || n < 0 {
		return gcra{}, fmt.Errorf("limit: invalid rate %d per %s (burst %d, n %d)", r.Limit, r.Window, r.Burst, n)
	}
	g := gcra{interval: max(int64(r.Window)/r.Limit, 1), burst: r.Burst}
	if g.burst == 0 {
		g.burst = r.Limit
	}
	if g.burst > maxTolerance/g.interval {
		return gcra{}, fmt.Errorf("limit: burst %d at %d per %s spans more than %s", g.burst, r.Limit, r.Window, time.Duration(maxTolerance))
	}
	g.tolerance = g.interval * g.burst
	return g, nil
}

// decide applies n requests at now to a bucket whose stored TAT is tat (0 for none). It
// returns the TAT to store (unchanged when rejected) and the decision. n larger than the
// burst never passes.
func (g gcra) decide(tat, now, n int64) (int64, policy.Decision) {
	tat = max(tat, now)
	if n > g.burst {
		// n·T could overflow, and no wait makes it pass: report the wait for a full bucket.
		return tat, policy.Decision{
			Remaining: g.remaining(now, tat),
			Reset:     time.Duration(tat - now),
			Retry:     time.Duration(tat - now + g.interval),
		}
	}
	next := tat + n*g.interval
	if allowAt := next - g.tolerance; allowAt > now {
		return tat, policy.Decision{
			Remaining: g.remaining(now, tat),
			Reset:     time.Duration(tat - now),
			Retry:     time.Duration(allowAt - now),
		}
	}
	return next, policy.Decision{
		Allowed:   true,
		Remaining: g.remaining(now, next),
		Reset:     time.Duration(next - now),
	}
}

// remaining is how many single requests would pass right now with the bucket at tat.
func (g gcra) remaining(now, tat int64) int64 {
	r := (now + g.tolerance - tat) / g.interval
	return min(max(r, 0), g.burst)
}
