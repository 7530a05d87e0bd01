package quota_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/quota/quotatest"
)

func openRedis(t testing.TB, url, prefix string) *quota.Redis {
	t.Helper()
	r, err := quota.NewRedis(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	url := quotatest.RedisURL(t)
	quotatest.Run(t, func(t *testing.T) quotatest.Opener {
		prefix := quotatest.RedisPrefix(t, url)
		return func(t *testing.T) quotatest.Quotas { return openRedis(t, url, prefix) }
	})
}

// TestRedisExpiry: a counter expires after its period ends, with a margin for late clocks.
func TestRedisExpiry(t *testing.T) {
	t.Parallel()
	url := quotatest.RedisURL(t)
	prefix := quotatest.RedisPrefix(t, url)
	r := openRedis(t, url, prefix)
	start := time.Now().Truncate(time.Hour)
	end := start.Add(time.Hour)
	if _, ok, err := r.Take(t.Context(), "k", start, end, 10, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	c := quotatest.RedisClient(t, url)
	key := prefix + "k:" + strconv.FormatInt(start.Unix(), 10)
	ttl, err := c.Do(t.Context(), c.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	// At most the rest of the period plus the margin, and a second for the server's clock.
	if maxTTL := time.Until(end) + time.Hour + time.Second; ttl <= 0 || time.Duration(ttl)*time.Millisecond > maxTTL {
		t.Errorf("TTL of %s = %dms, want in (0, %v]", key, ttl, maxTTL)
	}

	// A period already over (a request straddling the boundary) still gets the margin.
	if _, ok, err := r.Take(t.Context(), "late", start.Add(-time.Hour), start, 10, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ttl, err = c.Do(t.Context(), c.B().Pttl().Key(prefix+"late:"+strconv.FormatInt(start.Add(-time.Hour).Unix(), 10)).Build()).AsInt64()
	if err != nil || ttl <= 0 {
		t.Errorf("TTL of a past period's counter = %d, %v; want positive", ttl, err)
	}
}

func TestNewRedisErrors(t *testing.T) {
	t.Parallel()
	// A bad URL: the error must not repeat it (it may hold a password).
	for _, u := range []string{"http://user:s3cret@127.0.0.1:6379", "redis://user:s3cret@127.0.0.1:6379/x", "redis://user:s3cret@[::1"} {
		_, err := quota.NewRedis(u, "")
		if err == nil {
			t.Errorf("NewRedis(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewRedis error repeats the password: %v", err)
		}
	}
	// Nothing listening: an error, no hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := quota.NewRedis("redis://"+addr+"/0?dial_timeout=2s", ""); err == nil {
		t.Error("NewRedis to a closed port succeeded")
	}
}

// TestRedisFromSharedClient: Close leaves a shared client open.
func TestRedisFromSharedClient(t *testing.T) {
	t.Parallel()
	url := quotatest.RedisURL(t)
	c := quotatest.RedisClient(t, url)
	r := quota.RedisFrom(c, quotatest.RedisPrefix(t, url))
	if _, ok, err := r.Take(t.Context(), "k", time.Now(), time.Now().Add(time.Hour), 1, 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(t.Context(), c.B().Ping().Build()).Error(); err != nil {
		t.Errorf("shared client closed by Close: %v", err)
	}
}

func BenchmarkRedisTake(b *testing.B) {
	url := quotatest.RedisURL(b)
	r := openRedis(b, url, quotatest.RedisPrefix(b, url))
	ctx := context.Background()
	start := time.Now().Truncate(time.Hour)
	end := start.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := r.Take(ctx, "app:acme", start, end, 1<<50, 1); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkRedisTakeParallel shows auto-pipelining: concurrent Takes (16 goroutines per
// CPU) share round trips.
func BenchmarkRedisTakeParallel(b *testing.B) {
	url := quotatest.RedisURL(b)
	r := openRedis(b, url, quotatest.RedisPrefix(b, url))
	ctx := context.Background()
	start := time.Now().Truncate(time.Hour)
	end := start.Add(time.Hour)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, err := r.Take(ctx, "app:acme", start, end, 1<<50, 1); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}
