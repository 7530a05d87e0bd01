package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/google/go-cmp/cmp"
)

func change(rev int64) gatehouse.Change {
	return gatehouse.Change{Kind: gatehouse.KindAPI, Name: "a", Action: gatehouse.ActionUpdate, Revision: rev}
}

// recv reads one change or fails after a generous timeout.
func recv(t *testing.T, ch <-chan gatehouse.Change) gatehouse.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("channel closed early")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change delivered")
	}
	return gatehouse.Change{}
}

// closed waits for ch to be closed, discarding anything still queued.
func closed(t *testing.T, ch <-chan gatehouse.Change) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed")
		}
	}
}

func TestDeliversInOrderToEverySubscriber(t *testing.T) {
	h := notify.New()
	a, b := h.Subscribe(t.Context()), h.Subscribe(t.Context())
	for rev := int64(1); rev <= 3; rev++ {
		h.Publish(change(rev))
	}
	for _, ch := range []<-chan gatehouse.Change{a, b} {
		for rev := int64(1); rev <= 3; rev++ {
			if diff := cmp.Diff(change(rev), recv(t, ch)); diff != "" {
				t.Errorf("change %d (-want +got):\n%s", rev, diff)
			}
		}
	}
}

func TestChannelClosedWhenContextEnds(t *testing.T) {
	h := notify.New()
	ctx, cancel := context.WithCancel(t.Context())
	ch := h.Subscribe(ctx)
	other := h.Subscribe(t.Context())
	cancel()
	closed(t, ch)
	h.Publish(change(1)) // must not panic on the closed subscriber
	if got := recv(t, other); got.Revision != 1 {
		t.Errorf("other subscriber got %+v", got)
	}

	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	closed(t, h.Subscribe(done))
}

func TestSlowSubscriberGetsOneResync(t *testing.T) {
	h := notify.New()
	slow := h.Subscribe(t.Context())
	fast := h.Subscribe(t.Context())

	const extra = 5
	total := int64(notify.DefaultBuffer + extra)
	var fastGot []int64
	for rev := int64(1); rev <= total; rev++ {
		h.Publish(change(rev)) // never blocks, though slow never reads
		fastGot = append(fastGot, recv(t, fast).Revision)
	}
	if len(fastGot) != int(total) || fastGot[total-1] != total {
		t.Fatalf("fast subscriber got %d changes, want %d", len(fastGot), total)
	}

	// The overflow at DefaultBuffer+1 replaced the backlog (and itself) with one Resync;
	// the changes after it queue normally.
	want := []gatehouse.Change{{Resync: true}}
	for rev := int64(notify.DefaultBuffer + 2); rev <= total; rev++ {
		want = append(want, change(rev))
	}
	var got []gatehouse.Change
	for range want {
		got = append(got, recv(t, slow))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slow subscriber (-want +got):\n%s", diff)
	}
	select {
	case c := <-slow:
		t.Errorf("unexpected extra change %+v", c)
	default:
	}
	if got, want := h.Dropped(), uint64(notify.DefaultBuffer+1); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
}

func TestResyncIsCoalesced(t *testing.T) {
	h := notify.New()
	slow := h.Subscribe(t.Context())
	// Overflow many times over: the subscriber still sees at most one Resync at the head
	// of a buffer that never exceeds its bound.
	for rev := int64(1); rev <= 10*notify.DefaultBuffer; rev++ {
		h.Publish(change(rev))
	}
	resyncs, n := 0, 0
	for len(slow) > 0 {
		if c := <-slow; c.Resync {
			resyncs++
		}
		n++
	}
	if resyncs != 1 || n > notify.DefaultBuffer {
		t.Errorf("got %d resyncs in %d queued changes, want 1 in at most %d", resyncs, n, notify.DefaultBuffer)
	}
}

func TestCloseClosesSubscribers(t *testing.T) {
	h := notify.New()
	ch := h.Subscribe(t.Context())
	h.Close()
	h.Close() // idempotent
	closed(t, ch)
	closed(t, h.Subscribe(t.Context()))
	h.Publish(change(1)) // goes nowhere, must not panic
}

// TestConcurrentUse is for the race detector: publishers, subscribers that come and go,
// and readers of varying speed, all at once.
func TestConcurrentUse(t *testing.T) {
	h := notify.New()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				h.Publish(change(int64(p*10000 + i)))
			}
		})
	}
	for s := range 8 {
		wg.Go(func() {
			for round := range 20 {
				ctx, cancel := context.WithCancel(t.Context())
				ch := h.Subscribe(ctx)
				for range 10 + s*round {
					select {
					case <-ch:
					case <-time.After(time.Millisecond):
					}
				}
				cancel()
				for range ch { // drains until closed
				}
			}
		})
	}
	wg.Wait()
	h.Close()
}
