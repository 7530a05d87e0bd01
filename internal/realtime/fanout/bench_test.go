package fanout_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// noop is a Subscriber that does nothing. It has a field so that every one is a distinct
// pointer (pointers to zero-size values may be equal).
type noop struct{ n int }

func (*noop) Deliver(string, *publish.Item) {}
func (*noop) Update(string, fanout.Reason)  {}

// BenchmarkFanoutDeliver publishes one item to a channel with 10,000 local subscribers
// through a Hub: encode, one broker delivery, decode, then 10,000 Deliver calls.
func BenchmarkFanoutDeliver(b *testing.B) {
	const subscribers = 10_000
	h := broker.NewHub(broker.HubOptions{})
	defer h.Close()
	f := fanout.New(fanout.Options{Broker: h, FirstSubscriptionDelay: -1})
	for i := range subscribers {
		if _, err := f.Subscribe("bench", &noop{n: i}); err != nil {
			b.Fatal(err)
		}
	}
	// No id: the id cache would otherwise grow with every iteration.
	items := []publish.Item{{
		Channel:    "bench",
		HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("data: hello\n\n")},
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Publish(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := f.Stats(); st.Delivered != st.Received*subscribers {
		b.Fatalf("delivered %d for %d items", st.Delivered, st.Received)
	}
}
