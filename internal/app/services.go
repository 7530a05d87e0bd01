package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/cache"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/consumers"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	cachepolicy "github.com/gatehouse-dev/gatehouse/internal/policy/cache"
)

// services are what policies share on this node: built from the settings, closed by Run.
type services struct {
	env     policy.Env
	dir     *consumers.Directory
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
	s.env = policy.Env{Ctx: ctx, Logger: log.With("component", "policy"), Directory: s.dir}
	if err := s.openCache(cfg, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
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
