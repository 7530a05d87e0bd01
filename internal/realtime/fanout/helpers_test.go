package fanout_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

const (
	// waitTimeout bounds how long a test waits for something that must happen. It is
	// generous: the machines running these tests are small and busy.
	waitTimeout = 10 * time.Second
	// quiet is how long a test waits to be confident that something that must not happen
	// (an extra delivery, a second update) does not.
	quiet = 300 * time.Millisecond
)

// event is what a recorder saw: a delivery (ID set, or Item for items without one) or an
// update (Why set).
type event struct {
	Channel string
	ID      string
	Item    *publish.Item
	Why     fanout.Reason
	At      time.Time
}

// recorder is a Subscriber that remembers everything it is given.
type recorder struct {
	name string
	mu   sync.Mutex
	evs  []event
}

func newRecorder(name string) *recorder { return &recorder{name: name} }

func (r *recorder) Deliver(channel string, it *publish.Item) {
	r.mu.Lock()
	r.evs = append(r.evs, event{Channel: channel, ID: it.ID, Item: it, At: time.Now()})
	r.mu.Unlock()
}

func (r *recorder) Update(channel string, why fanout.Reason) {
	r.mu.Lock()
	r.evs = append(r.evs, event{Channel: channel, Why: why, At: time.Now()})
	r.mu.Unlock()
}

func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.evs...)
}

// deliveries returns the delivered items' ids ("-" for an item without one), in order.
func (r *recorder) deliveries() []string {
	var out []string
	for _, e := range r.events() {
		if e.Why == 0 {
			id := e.ID
			if id == "" {
				id = "-"
			}
			out = append(out, id)
		}
	}
	return out
}

// deliveriesOn is deliveries restricted to one channel.
func (r *recorder) deliveriesOn(channel string) []string {
	var out []string
	for _, e := range r.events() {
		if e.Why == 0 && e.Channel == channel {
			out = append(out, e.ID)
		}
	}
	return out
}

// updates returns the update reasons received on channel.
func (r *recorder) updates(channel string) []fanout.Reason {
	var out []fanout.Reason
	for _, e := range r.events() {
		if e.Why != 0 && e.Channel == channel {
			out = append(out, e.Why)
		}
	}
	return out
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDeliveries waits until r has at least n deliveries and returns them.
func waitDeliveries(t testing.TB, r *recorder, n int) []string {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d deliveries to %s", n, r.name), func() bool { return len(r.deliveries()) >= n })
	return r.deliveries()
}

func expectSeq(t testing.TB, who string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s got %v, want %v", who, got, want)
	}
}

// newHubFanout returns a Fanout over a fresh Hub, both cleaned up with the test. Unless
// opts says otherwise the first-subscription update is off, so that tests of other things
// see deliveries only.
func newHubFanout(t testing.TB, opts fanout.Options) (*fanout.Fanout, *broker.Hub) {
	t.Helper()
	h := broker.NewHub(broker.HubOptions{})
	t.Cleanup(func() { _ = h.Close() })
	opts.Broker = h
	if opts.FirstSubscriptionDelay == 0 {
		opts.FirstSubscriptionDelay = -1
	}
	return fanout.New(opts), h
}

func subscribe(t testing.TB, f *fanout.Fanout, channel string, s fanout.Subscriber) func() {
	t.Helper()
	unsub, err := f.Subscribe(channel, s)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", channel, err)
	}
	t.Cleanup(unsub)
	return unsub
}

func pub(t testing.TB, f *fanout.Fanout, items ...publish.Item) {
	t.Helper()
	if err := f.Publish(context.Background(), items); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// item is a stream item on channel with id and prev-id.
func item(channel, id, prev string) publish.Item {
	return publish.Item{
		Channel: channel, ID: id, PrevID: prev,
		HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("data: " + id + "\n\n")},
	}
}
