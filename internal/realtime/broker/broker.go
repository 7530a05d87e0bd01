// Package broker is the seam between the realtime proxy and whatever carries published
// messages to held connections: the in-process Hub on a single node, or natsbroker when a
// publish on any node must reach subscribers on every node.
//
// A Broker never blocks a publisher on a slow subscriber. Each subscription has one bounded
// queue; when a delivery finds it full, the subscription is dropped (its channel closed, Err
// reporting ErrSlowSubscriber) and counted. The realtime layer turns that into a closed client
// connection, which GRIP clients recover from with prev-id / Grip-Last, rather than letting one
// stalled client hold up delivery to ten thousand others.
package broker

import (
	"context"
	"errors"
	"fmt"
)

// MaxChannelLen bounds a channel name. GRIP puts no limit on names; this one keeps a hostile
// publish from making every node allocate an arbitrarily large subject and map key.
const MaxChannelLen = 1024

// DefaultQueueSize is how many messages a subscriber may fall behind before it is dropped.
const DefaultQueueSize = 64

var (
	// ErrSlowSubscriber is a dropped subscription's Err: its queue was full when a message
	// arrived for it.
	ErrSlowSubscriber = errors.New("broker: subscriber too slow, dropped")
	// ErrClosed is returned by a closed broker, and is the Err of subscriptions it ended.
	ErrClosed = errors.New("broker: closed")
	// ErrInvalidChannel is returned for an empty channel name or one over MaxChannelLen bytes.
	ErrInvalidChannel = errors.New("broker: invalid channel name")
)

// Format tags what a Message's Payload holds. Brokers never interpret it; it exists so the
// realtime layer can route a payload to the right kind of held connection without decoding
// it first.
type Format uint8

// The formats of a GRIP publish item. FormatOpaque is for payloads the realtime layer encodes
// itself (for example a whole item carrying several formats).
const (
	FormatOpaque Format = iota
	FormatHTTPResponse
	FormatHTTPStream
	FormatWSMessage
)

func (f Format) String() string {
	switch f {
	case FormatOpaque:
		return "opaque"
	case FormatHTTPResponse:
		return "http-response"
	case FormatHTTPStream:
		return "http-stream"
	case FormatWSMessage:
		return "ws-message"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// Message is one published item on one channel. It is a plain value so that it can cross a
// node boundary (MarshalBinary / UnmarshalBinary).
//
// A Message is shared by every subscriber it is delivered to: nobody may modify Payload after
// Publish.
type Message struct {
	Channel string
	ID      string // GRIP item id; empty when the publisher gave none
	PrevID  string // GRIP prev-id: the id this item follows, for sequencing
	Format  Format
	Payload []byte
}

// SubscribeOptions tunes one subscription. The zero value is usable.
type SubscribeOptions struct {
	// QueueSize is how many messages may wait for the subscriber before it is dropped.
	// Zero means the broker's default (DefaultQueueSize unless configured otherwise).
	QueueSize int
	// OnClose, when set, is called exactly once when the subscription ends, with its Err
	// (nil after Close). It runs without broker locks held, possibly on a publisher's
	// goroutine, so it must be quick and must not block.
	OnClose func(err error)
	// Deliver, when set, receives each message instead of a queue: it is called on the
	// publisher's goroutine (or the node's NATS goroutine for the channel), in publish
	// order, under the channel's shard lock. It must not block and must not call the
	// broker. A callback subscription is never dropped as slow and its C is nil; it is
	// for consumers, like the realtime fan-out, that keep their own per-client queues.
	Deliver func(Message)
}

// Stats are a broker's counters on this node.
type Stats struct {
	Subscribers int64  `json:"subscribers"` // live subscriptions
	Channels    int64  `json:"channels"`    // channels with at least one live subscription
	Published   uint64 `json:"published"`   // messages accepted by Publish
	Delivered   uint64 `json:"delivered"`   // messages queued to a subscriber (one per subscriber)
	Dropped     uint64 `json:"dropped"`     // subscriptions dropped for being too slow
}

// Broker carries messages from publishers to the subscribers of a channel.
type Broker interface {
	// Publish sends m to every current subscriber of m.Channel. It never waits for a
	// subscriber; it returns ErrInvalidChannel, ErrClosed or a transport error.
	Publish(ctx context.Context, m Message) error
	// Subscribe starts receiving m.Channel's messages from now on. Messages published
	// before Subscribe returns may or may not be delivered.
	Subscribe(channel string, opts SubscribeOptions) (*Subscription, error)
	// Stats returns this node's counters.
	Stats() Stats
	// Close ends every subscription (their Err becomes ErrClosed) and releases resources.
	Close() error
}

// ValidateChannel reports whether name can be published to or subscribed on.
func ValidateChannel(name string) error {
	if name == "" || len(name) > MaxChannelLen {
		return ErrInvalidChannel
	}
	return nil
}
