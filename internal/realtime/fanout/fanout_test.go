package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/broker"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

func TestDeliversToSubscribersOfChannelOnly(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{})
	a1, a2, b := newRecorder("a1"), newRecorder("a2"), newRecorder("b")
	subscribe(t, f, "a", a1)
	subscribe(t, f, "a", a2)
	subscribe(t, f, "b", b)

	want := item("a", "1", "")
	want.Meta = map[string]string{"sender": "x"}
	pub(t, f, want)

	for _, r := range []*recorder{a1, a2} {
		evs := r.events()
		if len(evs) != 1 {
			t.Fatalf("%s: %d events, want 1: %+v", r.name, len(evs), evs)
		}
		e := evs[0]
		if e.Channel != "a" || e.Item.ID != "1" || e.Item.Channel != "a" || e.Item.Meta["sender"] != "x" ||
			e.Item.HTTPStream == nil || string(e.Item.HTTPStream.Content) != "data: 1\n\n" {
			t.Fatalf("%s: got %q %+v", r.name, e.Channel, e.Item)
		}
	}
	// One decoded item is shared by every subscriber.
	if a1.events()[0].Item != a2.events()[0].Item {
		t.Error("subscribers of one channel got different copies of the item")
	}
	if got := b.events(); len(got) != 0 {
		t.Fatalf("subscriber of b got %+v", got)
	}
	// A channel nobody subscribes to costs nothing and reaches nobody.
	pub(t, f, item("c", "1", ""))
	if len(a1.events())+len(b.events()) != 1 {
		t.Fatal("publish on an unsubscribed channel was delivered")
	}

	pub(t, f, item("b", "2", ""), item("a", "3", ""), item("b", "4", ""))
	expectSeq(t, "a1", a1.deliveries(), "1", "3")
	expectSeq(t, "a2", a2.deliveries(), "1", "3")
	expectSeq(t, "b", b.deliveries(), "2", "4")

	st := f.Stats()
	if st.Published != 5 || st.Received != 4 || st.Delivered != 6 || st.Channels != 2 || st.Subscribers != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestOneBrokerSubscriptionPerChannel(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{Linger: 50 * time.Millisecond})
	const n = 100
	var recs []*recorder
	var unsubs []func()
	for i := range n {
		r := newRecorder(fmt.Sprint("s", i))
		recs = append(recs, r)
		unsubs = append(unsubs, subscribe(t, f, "busy", r))
	}
	unsubs = append(unsubs, subscribe(t, f, "quiet", newRecorder("q")))

	if st := h.Stats(); st.Subscribers != 2 || st.Channels != 2 {
		t.Fatalf("broker stats = %+v, want 2 subscriptions on 2 channels for %d local subscribers", st, n+1)
	}
	if st := f.Stats(); st.Subscribers != n+1 || st.Channels != 2 {
		t.Fatalf("fanout stats = %+v", st)
	}
	pub(t, f, item("busy", "x", ""))
	if st := h.Stats(); st.Delivered != 1 {
		t.Fatalf("broker delivered %d messages, want 1 for the node", st.Delivered)
	}
	for _, r := range recs {
		expectSeq(t, r.name, r.deliveries(), "x")
	}
	chans := f.Channels(0)
	if len(chans) != 2 || chans[0].Name != "busy" || chans[0].Subscribers != n || chans[0].Received != 1 ||
		chans[0].Delivered != n || chans[0].LastID != "x" || chans[1].Name != "quiet" {
		t.Fatalf("channels = %+v", chans)
	}
	if got := f.Channels(1); len(got) != 1 || got[0].Name != "busy" {
		t.Fatalf("Channels(1) = %+v", got)
	}

	// Leaving one by one keeps the subscription until the last has gone (and the linger).
	for _, u := range unsubs[:n-1] {
		u()
	}
	if st := h.Stats(); st.Subscribers != 2 {
		t.Fatalf("broker subscriptions = %d with one local subscriber left, want 2", st.Subscribers)
	}
	for _, u := range unsubs {
		u()
	}
	waitFor(t, "broker subscriptions to go", func() bool { return h.Stats().Subscribers == 0 })
	if st := f.Stats(); st.Channels != 0 || st.Subscribers != 0 {
		t.Fatalf("fanout stats after everyone left = %+v", st)
	}
	waitFor(t, "channel state to go", func() bool { return len(f.Channels(0)) == 0 })
}

