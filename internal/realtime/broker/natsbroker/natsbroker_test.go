package natsbroker_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/brokertest"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/natsbroker"
)

// natsURL returns GATEHOUSE_TEST_NATS or skips: these tests need a running NATS server.
func natsURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_NATS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_NATS not set (e.g. nats://127.0.0.1:4222); skipping NATS broker tests")
	}
	return url
}

func newBroker(t *testing.T, url string) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.New(natsbroker.Config{URL: url, Name: "gatehouse-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	url := natsURL(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, url) })
}

// TestTwoNodes uses two connections as two gateway nodes: a publish on either reaches the
// subscribers on both, exactly once each.
func TestTwoNodes(t *testing.T) {
	url := natsURL(t)
	a, b := newBroker(t, url), newBroker(t, url)
	ch := brokertest.Channel(t, "shared")
	sa, err := a.Subscribe(ch, broker.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb1, err := b.Subscribe(ch, broker.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb1.Close()
	sb2, err := b.Subscribe(ch, broker.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb2.Close()

	for _, pub := range []*natsbroker.Broker{a, b} {
		id := "from-a"
		if pub == b {
			id = "from-b"
		}
		if err := pub.Publish(context.Background(), broker.Message{Channel: ch, ID: id, Payload: []byte(id)}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*broker.Subscription{sa, sb1, sb2} {
			if got := brokertest.Receive(t, s); got.ID != id || string(got.Payload) != id {
				t.Fatalf("got %+v, want id %q", got, id)
			}
		}
	}
	for _, s := range []*broker.Subscription{sa, sb1, sb2} {
		brokertest.ExpectNothing(t, s)
	}
	if st := b.Stats(); st.Subscribers != 2 || st.Channels != 1 || st.Delivered != 4 {
		t.Fatalf("node b stats = %+v", st)
	}

	// After node b's last subscriber leaves, a's publishes still reach a.
	sb1.Close()
	sb2.Close()
	if err := a.Publish(context.Background(), broker.Message{Channel: ch, ID: "3"}); err != nil {
		t.Fatal(err)
	}
	if got := brokertest.Receive(t, sa); got.ID != "3" {
		t.Fatalf("got %+v", got)
	}
	if st := b.Stats(); st.Channels != 0 {
		t.Fatalf("node b stats after unsubscribing = %+v", st)
	}
	if n := b.RemoteChannels(); n != 0 {
		t.Fatalf("node b still holds %d NATS subscriptions", n)
	}
	if n := a.RemoteChannels(); n != 1 {
		t.Fatalf("node a holds %d NATS subscriptions, want 1 for 1 subscriber", n)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ channel, want string }{
		{"a", "p.YQ"},
		{"a.b", "p.YS5i"},
		{"a b>*", "p.YSBiPio"},
		{"\xff\xfe", "p.__4"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := natsbroker.Subject("p", tt.channel)
		if got != tt.want {
			t.Errorf("Subject(%q) = %q, want %q", tt.channel, got, tt.want)
		}
		if strings.ContainsAny(got[2:], ". *>\t") || seen[got] {
			t.Errorf("Subject(%q) = %q is not a distinct single token", tt.channel, got)
		}
		seen[got] = true
	}
}

func TestNewRequiresURL(t *testing.T) {
	if _, err := natsbroker.New(natsbroker.Config{}); err == nil {
		t.Fatal("New without URL succeeded")
	}
}

func TestNewConnectFailure(t *testing.T) {
	// Port 1 on loopback is closed: the first connection must fail rather than hang.
	if _, err := natsbroker.New(natsbroker.Config{URL: "nats://127.0.0.1:1"}); err == nil {
		t.Fatal("New against a closed port succeeded")
	}
}
