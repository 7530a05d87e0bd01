// Package brokertest is the one conformance suite every broker.Broker passes: the in-process
// Hub and natsbroker run the same tests, so the realtime layer can rely on the same
// behaviour from both.
//
// Delivery may be asynchronous (NATS), so tests wait for what must arrive with a timeout
// and give what must not arrive a short grace period.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
)

const (
	waitTimeout = 5 * time.Second
	// quiet is how long a test waits to be confident a message that must not arrive won't.
	quiet = 100 * time.Millisecond
)

// Run runs the suite. newBroker returns a fresh broker per test; Run closes it.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	tests := []struct {
		name string
		fn   func(*testing.T, broker.Broker)
	}{
		{"DeliversToSubscribersOfChannelOnly", testDelivery},
		{"PreservesOrderPerPublisher", testOrder},
		{"DropsSlowSubscriberWithoutBlocking", testSlowSubscriber},
		{"Unsubscribe", testUnsubscribe},
		{"ManyChannels", testManyChannels},
		{"InvalidChannel", testInvalidChannel},
		{"Close", testClose},
		{"Concurrent", testConcurrent},
		{"DeliverCallback", testDeliverCallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t)
			t.Cleanup(func() { _ = b.Close() })
			tt.fn(t, b)
		})
	}
}

// Channel returns a channel name unique to this test run: brokers such as NATS may be
// shared with other tests and other processes.
func Channel(t testing.TB, name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%s/%s", t.Name(), name, hex.EncodeToString(b[:]))
}

// Receive waits for the next message on s.
func Receive(t testing.TB, s *broker.Subscription) broker.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription to %q closed: %v", s.Channel(), s.Err())
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message on %q within %v", s.Channel(), waitTimeout)
	}
	return broker.Message{}
}

// ExpectNothing fails if s receives a message within a short grace period.
func ExpectNothing(t testing.TB, s *broker.Subscription) {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if ok {
			t.Fatalf("unexpected message on %q: %+v", s.Channel(), m)
		}
	case <-time.After(quiet):
	}
}

// WaitClosed waits until s's channel is closed, discarding queued messages, and returns Err.
func WaitClosed(t testing.TB, s *broker.Subscription) error {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return s.Err()
			}
		case <-deadline:
			t.Fatalf("subscription to %q not closed within %v", s.Channel(), waitTimeout)
		}
	}
}

