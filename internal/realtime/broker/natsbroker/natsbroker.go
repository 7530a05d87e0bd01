// Package natsbroker is the broker.Broker for a cluster of gateway nodes: a publish on any
// node reaches the subscribers on every node, through core NATS.
//
// Each node holds one NATS subscription per channel that has local subscribers, made when
// the first local subscriber arrives and removed when the last leaves, so NATS only sends a
// node the channels it needs. Messages from NATS go into a local broker.Hub, which does the
// fan-out to local subscribers and the slow-subscriber dropping: ten thousand subscribers of
// one channel on a node cost one NATS subscription.
//
// Local publishes also travel through NATS (the server echoes them back), so there is one
// path and one order for every subscriber, local or remote.
//
// Core NATS delivers at most once: messages published while a node is disconnected are lost
// to it. OnReconnect lets the realtime layer ask origins to recover (GRIP prev-id / Grip-Last),
// as Pushpin does after a gap.
//
// # Subjects
//
// A GRIP channel is any string, but NATS subjects may not hold spaces, and '.', '*' and '>'
// are structure. A channel maps to Prefix + "." + base64url(channel) without padding: the
// alphabet [A-Za-z0-9_-] is valid in a subject token, the mapping is one-to-one, and
// MaxChannelLen bytes encode to 1,366 characters.
package natsbroker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
)

// DefaultPrefix is the subject prefix when Config.Prefix is empty.
const DefaultPrefix = "gatehouse.rt"

// Config configures a Broker. Zero values mean the documented defaults.
type Config struct {
	// URL of the NATS server(s), comma-separated, e.g. "nats://127.0.0.1:4222". Required.
	URL string
	// Prefix of every subject; nodes that should share channels must use the same one.
	// Default DefaultPrefix.
	Prefix string
	// Name identifies this node's connection in NATS monitoring. Default "gatehouse".
	Name string
	// QueueSize is the default per-subscriber queue. Default broker.DefaultQueueSize.
	QueueSize int
	// SubscribeTimeout bounds the round trip that makes sure the NATS server knows about a
	// new channel subscription before Subscribe returns. Default 5s.
	SubscribeTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts; they never stop until Close.
	// Default 1s.
	ReconnectWait time.Duration
	// OnReconnect, when set, is called after the connection is re-established: messages
	// published meanwhile were missed.
	OnReconnect func()
	// Logger receives connection events. Default slog.Default().
	Logger *slog.Logger
}

// Broker is a broker.Broker over NATS. Create one with New.
//
// Lock order: Broker.mu, then a Hub shard lock (through hub.Subscribe). The Hub calls
// release (which takes mu) only after dropping its own lock.
type Broker struct {
	nc      *nats.Conn
	hub     *broker.Hub
	prefix  string
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	chans  map[string]*remote // channel -> its NATS subscription, while it has local subscribers
	closed bool

	published atomic.Uint64
}

// remote is one NATS subscription shared by a channel's local subscribers.
type remote struct {
	refs  int
	sub   *nats.Subscription
	ready chan struct{} // closed once the server has acknowledged the subscription
	err   error         // set before ready is closed
}

var _ broker.Broker = (*Broker)(nil)

