// Package fanout is a node's realtime channel table: it turns publish items into broker
// messages, and broker messages into deliveries to the connections held on this node.
//
// One broker subscription serves every local subscriber of a channel, so an item is decoded,
// de-duplicated and sequenced once per node, not once per connection. That is also where
// Pushpin's handler-side behaviour lives: id de-duplication within a TTL, the prev-id wait
// window for out-of-order items, the last id per channel for recovery, and the update sent
// to a channel's sessions shortly after its first subscriber (a per-API switch upstream of
// here: sessions that do not want it ignore it).
package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// Defaults, as Pushpin 1.36's handler (grip.md §1.7, §1.8, §4.2).
const (
	DefaultIDCacheTTL             = 60 * time.Second
	DefaultMessageWait            = 5 * time.Second
	DefaultMaxPending             = 100
	DefaultLinger                 = 60 * time.Second
	DefaultFirstSubscriptionDelay = time.Second
)

// Reason says why a subscriber is asked to update from its origin.
type Reason uint8

const (
	// FirstSubscription: the channel got its first subscriber on this node about
	// FirstSubscriptionDelay ago (Pushpin's update_on_first_subscription).
	FirstSubscription Reason = iota + 1
	// Recover: an operator asked every session to recover (Pushpin's POST /recover).
	Recover
)

// Subscriber is one held connection's interest in a channel.
type Subscriber interface {
	// Deliver hands over an item published to channel, in sequence order. It is called
	// on the fan-out's goroutine with the channel's lock held: it must not block and must
	// not subscribe or unsubscribe. The item is shared by every subscriber: read only.
	Deliver(channel string, it *publish.Item)
	// Update asks the connection to refresh from its origin (re-request a long-poll,
	// fetch a next link). Same rules as Deliver.
	Update(channel string, why Reason)
}

// Options configures a Fanout. Broker is required; zero durations take the defaults and
// a negative FirstSubscriptionDelay turns the first-subscription update off.
type Options struct {
	Broker                 broker.Broker
	Logger                 *slog.Logger
	IDCacheTTL             time.Duration
	MessageWait            time.Duration
	MaxPending             int // items waiting for their predecessor, per channel
	Linger                 time.Duration
	FirstSubscriptionDelay time.Duration
}

// ChannelStat is one channel's state on this node, for the admin API and /metrics.
type ChannelStat struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
	LastID      string `json:"last_id,omitempty"`
	Received    uint64 `json:"received"`  // items that reached this node for the channel
	Delivered   uint64 `json:"delivered"` // deliveries to subscribers (items × subscribers)
}

// Stats are node-wide counters.
type Stats struct {
	Channels    int    `json:"channels"`
	Subscribers int    `json:"subscribers"`
	Published   uint64 `json:"published"`  // items this node published
	Received    uint64 `json:"received"`   // items received from the broker
	Delivered   uint64 `json:"delivered"`  // deliveries to subscribers
	Duplicates  uint64 `json:"duplicates"` // items dropped as already seen
	Reordered   uint64 `json:"reordered"`  // items that waited for their predecessor
	Undecodable uint64 `json:"undecodable"`
}

// Fanout is safe for concurrent use.
type Fanout struct {
	b    broker.Broker
	log  *slog.Logger
	opts Options

	mu    sync.Mutex
	chans map[string]*channel

	published, received, delivered, duplicates, reordered, undecodable atomic.Uint64
}

