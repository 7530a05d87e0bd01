package limit

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/limit/limittest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func TestMemoryConformance(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limittest.Subject {
		clock := limittest.NewClock()
		return limittest.Subject{Limiter: NewMemory(MemoryOptions{Now: clock.Now}), Advance: clock.Advance}
	})
}

func TestMemoryConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for a few seconds")
	}
	limittest.Run(t, func(t *testing.T) limittest.Subject {
		return limittest.Subject{Limiter: NewMemory(MemoryOptions{}), Advance: time.Sleep, Slack: 500 * time.Millisecond}
	})
}

// The policies pass keys built in reused buffers: the stored key must be a copy.
func TestMemoryCopiesKeys(t *testing.T) {
	m := NewMemory(MemoryOptions{Now: limittest.NewClock().Now})
	r := policy.Rate{Limit: 3, Window: time.Hour}
	buf := []byte("app:alpha")
	if _, err := m.Allow(context.Background(), unsafeString(buf), r, 1); err != nil {
		t.Fatal(err)
	}
	copy(buf, "app:bravo")
	d, _ := m.Allow(context.Background(), "app:alpha", r, 1)
	if d.Remaining != 1 {
		t.Fatalf("alpha's second request: %+v, want 1 remaining (the bucket lost its key)", d)
	}
	if d, _ := m.Allow(context.Background(), "app:bravo", r, 1); d.Remaining != 2 {
		t.Fatalf("bravo's first request: %+v, want 2 remaining", d)
	}
}

func TestMemorySweepBoundsMemory(t *testing.T) {
	clock := limittest.NewClock()
	m := NewMemory(MemoryOptions{Now: clock.Now})
	m.buckets.setFloor(16)
	r := policy.Rate{Limit: 10, Window: time.Second}
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		for i := 0; i < 1_000; i++ {
			if _, err := m.Allow(ctx, fmt.Sprintf("r%d-k%d", round, i), r, 1); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Second) // every bucket of this round is full again: dead
	}
	// 10,000 keys went through; at most about twice a round's worth (plus each shard's
	// floor) may remain.
	if n, bound := m.Len(), 2*1_000+shards*16*2; n > bound {
		t.Fatalf("%d buckets held after 10 rounds of 1,000 short-lived keys, want at most %d", n, bound)
	}
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("%d buckets after sweeping full ones, want 0", n)
	}
	// A live bucket survives a sweep.
	m.Allow(ctx, "live", r, 1)
	m.Sweep()
	if d, _ := m.Allow(ctx, "live", r, 1); d.Remaining != 8 {
		t.Fatalf("live bucket after a sweep: %+v, want 8 remaining", d)
	}
}

func TestGCRAOverflow(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	// A burst whose tolerance would overflow int64 nanoseconds is refused, not wrapped.
	if _, err := m.Allow(context.Background(), "k", policy.Rate{Limit: 1, Window: 744 * time.Hour, Burst: 1 << 40}, 1); err == nil {
		t.Fatal("no error for a burst spanning millennia")
	}
	// A rate faster than a request per nanosecond still limits.
	r := policy.Rate{Limit: 1 << 40, Window: time.Second, Burst: 2}
	for i := 0; i < 2; i++ {
		if d, _ := m.Allow(context.Background(), "fast", r, 1); !d.Allowed {
			t.Fatalf("request %d rejected", i+1)
		}
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	r := policy.Rate{Limit: 1 << 40, Window: time.Second}
	ctx := context.Background()
	m.Allow(ctx, "app:bench", r, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Allow(ctx, "app:bench", r, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryAllowParallel(b *testing.B) {
	for _, tc := range []struct {
		name string
		keys int
	}{{"one key", 1}, {"1000 keys", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			m := NewMemory(MemoryOptions{})
			r := policy.Rate{Limit: 1 << 40, Window: time.Second}
			ctx := context.Background()
			keys := make([]string, tc.keys)
			for i := range keys {
				keys[i] = "app:" + strconv.Itoa(i)
				m.Allow(ctx, keys[i], r, 1)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1))
				for pb.Next() {
					i++
					if _, err := m.Allow(ctx, keys[i%len(keys)], r, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