// New connects to NATS. It fails if the first connection fails; later disconnections are
// retried in the background until Close.
func New(cfg Config) (*Broker, error) {
	if cfg.URL == "" {
		return nil, errors.New("natsbroker: URL is required")
	}
	b := &Broker{
		hub:     broker.NewHub(broker.HubOptions{QueueSize: cfg.QueueSize}),
		prefix:  cfg.Prefix,
		timeout: cfg.SubscribeTimeout,
		log:     cfg.Logger,
		chans:   make(map[string]*remote),
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if b.timeout <= 0 {
		b.timeout = 5 * time.Second
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	name, wait := cfg.Name, cfg.ReconnectWait
	if name == "" {
		name = "gatehouse"
	}
	if wait <= 0 {
		wait = time.Second
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats broker disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats broker reconnected", "url", nc.ConnectedUrlRedacted())
			if cfg.OnReconnect != nil {
				cfg.OnReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			b.log.Warn("nats broker error", "subject", subject, "error", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connecting to %s: %w", cfg.URL, err)
	}
	b.nc = nc
	return b, nil
}

// Subject is the NATS subject that carries channel's messages under prefix.
func Subject(prefix, channel string) string {
	return prefix + "." + base64.RawURLEncoding.EncodeToString([]byte(channel))
}

// Publish implements broker.Broker. It hands the message to the NATS client's buffer and does
// not wait for the server; ctx is checked only before that. A message larger than the
// server's max_payload (1 MB by default) is refused with the NATS client's error.
func (b *Broker) Publish(ctx context.Context, m broker.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if b.nc.IsClosed() {
		return broker.ErrClosed
	}
	if err := b.nc.Publish(Subject(b.prefix, m.Channel), data); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return broker.ErrClosed
		}
		return fmt.Errorf("natsbroker: publishing to %q: %w", m.Channel, err)
	}
	b.published.Add(1)
	return nil
}

// Subscribe implements broker.Broker. The first local subscriber of a channel waits for the
// NATS server to acknowledge the channel's subscription, so that a publish made after
// Subscribe returns, on any node, reaches it.
func (b *Broker) Subscribe(channel string, opts broker.SubscribeOptions) (*broker.Subscription, error) {
	if err := broker.ValidateChannel(channel); err != nil {
		return nil, err
	}
	r, err := b.acquire(channel)
	if err != nil {
		return nil, err
	}
	<-r.ready
	if r.err != nil {
		b.release(channel)
		return nil, r.err
	}
	onClose := opts.OnClose
	opts.OnClose = func(err error) {
		b.release(channel)
		if onClose != nil {
			onClose(err)
		}
	}
	s, err := b.hub.Subscribe(channel, opts)
	if err != nil {
		b.release(channel)
		return nil, err
	}
	return s, nil
}

// acquire counts one more local subscriber of channel, subscribing on NATS for the first.
func (b *Broker) acquire(channel string) (*remote, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	if r := b.chans[channel]; r != nil {
		r.refs++
		b.mu.Unlock()
		return r, nil
	}
	r := &remote{refs: 1, ready: make(chan struct{})}
	b.chans[channel] = r
	sub, err := b.nc.Subscribe(Subject(b.prefix, channel), func(msg *nats.Msg) { b.deliver(channel, msg) })
	r.sub = sub
	b.mu.Unlock()
	if err == nil {
		// The round trip happens outside mu so that other channels aren't held up by it;
		// other subscribers of this channel wait on ready instead.
		err = b.nc.FlushTimeout(b.timeout)
	}
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			err = broker.ErrClosed
		} else {
			err = fmt.Errorf("natsbroker: subscribing to %q: %w", channel, err)
		}
	}
	r.err = err
	close(r.ready)
	return r, nil
}

// release counts one local subscriber of channel fewer, unsubscribing on NATS after the last.
func (b *Broker) release(channel string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.chans[channel]
	if r == nil {
		return // Close already tore everything down
	}
	if r.refs--; r.refs > 0 {
		return
	}
	delete(b.chans, channel)
	if r.sub != nil {
		// An error here means the connection is closed, which unsubscribes anyway.
		_ = r.sub.Unsubscribe()
	}
}

// deliver hands a message from NATS to the local subscribers. It runs on the channel's NATS
// subscription goroutine, so messages of one channel arrive at the hub in NATS order.
func (b *Broker) deliver(channel string, msg *nats.Msg) {
	var m broker.Message
	if err := m.UnmarshalBinary(msg.Data); err != nil {
		b.log.Warn("nats broker: undecodable message", "subject", msg.Subject, "error", err)
		return
	}
	if m.Channel != channel {
		// Another publisher on our prefix that doesn't follow Subject's mapping.
		b.log.Warn("nats broker: message channel does not match its subject", "subject", msg.Subject)
		return
	}
	// Hub.Publish fails only once the hub is closed, when there is nobody to deliver to.
	_ = b.hub.Publish(context.Background(), m)
}

// Stats implements broker.Broker. Published counts messages this node sent to NATS;
// Delivered and Dropped count deliveries to this node's subscribers, from any publisher.
func (b *Broker) Stats() broker.Stats {
	st := b.hub.Stats()
	st.Published = b.published.Load()
	return st
}

// Close implements broker.Broker: it flushes what this node published, closes the
// connection and ends every local subscription with broker.ErrClosed.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	clear(b.chans)
	b.mu.Unlock()
	// Best effort: a publish accepted just before Close should still leave this node.
	_ = b.nc.FlushTimeout(b.timeout)
	b.nc.Close()
	return b.hub.Close()
}
