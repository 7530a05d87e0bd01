package meter

import (
	"math"
	"sync"
	"testing"
	"time"
)

// clock is an injectable time source for the meter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestMeter() (*Meter, *clock) {
	m := New()
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	m.now = c.now
	return m, c
}

func usage(t *testing.T, m *Meter, k Key) Usage {
	t.Helper()
	for _, u := range m.Snapshot() {
		if u.API == k.API && u.App == k.App {
			return u
		}
	}
	t.Fatalf("no usage for %+v in %+v", k, m.Snapshot())
	return Usage{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestConnectionCap(t *testing.T) {
	m, _ := newTestMeter()
	k := Key{API: "api", App: "app"}
	lim := Limits{MaxConnections: 2}
	c1, ok1 := m.Open(k, lim)
	c2, ok2 := m.Open(k, lim)
	if !ok1 || !ok2 || c1 == nil || c2 == nil {
		t.Fatal("first two connections refused")
	}
	if c3, ok := m.Open(k, lim); ok || c3 != nil {
		t.Fatalf("third connection accepted: %v %v", c3, ok)
	}
	u := usage(t, m, k)
	if u.Connections != 2 || u.ConnectionsTotal != 2 || u.Rejected != 1 {
		t.Fatalf("usage = %+v, want 2 open, 2 total, 1 rejected", u)
	}
	// Another app of the same API, and the same app of another API, have their own caps.
	if _, ok := m.Open(Key{API: "api", App: "other"}, lim); !ok {
		t.Fatal("other app refused")
	}
	if _, ok := m.Open(Key{API: "api2", App: "app"}, lim); !ok {
		t.Fatal("other API refused")
	}
	// Closing frees a slot.
	c1.Close()
	if _, ok := m.Open(k, lim); !ok {
		t.Fatal("refused after a close")
	}
	u = usage(t, m, k)
	if u.Connections != 2 || u.ConnectionsTotal != 3 || u.Rejected != 1 {
		t.Fatalf("usage = %+v, want 2 open, 3 total, 1 rejected", u)
	}
	// No cap.
	for i := range 100 {
		if _, ok := m.Open(Key{API: "free"}, Limits{}); !ok {
			t.Fatalf("uncapped open %d refused", i)
		}
	}
	if u := usage(t, m, Key{API: "free"}); u.Connections != 100 || u.Rejected != 0 {
		t.Fatalf("uncapped usage = %+v", u)
	}
}

func TestMessageCapAndWindowReset(t *testing.T) {
	m, clk := newTestMeter()
	k := Key{API: "api", App: "app"}
	lim := Limits{MaxMessages: 3, Period: 10 * time.Second}
	a, _ := m.Open(k, lim)
	b, _ := m.Open(k, lim)
	// The window is per key: two connections of one app share it.
	for i, c := range []*Conn{a, b, a} {
		if !c.Allow() {
			t.Fatalf("message %d refused", i)
		}
	}
	if a.Allow() || b.Allow() {
		t.Fatal("message over the cap allowed")
	}
	if u := usage(t, m, k); u.Throttled != 2 {
		t.Fatalf("throttled = %d, want 2", u.Throttled)
	}
	// Still within the period.
	clk.advance(9 * time.Second)
	if a.Allow() {
		t.Fatal("allowed before the period ended")
	}
	// The window started at the first message; a full period after it, the count resets.
	clk.advance(time.Second)
	for i := range 3 {
		if !b.Allow() {
			t.Fatalf("message %d of the new window refused", i)
		}
	}
	if b.Allow() {
		t.Fatal("cap not enforced in the new window")
	}
	if u := usage(t, m, k); u.Throttled != 4 {
		t.Fatalf("throttled = %d, want 4", u.Throttled)
	}

	// Another key has its own window.
	o, _ := m.Open(Key{API: "api", App: "other"}, lim)
	if !o.Allow() {
		t.Fatal("other app throttled by this one's window")
	}
}

func TestMessageCapDefaultPeriod(t *testing.T) {
	m, clk := newTestMeter()
	c, _ := m.Open(Key{API: "api"}, Limits{MaxMessages: 1})
	if !c.Allow() || c.Allow() {
		t.Fatal("cap of 1 not enforced")
	}
	clk.advance(59 * time.Second)
	if c.Allow() {
		t.Fatal("window reset before the default period of a minute")
	}
	clk.advance(time.Second)
	if !c.Allow() {
		t.Fatal("window not reset after the default period of a minute")
	}
}

func TestNoMessageCap(t *testing.T) {
	m, _ := newTestMeter()
	c, _ := m.Open(Key{API: "api"}, Limits{})
	for i := range 1000 {
		if !c.Allow() {
			t.Fatalf("message %d refused without a cap", i)
		}
	}
	if u := usage(t, m, Key{API: "api"}); u.Throttled != 0 {
		t.Fatalf("throttled = %d", u.Throttled)
	}
}

func TestDelivered(t *testing.T) {
	m, _ := newTestMeter()
	k := Key{API: "api", App: "app"}
	c, _ := m.Open(k, Limits{})
	c.Delivered(10)
	c.Delivered(0)
	c.Delivered(5)
	if u := usage(t, m, k); u.Messages != 3 || u.Bytes != 15 {
		t.Fatalf("usage = %+v, want 3 messages, 15 bytes", u)
	}
}

func TestConnectionSeconds(t *testing.T) {
	m, clk := newTestMeter()
	k := Key{API: "api", App: "app"}
	a, _ := m.Open(k, Limits{})
	clk.advance(2 * time.Second)
	b, _ := m.Open(k, Limits{})
	clk.advance(3 * time.Second)
	// a: 5s open, b: 3s open.
	if u := usage(t, m, k); !near(u.ConnectionSeconds, 8) || u.Connections != 2 {
		t.Fatalf("usage = %+v, want 8 connection seconds, 2 open", u)
	}
	a.Close()
	clk.advance(time.Second)
	// a: 5s closed, b: 4s open.
	if u := usage(t, m, k); !near(u.ConnectionSeconds, 9) || u.Connections != 1 {
		t.Fatalf("usage = %+v, want 9 connection seconds, 1 open", u)
	}
	b.Close()
	clk.advance(time.Hour)
	// Closed connections stop counting.
	if u := usage(t, m, k); !near(u.ConnectionSeconds, 9) || u.Connections != 0 || u.ConnectionsTotal != 2 {
		t.Fatalf("usage = %+v, want 9 connection seconds, 0 open, 2 total", u)
	}
	// Many open connections at once (open×now overflows int64 with a wall-clock epoch).
	var cs []*Conn
	for range 50 {
		c, _ := m.Open(Key{API: "many"}, Limits{})
		cs = append(cs, c)
	}
	clk.advance(10 * time.Second)
	if u := usage(t, m, Key{API: "many"}); !near(u.ConnectionSeconds, 500) {
		t.Fatalf("50 connections × 10s = %v connection seconds, want 500", u.ConnectionSeconds)
	}
	for _, c := range cs {
		c.Close()
	}
	if u := usage(t, m, Key{API: "many"}); !near(u.ConnectionSeconds, 500) || u.Connections != 0 {
		t.Fatalf("usage = %+v, want 500 connection seconds, 0 open", u)
	}
}

func TestCloseIdempotent(t *testing.T) {
	m, clk := newTestMeter()
	k := Key{API: "api"}
	c, _ := m.Open(k, Limits{MaxConnections: 1})
	clk.advance(time.Second)
	c.Close()
	clk.advance(time.Second)
	c.Close()
	c.Close()
	u := usage(t, m, k)
	if u.Connections != 0 || !near(u.ConnectionSeconds, 1) {
		t.Fatalf("usage = %+v, want 0 open, 1 connection second", u)
	}
	// The slot is free exactly once: the cap of 1 still holds.
	if _, ok := m.Open(k, Limits{MaxConnections: 1}); !ok {
		t.Fatal("refused after close")
	}
	if _, ok := m.Open(k, Limits{MaxConnections: 1}); ok {
		t.Fatal("repeated Close freed more than one slot")
	}
	// Close of a refused (nil) connection is a no-op.
	var nilConn *Conn
	nilConn.Close()
}

func TestSnapshotOrder(t *testing.T) {
	m, _ := newTestMeter()
	for _, k := range []Key{{"b", "x"}, {"a", "z"}, {"a", ""}, {"b", "a"}, {"a", "m"}} {
		m.Open(k, Limits{})
	}
	var got []Key
	for _, u := range m.Snapshot() {
		got = append(got, Key{u.API, u.App})
	}
	want := []Key{{"a", ""}, {"a", "m"}, {"a", "z"}, {"b", "a"}, {"b", "x"}}
	if len(got) != len(want) {
		t.Fatalf("snapshot keys = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("snapshot keys = %v, want %v", got, want)
		}
	}
	if len(New().Snapshot()) != 0 {
		t.Fatal("new meter has usage")
	}
}

// TestConcurrent runs opens, closes, messages and snapshots together (run with -race). The
// real clock is used: with it, every snapshot must stay within what the elapsed time
// allows (reading the connection counters apart used to report decades).
func TestConcurrent(t *testing.T) {
	m := New()
	k := Key{API: "api", App: "app"}
	const (
		workers = 8
		rounds  = 300
		maxConn = 5
	)
	lim := Limits{MaxConnections: maxConn, MaxMessages: 1000, Period: time.Hour}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted, allowed int
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kk := k
			if w%4 == 3 {
				kk = Key{API: "api", App: "other"}
			}
			for range rounds {
				c, ok := m.Open(kk, lim)
				if !ok {
					continue
				}
				n := 0
				for range 3 {
					if c.Allow() {
						c.Delivered(7)
						n++
					}
				}
				c.Close()
				c.Close()
				mu.Lock()
				accepted++
				allowed += n
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	snapDone := make(chan struct{})
	go func() {
		defer close(snapDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			bound := time.Since(start).Seconds()*float64(workers) + 1
			for _, u := range m.Snapshot() {
				if u.Connections < 0 || u.Connections > maxConn {
					t.Errorf("snapshot: %d open connections, cap %d", u.Connections, maxConn)
				}
				if u.ConnectionSeconds < 0 || u.ConnectionSeconds > bound {
					t.Errorf("snapshot: %v connection seconds after %v with %d workers", u.ConnectionSeconds, time.Since(start), workers)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-snapDone

	var total, rejected, messages, bytes, throttled uint64
	for _, u := range m.Snapshot() {
		if u.Connections != 0 {
			t.Errorf("%s/%s: %d connections still open", u.API, u.App, u.Connections)
		}
		total += u.ConnectionsTotal
		rejected += u.Rejected
		messages += u.Messages
		bytes += u.Bytes
		throttled += u.Throttled
	}
	if int(total) != accepted || total+rejected != workers*rounds {
		t.Errorf("total %d (accepted %d) + rejected %d != %d opens", total, accepted, rejected, workers*rounds)
	}
	if int(messages) != allowed || bytes != 7*messages {
		t.Errorf("messages %d, bytes %d; want %d messages of 7 bytes", messages, bytes, allowed)
	}
	if messages+throttled != 3*total {
		t.Errorf("messages %d + throttled %d != 3 × %d connections", messages, throttled, total)
	}
	// Per key, no more than MaxMessages got through in the (one-hour) window.
	for _, u := range m.Snapshot() {
		if u.Messages > 1000 {
			t.Errorf("%s/%s: %d messages in one window, cap 1000", u.API, u.App, u.Messages)
		}
	}
}