func TestDedup(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{})
	r, other := newRecorder("r"), newRecorder("other")
	subscribe(t, f, "a", r)
	subscribe(t, f, "b", other)

	pub(t, f, item("a", "x", ""), item("a", "x", ""), item("a", "y", ""), item("a", "x", ""))
	expectSeq(t, "r", r.deliveries(), "x", "y")
	if st := f.Stats(); st.Duplicates != 2 || st.Received != 4 || st.Delivered != 2 {
		t.Fatalf("stats = %+v, want 2 duplicates", st)
	}
	// Ids are per channel.
	pub(t, f, item("b", "x", ""))
	expectSeq(t, "other", other.deliveries(), "x")
	// Items without an id are never duplicates.
	pub(t, f, item("a", "", ""), item("a", "", ""))
	expectSeq(t, "r", r.deliveries(), "x", "y", "-", "-")
}

func TestDedupExpires(t *testing.T) {
	const ttl = 50 * time.Millisecond
	f, _ := newHubFanout(t, fanout.Options{IDCacheTTL: ttl})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	pub(t, f, item("a", "x", ""))
	start := time.Now()
	pub(t, f, item("a", "x", ""))
	if time.Since(start) < ttl {
		// (On a machine stalled for longer than the TTL the repeat is legitimately new.)
		expectSeq(t, "r", r.deliveries(), "x")
	}
	time.Sleep(3 * ttl) // a lower bound: the id is certainly older than the TTL now
	pub(t, f, item("a", "x", ""))
	got := r.deliveries()
	if len(got) < 2 || got[len(got)-1] != "x" {
		t.Fatalf("id not delivered again after the TTL: %v", got)
	}
	// ...and it is remembered again from then on.
	start = time.Now()
	n := len(got)
	pub(t, f, item("a", "x", ""))
	if time.Since(start) < ttl && len(r.deliveries()) != n {
		t.Fatalf("repeat within the TTL delivered: %v", r.deliveries())
	}
}

func TestSequencingReorders(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{MessageWait: time.Hour})
	r1, r2 := newRecorder("r1"), newRecorder("r2")
	subscribe(t, f, "a", r1)
	subscribe(t, f, "a", r2)

	pub(t, f, item("a", "a1", ""))
	pub(t, f, item("a", "a3", "a2"))
	// a3 waits for a2 (MessageWait is an hour, and the Hub delivers synchronously).
	expectSeq(t, "r1 before a2", r1.deliveries(), "a1")
	if id, _ := f.LastID("a"); id != "a1" {
		t.Fatalf("LastID while a3 waits = %q, want a1", id)
	}
	pub(t, f, item("a", "a2", "a1"))
	expectSeq(t, "r1", r1.deliveries(), "a1", "a2", "a3")
	expectSeq(t, "r2", r2.deliveries(), "a1", "a2", "a3")
	if id, ok := f.LastID("a"); !ok || id != "a3" {
		t.Fatalf("LastID = %q %v, want a3", id, ok)
	}
	if st := f.Stats(); st.Reordered != 1 || st.Delivered != 6 {
		t.Fatalf("stats = %+v, want 1 reordered, 6 delivered", st)
	}

	// A chain: a6 waits for a5 which waits for a4.
	pub(t, f, item("a", "a6", "a5"), item("a", "a5", "a4"))
	expectSeq(t, "r1 before a4", r1.deliveries(), "a1", "a2", "a3")
	pub(t, f, item("a", "a4", "a3"))
	expectSeq(t, "r1", r1.deliveries(), "a1", "a2", "a3", "a4", "a5", "a6")
}

func TestSequencingNeedsKnownLastID(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{MessageWait: time.Hour})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	// The channel's last id is unknown: nothing to wait for.
	pub(t, f, item("a", "a5", "a4"))
	expectSeq(t, "r", r.deliveries(), "a5")
	// Items without a prev-id are never held.
	pub(t, f, item("a", "b1", ""))
	expectSeq(t, "r", r.deliveries(), "a5", "b1")
}

