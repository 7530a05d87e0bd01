package limit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestInFlight(t *testing.T) {
	f := NewInFlight()
	var slots []*Slot
	for i := 0; i < 3; i++ {
		s, ok := f.Acquire("k", 3)
		if !ok {
			t.Fatalf("acquire %d refused", i+1)
		}
		slots = append(slots, s)
	}
	if _, ok := f.Acquire("k", 3); ok {
		t.Fatal("fourth acquire allowed at limit 3")
	}
	if _, ok := f.Acquire("other", 3); !ok {
		t.Fatal("another key refused")
	}
	slots[0].Release()
	if f.Count("k") != 2 {
		t.Fatalf("count %d after one release, want 2", f.Count("k"))
	}
	if _, ok := f.Acquire("k", 3); !ok {
		t.Fatal("refused after a release")
	}
}

// The policies pass keys built in reused buffers: the stored key must be a copy.
func TestInFlightCopiesKeys(t *testing.T) {
	f := NewInFlight()
	buf := []byte("ip:10.0.0.1")
	f.Acquire(unsafeString(buf), 1)
	copy(buf, "ip:10.0.0.2")
	if _, ok := f.Acquire("ip:10.0.0.1", 1); ok {
		t.Fatal("10.0.0.1's counter lost its key")
	}
	if f.Count("ip:10.0.0.2") != 0 {
		t.Fatal("10.0.0.2 has 10.0.0.1's count")
	}
}

func TestInFlightSweep(t *testing.T) {
	f := NewInFlight()
	f.slots.setFloor(8)
	held, _ := f.Acquire("held", 1)
	for i := 0; i < 5000; i++ {
		s, _ := f.Acquire("k"+strconv.Itoa(i), 1)
		s.Release()
	}
	if n := f.Len(); n > 2*shards*8+1 {
		t.Fatalf("%d counters after 5000 finished keys, want a bounded number", n)
	}
	f.Sweep()
	if n := f.Len(); n != 1 {
		t.Fatalf("%d counters after a sweep with one request in flight, want 1", n)
	}
	if _, ok := f.Acquire("held", 1); ok {
		t.Fatal("the swept table forgot the request in flight")
	}
	held.Release()
	f.Sweep()
	if n := f.Len(); n != 0 {
		t.Fatalf("%d counters when idle, want 0", n)
	}
}

func TestInFlightConcurrent(t *testing.T) {
	f := NewInFlight()
	const limit = 5
	var peak, cur atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				s, ok := f.Acquire("k", limit)
				if !ok {
					continue
				}
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				cur.Add(-1)
				s.Release()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d in flight at once, limit %d", p, limit)
	}
	if f.Count("k") != 0 {
		t.Fatalf("count %d at the end", f.Count("k"))
	}
}

func BenchmarkInFlight(b *testing.B) {
	f := NewInFlight()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, ok := f.Acquire("api:orders", 1<<40)
			if !ok {
				b.Error("refused")
				return
			}
			s.Release()
		}
	})
}
