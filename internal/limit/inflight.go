package limit

import "sync/atomic"

// InFlight counts requests in progress per key, for the concurrency policy. Counts are
// node-local. Acquire on a key that already has a counter does not allocate.
//
// A counter at zero stays until a sweep (as new keys arrive) drops it, so a key that sees
// one request at a time does not allocate per request, and memory stays bounded by about
// twice the keys that were in flight at once.
type InFlight struct {
	slots table[*Slot]
}

// Slot is one key's in-flight count; Release gives back what Acquire took.
type Slot struct{ n atomic.Int64 }

// NewInFlight returns empty counters.
func NewInFlight() *InFlight {
	f := &InFlight{}
	// A counter seen at zero under the shard lock cannot be taken meanwhile: Acquire
	// increments under that lock.
	f.slots.init(func(s *Slot, _ int64) bool { return s.n.Load() == 0 })
	return f
}

// Acquire counts one more request for key unless limit are already in flight. On true the
// caller must call Release on the slot exactly once.
func (f *InFlight) Acquire(key string, limit int64) (*Slot, bool) {
	s := f.slots.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.m[key]
	if slot == nil {
		slot = new(Slot)
		f.slots.insert(s, key, slot, 0)
	}
	// Checking then adding under the shard lock is enough: Release only ever lowers n.
	if slot.n.Load() >= limit {
		return nil, false
	}
	slot.n.Add(1)
	return slot, true
}

// Release ends one request counted by Acquire. It takes no lock: sweeps drop only
// counters at zero, and one with a request in flight is not.
func (s *Slot) Release() { s.n.Add(-1) }

// Count is the number of requests in flight for key.
func (f *InFlight) Count(key string) int64 {
	s := f.slots.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot := s.m[key]; slot != nil {
		return slot.n.Load()
	}
	return 0
}

// Sweep drops every idle counter now.
func (f *InFlight) Sweep() { f.slots.sweepAll(0) }

// Len is the number of counters held, idle or not.
func (f *InFlight) Len() int { return f.slots.len() }
