package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// CompactorOptions configure a Compactor. Retentions: 0 takes the default, a negative
// value keeps rows forever.
type CompactorOptions struct {
	Store Store
	// Aggregator, when set, is this node's: minute compaction holds back its flushes so a
	// partial row cannot be written between the read and the replace.
	Aggregator *Aggregator
	Node       string
	// Interval between runs (default 1 minute).
	Interval time.Duration
	// Grace is how long after a bucket closes it is compacted (default 2 minutes): longer
	// than the aggregator's flush interval, so the bucket has stopped receiving rows.
	// Rows written later still count at minute resolution, not in hour/day rows.
	Grace time.Duration
	// Lookback is how far back the first run compacts minutes (default 1 hour).
	Lookback time.Duration

	MinuteRetention  time.Duration // default 48h
	HourRetention    time.Duration // default 90 days
	DayRetention     time.Duration // default 2 years
	RequestRetention time.Duration // raw request log, default 7 days

	Clock  func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil discards
}

// Compactor merges partial minute rows into one row per (minute, Dims), builds hour rows
// from the minutes of each complete hour and day rows from the hours of each complete day,
// and prunes each resolution and the request log by retention. Buckets are compacted in
// order and never skipped, which Query relies on: for a given filter, every coarse bucket
// up to the latest one with rows is complete. Run one Compactor per store.
type Compactor struct {
	o   CompactorOptions
	log *slog.Logger

	mu              sync.Mutex
	minuteWM        time.Time // minutes before it are compacted
	hourWM, dayWM   time.Time // hours / days before it have their coarse rows
	watermarksKnown bool
}

// NewCompactor returns a compactor; call Start or RunOnce.
func NewCompactor(o CompactorOptions) *Compactor {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Interval, time.Minute)
	def(&o.Grace, 2*time.Minute)
	def(&o.Lookback, time.Hour)
	def(&o.MinuteRetention, 48*time.Hour)
	def(&o.HourRetention, 90*24*time.Hour)
	def(&o.DayRetention, 730*24*time.Hour)
	def(&o.RequestRetention, 7*24*time.Hour)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Compactor{o: o, log: log}
}