func TestSequencingReleasesAfterMessageWait(t *testing.T) {
	const wait = 100 * time.Millisecond
	f, _ := newHubFanout(t, fanout.Options{MessageWait: wait})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""))
	start := time.Now()
	pub(t, f, item("a", "a3", "a2")) // a2 never comes
	got := waitDeliveries(t, r, 2)
	expectSeq(t, "r", got, "a1", "a3")
	if waited := r.events()[1].At.Sub(start); waited < wait {
		t.Fatalf("a3 released after %v, before MessageWait %v", waited, wait)
	}
	if id, _ := f.LastID("a"); id != "a3" {
		t.Fatalf("LastID = %q, want a3", id)
	}
	// The predecessor arriving late is delivered at once (what it follows, a1, was
	// delivered already: waiting for it again could only time out), and once.
	pub(t, f, item("a", "a2", "a1"))
	expectSeq(t, "r", r.deliveries(), "a1", "a3", "a2")
	pub(t, f, item("a", "a2", "a1"))
	time.Sleep(quiet)
	expectSeq(t, "r", r.deliveries(), "a1", "a3", "a2")
	if st := f.Stats(); st.Reordered != 1 {
		t.Fatalf("reordered = %d, want 1", st.Reordered)
	}
}

func TestNoSeqNotHeld(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{MessageWait: time.Hour})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""))
	it := item("a", "a3", "a2")
	it.NoSeq = true
	pub(t, f, it)
	expectSeq(t, "r", r.deliveries(), "a1", "a3")
	if st := f.Stats(); st.Reordered != 0 {
		t.Fatalf("reordered = %d, want 0", st.Reordered)
	}
	if id, _ := f.LastID("a"); id != "a3" {
		t.Fatalf("LastID = %q, want a3", id)
	}
}

func TestMaxPendingOverflowDeliversAtOnce(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{MessageWait: time.Hour, MaxPending: 2})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""))
	pub(t, f, item("a", "b", "x1"), item("a", "c", "x2")) // both wait: MaxPending is 2
	expectSeq(t, "r", r.deliveries(), "a1")
	pub(t, f, item("a", "d", "x3")) // no room: delivered at once
	expectSeq(t, "r", r.deliveries(), "a1", "d")
	// One waiting item per prev-id: another item following x1 is not held either.
	pub(t, f, item("a", "e", "x1"))
	expectSeq(t, "r", r.deliveries(), "a1", "d", "e")
	if st := f.Stats(); st.Reordered != 2 {
		t.Fatalf("reordered = %d, want 2", st.Reordered)
	}
	// The waiting ones are still released by their predecessors.
	pub(t, f, item("a", "x2", ""))
	expectSeq(t, "r", r.deliveries(), "a1", "d", "e", "x2", "c")
}

// TestDuplicateOfWaitingItem: a copy of an item that waits for its predecessor is a
// duplicate too; it used to be delivered at once, and the original again after the
// predecessor.
func TestDuplicateOfWaitingItem(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{MessageWait: time.Hour})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""), item("a", "a3", "a2"), item("a", "a3", "a2"))
	expectSeq(t, "r", r.deliveries(), "a1")
	pub(t, f, item("a", "a2", "a1"))
	expectSeq(t, "r", r.deliveries(), "a1", "a2", "a3")
	if st := f.Stats(); st.Duplicates != 1 {
		t.Fatalf("duplicates = %d, want 1", st.Duplicates)
	}
	// After release, repeats are dropped as usual.
	pub(t, f, item("a", "a3", "a2"), item("a", "a2", "a1"))
	expectSeq(t, "r", r.deliveries(), "a1", "a2", "a3")
}

func TestLastID(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{})
	if id, ok := f.LastID("a"); ok || id != "" {
		t.Fatalf("LastID of an unknown channel = %q %v", id, ok)
	}
	subscribe(t, f, "a", newRecorder("r"))
	if id, ok := f.LastID("a"); ok || id != "" {
		t.Fatalf("LastID before any publish = %q %v", id, ok)
	}
	pub(t, f, item("a", "1", ""))
	if id, ok := f.LastID("a"); !ok || id != "1" {
		t.Fatalf("LastID = %q %v, want 1", id, ok)
	}
	// An item without an id leaves the last id alone.
	pub(t, f, item("a", "", ""))
	if id, ok := f.LastID("a"); !ok || id != "1" {
		t.Fatalf("LastID after an item without id = %q %v, want 1", id, ok)
	}
	pub(t, f, item("a", "2", "1"))
	if id, _ := f.LastID("a"); id != "2" {
		t.Fatalf("LastID = %q, want 2", id)
	}
	if chans := f.Channels(0); len(chans) != 1 || chans[0].LastID != "2" {
		t.Fatalf("channels = %+v", chans)
	}
}

