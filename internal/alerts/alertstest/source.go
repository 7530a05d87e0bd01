// Package alertstest has what tests of alerting share: a scripted Source, a manual clock,
// and RunStore, the conformance suite every alerts.Store passes.
package alertstest

import (
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// Source is an alerts.Source whose answers a test sets. Window answers what was set for
// exactly that API and duration, and a zero Window otherwise.
type Source struct {
	mu      sync.Mutex
	windows map[windowKey]alerts.Window
	targets []alerts.TargetHealth
	quotas  []alerts.QuotaUse
}

type windowKey struct {
	api string
	d   time.Duration
}

var _ alerts.Source = (*Source)(nil)

// NewSource returns a Source with no traffic, no targets and no quotas.
func NewSource() *Source { return &Source{windows: map[windowKey]alerts.Window{}} }

// SetWindow sets what Window(api, d) answers.
func (s *Source) SetWindow(api string, d time.Duration, w alerts.Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows[windowKey{api, d}] = w
}

// SetTargets sets what Targets answers.
func (s *Source) SetTargets(t ...alerts.TargetHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = slices.Clone(t)
}

// SetQuotas sets what Quotas answers.
func (s *Source) SetQuotas(q ...alerts.QuotaUse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotas = slices.Clone(q)
}

// Window implements alerts.Source.
func (s *Source) Window(api string, d time.Duration) alerts.Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windows[windowKey{api, d}]
}

// Targets implements alerts.Source.
func (s *Source) Targets() []alerts.TargetHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.targets)
}

// Quotas implements alerts.Source.
func (s *Source) Quotas() []alerts.QuotaUse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.quotas)
}

// Clock is a clock that moves only when told to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock; pass it as alerts.Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