// Start runs RunOnce every Interval until ctx ends.
func (c *Compactor) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(c.o.Interval)
		defer t.Stop()
		for {
			if err := c.RunOnce(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("analytics compaction failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// RunOnce compacts and prunes what is due now. A failure stops the run where it was; the
// next run resumes there.
func (c *Compactor) RunOnce(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Clock().UTC()
	closed := now.Add(-c.o.Grace)
	if !c.watermarksKnown {
		if err := c.findWatermarks(ctx, closed); err != nil {
			return err
		}
		c.watermarksKnown = true
	}
	if err := c.compactMinutes(ctx, closed.Truncate(time.Minute)); err != nil {
		return err
	}
	if err := c.buildCoarse(ctx, Hour, &c.hourWM, closed.Truncate(time.Hour)); err != nil {
		return err
	}
	// A day is built once all its hours are.
	if err := c.buildCoarse(ctx, Day, &c.dayWM, minTime(closed, c.hourWM).Truncate(24*time.Hour)); err != nil {
		return err
	}
	return c.prune(ctx, now)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// findWatermarks resumes after a restart: coarse building continues after the latest
// coarse row in the store, or, when there is none, from the oldest finer rows retention
// may have kept.
func (c *Compactor) findWatermarks(ctx context.Context, closed time.Time) error {
	c.minuteWM = closed.Add(-c.o.Lookback).Truncate(time.Minute)
	var err error
	if c.hourWM, err = c.resume(ctx, Hour, closed, c.o.MinuteRetention); err != nil {
		return err
	}
	c.dayWM, err = c.resume(ctx, Day, closed, c.o.HourRetention)
	return err
}

// resume finds where building res rows should continue: after the latest res row within
// the finer resolution's retention, else at its start.
func (c *Compactor) resume(ctx context.Context, res Resolution, closed time.Time, finerRetention time.Duration) (time.Time, error) {
	step := resStep(res)
	if finerRetention < 0 {
		finerRetention = 400 * 24 * time.Hour
	}
	oldest := closed.Add(-finerRetention).Truncate(step)
	// Probe backwards in windows so a long history is not read at once.
	window := 48 * step
	for to := closed.Truncate(step).Add(step); to.After(oldest); to = to.Add(-window) {
		from := to.Add(-window)
		if from.Before(oldest) {
			from = oldest
		}
		rows, err := c.o.Store.ReadRollups(ctx, RollupQuery{Res: res, From: from, To: to})
		if err != nil {
			return time.Time{}, fmt.Errorf("analytics: compactor: read %s rows: %w", res, err)
		}
		var latest time.Time
		for i := range rows {
			if rows[i].Start.After(latest) {
				latest = rows[i].Start
			}
		}
		if !latest.IsZero() {
			return latest.Add(step), nil
		}
	}
	return oldest, nil
}

// compactMinutes merges the partial rows of each closed minute in [minuteWM, until).
func (c *Compactor) compactMinutes(ctx context.Context, until time.Time) error {
	for c.minuteWM.Before(until) {
		// An hour of minutes per read.
		to := c.minuteWM.Add(time.Hour)
		if to.After(until) {
			to = until
		}
		if err := c.compactMinuteRange(ctx, c.minuteWM, to); err != nil {
			return err
		}
		c.minuteWM = to
	}
	return nil
}

func (c *Compactor) compactMinuteRange(ctx context.Context, from, to time.Time) error {
	c.o.Aggregator.lockWrites()
	defer c.o.Aggregator.unlockWrites()
	rows, err := c.o.Store.ReadRollups(ctx, RollupQuery{Res: Minute, From: from, To: to})
	if err != nil {
		return fmt.Errorf("analytics: compactor: read minutes: %w", err)
	}
	byMinute := map[time.Time][]Rollup{}
	for _, r := range rows {
		m := r.Start.UTC()
		byMinute[m] = append(byMinute[m], r)
	}
	for m, rs := range byMinute {
		type key = Dims
		seen := make(map[key]bool, len(rs))
		dup := false
		for i := range rs {
			if seen[rs[i].Dims] {
				dup = true
				break
			}
			seen[rs[i].Dims] = true
		}
		if !dup {
			continue // already one row per Dims
		}
		merged, err := MergeRollups(rs, Minute, c.o.Node)
		if err != nil {
			c.log.Warn("analytics compaction: undecodable sketch dropped", "minute", m, "err", err)
		}
		if err := c.o.Store.ReplaceRollups(ctx, Minute, m, m.Add(time.Minute), merged); err != nil {
			return fmt.Errorf("analytics: compactor: replace minute %s: %w", m.Format(time.RFC3339), err)
		}
	}
	return nil
}

// buildCoarse writes the res rows of each complete bucket in [*wm, until) from the finer
// rows (minutes for hours, hours for days), replacing any earlier attempt.
func (c *Compactor) buildCoarse(ctx context.Context, res Resolution, wm *time.Time, until time.Time) error {
	step := resStep(res)
	finer := Minute
	if res == Day {
		finer = Hour
	}
	for wm.Before(until) {
		from := *wm
		rows, err := c.o.Store.ReadRollups(ctx, RollupQuery{Res: finer, From: from, To: from.Add(step)})
		if err != nil {
			return fmt.Errorf("analytics: compactor: read %s rows: %w", finer, err)
		}
		if len(rows) > 0 {
			merged, err := MergeRollups(rows, res, c.o.Node)
			if err != nil {
				c.log.Warn("analytics compaction: undecodable sketch dropped", "bucket", from, "err", err)
			}
			if err := c.o.Store.ReplaceRollups(ctx, res, from, from.Add(step), merged); err != nil {
				return fmt.Errorf("analytics: compactor: write %s %s: %w", res, from.Format(time.RFC3339), err)
			}
		}
		*wm = from.Add(step)
	}
	return nil
}

// prune applies retention; finer rows are only pruned once their coarse rows exist.
func (c *Compactor) prune(ctx context.Context, now time.Time) error {
	var errs []error
	do := func(res Resolution, ret time.Duration, built time.Time) {
		if ret < 0 {
			return
		}
		before := now.Add(-ret)
		if !built.IsZero() && built.Before(before) {
			before = built
		}
		if _, err := c.o.Store.PruneRollups(ctx, res, before); err != nil {
			errs = append(errs, fmt.Errorf("analytics: prune %s rows: %w", res, err))
		}
	}
	do(Minute, c.o.MinuteRetention, c.hourWM)
	do(Hour, c.o.HourRetention, c.dayWM)
	do(Day, c.o.DayRetention, time.Time{})
	if c.o.RequestRetention >= 0 {
		if _, err := c.o.Store.PruneRequests(ctx, now.Add(-c.o.RequestRetention)); err != nil {
			errs = append(errs, fmt.Errorf("analytics: prune requests: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Watermarks reports how far compaction has got: minutes before minute are merged, hours
// before hour and days before day have their coarse rows.
func (c *Compactor) Watermarks() (minute, hour, day time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.minuteWM, c.hourWM, c.dayWM
}