func TestLinger(t *testing.T) {
	const linger = 300 * time.Millisecond
	f, h := newHubFanout(t, fanout.Options{Linger: linger})
	r := newRecorder("r")
	unsub := subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""))

	left := time.Now()
	unsub()
	// Within the linger the broker subscription and the channel's state stay.
	subs, id := h.Stats().Subscribers, ""
	id, _ = f.LastID("a")
	if time.Since(left) < linger {
		if subs != 1 || id != "a1" {
			t.Fatalf("right after the last subscriber left: broker subscriptions %d, LastID %q; want 1, a1", subs, id)
		}
	}
	// Items published meanwhile still reach the node and advance the last id, but nobody
	// gets them.
	pub(t, f, item("a", "a2", "a1"))
	if time.Since(left) < linger {
		if id, _ := f.LastID("a"); id != "a2" {
			t.Fatalf("LastID during linger = %q, want a2", id)
		}
	}
	expectSeq(t, "r", r.deliveries(), "a1")
	if st := f.Stats(); st.Channels != 0 || st.Subscribers != 0 {
		t.Fatalf("lingering channel counted in stats: %+v", st)
	}

	waitFor(t, "the broker subscription to go", func() bool { return h.Stats().Subscribers == 0 })
	if gone := time.Since(left); gone < linger {
		t.Fatalf("broker subscription went after %v, before the linger of %v", gone, linger)
	}
	if id, ok := f.LastID("a"); ok {
		t.Fatalf("LastID after linger = %q", id)
	}
	if chans := f.Channels(0); len(chans) != 0 {
		t.Fatalf("channels after linger = %+v", chans)
	}
	// The channel can be used again.
	r2 := newRecorder("r2")
	subscribe(t, f, "a", r2)
	pub(t, f, item("a", "a3", "a2"))
	expectSeq(t, "r2", r2.deliveries(), "a3")
}

func TestResubscribeWithinLingerKeepsState(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{Linger: time.Hour, MessageWait: time.Hour})
	r := newRecorder("r")
	unsub := subscribe(t, f, "a", r)
	pub(t, f, item("a", "a1", ""))
	unsub()
	r2 := newRecorder("r2")
	subscribe(t, f, "a", r2)
	if id, ok := f.LastID("a"); !ok || id != "a1" {
		t.Fatalf("LastID after resubscribe within linger = %q %v, want a1", id, ok)
	}
	if st := h.Stats(); st.Subscribers != 1 {
		t.Fatalf("broker subscriptions = %d, want 1 (reused)", st.Subscribers)
	}
	// The sequencer and the id cache carry on.
	pub(t, f, item("a", "a1", ""), item("a", "a3", "a2"), item("a", "a2", "a1"))
	expectSeq(t, "r2", r2.deliveries(), "a2", "a3")
}

