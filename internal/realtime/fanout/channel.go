package fanout

import (
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// channel is one channel's state on this node.
//
// Lock order: Fanout.mu, then channel.mu. The broker calls onMessage under its shard lock,
// which therefore comes before channel.mu; the broker subscription is closed with neither
// Fanout.mu nor channel.mu held.
type channel struct {
	f    *Fanout
	name string
	refs int // temporary references from Subscribe in progress; guarded by f.mu

	subMu sync.Mutex // serialises creating and closing the broker subscription
	bsub  *broker.Subscription

	mu        sync.Mutex
	subs      []Subscriber
	index     map[Subscriber]int // position in subs, for O(1) removal among thousands
	lastID    string
	seen      map[string]time.Time // ids delivered within IDCacheTTL
	seenOrder []seenID             // the same ids in arrival order, to expire them
	pending   map[string]*pendingItem
	received  uint64
	delivered uint64
	linger    *time.Timer
	lingerGen uint64 // identifies the current linger timer, so a stale one does nothing
	first     *time.Timer
	gone      bool
}

type seenID struct {
	id string
	at time.Time
}

// pendingItem waits for the item it follows (its prev-id) before it is delivered.
type pendingItem struct {
	it    *publish.Item
	timer *time.Timer
}

func newChannel(f *Fanout, name string) *channel {
	return &channel{f: f, name: name, index: map[Subscriber]int{}}
}

// startFirstLocked arms the first-subscription update when the channel state gets its
// first subscriber, that is once the broker subscription exists: armed any earlier (a
// NATS round trip can take longer than the delay, a failed broker subscribe leaves the
// state behind) it could fire while nobody is subscribed and never reach the sessions
// it is for. It fires once per channel state: a resubscribe within linger does not
// repeat it. c.mu must be held.
func (c *channel) startFirstLocked() {
	d := c.f.opts.FirstSubscriptionDelay
	if d <= 0 || c.first != nil {
		return
	}
	c.first = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.gone {
			c.updateAll(FirstSubscription)
		}
	})
}

func (c *channel) ensureBroker() error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.bsub != nil {
		return nil
	}
	s, err := c.f.b.Subscribe(c.name, broker.SubscribeOptions{Deliver: c.onMessage})
	if err != nil {
		return err
	}
	c.bsub = s
	return nil
}

func (c *channel) add(s Subscriber) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.linger != nil {
		c.linger.Stop()
		c.linger = nil
	}
	if _, ok := c.index[s]; ok {
		return
	}
	c.index[s] = len(c.subs)
	c.subs = append(c.subs, s)
	c.startFirstLocked()
}

func (c *channel) remove(s Subscriber) {
	c.mu.Lock()
	i, ok := c.index[s]
	if ok {
		last := len(c.subs) - 1
		c.subs[i] = c.subs[last]
		c.index[c.subs[i]] = i
		c.subs[last] = nil
		c.subs = c.subs[:last]
		delete(c.index, s)
	}
	c.mu.Unlock()
	if ok {
		c.maybeLinger()
	}
}

// maybeLinger starts the timer that forgets an unused channel. Keeping it a while keeps
// its last id and seen ids across back-to-back long-polls, as Pushpin's
// subscription_linger does.
func (c *channel) maybeLinger() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.subs) == 0 && c.linger == nil && !c.gone {
		c.lingerGen++
		gen := c.lingerGen
		c.linger = time.AfterFunc(c.f.opts.Linger, func() { c.expire(gen) })
	}
}

// expire forgets the channel when linger timer gen fires. A timer that was stopped too
// late to prevent it running (add raced with it) is no longer the current one and does
// nothing: without that check it would end a later linger period early.
func (c *channel) expire(gen uint64) {
	f := c.f
	f.mu.Lock()
	c.mu.Lock()
	if c.linger == nil || c.lingerGen != gen {
		c.mu.Unlock()
		f.mu.Unlock()
		return
	}
	if c.refs > 0 || len(c.subs) > 0 || c.gone {
		// A Subscribe is in progress: it re-arms the timer in release if it ends up
		// adding nobody.
		c.linger = nil
		c.mu.Unlock()
		f.mu.Unlock()
		return
	}
	c.linger = nil
	c.gone = true
	if f.chans[c.name] == c {
		delete(f.chans, c.name)
	}
	for _, p := range c.pending {
		p.timer.Stop()
	}
	c.pending = nil
	if c.first != nil {
		c.first.Stop()
	}
	c.mu.Unlock()
	f.mu.Unlock()
	c.subMu.Lock()
	if c.bsub != nil {
		c.bsub.Close()
		c.bsub = nil
	}
	c.subMu.Unlock()
}

