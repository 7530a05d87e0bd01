// Package settle gives memory back to the operating system after a burst of realtime
// connections. Accepting thousands of connections at once allocates far more than the
// connections keep (net/http's buffers, handler stacks, origin round trips), and a server
// whose connections then sit idle never runs a garbage collection to free it: without this
// the burst's garbage stays resident for minutes.
package settle

import (
	"runtime/debug"
	"sync"
	"time"
)

// Defaults: a burst is at least MinBurst connections; Quiet after the last one, the memory
// is returned.
const (
	DefaultMinBurst = 1000
	DefaultQuiet    = 500 * time.Millisecond
)

// Settler watches connection opens. The zero value is not usable; call New.
type Settler struct {
	minBurst int
	quiet    time.Duration
	release  func()

	mu     sync.Mutex
	count  int
	timer  *time.Timer
	armed  bool
	resets int
}

// New returns a Settler; minBurst ≤ 0 and quiet ≤ 0 take the defaults. release is what
// returns memory (debug.FreeOSMemory when nil; tests pass their own).
func New(minBurst int, quiet time.Duration, release func()) *Settler {
	if minBurst <= 0 {
		minBurst = DefaultMinBurst
	}
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	if release == nil {
		release = debug.FreeOSMemory
	}
	s := &Settler{minBurst: minBurst, quiet: quiet, release: release}
	s.timer = time.AfterFunc(time.Hour, s.fire)
	s.timer.Stop()
	return s
}

// Opened notes one new connection. It is cheap: the quiet timer is pushed back at most
// once per Quiet/4, not on every call.
func (s *Settler) Opened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	if s.count < s.minBurst {
		return
	}
	if !s.armed || s.resets%64 == 0 {
		s.timer.Reset(s.quiet)
		s.armed = true
	}
	s.resets++
}

func (s *Settler) fire() {
	s.mu.Lock()
	if !s.armed {
		s.mu.Unlock()
		return
	}
	s.count, s.armed, s.resets = 0, false, 0
	s.mu.Unlock()
	s.release()
}

// Stop cancels a pending release.
func (s *Settler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer.Stop()
	s.armed = false
}
