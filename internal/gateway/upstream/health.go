package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// check runs t's active health checks until ctx ends. One goroutine per target keeps a
// slow target from delaying the others' checks.
func (p *Pool) check(ctx context.Context, t *target) {
	hc := p.cfg.health
	tick := time.NewTicker(hc.interval)
	defer tick.Stop()
	var ups, downs int // consecutive results; only this goroutine touches them
	for {
		err := p.probeHealth(ctx, t)
		if ctx.Err() != nil {
			return // an aborted check says nothing about the target
		}
		if err == nil {
			ups, downs = ups+1, 0
			if ups >= hc.healthy && t.down.Load() {
				t.down.Store(false)
				p.log.Info("upstream target healthy", "target", t.raw, "successes", ups)
			}
		} else {
			ups, downs = 0, downs+1
			if downs >= hc.unhealthy && !t.down.Load() {
				t.down.Store(true)
				p.log.Warn("upstream target unhealthy", "target", t.raw, "failures", downs, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeHealth GETs t's health URL; 2xx and 3xx are healthy.
func (p *Pool) probeHealth(ctx context.Context, t *target) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.health.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.healthURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "gatehouse-health-check")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection goes back to the pool for the next check.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health check answered %d", resp.StatusCode)
	}
	return nil
}