func subscribe(t testing.TB, b broker.Broker, channel string, opts broker.SubscribeOptions) *broker.Subscription {
	t.Helper()
	s, err := b.Subscribe(channel, opts)
	if err != nil {
		t.Fatalf("subscribing to %q: %v", channel, err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t testing.TB, b broker.Broker, m broker.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("publishing to %q: %v", m.Channel, err)
	}
}

func testDelivery(t *testing.T, b broker.Broker) {
	a, other := Channel(t, "a"), Channel(t, "other")
	s1 := subscribe(t, b, a, broker.SubscribeOptions{})
	s2 := subscribe(t, b, a, broker.SubscribeOptions{})
	so := subscribe(t, b, other, broker.SubscribeOptions{})
	want := broker.Message{Channel: a, ID: "2", PrevID: "1", Format: broker.FormatHTTPStream, Payload: []byte("hello\n")}
	publish(t, b, want)
	for _, s := range []*broker.Subscription{s1, s2} {
		got := Receive(t, s)
		if got.Channel != want.Channel || got.ID != want.ID || got.PrevID != want.PrevID ||
			got.Format != want.Format || string(got.Payload) != string(want.Payload) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	ExpectNothing(t, so)
	ExpectNothing(t, s1)
	st := b.Stats()
	if st.Subscribers != 3 || st.Channels != 2 {
		t.Fatalf("stats = %+v, want 3 subscribers on 2 channels", st)
	}
	if st.Delivered < 2 {
		t.Fatalf("stats = %+v, want at least 2 delivered", st)
	}
}

func testOrder(t *testing.T, b broker.Broker) {
	ch := Channel(t, "ordered")
	const n = 500
	s := subscribe(t, b, ch, broker.SubscribeOptions{QueueSize: n})
	for i := range n {
		publish(t, b, broker.Message{Channel: ch, ID: fmt.Sprint(i)})
	}
	for i := range n {
		if got := Receive(t, s); got.ID != fmt.Sprint(i) {
			t.Fatalf("message %d has id %q", i, got.ID)
		}
	}
}

func testSlowSubscriber(t *testing.T, b broker.Broker) {
	ch := Channel(t, "slow")
	const n = 200
	var closedWith = make(chan error, 1)
	slow := subscribe(t, b, ch, broker.SubscribeOptions{QueueSize: 1, OnClose: func(err error) { closedWith <- err }})
	fast := subscribe(t, b, ch, broker.SubscribeOptions{QueueSize: n})
	start := time.Now()
	for i := range n {
		publish(t, b, broker.Message{Channel: ch, ID: fmt.Sprint(i)})
	}
	// Nobody reads slow while we publish: a broker that waited for it would take forever.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing %d messages took %v: the publisher waited for a slow subscriber", n, d)
	}
	for i := range n {
		if got := Receive(t, fast); got.ID != fmt.Sprint(i) {
			t.Fatalf("fast subscriber: message %d has id %q", i, got.ID)
		}
	}
	if err := WaitClosed(t, slow); !errors.Is(err, broker.ErrSlowSubscriber) {
		t.Fatalf("slow subscriber Err = %v, want ErrSlowSubscriber", err)
	}
	select {
	case err := <-closedWith:
		if !errors.Is(err, broker.ErrSlowSubscriber) {
			t.Fatalf("OnClose(%v), want ErrSlowSubscriber", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("OnClose not called for the dropped subscriber")
	}
	if st := b.Stats(); st.Dropped != 1 || st.Subscribers != 1 {
		t.Fatalf("stats = %+v, want 1 dropped and 1 subscriber left", st)
	}
}

func testUnsubscribe(t *testing.T, b broker.Broker) {
	ch := Channel(t, "unsub")
	gone := subscribe(t, b, ch, broker.SubscribeOptions{})
	stays := subscribe(t, b, ch, broker.SubscribeOptions{})
	gone.Close()
	gone.Close() // idempotent
	if err := WaitClosed(t, gone); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
	publish(t, b, broker.Message{Channel: ch, ID: "1"})
	if got := Receive(t, stays); got.ID != "1" {
		t.Fatalf("got %+v", got)
	}
	stays.Close()
	if st := b.Stats(); st.Subscribers != 0 || st.Channels != 0 {
		t.Fatalf("stats after unsubscribing all = %+v, want no subscribers or channels", st)
	}
	// Resubscribing after the channel emptied works.
	again := subscribe(t, b, ch, broker.SubscribeOptions{})
	publish(t, b, broker.Message{Channel: ch, ID: "2"})
	if got := Receive(t, again); got.ID != "2" {
		t.Fatalf("after resubscribe got %+v", got)
	}
}

func testManyChannels(t *testing.T, b broker.Broker) {
	const n = 300
	prefix := Channel(t, "many")
	subs := make([]*broker.Subscription, n)
	for i := range subs {
		subs[i] = subscribe(t, b, fmt.Sprintf("%s-%d", prefix, i), broker.SubscribeOptions{})
	}
	if st := b.Stats(); st.Channels != n {
		t.Fatalf("stats = %+v, want %d channels", st, n)
	}
	for i := range subs {
		publish(t, b, broker.Message{Channel: fmt.Sprintf("%s-%d", prefix, i), ID: fmt.Sprint(i)})
	}
	for i, s := range subs {
		if got := Receive(t, s); got.ID != fmt.Sprint(i) {
			t.Fatalf("channel %d got %+v", i, got)
		}
		s.Close()
	}
	if st := b.Stats(); st.Channels != 0 || st.Subscribers != 0 {
		t.Fatalf("stats after closing all = %+v, want none", st)
	}
}

func testInvalidChannel(t *testing.T, b broker.Broker) {
	long := make([]byte, broker.MaxChannelLen+1)
	for i := range long {
		long[i] = 'x'
	}
	for _, ch := range []string{"", string(long)} {
		if _, err := b.Subscribe(ch, broker.SubscribeOptions{}); !errors.Is(err, broker.ErrInvalidChannel) {
			t.Errorf("Subscribe(%d bytes) err = %v, want ErrInvalidChannel", len(ch), err)
		}
		if err := b.Publish(context.Background(), broker.Message{Channel: ch}); !errors.Is(err, broker.ErrInvalidChannel) {
			t.Errorf("Publish(%d bytes) err = %v, want ErrInvalidChannel", len(ch), err)
		}
	}
	// Channel names are arbitrary GRIP strings: dots, spaces, wildcards and non-ASCII must
	// all be distinct channels (a naive NATS subject mapping would merge or reject them).
	names := []string{"a.b", "a.*", "a.>", "a b", "ä", "a/b", ">"}
	subs := make([]*broker.Subscription, len(names))
	for i, n := range names {
		subs[i] = subscribe(t, b, Channel(t, "x")+n, broker.SubscribeOptions{})
	}
	for i, s := range subs {
		publish(t, b, broker.Message{Channel: s.Channel(), ID: names[i]})
	}
	for i, s := range subs {
		if got := Receive(t, s); got.ID != names[i] {
			t.Fatalf("channel %q got %+v", s.Channel(), got)
		}
		ExpectNothing(t, s)
	}
}

func testClose(t *testing.T, b broker.Broker) {
	ch := Channel(t, "close")
	s := subscribe(t, b, ch, broker.SubscribeOptions{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WaitClosed(t, s); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Err after broker Close = %v, want ErrClosed", err)
	}
	if err := b.Publish(context.Background(), broker.Message{Channel: ch}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(ch, broker.SubscribeOptions{}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testConcurrent runs publishers, subscribers and unsubscribers at once (for -race) and
// checks that every steady subscriber sees each publisher's messages complete and in order.
func testConcurrent(t *testing.T, b broker.Broker) {
	const (
		publishers = 4
		channels   = 4
		perPub     = 200
	)
	names := make([]string, channels)
	steady := make([]*broker.Subscription, channels)
	for i := range names {
		names[i] = Channel(t, fmt.Sprintf("conc%d", i))
		steady[i] = subscribe(t, b, names[i], broker.SubscribeOptions{QueueSize: publishers * perPub})
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range channels { // churn: subscribers that come and go while messages flow
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, err := b.Subscribe(names[i], broker.SubscribeOptions{QueueSize: 2})
				if err != nil {
					t.Error(err)
					return
				}
				s.Close()
				_ = b.Stats()
			}
		})
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for n := range perPub {
				for _, ch := range names {
					if err := b.Publish(context.Background(), broker.Message{Channel: ch, ID: fmt.Sprintf("%d/%d", p, n)}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	pubs.Wait()
	for _, s := range steady {
		next := make([]int, publishers)
		for range publishers * perPub {
			m := Receive(t, s)
			var p, n int
			if _, err := fmt.Sscanf(m.ID, "%d/%d", &p, &n); err != nil {
				t.Fatalf("bad id %q", m.ID)
			}
			if n != next[p] {
				t.Fatalf("channel %q: publisher %d message %d arrived, want %d", s.Channel(), p, n, next[p])
			}
			next[p]++
		}
	}
	close(stop)
	wg.Wait()
}

// testDeliverCallback checks callback subscriptions: every message arrives in order, none
// after Close returns, and a callback is never dropped as slow.
func testDeliverCallback(t *testing.T, b broker.Broker) {
	ch := Channel(t, "cb")
	got := make(chan broker.Message, 1000)
	var closed atomic.Bool
	var late atomic.Int32
	s := subscribe(t, b, ch, broker.SubscribeOptions{QueueSize: 1, Deliver: func(m broker.Message) {
		if closed.Load() {
			late.Add(1)
		}
		got <- m
	}})
	if s.C() != nil {
		t.Fatal("a callback subscription has a queue")
	}
	const n = 200 // far more than QueueSize: callbacks are not queued, so never slow
	for i := range n {
		publish(t, b, broker.Message{Channel: ch, ID: fmt.Sprint(i), Payload: []byte("x")})
	}
	for i := range n {
		select {
		case m := <-got:
			if m.ID != fmt.Sprint(i) {
				t.Fatalf("message %d has id %q: out of order", i, m.ID)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("only %d of %d messages delivered", i, n)
		}
	}
	s.Close()
	closed.Store(true)
	publish(t, b, broker.Message{Channel: ch, ID: "after", Payload: []byte("x")})
	time.Sleep(quiet)
	if late.Load() != 0 {
		t.Fatalf("%d deliveries after Close", late.Load())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err after Close = %v", err)
	}
}