// New returns a Fanout over opts.Broker.
func New(opts Options) *Fanout {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IDCacheTTL <= 0 {
		opts.IDCacheTTL = DefaultIDCacheTTL
	}
	if opts.MessageWait <= 0 {
		opts.MessageWait = DefaultMessageWait
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Linger <= 0 {
		opts.Linger = DefaultLinger
	}
	if opts.FirstSubscriptionDelay == 0 {
		opts.FirstSubscriptionDelay = DefaultFirstSubscriptionDelay
	}
	return &Fanout{b: opts.Broker, log: opts.Logger, opts: opts, chans: map[string]*channel{}}
}

// Encode is an item's form on the broker: JSON, so that any node (and any version that
// adds fields) can read it.
func Encode(it *publish.Item) ([]byte, error) { return json.Marshal(it) }

// Decode reverses Encode.
func Decode(b []byte) (*publish.Item, error) {
	it := new(publish.Item)
	if err := json.Unmarshal(b, it); err != nil {
		return nil, err
	}
	if it.Channel == "" {
		return nil, errors.New("fanout: item without a channel")
	}
	// Encode writes a nil BodyPatch as null, which json.RawMessage keeps as the four bytes
	// "null": without this every response item would come back with a body patch.
	if r := it.HTTPResponse; r != nil && string(bytes.TrimSpace(r.BodyPatch)) == "null" {
		r.BodyPatch = nil
	}
	return it, nil
}

// Publish sends items, in order, to the subscribers of their channels on every node. The
// request is validated by the caller (publish.Parse); an error here is the broker's.
func (f *Fanout) Publish(ctx context.Context, items []publish.Item) error {
	for i := range items {
		it := &items[i]
		payload, err := Encode(it)
		if err != nil {
			return fmt.Errorf("fanout: encoding item for %q: %w", it.Channel, err)
		}
		m := broker.Message{Channel: it.Channel, ID: it.ID, PrevID: it.PrevID, Format: broker.FormatOpaque, Payload: payload}
		if err := f.b.Publish(ctx, m); err != nil {
			return err
		}
		f.published.Add(1)
	}
	return nil
}

// Subscribe adds s to channel's local subscribers until the returned function is called
// (it is idempotent). The first local subscriber makes the broker subscription; with NATS
// that is a round trip, so Subscribe may block briefly.
func (f *Fanout) Subscribe(name string, s Subscriber) (func(), error) {
	if err := broker.ValidateChannel(name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	c := f.chans[name]
	if c == nil {
		c = newChannel(f, name)
		f.chans[name] = c
	}
	c.refs++ // keeps c in the map while we subscribe outside f.mu
	f.mu.Unlock()
	if err := c.ensureBroker(); err != nil {
		f.release(c)
		return nil, err
	}
	c.add(s)
	f.release(c)
	var once sync.Once
	return func() { once.Do(func() { c.remove(s) }) }, nil
}

// release drops a temporary reference taken under f.mu.
func (f *Fanout) release(c *channel) {
	f.mu.Lock()
	c.refs--
	f.mu.Unlock()
	c.maybeLinger()
}

// LastID returns the id of the last item delivered on channel by this node, if known.
func (f *Fanout) LastID(name string) (string, bool) {
	f.mu.Lock()
	c := f.chans[name]
	f.mu.Unlock()
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID, c.lastID != ""
}

// Recover forgets every channel's last id and asks every subscriber to update, as
// Pushpin's POST /recover.
func (f *Fanout) Recover() {
	for _, c := range f.channels() {
		c.mu.Lock()
		c.lastID = ""
		c.updateAll(Recover)
		c.mu.Unlock()
	}
}

func (f *Fanout) channels() []*channel {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*channel, 0, len(f.chans))
	for _, c := range f.chans {
		out = append(out, c)
	}
	return out
}

// Channels reports every channel with local state, busiest first, at most limit (0: all).
func (f *Fanout) Channels(limit int) []ChannelStat {
	var out []ChannelStat
	for _, c := range f.channels() {
		c.mu.Lock()
		out = append(out, ChannelStat{Name: c.name, Subscribers: len(c.subs), LastID: c.lastID, Received: c.received, Delivered: c.delivered})
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subscribers != out[j].Subscribers {
			return out[i].Subscribers > out[j].Subscribers
		}
		return out[i].Name < out[j].Name
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Stats reports node-wide counters.
func (f *Fanout) Stats() Stats {
	st := Stats{
		Published: f.published.Load(), Received: f.received.Load(), Delivered: f.delivered.Load(),
		Duplicates: f.duplicates.Load(), Reordered: f.reordered.Load(), Undecodable: f.undecodable.Load(),
	}
	for _, c := range f.channels() {
		c.mu.Lock()
		if len(c.subs) > 0 {
			st.Channels++
			st.Subscribers += len(c.subs)
		}
		c.mu.Unlock()
	}
	return st
}
