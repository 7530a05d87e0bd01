// Package meter counts realtime usage per API and app on this node, and enforces the
// per-app caps an API sets: concurrent held connections, and messages delivered per period.
// HTTP holds and WebSockets both report here, so the admin API, /metrics and analytics see
// one set of numbers.
package meter

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Key identifies one API and app (App is "" for anonymous connections).
type Key struct {
	API string
	App string
}

// Usage is one key's counters.
type Usage struct {
	API               string  `json:"api"`
	App               string  `json:"app,omitempty"`
	Connections       int64   `json:"connections"`        // held now
	ConnectionsTotal  uint64  `json:"connections_total"`  // opened since start
	Rejected          uint64  `json:"rejected"`           // refused by the connection cap
	ConnectionSeconds float64 `json:"connection_seconds"` // of closed and open connections
	Messages          uint64  `json:"messages"`           // delivered to clients
	Bytes             uint64  `json:"bytes"`              // delivered to clients
	Throttled         uint64  `json:"throttled"`          // dropped by the message cap
}

type entry struct {
	key         Key
	open        atomic.Int64
	total       atomic.Uint64
	rejected    atomic.Uint64
	closedNanos atomic.Int64 // connection time of closed connections
	openSince   atomic.Int64 // sum of open connections' start times (unix nanos)
	messages    atomic.Uint64
	bytes       atomic.Uint64
	throttled   atomic.Uint64

	mu          sync.Mutex // guards the message window
	windowStart time.Time
	windowCount int
}

// Meter is safe for concurrent use.
type Meter struct {
	now     func() time.Time
	mu      sync.RWMutex
	entries map[Key]*entry
}

// New returns an empty Meter.
func New() *Meter { return &Meter{now: time.Now, entries: map[Key]*entry{}} }

func (m *Meter) entry(k Key) *entry {
	m.mu.RLock()
	e := m.entries[k]
	m.mu.RUnlock()
	if e != nil {
		return e
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e = m.entries[k]; e == nil {
		e = &entry{key: k}
		m.entries[k] = e
	}
	return e
}

// Limits are an API's per-app caps; zero values mean no cap.
type Limits struct {
	MaxConnections int
	MaxMessages    int
	Period         time.Duration // default one minute
}

// Conn is one held connection's meter.
type Conn struct {
	m      *Meter
	e      *entry
	lim    Limits
	start  int64
	closed atomic.Bool
}

// Open records a new held connection for k. It returns ok false, and counts a rejection,
// when the app already holds MaxConnections to the API on this node.
func (m *Meter) Open(k Key, lim Limits) (*Conn, bool) {
	e := m.entry(k)
	n := e.open.Add(1)
	if lim.MaxConnections > 0 && n > int64(lim.MaxConnections) {
		e.open.Add(-1)
		e.rejected.Add(1)
		return nil, false
	}
	if lim.Period <= 0 {
		lim.Period = time.Minute
	}
	start := m.now().UnixNano()
	e.total.Add(1)
	e.openSince.Add(start)
	return &Conn{m: m, e: e, lim: lim, start: start}, true
}

// Allow reports whether one more message may be delivered to this app's connections in the
// current period; a refusal is counted as throttled.
func (c *Conn) Allow() bool {
	if c.lim.MaxMessages <= 0 {
		return true
	}
	e := c.e
	now := c.m.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Sub(e.windowStart) >= c.lim.Period {
		e.windowStart, e.windowCount = now, 0
	}
	if e.windowCount >= c.lim.MaxMessages {
		e.throttled.Add(1)
		return false
	}
	e.windowCount++
	return true
}

// Delivered counts one message of n bytes written to the client.
func (c *Conn) Delivered(n int) {
	c.e.messages.Add(1)
	c.e.bytes.Add(uint64(n))
}

// Close ends the connection's accounting; later calls do nothing.
func (c *Conn) Close() {
	if c == nil || c.closed.Swap(true) {
		return
	}
	end := c.m.now().UnixNano()
	c.e.closedNanos.Add(end - c.start)
	c.e.openSince.Add(-c.start)
	c.e.open.Add(-1)
}

// Snapshot returns every key's usage, ordered by API then app.
func (m *Meter) Snapshot() []Usage {
	now := m.now().UnixNano()
	m.mu.RLock()
	out := make([]Usage, 0, len(m.entries))
	for _, e := range m.entries {
		open := e.open.Load()
		// Open connections' time so far: open×now − Σ start times.
		live := open*now - e.openSince.Load()
		if live < 0 {
			live = 0
		}
		out = append(out, Usage{
			API: e.key.API, App: e.key.App, Connections: open, ConnectionsTotal: e.total.Load(),
			Rejected: e.rejected.Load(), ConnectionSeconds: float64(e.closedNanos.Load()+live) / 1e9,
			Messages: e.messages.Load(), Bytes: e.bytes.Load(), Throttled: e.throttled.Load(),
		})
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].API != out[j].API {
			return out[i].API < out[j].API
		}
		return out[i].App < out[j].App
	})
	return out
}
