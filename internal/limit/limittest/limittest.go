// Package limittest is the conformance suite every policy.Limiter in internal/limit passes,
// and a fake clock for tests of limiters and the policies that use them.
package limittest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Subject is a limiter under test and how to move its clock.
type Subject struct {
	Limiter policy.Limiter
	// Advance moves the limiter's clock forward by at least d: a fake clock's Advance, or
	// time.Sleep for a limiter on real time (Redis reads Redis's clock).
	Advance func(d time.Duration)
	// Slack is how far durations the limiter reports may be off because real time passes
	// during the test (and a backend rounds); 0 for a fake clock: values must be exact.
	Slack time.Duration
}

func (s Subject) exact() bool { return s.Slack == 0 }

// Run runs the suite; newSubject returns a fresh limiter (for Redis: a new random key
// prefix) for each case.
//
// Cases that do not move the clock use slow rates (per hour), so that the milliseconds a
// real clock moves meanwhile refill nothing. Cases that do move it use fast rates, and on
// a real clock check bounds from the time actually slept rather than exact counts.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s Subject)
	}{
		{"burst exactly at the limit", testExactBurst},
		{"explicit burst", testExplicitBurst},
		{"rejected requests consume nothing", testRejectedFree},
		{"steady rate", testSteadyRate},
		{"idle bucket holds at most the burst", testIdleCap},
		{"n greater than one", testN},
		{"distinct keys are independent", testDistinctKeys},
		{"concurrent requests on one key", testConcurrent},
		{"invalid rate", testInvalidRate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newSubject(t)) })
	}
}

var ctx = context.Background()

func allow(t *testing.T, s Subject, key string, r policy.Rate, n int64) policy.Decision {
	t.Helper()
	d, err := s.Limiter.Allow(ctx, key, r, n)
	if err != nil {
		t.Fatalf("Allow(%q, %+v, %d): %v", key, r, n, err)
	}
	return d
}

// near checks a reported duration: exact on a fake clock, within Slack below want on a
// real one (time only passes), and within a microsecond above for backends that round up.
func near(t *testing.T, s Subject, what string, got, want time.Duration) {
	t.Helper()
	if s.exact() {
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
		return
	}
	if got < want-s.Slack || got > want+time.Microsecond {
		t.Errorf("%s = %v, want %v (-%v)", what, got, want, s.Slack)
	}
}

func testExactBurst(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 10, Window: time.Hour}
	T := 6 * time.Minute
	for i := int64(1); i <= 10; i++ {
		d := allow(t, s, "k", r, 1)
		if !d.Allowed || d.Remaining != 10-i || d.Retry != 0 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, 10-i)
		}
		near(t, s, "Reset", d.Reset, time.Duration(i)*T)
	}
	d := allow(t, s, "k", r, 1)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("request 11: %+v, want rejected with 0 remaining", d)
	}
	near(t, s, "Retry", d.Retry, T)
	near(t, s, "Reset", d.Reset, time.Hour)
}

func testExplicitBurst(t *testing.T, s Subject) {
	for _, burst := range []int64{1, 3, 25} {
		r := policy.Rate{Limit: 10, Window: time.Hour, Burst: burst}
		key := "k" + string(rune('a'+burst))
		for i := int64(1); i <= burst; i++ {
			if d := allow(t, s, key, r, 1); !d.Allowed || d.Remaining != burst-i {
				t.Fatalf("burst %d, request %d: %+v, want allowed with %d remaining", burst, i, d, burst-i)
			}
		}
		d := allow(t, s, key, r, 1)
		if d.Allowed {
			t.Fatalf("burst %d, request %d allowed", burst, burst+1)
		}
		near(t, s, "Retry", d.Retry, 6*time.Minute)
	}
}

func testRejectedFree(t *testing.T, s Subject) {
	// T = 500ms: long enough that the 55 requests below, on a real clock, refill nothing.
	r := policy.Rate{Limit: 5, Window: 2500 * time.Millisecond}
	T := 500 * time.Millisecond
	for i := 0; i < 5; i++ {
		allow(t, s, "k", r, 1)
	}
	var last policy.Decision
	for i := 0; i < 50; i++ {
		last = allow(t, s, "k", r, 1)
		if last.Allowed && s.exact() {
			t.Fatalf("request %d after the burst allowed", 6+i)
		}
	}
	// Had the 50 rejections consumed, the wait would be about 50·T.
	if last.Allowed || last.Retry <= 0 || last.Retry > T+time.Microsecond {
		t.Fatalf("after hammering: %+v, want rejected with Retry in (0, %v]", last, T)
	}
	if s.exact() && (last.Retry != T || last.Remaining != 0) {
		t.Fatalf("after hammering: %+v, want Retry %v and 0 remaining", last, T)
	}
	s.Advance(last.Retry + s.Slack/10)
	if d := allow(t, s, "k", r, 1); !d.Allowed {
		t.Fatalf("after waiting Retry (%v): %+v, want allowed", last.Retry, d)
	}
	if s.exact() {
		if d := allow(t, s, "k", r, 1); d.Allowed || d.Retry != T {
			t.Fatalf("the request after: %+v, want rejected with Retry %v", d, T)
		}
	}
}

