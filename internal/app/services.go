package app

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/consumers"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// services are what policies share on this node: built from the settings, closed by Run.
type services struct {
	env     policy.Env
	dir     *consumers.Directory
	closers []func()
	// health reports outages of shared backends (Redis) for /readyz; nil entries are fine.
	health []func() error
}

func newServices(ctx context.Context, cfg config.Config, st gatehouse.Store, log *slog.Logger) (*services, error) {
	s := &services{}
	s.dir = consumers.New(st, consumers.Options{Logger: log.With("component", "consumers")})
	s.env = policy.Env{Ctx: ctx, Logger: log.With("component", "policy"), Directory: s.dir}
	return s, nil
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
