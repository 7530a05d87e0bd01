package session

import (
	"sync"
	"time"
)

// Throttle slows down password guessing: after Max failures for a key within Window, the
// key is refused until Window has passed since its first failure. Callers key it by
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

// Wait returns how long key must wait before trying again; 0 means it may try now.
func (t *Throttle) Wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[key]
	if f == nil {
		return 0
	}
	left := f.first.Add(t.Window).Sub(t.Now())
	if left <= 0 {
		delete(t.m, key)
		return 0
	}
	if f.n < t.Max {
		return 0
	}
	return left
}

// Fail counts a failure of key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	f := t.m[key]
	if f == nil || !now.Before(f.first.Add(t.Window)) {
		if len(t.m) >= maxThrottleKeys {
			t.sweep(now)
		}
		t.m[key] = &failures{n: 1, first: now}
		return
	}
	f.n++
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
		clear(t.m) // a flood of live keys: start over rather than grow without bound
	}
}