// onMessage receives the channel's broker messages, in broker order.
func (c *channel) onMessage(m broker.Message) {
	it, err := Decode(m.Payload)
	// The broker's envelope carries channel, id and prev-id byte for byte, but JSON
	// replaces each byte of invalid UTF-8 with U+FFFD (as converting to []rune does): an
	// item's channel matches if it is the envelope's in either form. Compared byte for
	// byte only, a channel named in Latin-1 (a Grip-Channel header may carry any bytes)
	// could never receive anything.
	if err == nil && (m.Channel != c.name || (it.Channel != c.name && it.Channel != string([]rune(c.name)))) {
		err = fmt.Errorf("fanout: message for %q (item for %q) on channel %q", m.Channel, it.Channel, c.name)
	}
	if err != nil {
		c.f.undecodable.Add(1)
		c.f.log.Warn("realtime: undecodable message", "channel", c.name, "error", err)
		return
	}
	// For the same reason ids come from the envelope: two ids that differ only in invalid
	// bytes must not be taken for duplicates of each other.
	it.Channel, it.ID, it.PrevID = m.Channel, m.ID, m.PrevID
	c.f.received.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	c.received++
	now := time.Now()
	c.expireSeen(now)
	if c.isDupLocked(it) {
		c.f.duplicates.Add(1)
		return
	}
	// Sequencing: an item that follows an id this node has not delivered yet waits a
	// while for it, so that publishers racing each other do not make every session
	// detect a gap. Only with subscribers here, and never for no-seq items. A predecessor
	// delivered within IDCacheTTL is not waited for: a copy of it would be dropped as a
	// duplicate, so the wait could only ever end by timing out.
	if !it.NoSeq && it.PrevID != "" && c.lastID != "" && it.PrevID != c.lastID && len(c.subs) > 0 {
		_, delivered := c.seen[it.PrevID]
		if _, taken := c.pending[it.PrevID]; !delivered && !taken && len(c.pending) < c.f.opts.MaxPending {
			if c.pending == nil {
				c.pending = map[string]*pendingItem{}
			}
			p := &pendingItem{it: it}
			prev := it.PrevID
			p.timer = time.AfterFunc(c.f.opts.MessageWait, func() { c.releasePending(prev, p) })
			c.pending[prev] = p
			c.f.reordered.Add(1)
			return
		}
	}
	c.deliverLocked(it, now)
}

// releasePending delivers an item whose predecessor never came.
func (c *channel) releasePending(prev string, p *pendingItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.pending[prev] != p {
		return
	}
	delete(c.pending, prev)
	if _, dup := c.seen[p.it.ID]; dup && p.it.ID != "" {
		c.f.duplicates.Add(1)
		return
	}
	c.deliverLocked(p.it, time.Now())
}

// isDupLocked reports whether the id of it was delivered within IDCacheTTL or is
// waiting for its predecessor: a copy of a waiting item must not be delivered now and
// again when the original is released. c.mu must be held.
func (c *channel) isDupLocked(it *publish.Item) bool {
	if it.ID == "" {
		return false
	}
	if _, dup := c.seen[it.ID]; dup {
		return true
	}
	for _, p := range c.pending {
		if p.it.ID == it.ID {
			return true
		}
	}
	return false
}

func (c *channel) deliverLocked(it *publish.Item, now time.Time) {
	for it != nil {
		if it.ID != "" {
			if c.seen == nil {
				c.seen = map[string]time.Time{}
			}
			c.seen[it.ID] = now
			c.seenOrder = append(c.seenOrder, seenID{it.ID, now})
			c.lastID = it.ID
		}
		for _, s := range c.subs {
			s.Deliver(c.name, it)
		}
		n := uint64(len(c.subs))
		c.delivered += n
		c.f.delivered.Add(n)
		// The item may be the predecessor another one is waiting for.
		next := (*publish.Item)(nil)
		if it.ID != "" {
			if p := c.pending[it.ID]; p != nil {
				p.timer.Stop()
				delete(c.pending, it.ID)
				next = p.it
				if _, dup := c.seen[next.ID]; dup && next.ID != "" {
					c.f.duplicates.Add(1)
					next = nil
				}
			}
		}
		it = next
	}
}

func (c *channel) expireSeen(now time.Time) {
	ttl := c.f.opts.IDCacheTTL
	n := 0
	for n < len(c.seenOrder) && now.Sub(c.seenOrder[n].at) >= ttl {
		e := c.seenOrder[n]
		if at, ok := c.seen[e.id]; ok && at.Equal(e.at) {
			delete(c.seen, e.id)
		}
		n++
	}
	if n > 0 {
		c.seenOrder = append(c.seenOrder[:0], c.seenOrder[n:]...)
	}
}

// updateAll asks every subscriber to update; c.mu must be held.
func (c *channel) updateAll(why Reason) {
	for _, s := range c.subs {
		s.Update(c.name, why)
	}
}