func testSteadyRate(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 10, Window: time.Second} // T = 100ms
	T := 100 * time.Millisecond
	start := time.Now()
	for i := 0; i < 10; i++ {
		allow(t, s, "k", r, 1)
	}
	for round := 0; round < 3; round++ {
		s.Advance(350 * time.Millisecond)
		got := countAllowed(t, s, "k", r, 20)
		if s.exact() {
			// 3.5 intervals: 3 now, and the half carries to the next round.
			want := []int{3, 4, 3}[round]
			if got != want {
				t.Fatalf("round %d: %d allowed, want %d", round, got, want)
			}
			continue
		}
		if maxWant := int(time.Since(start)/T) + 1; got < 3 || got > maxWant {
			t.Fatalf("round %d: %d allowed after 350ms at 10/s, want 3..%d", round, got, maxWant)
		}
		start = time.Now()
	}
}

func testIdleCap(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 4, Window: 200 * time.Millisecond}
	for i := 0; i < 4; i++ {
		allow(t, s, "k", r, 1)
	}
	s.Advance(time.Second) // five windows: still only one burst
	got := countAllowed(t, s, "k", r, 20)
	if got < 4 || got > 4 && s.exact() || got > 5 {
		t.Fatalf("%d allowed after idling five windows, want the burst of 4", got)
	}
}

// countAllowed makes up to max requests and counts those allowed before the first rejection.
func countAllowed(t *testing.T, s Subject, key string, r policy.Rate, limit int) int {
	t.Helper()
	for i := 0; i < limit; i++ {
		if !allow(t, s, key, r, 1).Allowed {
			return i
		}
	}
	return limit
}

func testN(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 10, Window: time.Hour}
	T := 6 * time.Minute
	steps := []struct {
		n         int64
		allowed   bool
		remaining int64
	}{
		{4, true, 6},
		{4, true, 2},
		{4, false, 2},  // would go past the burst: nothing taken
		{11, false, 2}, // more than the burst never passes
		{2, true, 0},
		{1, false, 0},
	}
	for i, st := range steps {
		d := allow(t, s, "k", r, st.n)
		if d.Allowed != st.allowed || d.Remaining != st.remaining {
			t.Fatalf("step %d (n=%d): %+v, want allowed=%v remaining=%d", i, st.n, d, st.allowed, st.remaining)
		}
		if i == 2 {
			near(t, s, "Retry for n=4 with 2 left", d.Retry, 2*T)
		}
	}
}

func testDistinctKeys(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 2, Window: time.Hour}
	for i := 0; i < 2; i++ {
		allow(t, s, "a", r, 1)
	}
	if d := allow(t, s, "a", r, 1); d.Allowed {
		t.Fatal("a: third request allowed")
	}
	for i := 0; i < 2; i++ {
		if d := allow(t, s, "b", r, 1); !d.Allowed || d.Remaining != int64(1-i) {
			t.Fatalf("b request %d: %+v, want allowed", i+1, d)
		}
	}
	if d := allow(t, s, "a:b", r, 1); !d.Allowed {
		t.Fatal("a:b shares a bucket with a or b")
	}
}

func testConcurrent(t *testing.T, s Subject) {
	r := policy.Rate{Limit: 100, Window: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				d, err := s.Limiter.Allow(ctx, "k", r, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 100 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly 100", got)
	}
}

func testInvalidRate(t *testing.T, s Subject) {
	for _, r := range []policy.Rate{{Limit: 0, Window: time.Second}, {Limit: 1}, {Limit: 1, Window: time.Second, Burst: -1}} {
		if _, err := s.Limiter.Allow(ctx, "k", r, 1); err == nil {
			t.Errorf("Allow with %+v: no error", r)
		}
	}
	if _, err := s.Limiter.Allow(ctx, "k", policy.Rate{Limit: 1, Window: time.Second}, -1); err == nil {
		t.Error("Allow with n=-1: no error")
	}
}

// Clock is a fake clock for Env.Now and MemoryOptions.Now. It starts at a fixed instant.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at 2030-01-01T00:00:00Z.
func NewClock() *Clock { return &Clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
