package limit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Mode is what a Fallback does while its shared limiter is down.
type Mode string

// Fallback modes (the node setting's values).
const (
	// FallbackLocal decides with the node's memory limiter: each node enforces every
	// limit alone, so N nodes let up to N times the limit through.
	FallbackLocal Mode = "local"
	// FallbackClosed rejects every rate-limited request with ErrUnavailable (the policy
	// answers 503 limiter_unavailable) until the shared limiter answers again.
	FallbackClosed Mode = "closed"
)

// ParseMode checks a fallback mode setting.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case FallbackLocal, FallbackClosed:
		return m, nil
	}
	return "", fmt.Errorf("unknown limiter fallback %q: want %q or %q", s, FallbackLocal, FallbackClosed)
}

// Shared is a limiter that can be down: the Redis limiter. Its Allow wraps ErrUnavailable
// in the errors that mean it could not decide.
type Shared interface {
	policy.Limiter
	// Ping checks that the limiter is reachable.
	Ping(ctx context.Context) error
}

// probeInterval is how often a Fallback tries its shared limiter while it is down: often
// enough to recover within a second or so, rarely enough not to hammer a dead Redis.
const probeInterval = time.Second

// Fallback decides with a shared limiter and, when that fails, with the node's local
// limiter or by rejecting, depending on its Mode. The first failure marks the shared
// limiter down: requests then skip it (no request waits on a dead Redis) while a single
// goroutine pings it every second and marks it up again when it answers. Each change is
// logged once.
type Fallback struct {
	shared Shared
	local  policy.Limiter
	mode   Mode
	log    *slog.Logger

	down     atomic.Bool
	mu       sync.Mutex // guards since, cause, closed and the transitions of down
	since    time.Time
	cause    error
	closed   bool
	stop     chan struct{}
	probeDue time.Duration // probeInterval; tests shorten it
	wg       sync.WaitGroup
}

var _ policy.Limiter = (*Fallback)(nil)

// NewFallback wraps shared. local is used in FallbackLocal mode (a *Memory; it may be nil
// in FallbackClosed mode). logger may be nil.
func NewFallback(shared Shared, local policy.Limiter, mode Mode, logger *slog.Logger) *Fallback {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if mode != FallbackClosed && local == nil {
		local = NewMemory(MemoryOptions{})
	}
	return &Fallback{shared: shared, local: local, mode: mode, log: logger, stop: make(chan struct{}), probeDue: probeInterval}
}

// Allow implements policy.Limiter. While the shared limiter is down it returns the local
// limiter's decision (FallbackLocal) or a rejection with an error wrapping ErrUnavailable
// (FallbackClosed).
func (f *Fallback) Allow(ctx context.Context, key string, r policy.Rate, n int64) (policy.Decision, error) {
	if !f.down.Load() {
		d, err := f.shared.Allow(ctx, key, r, n)
		if !errors.Is(err, ErrUnavailable) {
			return d, err // a decision, or a bad rate: nothing about the shared limiter's health
		}
		if ctx.Err() == nil { // a client that went away says nothing about Redis
			f.markDown(err)
		}
	}
	if f.mode == FallbackClosed {
		return policy.Decision{Retry: time.Second}, ErrUnavailable
	}
	return f.local.Allow(ctx, key, r, n)
}

// Health returns nil while the shared limiter answers, else an error saying since when it
// has been down and which fallback is in force (for /readyz).
func (f *Fallback) Health() error {
	if !f.down.Load() {
		return nil
	}
	f.mu.Lock()
	since, cause := f.since, f.cause
	f.mu.Unlock()
	return fmt.Errorf("shared rate limiter (redis) unreachable since %s: %v; %s", since.UTC().Format(time.RFC3339), cause, f.fallbackText())
}

func (f *Fallback) fallbackText() string {
	if f.mode == FallbackClosed {
		return "fallback closed: rate-limited requests are refused with 503"
	}
	return "fallback local: each node enforces rate limits alone"
}

// MarkDown declares the shared limiter down (say, unreachable at start) without waiting
// for a request to find out: the fallback serves and the probe starts.
func (f *Fallback) MarkDown(err error) { f.markDown(err) }

// markDown records the failure and starts the probe, once per outage.
func (f *Fallback) markDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.down.Load() {
		return
	}
	f.since, f.cause = time.Now(), err
	f.down.Store(true)
	f.log.Warn("shared rate limiter unreachable; falling back", "error", err, "fallback", string(f.mode))
	f.wg.Add(1)
	go f.probe()
}

// probe pings the shared limiter every probeDue until it answers or Close.
func (f *Fallback) probe() {
	defer f.wg.Done()
	t := time.NewTicker(f.probeDue)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.probeDue)
		err := f.shared.Ping(ctx)
		cancel()
		f.mu.Lock()
		if err != nil {
			f.cause = err
			f.mu.Unlock()
			continue
		}
		f.down.Store(false)
		down := time.Since(f.since).Round(time.Millisecond)
		f.mu.Unlock()
		f.log.Info("shared rate limiter reachable again", "down_for", down.String())
		return
	}
}

// Close stops the probe. It does not close the limiters it wraps.
func (f *Fallback) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.stop)
	}
	f.mu.Unlock()
	f.wg.Wait()
}
