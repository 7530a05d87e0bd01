package limit

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// MemoryOptions configures a Memory limiter.
type MemoryOptions struct {
	// Now is the clock; time.Now when nil. Tests move a fake one.
	Now func() time.Time
}

// Memory is a node-local GCRA limiter: each node enforces its limits alone. Allow on a key
// that already has a bucket does not allocate.
//
// A bucket whose TAT has passed is full, so it holds nothing a missing bucket would not:
// such dead buckets are swept as new keys arrive, keeping memory bounded by about twice
// the keys active within their windows.
type Memory struct {
	now     func() time.Time
	buckets table[*bucket]
}

var _ policy.Limiter = (*Memory)(nil)

type bucket struct{ tat int64 }

// NewMemory returns an empty memory limiter.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	m.buckets.init(func(b *bucket, now int64) bool { return b.tat <= now })
	return m
}

// Allow implements policy.Limiter.
func (m *Memory) Allow(_ context.Context, key string, r policy.Rate, n int64) (policy.Decision, error) {
	g, err := resolve(r, n)
	if err != nil {
		return policy.Decision{}, err
	}
	now := m.now().UnixNano()
	s := m.buckets.shard(key)
	s.mu.Lock()
	b := s.m[key]
	var tat int64
	if b != nil {
		tat = b.tat
	}
	next, d := g.decide(tat, now, n)
	if d.Allowed {
		if b != nil {
			b.tat = next
		} else {
			m.buckets.insert(s, key, &bucket{tat: next}, now)
		}
	}
	s.mu.Unlock()
	return d, nil
}

// Sweep drops every full bucket now. Inserting sweeps on its own; this is for an idle
// node that wants its memory back, and for tests.
func (m *Memory) Sweep() { m.buckets.sweepAll(m.now().UnixNano()) }

// Len is the number of buckets held, full or not.
func (m *Memory) Len() int { return m.buckets.len() }
