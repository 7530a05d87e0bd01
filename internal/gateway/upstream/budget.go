package upstream

import (
	"sync"
	"time"
)

// The retry budget's window: budgetBuckets buckets of one second each slide along, so
// the budget reflects the last 10 seconds of traffic.
const (
	budgetBuckets = 10
	budgetBucket  = time.Second
	// minRetries is the floor: 10 retries per window are allowed whatever the traffic,
	// so that an API with a few requests a minute can still retry a refused connection.
	minRetries = 10
)

// retryBudget is a token bucket over a sliding window: each request deposits percent/100
// of a token, each retry spends one.
type retryBudget struct {
	percent int
	now     func() time.Time

	mu      sync.Mutex
	buckets [budgetBuckets]budgetCount // guarded by mu
}

type budgetCount struct {
	slot     int64 // which second this bucket counts; stale buckets are reset on use
	requests int64
	retries  int64
}

func (b *retryBudget) slot() int64 { return b.now().UnixNano() / int64(budgetBucket) }

// at returns the bucket of slot, resetting it if it still holds an older second.
func (b *retryBudget) at(slot int64) *budgetCount {
	c := &b.buckets[((slot%budgetBuckets)+budgetBuckets)%budgetBuckets]
	if c.slot != slot {
		*c = budgetCount{slot: slot}
	}
	return c
}

// deposit counts a request.
func (b *retryBudget) deposit() {
	s := b.slot()
	b.mu.Lock()
	b.at(s).requests++
	b.mu.Unlock()
}

// spend takes one retry's token, or reports that the window has none left.
func (b *retryBudget) spend() bool {
	s := b.slot()
	b.mu.Lock()
	defer b.mu.Unlock()
	var requests, retries int64
	for i := range b.buckets {
		if c := &b.buckets[i]; s-c.slot < budgetBuckets && c.slot <= s {
			requests += c.requests
			retries += c.retries
		}
	}
	// retries+1 <= minRetries + requests*percent/100, in integers.
	if (retries+1)*100 > minRetries*100+requests*int64(b.percent) {
		return false
	}
	b.at(s).retries++
	return true
}
