package cache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cache"
	"github.com/gatehouse-dev/gatehouse/internal/cache/cachetest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemory(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Subject {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		const max = 256 << 10
		m, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: max, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return cachetest.Subject{Cache: m, Advance: clk.Advance, MaxBytes: max}
	})
}

func TestMemoryOptions(t *testing.T) {
	if _, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: -1}); err == nil {
		t.Fatal("negative MaxBytes accepted")
	}
	m, err := cache.NewMemory(cache.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Set(ctx, "api:k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := m.Get(ctx, "api:k"); !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
}

// TestMemoryPurgeGenerations checks that purged entries stay unreachable across many
// purges and that keys without a prefix are purged by "" only.
func TestMemoryPurgeGenerations(t *testing.T) {
	m, err := cache.NewMemory(cache.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		v := []byte(strconv.Itoa(i))
		_ = m.Set(ctx, "api:k", v, time.Hour)
		_ = m.Set(ctx, "plain", v, time.Hour)
		if got, ok, _ := m.Get(ctx, "api:k"); !ok || string(got) != string(v) {
			t.Fatalf("round %d: Get = %q, %v", i, got, ok)
		}
		_ = m.Purge(ctx, "api:")
		if _, ok, _ := m.Get(ctx, "api:k"); ok {
			t.Fatalf("round %d: purged entry still visible", i)
		}
		if _, ok, _ := m.Get(ctx, "plain"); !ok {
			t.Fatalf("round %d: key without a prefix purged by %q", i, "api:")
		}
	}
	_ = m.Purge(ctx, "")
	if _, ok, _ := m.Get(ctx, "plain"); ok {
		t.Fatal("Purge(\"\") left a key")
	}
}

func TestRedis(t *testing.T) {
	url := os.Getenv("GATEHOUSE_TEST_REDIS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis cache")
	}
	cachetest.Run(t, func(t *testing.T) cachetest.Subject {
		return cachetest.Subject{Cache: openRedis(t, url, cache.RedisOptions{})}
	})
}

// openRedis opens a Redis cache under a random prefix, purged and closed when t ends.
func openRedis(t testing.TB, url string, o cache.RedisOptions) *cache.Redis {
	t.Helper()
	o.Prefix = "gatehouse-test:" + randomHex(8) + ":"
	r, err := cache.NewRedis(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Purge(context.Background(), ""); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
		r.Close()
	})
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestRedisMaxEntry(t *testing.T) {
	url := os.Getenv("GATEHOUSE_TEST_REDIS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis cache")
	}
	r := openRedis(t, url, cache.RedisOptions{MaxEntryBytes: 10})
	ctx := context.Background()
	if err := r.Set(ctx, "api:small", []byte("0123456789"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, "api:big", []byte("0123456789a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Get(ctx, "api:small"); !ok {
		t.Fatal("entry at the limit not stored")
	}
	if _, ok, _ := r.Get(ctx, "api:big"); ok {
		t.Fatal("entry over the limit stored")
	}
}

func TestRedisBadURL(t *testing.T) {
	if _, err := cache.NewRedis("http://nope", cache.RedisOptions{}); err == nil {
		t.Fatal("accepted an http:// url")
	}
}

// TestRedisCallerGaveUp checks that a caller's cancelled context fails its own call only:
// it does not put the cache to rest as a server error does.
func TestRedisCallerGaveUp(t *testing.T) {
	url := os.Getenv("GATEHOUSE_TEST_REDIS")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis cache")
	}
	r := openRedis(t, url, cache.RedisOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Get(ctx, "api:k"); err == nil {
		t.Fatal("Get with a cancelled context succeeded")
	}
	if _, _, err := r.Get(context.Background(), "api:k"); err != nil {
		t.Fatalf("after a cancelled call: %v", err)
	}
}

func BenchmarkMemoryGetHit(b *testing.B) {
	m, err := cache.NewMemory(cache.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_ = m.Set(ctx, "api:0123456789abcdef0123456789abcdef", make([]byte, 1024), time.Hour)
	_ = m.Purge(ctx, "api:") // generations in play, as after a purge in production
	_ = m.Set(ctx, "api:0123456789abcdef0123456789abcdef", make([]byte, 1024), time.Hour)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := m.Get(ctx, "api:0123456789abcdef0123456789abcdef"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkMemorySet(b *testing.B) {
	m, err := cache.NewMemory(cache.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "api:" + strconv.Itoa(i)
	}
	v := make([]byte, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = m.Set(ctx, keys[i%len(keys)], v, time.Hour)
		i++
	}
}
