package limit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func newLogCounter() (*logCounter, *slog.Logger) {
	l := &logCounter{msgs: map[string]int{}}
	return l, slog.New(l)
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs[r.Message]++
	l.mu.Unlock()
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

// flaky is a Shared limiter that fails while down is set.
type flaky struct {
	*Memory
	down  atomic.Bool
	calls atomic.Int64 // Allow calls that reached it
	pings atomic.Int64
}

func (f *flaky) Allow(ctx context.Context, key string, r policy.Rate, n int64) (policy.Decision, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return policy.Decision{Retry: time.Second}, fmt.Errorf("%w: connection refused", ErrUnavailable)
	}
	return f.Memory.Allow(ctx, key, r, n)
}

func (f *flaky) Ping(context.Context) error {
	f.pings.Add(1)
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func TestFallbackWithoutRedis(t *testing.T) {
	ctx := context.Background()
	r := policy.Rate{Limit: 2, Window: time.Hour}
	shared := &flaky{Memory: NewMemory(MemoryOptions{})}
	logs, logger := newLogCounter()
	f := NewFallback(shared, nil, FallbackLocal, logger)
	f.probeDue = 20 * time.Millisecond
	defer f.Close()

	// A bad rate is the caller's error, not an outage.
	if _, err := f.Allow(ctx, "k", policy.Rate{}, 1); err == nil || errors.Is(err, ErrUnavailable) || f.Health() != nil {
		t.Fatalf("bad rate: %v, health %v", err, f.Health())
	}
	// A client that went away is not an outage either.
	shared.down.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.Allow(cctx, "k", r, 1)
	if f.Health() != nil {
		t.Fatalf("a cancelled request marked the limiter down: %v", f.Health())
	}

	// Many requests fail at once: one outage, logged once, and the rest skip the shared
	// limiter instead of each waiting on it.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Go(func() { f.Allow(ctx, "k", r, 1) })
	}
	wg.Wait()
	before := shared.calls.Load()
	for i := 0; i < 100; i++ {
		f.Allow(ctx, "k", r, 1)
	}
	if after := shared.calls.Load(); after != before {
		t.Fatalf("%d requests reached the shared limiter while it was down", after-before)
	}
	if err := f.Health(); err == nil || !strings.Contains(err.Error(), "fallback local") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Health: %v", err)
	}
	if n := logs.count("shared rate limiter unreachable; falling back"); n != 1 {
		t.Fatalf("outage logged %d times", n)
	}
	time.Sleep(100 * time.Millisecond)
	if n := shared.pings.Load(); n < 1 || n > 10 {
		t.Fatalf("%d pings in 100ms at one per 20ms", n)
	}

	shared.down.Store(false)
	waitHealthy(t, f)
	if d, err := f.Allow(ctx, "fresh", r, 1); err != nil || !d.Allowed {
		t.Fatalf("after recovery: %+v, %v", d, err)
	}
	if shared.calls.Load() == before {
		t.Fatal("requests still skip the shared limiter after recovery")
	}
	// Close stops a running probe.
	shared.down.Store(true)
	f.Allow(ctx, "k", r, 1)
	f.Close()
	pings := shared.pings.Load()
	time.Sleep(60 * time.Millisecond)
	if shared.pings.Load() != pings {
		t.Fatal("the probe kept running after Close")
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"local", "closed"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMode("open"); err == nil {
		t.Error("ParseMode(open): no error")
	}
}
