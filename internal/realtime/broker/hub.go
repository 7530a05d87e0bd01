package broker

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// shardCount spreads channels over independent locks so that publishes and subscribes on
// different channels rarely contend. A power of two, so a shard is picked with a mask.
const shardCount = 64

// Hub is the in-process Broker: a publish reaches the subscribers of this process only.
// natsbroker uses one as its local fan-out. The zero value is not usable; call NewHub.
//
// Lock order: a shard's mu is the only lock; OnClose callbacks run after it is released.
type Hub struct {
	seed      maphash.Seed
	queueSize int
	closed    atomic.Bool
	shards    [shardCount]shard
}

type shard struct {
	mu    sync.RWMutex
	chans map[string][]*Subscription // channel -> live subscriptions, never empty

	// Counters live per shard so that publishers on different channels don't bounce one
	// cache line between cores; Stats adds them up.
	subscribers atomic.Int64
	channels    atomic.Int64
	published   atomic.Uint64
	delivered   atomic.Uint64
	dropped     atomic.Uint64
	_           [64]byte // keep neighbouring shards' counters off this cache line
}

// HubOptions configures a Hub. The zero value is usable.
type HubOptions struct {
	// QueueSize is the default per-subscriber queue; zero means DefaultQueueSize.
	QueueSize int
}

var _ Broker = (*Hub)(nil)

// NewHub returns an empty hub.
func NewHub(opts HubOptions) *Hub {
	h := &Hub{seed: maphash.MakeSeed(), queueSize: opts.QueueSize}
	if h.queueSize <= 0 {
		h.queueSize = DefaultQueueSize
	}
	for i := range h.shards {
		h.shards[i].chans = make(map[string][]*Subscription)
	}
	return h
}

func (h *Hub) shard(channel string) *shard {
	return &h.shards[maphash.String(h.seed, channel)&(shardCount-1)]
}

// Subscription is one subscriber's view of one channel. Receive from C until it is closed,
// then Err says why.
type Subscription struct {
	c       chan Message
	channel string
	hub     *Hub
	shard   *shard
	idx     int // position in shard.chans[channel]; guarded by shard.mu
	removed bool
	onClose func(error)
	deliver func(Message)
	err     atomic.Pointer[error]
}

// C delivers the channel's messages in publish order. It is closed when the subscription
// ends. It is nil for a subscription with a Deliver callback.
func (s *Subscription) C() <-chan Message { return s.c }

// Channel is the channel name subscribed to.
func (s *Subscription) Channel() string { return s.channel }

// Err is nil while the subscription is live or after Close; ErrSlowSubscriber if it was
// dropped for falling behind; ErrClosed if the broker was closed.
func (s *Subscription) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close unsubscribes. Messages still queued are discarded with the channel. It is safe to
// call more than once and concurrently with deliveries.
func (s *Subscription) Close() { s.hub.remove(s, nil) }

// Subscribe implements Broker.
func (h *Hub) Subscribe(channel string, opts SubscribeOptions) (*Subscription, error) {
	if err := ValidateChannel(channel); err != nil {
		return nil, err
	}
	size := opts.QueueSize
	if size <= 0 {
		size = h.queueSize
	}
	sh := h.shard(channel)
	s := &Subscription{channel: channel, hub: h, shard: sh, onClose: opts.OnClose, deliver: opts.Deliver}
	if s.deliver == nil {
		s.c = make(chan Message, size)
	}
	sh.mu.Lock()
	// Checked under the shard lock so that Close, which takes every shard lock after setting
	// closed, cannot miss a subscription added concurrently.
	if h.closed.Load() {
		sh.mu.Unlock()
		return nil, ErrClosed
	}
	subs := sh.chans[channel]
	if len(subs) == 0 {
		sh.channels.Add(1)
	}
	s.idx = len(subs)
	sh.chans[channel] = append(subs, s)
	sh.subscribers.Add(1)
	sh.mu.Unlock()
	return s, nil
}

// Publish implements Broker. It takes only the channel's shard read lock and never waits on
// a subscriber: a full queue gets its subscriber dropped instead.
func (h *Hub) Publish(ctx context.Context, m Message) error {
	if err := ValidateChannel(m.Channel); err != nil {
		return err
	}
	if h.closed.Load() {
		return ErrClosed
	}
	sh := h.shard(m.Channel)
	sh.published.Add(1)
	sh.mu.RLock()
	subs := sh.chans[m.Channel]
	if len(subs) == 0 {
		sh.mu.RUnlock()
		return nil
	}
	var delivered uint64
	var slow []*Subscription
	for _, s := range subs {
		// Sends happen under the read lock and closes under the write lock, so a
		// subscription found here is never closed while we send to it.
		if s.deliver != nil {
			s.deliver(m)
			delivered++
			continue
		}
		select {
		case s.c <- m:
			delivered++
		default:
			slow = append(slow, s)
		}
	}
	sh.mu.RUnlock()
	sh.delivered.Add(delivered)
	for _, s := range slow {
		h.remove(s, ErrSlowSubscriber)
	}
	return nil
}

// remove ends s with reason err (nil for an explicit Close); only the first call counts.
func (h *Hub) remove(s *Subscription, err error) {
	sh := s.shard
	sh.mu.Lock()
	if s.removed {
		sh.mu.Unlock()
		return
	}
	h.unlink(sh, s, err)
	sh.mu.Unlock()
	if s.onClose != nil {
		s.onClose(err)
	}
}

// unlink removes s from its shard and closes its channel; sh.mu must be held for writing.
func (h *Hub) unlink(sh *shard, s *Subscription, err error) {
	s.removed = true
	subs := sh.chans[s.channel]
	// Swap-delete: subscriber order within a channel doesn't matter, and this keeps removal
	// O(1) for a channel with thousands of subscribers.
	last := len(subs) - 1
	subs[s.idx] = subs[last]
	subs[s.idx].idx = s.idx
	subs[last] = nil
	if last == 0 {
		// Empty channels are deleted so memory follows live subscriptions, not every
		// channel name ever seen.
		delete(sh.chans, s.channel)
		sh.channels.Add(-1)
	} else {
		sh.chans[s.channel] = subs[:last]
	}
	sh.subscribers.Add(-1)
	if err != nil {
		s.err.Store(&err)
		if err == ErrSlowSubscriber {
			sh.dropped.Add(1)
		}
	}
	if s.c != nil {
		close(s.c)
	}
}

// Stats implements Broker.
func (h *Hub) Stats() Stats {
	var st Stats
	for i := range h.shards {
		sh := &h.shards[i]
		st.Subscribers += sh.subscribers.Load()
		st.Channels += sh.channels.Load()
		st.Published += sh.published.Load()
		st.Delivered += sh.delivered.Load()
		st.Dropped += sh.dropped.Load()
	}
	return st
}

// Close implements Broker: every subscription ends with ErrClosed.
func (h *Hub) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	var ended []*Subscription
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, subs := range sh.chans {
			for _, s := range append([]*Subscription(nil), subs...) {
				h.unlink(sh, s, ErrClosed)
				ended = append(ended, s)
			}
		}
		sh.mu.Unlock()
	}
	for _, s := range ended {
		if s.onClose != nil {
			s.onClose(ErrClosed)
		}
	}
	return nil
}
