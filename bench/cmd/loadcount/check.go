package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/cpuuse"
)

// Check is the analytics side of a run: the node to ask and how long to wait.
type Check struct {
	Admin    Admin
	Timeout  time.Duration // for the count to equal the answers
	Interval time.Duration // between queries meanwhile
	Recheck  time.Duration // once equal, ask again this much later (0: no)
	CPU      *cpuuse.Probe // nil: no CPU figures
}

// Run reads the baseline, sends the load, and polls the query API until its count equals
// the answers.
func (c *Check) Run(ctx context.Context, cfg LoadConfig) (*Result, error) {
	// The range's start is fixed now, before the load, so that the baseline and the final
	// count cover the same events up to the load; its end is an hour on, past the load.
	from := time.Now().Add(-time.Minute)
	base, err := c.Admin.totals(ctx, from, time.Now().Add(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("the query API before the load: %w", err)
	}
	rec0, recErr := c.Admin.recorder(ctx)
	var cpu0 cpuuse.Sample
	if c.CPU != nil {
		if cpu0, err = c.CPU.Read(); err != nil {
			return nil, fmt.Errorf("reading CPU use: %w", err)
		}
	}
	self0, err := cpuuse.SelfCPU()
	if err != nil {
		return nil, err
	}
	load := runLoad(ctx, cfg)
	wall := time.Since(load.Start)
	self1, err := cpuuse.SelfCPU()
	if err != nil {
		return nil, err
	}
	r := newResult(cfg, load)
	if wall > 0 {
		r.ClientCPUCores = (self1 - self0).Seconds() / wall.Seconds()
	}
	if c.CPU != nil {
		cpu1, err := c.CPU.Read()
		if err != nil {
			return nil, fmt.Errorf("reading CPU use (did a process exit?): %w", err)
		}
		r.CPU = c.CPU.Between(cpu0, cpu1, self1-self0)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	to := load.Done.Add(time.Minute)
	if load.Sent == 0 {
		to = time.Now().Add(time.Minute)
	}
	r.API = c.Admin.API
	r.From, r.To = from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano)
	r.Baseline = base.Count
	r.Expected = base.Count + r.Answered
	p, err := poll(ctx, &c.Admin, from, to, r.Expected, load.Done, c.Interval, c.Timeout)
	if err != nil {
		return nil, fmt.Errorf("the query API after the load: %w", err)
	}
	r.Polls, r.Equal, r.UntilEqualS = p.Polls, p.Equal, p.UntilEqualS
	r.AnalyticsCount = p.Last.Count
	r.AnalyticsErrors = p.Last.Errors - base.Errors
	if p.Equal && c.Recheck > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.Recheck):
		}
		t, err := c.Admin.totals(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("the query API, again: %w", err)
		}
		still := t.Count == r.Expected
		r.RecheckS, r.RecheckCnt, r.StillEqual = c.Recheck.Seconds(), t.Count, &still
	}
	if rec1, err := c.Admin.recorder(ctx); err == nil && recErr == nil {
		recorded, dropped := rec1.Recorded-rec0.Recorded, rec1.Dropped-rec0.Dropped
		r.Recorded, r.Dropped = &recorded, &dropped
	}
	r.check()
	return r, nil
}
