// Package meter counts realtime usage per API and app on this node, and enforces the
// per-app caps an API sets: concurrent held connections, and messages delivered per period.
// HTTP holds and WebSockets both report here, so the admin API, /metrics and analytics see
// one set of numbers.
package meter

import (
	"github.com/gatehouse-dev/gatehouse/internal/analytics"

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
	key Key

	// connMu guards the connection counters together: Snapshot computes the open
	// connections' time as open×now − Σ start, which is only meaningful when both terms
	// come from the same moment (read apart, a concurrent Open or Close made it report
	// decades). It also makes the connection cap exact.
	connMu      sync.Mutex
	open        int64
	total       uint64
	rejected    uint64
	closedNanos int64 // connection time of closed connections
	openSince   int64 // sum of open connections' start times (Meter.nanos)

	messages  atomic.Uint64
	bytes     atomic.Uint64
	throttled atomic.Uint64

	mu          sync.Mutex // guards the message window
	windowStart time.Time
	windowCount int
}

// Meter is safe for concurrent use.
type Meter struct {
	now     func() time.Time
	base    time.Time // connection times are measured from here, on the monotonic clock
	mu      sync.RWMutex
	entries map[Key]*entry
	rec     Recorder // nil: no analytics events
}

// Recorder takes analytics events without blocking (analytics.Recorder).
type Recorder interface {
	Record(e *analytics.Event)
}

// SetRecorder makes every delivered message and every ended connection an analytics
// event. Call it before the first Open.
func (m *Meter) SetRecorder(r Recorder) { m.rec = r }

// eventPool keeps message events off the heap: Record copies, so one is reused at once.
var eventPool = sync.Pool{New: func() any { return new(analytics.Event) }}

// New returns an empty Meter.
func New() *Meter { return &Meter{now: time.Now, base: time.Now(), entries: map[Key]*entry{}} }

// nanos is the current time for connection accounting: nanoseconds since base, so that a
// step of the wall clock cannot make a connection's duration negative or huge.
func (m *Meter) nanos() int64 { return int64(m.now().Sub(m.base)) }

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
	m        *Meter
	e        *entry
	lim      Limits
	start    int64
	opened   time.Time
	closed   atomic.Bool
	messages atomic.Int64
	bytes    atomic.Int64
}

// Open records a new held connection for k. It returns ok false, and counts a rejection,
// when the app already holds MaxConnections to the API on this node.
func (m *Meter) Open(k Key, lim Limits) (*Conn, bool) {
	e := m.entry(k)
	if lim.Period <= 0 {
		lim.Period = time.Minute
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if lim.MaxConnections > 0 && e.open >= int64(lim.MaxConnections) {
		e.rejected++
		return nil, false
	}
	start := m.nanos() // under connMu, so no Snapshot can read a now earlier than it
	e.open++
	e.total++
	e.openSince += start
	return &Conn{m: m, e: e, lim: lim, start: start, opened: m.now()}, true
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
	c.messages.Add(1)
	c.bytes.Add(int64(n))
	if r := c.m.rec; r != nil {
		ev := eventPool.Get().(*analytics.Event)
		*ev = analytics.Event{Kind: analytics.KindMessage, Time: c.m.now(), API: c.e.key.API, App: c.e.key.App, Status: 200, BytesOut: int64(n)}
		r.Record(ev)
		eventPool.Put(ev)
	}
}

// Close ends the connection's accounting; later calls do nothing.
func (c *Conn) Close() {
	if c == nil || c.closed.Swap(true) {
		return
	}
	e := c.e
	e.connMu.Lock()
	end := c.m.nanos()
	e.closedNanos += max(end-c.start, 0)
	e.openSince -= c.start
	e.open--
	e.connMu.Unlock()
	if r := c.m.rec; r != nil {
		ev := analytics.Event{Kind: analytics.KindConnection, Time: c.opened, API: e.key.API, App: e.key.App, Status: 200,
			Latency: time.Duration(max(end-c.start, 0)), BytesOut: c.bytes.Load()}
		r.Record(&ev)
	}
}

// Snapshot returns every key's usage, ordered by API then app.
func (m *Meter) Snapshot() []Usage {
	m.mu.RLock()
	out := make([]Usage, 0, len(m.entries))
	for _, e := range m.entries {
		e.connMu.Lock()
		open, total, rejected, closed := e.open, e.total, e.rejected, e.closedNanos
		// Open connections' time so far: open×now − Σ start times (the terms may
		// overflow; their difference, which is what counts, does not).
		live := max(open*m.nanos()-e.openSince, 0)
		e.connMu.Unlock()
		out = append(out, Usage{
			API: e.key.API, App: e.key.App, Connections: open, ConnectionsTotal: total,
			Rejected: rejected, ConnectionSeconds: float64(closed+live) / 1e9,
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
