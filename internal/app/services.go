package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/cache"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/consumers"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	cachepolicy "github.com/gatehouse-dev/gatehouse/internal/policy/cache"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
)

// services are what policies share on this node: built from the settings, closed by Run.
type services struct {
	env     policy.Env
	dir     *consumers.Directory
	usage   *quota.Tracker // each app's quota use, for analytics and alerts
	closers []func()
	// health reports outages that make the node unready (fail-closed backends down).
	health []func() error
	// degraded reports outages a fallback covers ("" when fine); warnings are standing ones.
	degraded []func() string
	warnings []string
}

func newServices(ctx context.Context, cfg config.Config, st gatehouse.Store, log *slog.Logger) (*services, error) {
	s := &services{}
	s.dir = consumers.New(st, consumers.Options{Logger: log.With("component", "consumers")})
	s.usage = quota.NewTracker()
	s.env = policy.Env{Ctx: ctx, Logger: log.With("component", "policy"), Directory: s.dir, QuotaUsage: s.usage}
	if err := s.openCache(cfg, log); err != nil {
		s.Close()
		return nil, err
	}
	s.openLimiter(ctx, cfg, log)
	if err := s.openQuotas(cfg, st, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openQuotas builds the quota counters: in memory and flushed to the store, or in Redis.
func (s *services) openQuotas(cfg config.Config, st gatehouse.Store, log *slog.Logger) error {
	if cfg.Quota.Backend == "redis" {
		q := &lazyRedisQuotas{url: cfg.Redis.URL, prefix: cfg.Redis.Prefix + "quota:", log: log.With("component", "quota")}
		if _, err := q.client(); err != nil {
			log.Error("redis quota counters unreachable at start; quota-limited requests get 503 until it answers", "err", err)
		}
		s.env.Quotas = q
		s.closers = append(s.closers, q.Close)
		s.health = append(s.health, q.Health)
		return nil
	}
	cs, ok := st.(quota.CounterStore)
	if !ok {
		return fmt.Errorf("quota counters: the store cannot keep them; set quota.backend: redis")
	}
	l, err := quota.NewLocal(cs, quota.LocalOptions{FlushInterval: cfg.Quota.FlushInterval.D()})
	if err != nil {
		return fmt.Errorf("quota counters: %w", err)
	}
	s.env.Quotas = l
	// Closed before the store (Run defers the store's Close first), so the last counts land.
	s.closers = append(s.closers, func() {
		if err := l.Close(); err != nil {
			log.Error("flushing quota counters", "err", err)
		}
	})
	return nil
}

// openLimiter builds the rate limiter. With Redis it is wrapped in the fallback: an outage
// with fallback local leaves the node ready but degraded; with fallback closed it makes
// the node unready, since it then refuses rate-limited traffic.
func (s *services) openLimiter(ctx context.Context, cfg config.Config, log *slog.Logger) {
	mem := limit.NewMemory(limit.MemoryOptions{})
	if cfg.Limits.Backend != "redis" {
		s.env.Limiter = mem
		return
	}
	shared := &lazyRedisLimiter{ctx: ctx, url: cfg.Redis.URL, prefix: cfg.Redis.Prefix + "rl:"}
	mode := limit.Mode(cfg.Limits.Fallback)
	fb := limit.NewFallback(shared, mem, mode, log.With("component", "limiter"))
	if _, err := shared.connect(); err != nil {
		log.Error("redis rate limiter unreachable at start; serving the fallback until it answers", "err", err, "fallback", mode)
		fb.MarkDown(err)
	}
	s.env.Limiter = fb
	s.closers = append(s.closers, fb.Close, shared.Close)
	// /readyz needs no token: it says what is down, never the cause (which may name
	// internal hosts); the fallback logs the cause when the state changes.
	if mode == limit.FallbackClosed {
		s.health = append(s.health, func() error {
			if fb.Health() != nil {
				return errors.New("rate limiter: redis unreachable; fallback closed: rate-limited requests get 503 limiter_unavailable")
			}
			return nil
		})
		return
	}
	s.degraded = append(s.degraded, func() string {
		if fb.Health() != nil {
			return "rate limiter: redis unreachable; fallback local: each node enforces rate limits alone"
		}
		return ""
	})
}

// openCache builds the response cache. A Redis cache that cannot be reached at start is
// replaced by a memory one, said on /readyz: a cache is an optimisation, never a reason
// not to serve.
func (s *services) openCache(cfg config.Config, log *slog.Logger) error {
	if cfg.Cache.Backend == "redis" {
		rc, err := cache.NewRedis(cfg.Redis.URL, cache.RedisOptions{Prefix: cfg.Redis.Prefix + "cache:"})
		if err == nil {
			s.env.Cache = rc
			s.closers = append(s.closers, rc.Close)
			return nil
		}
		log.Error("redis cache unreachable at start; caching in memory on this node", "err", err)
		s.warnings = append(s.warnings, "response cache: redis was unreachable at start; caching in memory on this node")
	}
	mc, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: cfg.Cache.MaxBytes})
	if err != nil {
		return fmt.Errorf("response cache: %w", err)
	}
	s.env.Cache = mc
	return nil
}

// PurgeCache drops an API's cached responses.
func (s *services) PurgeCache(ctx context.Context, api string) error {
	if s.env.Cache == nil {
		return nil
	}
	return s.env.Cache.Purge(ctx, cachepolicy.PurgePrefix(api))
}

// Degraded lists backends that are down while a fallback serves.
func (s *services) Degraded() []string {
	out := append([]string(nil), s.warnings...)
	for _, d := range s.degraded {
		if msg := d(); msg != "" {
			out = append(out, msg)
		}
	}
	return out
}

// Health returns the first backend outage, or nil.
func (s *services) Health() error {
	for _, h := range s.health {
		if err := h(); err != nil {
			return err
		}
	}
	return nil
}

func (s *services) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}
