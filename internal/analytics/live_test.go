package analytics

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLive(t *testing.T) {
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	l := NewLive(LiveOptions{Clock: clock.Now, History: time.Minute})
	got := make(chan LiveSecond, 100)
	cancel := l.Subscribe(func(s LiveSecond) { got <- s })

	ev := func(api string, status int, lat time.Duration) Event {
		return Event{API: api, Status: status, Latency: lat, BytesOut: 10}
	}
	// Second 0: 100 events on "orders" (10 errors), 50 on "users" (5 rejected 429s).
	var batch []Event
	for i := range 100 {
		st := 200
		if i%10 == 0 {
			st = 500
		}
		batch = append(batch, ev("orders", st, time.Duration(i+1)*time.Millisecond))
	}
	for i := range 50 {
		e := ev("users", 200, 5*time.Millisecond)
		if i%10 == 0 {
			e.Status, e.RejectedBy = 429, "rate-limit"
		}
		batch = append(batch, e)
	}
	l.Consume(batch)
	// Seconds 1 and 2 are empty; second 3 has one event.
	clock.Set(t0.Add(3 * time.Second))
	l.Consume([]Event{ev("orders", 200, time.Millisecond)})
	clock.Set(t0.Add(4*time.Second + 500*time.Millisecond))
	l.Tick()

	var secs []LiveSecond
	for len(secs) < 4 {
		select {
		case s := <-got:
			secs = append(secs, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d seconds", len(secs))
		}
	}
	cancel()
	s0 := secs[0]
	if !s0.Time.Equal(t0) || s0.Count != 150 || s0.Errors != 10 || s0.RateLimited != 5 || s0.Rejected != 5 || s0.BytesOut != 1500 {
		t.Fatalf("second 0: %+v", s0.LiveCounts)
	}
	if o := s0.APIs["orders"]; o.Count != 100 || o.Errors != 10 || o.P50Ms != ms(sketchValue(mustIndex(50*time.Millisecond))) {
		t.Fatalf("orders: %+v", o)
	}
	if len(s0.Notable) != 15 && len(s0.Notable) != 20 {
		t.Fatalf("%d notable", len(s0.Notable))
	}
	if secs[1].Count != 0 || secs[2].Count != 0 || secs[3].Count != 1 || !secs[3].Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("seconds 1..3: %+v", secs[1:])
	}
	if _, err := json.Marshal(s0); err != nil {
		t.Fatal(err)
	}

	w := l.Window("orders", 10*time.Second)
	if w.Count != 101 || w.Errors != 10 || w.Seconds != 4 || w.ErrorRate != 10.0/101 {
		t.Fatalf("window: %+v", w)
	}
	if w.P99Ms < 98 || w.P99Ms > 101 {
		t.Fatalf("window p99 %v ms", w.P99Ms)
	}
	if all := l.Window("", time.Minute); all.Count != 151 || all.RPS != 151.0/4 {
		t.Fatalf("overall window: %+v", all)
	}
	if r := l.Recent(2 * time.Second); len(r) != 2 || r[1].Count != 1 {
		t.Fatalf("recent: %+v", r)
	}
	// Far past the history: the old seconds are gone.
	clock.Set(t0.Add(10 * time.Minute))
	l.Tick()
	if w := l.Window("", time.Hour); w.Count != 0 || w.Seconds != 60 {
		t.Fatalf("after the history: %+v", w)
	}
}

func mustIndex(d time.Duration) int {
	i, _ := sketchIndex(d)
	return i
}
