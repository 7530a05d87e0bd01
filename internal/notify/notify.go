// Package notify is the in-process implementation of gatehouse.Notifier: a hub that fans
// committed changes out to subscribers on this node without ever blocking the writer.
//
// Every subscriber has a bounded buffer. When a subscriber falls so far behind that its
// buffer is full, the hub throws away what is queued for it and queues a single
// Change{Resync: true} instead: the subscriber has missed changes and must reload what it
// caches, and the queued details are worthless to it once it reloads.
package notify

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse"
)

// DefaultBuffer is how many changes a subscriber may fall behind before it is resynced.
// A burst larger than this (a big `gatehouse apply`) costs a slow subscriber one reload.
const DefaultBuffer = 128

// Hub fans changes out to subscribers. The zero value is not usable; call New.
type Hub struct {
	mu      sync.Mutex // guards subs and closed, and orders sends before closes
	subs    map[*subscriber]struct{}
	closed  bool
	buffer  int
	dropped atomic.Uint64
}

type subscriber struct {
	ch   chan gatehouse.Change
	stop func() bool // stops the context.AfterFunc that unsubscribes
}

var _ gatehouse.Notifier = (*Hub)(nil)

// New returns an empty hub whose subscribers buffer DefaultBuffer changes.
func New() *Hub {
	return &Hub{subs: make(map[*subscriber]struct{}), buffer: DefaultBuffer}
}

// Subscribe returns a channel that receives every change published from now on. The
// channel is closed when ctx ends or the hub is closed.
func (h *Hub) Subscribe(ctx context.Context) <-chan gatehouse.Change {
	s := &subscriber{ch: make(chan gatehouse.Change, h.buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s.ch
	}
	h.subs[s] = struct{}{}
	// AfterFunc rather than a goroutine per subscriber: nothing runs until ctx ends.
	s.stop = context.AfterFunc(ctx, func() { h.unsubscribe(s) })
	return s.ch
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// Publish delivers c to every subscriber without waiting for any of them.
func (h *Hub) Publish(c gatehouse.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- c:
			continue
		default:
		}
		// Full: replace the backlog with one Resync. Receivers never take h.mu, so
		// draining here cannot deadlock; a receiver racing us only empties it faster.
		dropped := drain(s.ch)
		if !c.Resync {
			dropped++ // c itself is lost too, unless it is the resync we queue anyway
		}
		h.dropped.Add(dropped)
		select {
		case s.ch <- gatehouse.Change{Resync: true}:
		default: // unreachable: we hold the only sender and just emptied the buffer
		}
	}
}

func drain(ch chan gatehouse.Change) uint64 {
	var n uint64
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

// Dropped reports how many changes were discarded for slow subscribers since New.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Close closes every subscriber's channel; later subscribers get a closed channel and
// later publishes go nowhere. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		s.stop()
		delete(h.subs, s)
		close(s.ch)
	}
}