func TestFirstSubscriptionUpdate(t *testing.T) {
	const delay = 100 * time.Millisecond
	f, _ := newHubFanout(t, fanout.Options{FirstSubscriptionDelay: delay, Linger: time.Hour})
	r1, r2, other := newRecorder("r1"), newRecorder("r2"), newRecorder("other")
	start := time.Now()
	subscribe(t, f, "a", r1)
	subscribe(t, f, "a", r2)
	subscribe(t, f, "b", other)
	for _, r := range []*recorder{r1, r2} {
		waitFor(t, r.name+"'s first-subscription update", func() bool { return len(r.updates("a")) > 0 })
		if at := r.events()[0].At.Sub(start); at < delay {
			t.Fatalf("%s updated after %v, before the delay of %v", r.name, at, delay)
		}
	}
	waitFor(t, "other's first-subscription update", func() bool { return len(other.updates("b")) > 0 })
	time.Sleep(3 * delay)
	for _, r := range []*recorder{r1, r2} {
		if got := r.updates("a"); len(got) != 1 || got[0] != fanout.FirstSubscription {
			t.Fatalf("%s updates = %v, want one FirstSubscription", r.name, got)
		}
		if len(r.updates("b")) != 0 {
			t.Fatalf("%s got b's update", r.name)
		}
	}
	// A later subscriber of the same channel state does not trigger another.
	r3 := newRecorder("r3")
	unsub := subscribe(t, f, "a", r3)
	unsub()
	subscribe(t, f, "a", r3)
	time.Sleep(3 * delay)
	if got := r3.updates("a"); len(got) != 0 {
		t.Fatalf("late subscriber got %v", got)
	}
	if got := r1.updates("a"); len(got) != 1 {
		t.Fatalf("r1 updates = %v, want one", got)
	}
}

func TestFirstSubscriptionDisabled(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{FirstSubscriptionDelay: -1})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	time.Sleep(quiet + fanout.DefaultFirstSubscriptionDelay)
	if got := r.events(); len(got) != 0 {
		t.Fatalf("got %+v with the first-subscription update off", got)
	}
}

// slowBroker makes the broker subscription take a while, as a NATS round trip can.
type slowBroker struct {
	*broker.Hub
	delay time.Duration
	fail  bool
}

func (b *slowBroker) Subscribe(channel string, opts broker.SubscribeOptions) (*broker.Subscription, error) {
	time.Sleep(b.delay)
	if b.fail {
		return nil, errors.New("no route")
	}
	return b.Hub.Subscribe(channel, opts)
}

// TestFirstSubscriptionAfterSlowBroker: the update is armed when the subscriber is
// there, not when the channel's state is created (it used to fire at nobody when the
// broker subscription took longer than the delay).
func TestFirstSubscriptionAfterSlowBroker(t *testing.T) {
	h := broker.NewHub(broker.HubOptions{})
	defer h.Close()
	sb := &slowBroker{Hub: h, delay: 200 * time.Millisecond}
	f := fanout.New(fanout.Options{Broker: sb, FirstSubscriptionDelay: 20 * time.Millisecond})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	waitFor(t, "the first-subscription update", func() bool { return len(r.updates("a")) == 1 })

	// A failed broker subscription adds nobody and leaves nothing armed.
	sb.fail = true
	r2 := newRecorder("r2")
	if _, err := f.Subscribe("b", r2); err == nil {
		t.Fatal("Subscribe succeeded over a failing broker")
	}
	sb.fail = false
	subscribe(t, f, "b", r2)
	waitFor(t, "the first-subscription update after a failed subscribe", func() bool { return len(r2.updates("b")) == 1 })
}

func TestRecover(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{Linger: time.Hour})
	ra, rb1, rb2 := newRecorder("ra"), newRecorder("rb1"), newRecorder("rb2")
	subscribe(t, f, "a", ra)
	subscribe(t, f, "b", rb1)
	subscribe(t, f, "b", rb2)
	unsubC := subscribe(t, f, "c", newRecorder("rc"))
	pub(t, f, item("a", "a1", ""), item("b", "b1", ""), item("c", "c1", ""))
	unsubC() // lingering: its last id goes too

	f.Recover()
	for _, ch := range []string{"a", "b", "c"} {
		if id, ok := f.LastID(ch); ok {
			t.Fatalf("LastID(%q) after Recover = %q", ch, id)
		}
	}
	for _, c := range []struct {
		r  *recorder
		ch string
	}{{ra, "a"}, {rb1, "b"}, {rb2, "b"}} {
		if got := c.r.updates(c.ch); len(got) != 1 || got[0] != fanout.Recover {
			t.Fatalf("%s updates = %v, want one Recover", c.r.name, got)
		}
	}
	// With no last id the sequencer has nothing to wait for; ids seen are still dropped.
	pub(t, f, item("a", "a3", "a2"), item("a", "a1", ""))
	expectSeq(t, "ra", ra.deliveries(), "a1", "a3")
}

