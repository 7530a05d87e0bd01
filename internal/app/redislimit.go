package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
)

// lazyRedisLimiter is the Redis limiter that connects when it can: a node whose Redis is
// down at start still starts (serving the configured fallback), and the fallback's probe,
// which pings once a second, is what connects it when Redis comes up.
type lazyRedisLimiter struct {
	ctx         context.Context
	url, prefix string

	mu sync.Mutex
	r  *limit.Redis
}

var _ limit.Shared = (*lazyRedisLimiter)(nil)

func (l *lazyRedisLimiter) get() *limit.Redis {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r
}

// connect makes the client if there is none yet.
func (l *lazyRedisLimiter) connect() (*limit.Redis, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r != nil {
		return l.r, nil
	}
	r, err := limit.NewRedis(l.ctx, l.url, l.prefix)
	if err != nil {
		return nil, err
	}
	l.r = r
	return r, nil
}

func (l *lazyRedisLimiter) Allow(ctx context.Context, key string, rate policy.Rate, n int64) (policy.Decision, error) {
	r := l.get()
	if r == nil {
		return policy.Decision{}, fmt.Errorf("redis not connected yet: %w", limit.ErrUnavailable)
	}
	return r.Allow(ctx, key, rate, n)
}

func (l *lazyRedisLimiter) Ping(ctx context.Context) error {
	r, err := l.connect()
	if err != nil {
		return err
	}
	return r.Ping(ctx)
}

func (l *lazyRedisLimiter) Close() {
	if r := l.get(); r != nil {
		r.Close()
	}
}

// lazyRedisQuotas is the Redis quota counter that connects when it can, at most once a
// second: while Redis is unreachable, Take fails and the quota policy answers 503
// quota_unavailable (never a wrong 429 or 401).
type lazyRedisQuotas struct {
	url, prefix string
	log         *slog.Logger

	mu       sync.Mutex
	q        *quota.Redis
	lastTry  time.Time
	lastErr  error
	lastPing time.Time
	// failing is set by a failed Take and cleared by the next successful one, so that
	// readiness follows what requests see, not only whether a client was ever made.
	failing atomic.Bool
}

func (l *lazyRedisQuotas) client() (*quota.Redis, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.q != nil {
		return l.q, nil
	}
	if time.Since(l.lastTry) < time.Second {
		return nil, l.lastErr
	}
	l.lastTry = time.Now()
	q, err := quota.NewRedis(l.url, l.prefix)
	if err != nil {
		l.lastErr = err
		return nil, err
	}
	l.q = q
	return q, nil
}

func (l *lazyRedisQuotas) Take(ctx context.Context, key string, start, end time.Time, limit, n int64) (int64, bool, error) {
	q, err := l.client()
	if err == nil {
		var used int64
		var ok bool
		used, ok, err = q.Take(ctx, key, start, end, limit, n)
		if err == nil {
			if l.failing.Swap(false) {
				l.log.Info("redis quota counters reachable again")
			}
			return used, ok, nil
		}
	}
	if ctx.Err() == nil && !l.failing.Swap(true) {
		l.log.Error("redis quota counters unreachable; quota-limited requests get 503 until it answers", "err", err)
	}
	return 0, false, err
}

// Health reports Redis unreachable while no client could be made or the latest Take
// failed; while failing it pings (at most once a second), so that readiness recovers even
// when no traffic arrives to prove it. The message names no host: /readyz needs no token.
func (l *lazyRedisQuotas) Health() error {
	down := errors.New("quota counters: redis unreachable; quota-limited requests get 503 quota_unavailable")
	q, err := l.client()
	if err != nil {
		return down
	}
	if l.failing.Load() {
		l.mu.Lock()
		due := time.Since(l.lastPing) >= time.Second
		if due {
			l.lastPing = time.Now()
		}
		l.mu.Unlock()
		if !due {
			return down
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if q.Ping(ctx) != nil {
			return down
		}
		l.failing.Store(false)
		l.log.Info("redis quota counters reachable again")
	}
	return nil
}

func (l *lazyRedisQuotas) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.q != nil {
		_ = l.q.Close()
	}
}
