package broker_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker/brokertest"
)

func TestHub(t *testing.T) {
	brokertest.Run(t, func(*testing.T) broker.Broker { return broker.NewHub(broker.HubOptions{}) })
}

func TestHubPublishNeverBlocks(t *testing.T) {
	h := broker.NewHub(broker.HubOptions{QueueSize: 1})
	defer h.Close()
	s, err := h.Subscribe("c", broker.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads s: the second publish must drop it synchronously, not wait.
	for i := range 1000 {
		if err := h.Publish(context.Background(), broker.Message{Channel: "c"}); err != nil {
			t.Fatal(i, err)
		}
	}
	if st := h.Stats(); st.Dropped != 1 || st.Published != 1000 || st.Delivered != 1 || st.Subscribers != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if s.Err() != broker.ErrSlowSubscriber {
		t.Fatalf("Err = %v", s.Err())
	}
}

// BenchmarkHubPublishReceive is publish plus the subscriber's receive on one goroutine: a
// reader goroutine would be outrun by the publisher and dropped, measuring nothing.
func BenchmarkHubPublishReceive(b *testing.B) {
	h := broker.NewHub(broker.HubOptions{})
	defer h.Close()
	s, err := h.Subscribe("bench", broker.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	m := broker.Message{Channel: "bench", ID: "1", Format: broker.FormatHTTPStream, Payload: []byte("data: hello\n\n")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		<-s.C()
	}
}

// BenchmarkHubPublish measures the publisher's side with subscribers reading on their own
// goroutines; "dropped" is reported if any fell behind.
func BenchmarkHubPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		subs int
	}{{"NoSubscribers", 0}, {"FanOut1000", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			h := broker.NewHub(broker.HubOptions{})
			defer h.Close()
			done := make(chan struct{})
			for range bc.subs {
				s, err := h.Subscribe("bench", broker.SubscribeOptions{QueueSize: 1024})
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for range s.C() {
					}
					done <- struct{}{}
				}()
			}
			m := broker.Message{Channel: "bench", ID: "1", Format: broker.FormatHTTPStream, Payload: []byte("data: hello\n\n")}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := h.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := h.Stats(); st.Dropped > 0 {
				b.ReportMetric(float64(st.Dropped), "dropped")
			}
			h.Close()
			for range bc.subs {
				<-done
			}
		})
	}
}