func TestUnsubscribe(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{Linger: time.Hour})
	r1, r2, r3 := newRecorder("r1"), newRecorder("r2"), newRecorder("r3")
	u1 := subscribe(t, f, "a", r1)
	u2 := subscribe(t, f, "a", r2)
	subscribe(t, f, "a", r3)

	// Removing from the middle, twice: the others keep receiving.
	u2()
	u2()
	pub(t, f, item("a", "1", ""))
	expectSeq(t, "r1", r1.deliveries(), "1")
	expectSeq(t, "r2", r2.deliveries())
	expectSeq(t, "r3", r3.deliveries(), "1")
	if st := f.Stats(); st.Subscribers != 2 {
		t.Fatalf("subscribers = %d, want 2", st.Subscribers)
	}
	u1()
	u1()
	pub(t, f, item("a", "2", ""))
	expectSeq(t, "r1", r1.deliveries(), "1")
	expectSeq(t, "r3", r3.deliveries(), "1", "2")

	// A stale unsubscribe of r2 does not remove r2's later subscription.
	subscribe(t, f, "a", r2)
	u2()
	pub(t, f, item("a", "3", ""))
	expectSeq(t, "r2", r2.deliveries(), "3")
	if st := h.Stats(); st.Subscribers != 1 {
		t.Fatalf("broker subscriptions = %d, want 1", st.Subscribers)
	}
}

func TestInvalidChannel(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{})
	for _, name := range []string{"", strings.Repeat("x", broker.MaxChannelLen+1)} {
		if unsub, err := f.Subscribe(name, newRecorder("r")); !errors.Is(err, broker.ErrInvalidChannel) || unsub != nil {
			t.Errorf("Subscribe(%d bytes) = %v, want ErrInvalidChannel", len(name), err)
		}
		if err := f.Publish(context.Background(), []publish.Item{item(name, "1", "")}); !errors.Is(err, broker.ErrInvalidChannel) {
			t.Errorf("Publish(%d bytes) = %v, want ErrInvalidChannel", len(name), err)
		}
	}
	if len(f.Channels(0)) != 0 || h.Stats().Subscribers != 0 || f.Stats().Published != 0 {
		t.Fatalf("invalid channels left state: %+v %+v", f.Channels(0), h.Stats())
	}
	// The longest valid name works.
	name := strings.Repeat("x", broker.MaxChannelLen)
	r := newRecorder("r")
	subscribe(t, f, name, r)
	pub(t, f, item(name, "1", ""))
	expectSeq(t, "r", r.deliveries(), "1")
}

