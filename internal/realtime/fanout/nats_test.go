package fanout_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/brokertest"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/natsbroker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
)

// newNATSFanout returns a Fanout over its own NATS connection: one gateway node.
func newNATSFanout(t *testing.T, url, name string) (*fanout.Fanout, *natsbroker.Broker) {
	t.Helper()
	b, err := natsbroker.New(natsbroker.Config{URL: url, Name: name, SubscribeTimeout: waitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return fanout.New(fanout.Options{Broker: b, FirstSubscriptionDelay: -1, MessageWait: time.Hour}), b
}

// TestTwoNodesOverNATS: a publish on one node reaches the subscribers on both nodes, once
// each and in order, through one NATS subscription per node.
func TestTwoNodesOverNATS(t *testing.T) {
	url := os.Getenv("GATEHOUSE_TEST_NATS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_NATS not set (e.g. nats://127.0.0.1:4222); skipping the two-node NATS test")
	}
	fa, ba := newNATSFanout(t, url, "gatehouse-fanout-test-a")
	fb, bb := newNATSFanout(t, url, "gatehouse-fanout-test-b")
	ch := brokertest.Channel(t, "shared")
	other := brokertest.Channel(t, "other")

	onA := newRecorder("a")
	onB1, onB2 := newRecorder("b1"), newRecorder("b2")
	bystander := newRecorder("bystander")
	subscribe(t, fa, ch, onA)
	subscribe(t, fb, ch, onB1)
	subscribe(t, fb, ch, onB2)
	subscribe(t, fb, other, bystander)
	if n := bb.Stats().Subscribers; n != 2 {
		t.Fatalf("node b holds %d broker subscriptions, want 2 (one per channel)", n)
	}

	const n = 200
	var want []string
	for i := range n {
		it := item(ch, fmt.Sprint("a", i), "")
		if i > 0 {
			it.PrevID = fmt.Sprint("a", i-1)
		}
		want = append(want, it.ID)
		pub(t, fa, it)
		if i%50 == 0 {
			pub(t, fa, it) // a repeat: dropped by the id cache on every node
		}
	}
	for _, r := range []*recorder{onA, onB1, onB2} {
		waitDeliveries(t, r, n)
	}
	time.Sleep(quiet) // anything extra would have arrived by now
	for _, r := range []*recorder{onA, onB1, onB2} {
		expectSeq(t, r.name, r.deliveries(), want...)
	}
	if got := bystander.events(); len(got) != 0 {
		t.Fatalf("subscriber of another channel got %d events", len(got))
	}
	if id, _ := fb.LastID(ch); id != want[n-1] {
		t.Fatalf("node b LastID = %q, want %q", id, want[n-1])
	}
	if st := fb.Stats(); st.Received != n+4 || st.Duplicates != 4 || st.Delivered != 2*n {
		t.Fatalf("node b stats = %+v", st)
	}

	// And the other way round.
	pub(t, fb, item(ch, "b0", want[n-1]))
	for _, r := range []*recorder{onA, onB1, onB2} {
		got := waitDeliveries(t, r, n+1)
		if got[n] != "b0" {
			t.Fatalf("%s got %q after the other node's publish", r.name, got[n])
		}
	}
	if st := ba.Stats(); st.Subscribers != 1 {
		t.Fatalf("node a broker subscriptions = %d, want 1", st.Subscribers)
	}
}
