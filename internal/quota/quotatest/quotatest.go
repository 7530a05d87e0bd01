// Package quotatest is the conformance suite of policy.Quotas implementations: every
// backend in internal/quota runs Run from its tests. It checks the behaviour documented on
// policy.Quotas (exact limits, rejected takes counting nothing, independent periods,
// concurrency) and that counts survive closing and reopening the backend over the same
// state, as across a restart.
//
// It is imported only by tests.
package quotatest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Quotas is a backend under test.
type Quotas interface {
	policy.Quotas
	// Close releases the backend, saving what must survive a restart; it is idempotent.
	Close() error
}

// Opener opens a backend over one test's state. Each call opens another instance over the
// same state, as a restarted node would; it arranges for Close in t.Cleanup.
type Opener func(t *testing.T) Quotas

// Run runs the suite. fresh prepares new, empty state for one test (a database file, a
// Redis key prefix) and returns how to open backends over it. Tests run in parallel.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"ExactLimit", testExactLimit},
		{"RejectedDoNotCount", testRejectedDoNotCount},
		{"TakeMany", testTakeMany},
		{"ZeroPeeks", testZeroPeeks},
		{"Negative", testNegative},
		{"LimitChanges", testLimitChanges},
		{"Independent", testIndependent},
		{"KeyMemoryReused", testKeyMemoryReused},
		{"Concurrent", testConcurrent},
		{"Restart", testRestart},
		{"RestartConcurrent", testRestartConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, fresh(t))
		})
	}
}

// A fixed period in the future, so that no backend considers it over while a test runs.
var (
	start = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	end   = start.AddDate(0, 0, 1)
)

// take calls Take and checks its answer.
func take(t *testing.T, q Quotas, key string, limit, n, wantUsed int64, wantOK bool) {
	t.Helper()
	takeIn(t, q, key, start, end, limit, n, wantUsed, wantOK)
}

func takeIn(t *testing.T, q Quotas, key string, s, e time.Time, limit, n, wantUsed int64, wantOK bool) {
	t.Helper()
	used, ok, err := q.Take(t.Context(), key, s, e, limit, n)
	if err != nil {
		t.Fatalf("Take(%q, %v, limit %d, n %d): %v", key, s, limit, n, err)
	}
	if used != wantUsed || ok != wantOK {
		t.Fatalf("Take(%q, %v, limit %d, n %d) = %d, %v; want %d, %v", key, s, limit, n, used, ok, wantUsed, wantOK)
	}
}

func testExactLimit(t *testing.T, open Opener) {
	q := open(t)
	for i := int64(1); i <= 5; i++ {
		take(t, q, "k", 5, 1, i, true)
	}
	take(t, q, "k", 5, 1, 5, false)
	take(t, q, "k", 5, 1, 5, false)
}

func testRejectedDoNotCount(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 3, 2, 2, true)
	take(t, q, "k", 3, 2, 2, false) // would be 4
	take(t, q, "k", 3, 1, 3, true)  // the rejected 2 did not count
	take(t, q, "k", 3, 1, 3, false)
}

func testTakeMany(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 10, 4, 4, true)
	take(t, q, "k", 10, 4, 8, true)
	take(t, q, "k", 10, 4, 8, false)
	take(t, q, "k", 10, 2, 10, true)
	take(t, q, "big", 10, 11, 0, false) // more than the whole quota
	take(t, q, "big", 10, 10, 10, true)
}

func testZeroPeeks(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 5, 0, 0, true)
	take(t, q, "k", 5, 3, 3, true)
	take(t, q, "k", 5, 0, 3, true)
}

func testNegative(t *testing.T, open Opener) {
	q := open(t)
	if _, ok, err := q.Take(t.Context(), "k", start, end, 5, -1); err == nil || ok {
		t.Errorf("Take with n = -1: ok %v, err %v; want an error", ok, err)
	}
}

// testLimitChanges: the limit is the caller's, per call, as when a plan changes.
func testLimitChanges(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 10, 5, 5, true)
	take(t, q, "k", 3, 1, 5, false)
	take(t, q, "k", 6, 1, 6, true)
}

// testIndependent: keys and periods count separately.
func testIndependent(t *testing.T, open Opener) {
	q := open(t)
	next, nextEnd := end, end.AddDate(0, 0, 1)
	take(t, q, "a", 2, 2, 2, true)
	take(t, q, "a", 2, 1, 2, false)
	take(t, q, "b", 2, 1, 1, true)
	takeIn(t, q, "a", next, nextEnd, 2, 1, 1, true)
	takeIn(t, q, "a", next, nextEnd, 2, 1, 2, true)
	takeIn(t, q, "a", next, nextEnd, 2, 1, 2, false)
	// Keys are opaque: separators and prefixes of one another do not collide.
	take(t, q, "a:1", 5, 1, 1, true)
	take(t, q, "a:", 5, 1, 1, true)
	take(t, q, "", 5, 1, 1, true)
	take(t, q, "ключ é", 5, 1, 1, true)
	take(t, q, "ключ é", 5, 1, 2, true)
}

// testKeyMemoryReused: callers may build keys in a buffer they reuse once Take returns;
// backends copy what they keep.
func testKeyMemoryReused(t *testing.T, open Opener) {
	q := open(t)
	buf := []byte("key-a")
	view := unsafe.String(unsafe.SliceData(buf), len(buf))
	take(t, q, view, 5, 2, 2, true)
	copy(buf, "key-b")
	take(t, q, view, 5, 1, 1, true) // "key-b", a new counter
	take(t, q, "key-a", 5, 1, 3, true)
	take(t, q, "key-b", 5, 1, 2, true)
}

// hammer takes 1 from key from many goroutines at once and returns how many were allowed.
func hammer(t *testing.T, q Quotas, key string, limit int64, workers, each int) int64 {
	t.Helper()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-gate
			for range each {
				used, ok, err := q.Take(t.Context(), key, start, end, limit, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if used > limit {
					t.Errorf("used %d > limit %d", used, limit)
				}
				if ok {
					allowed.Add(1)
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	return allowed.Load()
}

func testConcurrent(t *testing.T, open Opener) {
	q := open(t)
	if got := hammer(t, q, "k", 100, 32, 10); got != 100 {
		t.Errorf("%d takes allowed across goroutines, want exactly 100", got)
	}
	take(t, q, "k", 100, 1, 100, false)
}

// testRestart is the quota across a restart: counts taken before Close continue after.
func testRestart(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 5, 1, 1, true)
	take(t, q, "k", 5, 2, 3, true)
	take(t, q, "other", 5, 1, 1, true)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Take(t.Context(), "k", start, end, 5, 1); err == nil {
		t.Error("Take after Close succeeded, want an error")
	}

	q2 := open(t)
	take(t, q2, "k", 5, 0, 3, true)
	take(t, q2, "k", 5, 2, 5, true)
	take(t, q2, "k", 5, 1, 5, false)
	take(t, q2, "other", 5, 1, 2, true)
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}
	take(t, open(t), "k", 5, 1, 5, false)
}

// testRestartConcurrent: after a restart, requests arriving together on a persisted
// counter share one load and one count.
func testRestartConcurrent(t *testing.T, open Opener) {
	q := open(t)
	take(t, q, "k", 50, 20, 20, true)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := open(t)
	if got := hammer(t, q2, "k", 50, 16, 5); got != 30 {
		t.Errorf("%d takes allowed after the restart, want exactly 30", got)
	}
}