// TestNonUTF8Channel: channel names and ids are bytes. JSON turns invalid UTF-8 into
// U+FFFD, which used to make such a channel unreachable and merge distinct ids.
func TestNonUTF8Channel(t *testing.T) {
	f, _ := newHubFanout(t, fanout.Options{})
	name := "caf\xe9"
	r := newRecorder("r")
	subscribe(t, f, name, r)
	pub(t, f, item(name, "id\xe9", ""), item(name, "id\xe8", ""))
	expectSeq(t, "r", r.deliveries(), "id\xe9", "id\xe8")
	if ev := r.events(); ev[0].Item.Channel != name {
		t.Fatalf("item channel = %q, want %q", ev[0].Item.Channel, name)
	}
	if id, _ := f.LastID(name); id != "id\xe8" {
		t.Fatalf("LastID = %q", id)
	}
	if st := f.Stats(); st.Undecodable != 0 || st.Duplicates != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestUndecodablePayload(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{})
	r := newRecorder("r")
	subscribe(t, f, "a", r)
	otherChannel, _ := fanout.Encode(&publish.Item{Channel: "b", ID: "x"})
	bad := [][]byte{
		nil,
		[]byte("not json"),
		[]byte(`{"ID":"x"}`),    // no channel
		[]byte(`[1,2,3]`),       // not an object
		[]byte(`{"Channel":1}`), // wrong type
		otherChannel,            // an item for another channel
	}
	for _, p := range bad {
		if err := h.Publish(context.Background(), broker.Message{Channel: "a", ID: "x", Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.events(); len(got) != 0 {
		t.Fatalf("undecodable payloads delivered: %+v", got)
	}
	if st := f.Stats(); st.Undecodable != uint64(len(bad)) || st.Received != 0 || st.Delivered != 0 {
		t.Fatalf("stats = %+v, want %d undecodable", st, len(bad))
	}
	if _, ok := f.LastID("a"); ok {
		t.Fatal("undecodable payload set the last id")
	}
	// The channel still works, and the id of the rejected message was not remembered.
	pub(t, f, item("a", "x", ""))
	expectSeq(t, "r", r.deliveries(), "x")
}

func TestSubscribeOverClosedBroker(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{Linger: 20 * time.Millisecond})
	_ = h.Close()
	if _, err := f.Subscribe("a", newRecorder("r")); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Subscribe over a closed broker = %v, want ErrClosed", err)
	}
	if st := f.Stats(); st.Subscribers != 0 || st.Channels != 0 {
		t.Fatalf("stats = %+v", st)
	}
	waitFor(t, "the failed channel's state to go", func() bool { return len(f.Channels(0)) == 0 })
	if err := f.Publish(context.Background(), []publish.Item{item("a", "1", "")}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Publish over a closed broker = %v, want ErrClosed", err)
	}
}

// TestConcurrent subscribes, unsubscribes and publishes from many goroutines (run with
// -race), with a linger short enough that channels expire while others subscribe to them.
// Subscribers that stay throughout see every item of their channel once, in order.
func TestConcurrent(t *testing.T) {
	f, h := newHubFanout(t, fanout.Options{Linger: time.Millisecond, FirstSubscriptionDelay: time.Millisecond, MessageWait: 20 * time.Millisecond})
	channels := []string{"c0", "c1", "c2", "c3"}
	steady := map[string]*recorder{}
	var steadyUnsubs []func()
	for _, ch := range channels {
		r := newRecorder("steady-" + ch)
		steady[ch] = r
		u, err := f.Subscribe(ch, r)
		if err != nil {
			t.Fatal(err)
		}
		steadyUnsubs = append(steadyUnsubs, u)
	}
	const (
		churners   = 6
		churnLoops = 300
		perChannel = 200
	)
	var wg sync.WaitGroup
	for w := range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range churnLoops {
				ch := fmt.Sprintf("churn%d", rng.IntN(3))
				if rng.IntN(4) == 0 {
					ch = channels[rng.IntN(len(channels))]
				}
				r := newRecorder(fmt.Sprint("churner", w, "-", i))
				u, err := f.Subscribe(ch, r)
				if err != nil {
					t.Error(err)
					return
				}
				if rng.IntN(2) == 0 {
					_, _ = f.LastID(ch)
					_ = f.Channels(2)
				}
				u()
				if rng.IntN(3) == 0 {
					u() // idempotent, even concurrently with others
				}
				if rng.IntN(50) == 0 {
					f.Recover()
				}
			}
		}()
	}
	for i, ch := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perChannel {
				it := item(ch, fmt.Sprint(n), "")
				if n > 0 {
					it.PrevID = fmt.Sprint(n - 1)
				}
				if err := f.Publish(context.Background(), []publish.Item{it}); err != nil {
					t.Error(err)
					return
				}
				_ = f.Stats()
				if i == 0 && n%10 == 0 {
					// A publisher to the churning channels too.
					_ = f.Publish(context.Background(), []publish.Item{item(fmt.Sprint("churn", n%3), "", "")})
				}
			}
		}()
	}
	wg.Wait()

	for _, ch := range channels {
		var want []string
		for n := range perChannel {
			want = append(want, fmt.Sprint(n))
		}
		// Recover forgets last ids, so an item can legitimately wait out MessageWait:
		// wait for all of them, then check the order.
		r := steady[ch]
		waitFor(t, r.name+"'s items", func() bool { return len(r.deliveriesOn(ch)) >= perChannel })
		expectSeq(t, r.name, r.deliveriesOn(ch), want...)
	}
	for _, u := range steadyUnsubs {
		u()
	}
	waitFor(t, "every broker subscription to go", func() bool { return h.Stats().Subscribers == 0 })
	waitFor(t, "every channel to go", func() bool { return len(f.Channels(0)) == 0 })
	if st := f.Stats(); st.Subscribers != 0 || st.Channels != 0 {
		t.Fatalf("stats = %+v", st)
	}
}
