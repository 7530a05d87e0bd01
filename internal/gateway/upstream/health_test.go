package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func breakerPool(t *testing.T, fn *fakeNet, urls ...string) *Pool {
	return breakerPoolLog(t, fn, nil, urls...)
}

func breakerPoolLog(t *testing.T, fn *fakeNet, log *slog.Logger, urls ...string) *Pool {
	u := upstreamOf("", urls...)
	u.Passive = &gatehouse.PassiveCheck{Failures: 3, Ejection: gatehouse.Duration(10 * time.Second)}
	return newTestPool(t, u, Options{Transport: fn, Logger: log})
}

// send runs n sequential GETs and returns their statuses (0 for an error).
func send(p *Pool, n int) []int {
	var out []int
	for range n {
		code, _, _ := get(p, outReq(context.Background(), "GET", "/"))
		out = append(out, code)
	}
	return out
}

func TestPassiveBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		fn.set("a", status(502))
		fn.set("b", status(200))
		var logs logBuffer
		p := breakerPoolLog(t, fn, logs.logger(), "http://a", "http://b")
		a := p.targets[0]

		// Round-robin alternates; a's third failure opens its breaker.
		send(p, 6)
		if st := p.Targets()[0]; st.Breaker != "open" || st.Available || st.ConsecutiveFailures != 3 {
			t.Fatalf("after 3 failures: %+v", st)
		}
		fn.reset()
		send(p, 10)
		if fn.hitsOf("a") != 0 {
			t.Fatalf("ejected target got %d requests", fn.hitsOf("a"))
		}

		// After the ejection, exactly one request gets through while it is outstanding.
		time.Sleep(10 * time.Second)
		release := make(chan struct{})
		fn.set("a", gate(release))
		fn.reset()
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() { send(p, 1) })
		}
		synctest.Wait() // the probe is parked in a's handler, the rest done
		if fn.hitsOf("a") != 1 || fn.hitsOf("b") != 5 {
			t.Fatalf("half-open: a got %d, b %d; want exactly one probe", fn.hitsOf("a"), fn.hitsOf("b"))
		}
		if st := p.Targets()[0]; st.Breaker != "half_open" || st.Available {
			t.Errorf("during the probe: %+v", st)
		}
		close(release) // the probe succeeds: the breaker closes
		wg.Wait()
		if st := p.Targets()[0]; st.Breaker != "closed" || !st.Available || st.ConsecutiveFailures != 0 {
			t.Fatalf("after a good probe: %+v", st)
		}
		fn.reset()
		send(p, 4)
		if fn.hitsOf("a") != 2 {
			t.Errorf("closed breaker: a got %d of 4", fn.hitsOf("a"))
		}

		// Fail again: ejected for 10s; a failed probe re-opens it for 20s, then 40s.
		fn.set("a", status(503))
		send(p, 6)
		for i, want := range []time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second, 100 * time.Second, 100 * time.Second} {
			time.Sleep(time.Duration(a.ejectedUntil.Load() - time.Now().UnixNano()))
			fn.reset()
			send(p, 2) // round-robin reaches a within two requests
			if fn.hitsOf("a") != 1 {
				t.Fatalf("probe %d: a got %d requests", i, fn.hitsOf("a"))
			}
			if got := time.Duration(a.ejectedUntil.Load() - time.Now().UnixNano()); got != want {
				t.Errorf("after failed probe %d: ejected for %s; want %s", i, got, want)
			}
		}
		for _, msg := range []string{`msg="upstream target ejected" api=test target=http://a failures=3 for=10s`,
			`msg="upstream target restored"`, `msg="upstream target ejected again after a failed probe" api=test target=http://a ejections=6 for=1m40s`} {
			if !strings.Contains(logs.String(), msg) {
				t.Errorf("log lacks %s:\n%s", msg, logs.String())
			}
		}
	})
}

func TestPassiveAllEjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		fn.set("a", status(504))
		p := breakerPool(t, fn, "http://a")
		send(p, 3)
		_, _, err := get(p, outReq(context.Background(), "GET", "/"))
		if !errors.Is(err, ErrNoHealthyUpstream) {
			t.Fatalf("with the only target ejected: %v; want ErrNoHealthyUpstream", err)
		}
		time.Sleep(10 * time.Second)
		fn.set("a", status(200))
		if got := send(p, 2); got[0] != 200 || got[1] != 200 {
			t.Errorf("after the ejection: %v", got)
		}
	})
}

func TestPassiveIgnoresStaleResults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		release := make(chan struct{})
		fn.set("a", gate(release))
		p := breakerPool(t, fn, "http://a")
		// A slow request sent before the breaker opened.
		var slow atomic.Int64
		go func() { c, _, _ := get(p, outReq(context.Background(), "GET", "/")); slow.Store(int64(c)) }()
		synctest.Wait()
		fn.set("a", status(502))
		send(p, 3)
		close(release)
		synctest.Wait()
		if slow.Load() != 200 || p.Targets()[0].Breaker != "open" {
			t.Errorf("a success from before the ejection closed the breaker: %+v", p.Targets()[0])
		}
	})
}

func TestActiveHealthChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		healthy.Store(true)
		var checks atomic.Int64
		fn := newFakeNet()
		health := func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/healthz" {
				checks.Add(1)
				if r.Header.Get("User-Agent") != "gatehouse-health-check" {
					t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
				}
				if !healthy.Load() {
					return status(500)(r)
				}
			}
			return status(200)(r)
		}
		fn.set("a", health)
		fn.set("b", status(200))
		u := upstreamOf("", "http://a/base", "http://b", "http://c")
		u = withWeights(u, 100, 100, 0)
		u.HealthCheck = &gatehouse.HealthCheck{Path: "/healthz", Interval: gatehouse.Duration(time.Second)}
		var logs logBuffer
		p := newTestPool(t, u, Options{Transport: fn, Logger: logs.logger()})
		p.Start(t.Context())
		p.Start(t.Context()) // a second Start starts nothing more
		synctest.Wait()
		if checks.Load() != 1 || fn.hitsOf("c") != 0 {
			t.Fatalf("first round: %d checks of a, %d of weight-0 c", checks.Load(), fn.hitsOf("c"))
		}

		healthy.Store(false)
		time.Sleep(2 * time.Second) // failures 1 and 2
		synctest.Wait()
		if !p.Targets()[0].Healthy {
			t.Fatal("down after 2 failures; want 3")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if p.Targets()[0].Healthy || p.Targets()[0].Available {
			t.Fatalf("still up after 3 failures: %+v", p.Targets()[0])
		}
		fn.reset()
		send(p, 4)
		if fn.hitsOf("a") != 0 {
			t.Errorf("down target got %d requests", fn.hitsOf("a"))
		}

		healthy.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if p.Targets()[0].Healthy {
			t.Fatal("up after 1 success; want 2")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !p.Targets()[0].Healthy {
			t.Fatal("still down after 2 successes")
		}
		for _, msg := range []string{`msg="upstream target unhealthy" api=test target=http://a/base failures=3 err="health check answered 500"`,
			`msg="upstream target healthy" api=test target=http://a/base successes=2`} {
			if !strings.Contains(logs.String(), msg) {
				t.Errorf("log lacks %s:\n%s", msg, logs.String())
			}
		}

		// Close stops the checkers: the bubble ending proves no goroutine is left.
		p.Close()
		n := checks.Load()
		time.Sleep(time.Minute)
		if checks.Load() != n {
			t.Error("checks continued after Close")
		}
	})
}

func TestHealthCheckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		never := make(chan struct{})
		defer close(never)
		fn.set("a", gate(never)) // hangs until the check's timeout
		u := upstreamOf("", "http://a")
		u.HealthCheck = &gatehouse.HealthCheck{Path: "/", Interval: gatehouse.Duration(5 * time.Second), Timeout: gatehouse.Duration(time.Second), Unhealthy: 1}
		p := newTestPool(t, u, Options{Transport: fn})
		p.Start(t.Context())
		time.Sleep(time.Second)
		synctest.Wait()
		if p.Targets()[0].Healthy {
			t.Error("a check that timed out counted as healthy")
		}
	})
}

func TestStartStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		fn.set("a", status(200))
		u := upstreamOf("", "http://a")
		u.HealthCheck = &gatehouse.HealthCheck{Path: "/"}
		p, err := NewPool("x", u, Options{Transport: fn})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		p.Start(ctx)
		synctest.Wait()
		cancel()
		done := make(chan struct{})
		go func() { p.checks.Wait(); close(done) }()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("health checkers still running after their context ended")
		}
		p.Close()
		p.Start(t.Context()) // after Close: nothing starts
		synctest.Wait()
	})
}

func TestRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := newFakeNet()
		fn.set("a", status(503))
		fn.set("b", status(503))
		u := upstreamOf("", "http://a", "http://b")
		u.Retries = 1
		u.RetryBudget = 20
		u.Passive = &gatehouse.PassiveCheck{Failures: 1000} // keep both in rotation
		p := newTestPool(t, u, Options{Transport: fn})

		attempts := func() int { return fn.hitsOf("a") + fn.hitsOf("b") }
		send(p, 100)
		// 100 requests: 10 retries of floor + 20% of 100 = 30 retries.
		if got := attempts(); got != 130 {
			t.Errorf("100 failing requests made %d attempts; want 130", got)
		}
		// The window slides: after 10s the old deposits and spends are gone.
		time.Sleep(10 * time.Second)
		fn.reset()
		send(p, 20)
		if got := attempts(); got != 20+14 {
			t.Errorf("in a fresh window 20 requests made %d attempts; want 34", got)
		}
	})
}

func TestBudgetWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &retryBudget{percent: 50, now: time.Now}
		spends := func() int {
			n := 0
			for b.spend() {
				n++
			}
			return n
		}
		if n := spends(); n != minRetries {
			t.Errorf("no traffic: %d retries; want the floor %d", n, minRetries)
		}
		for range 20 {
			b.deposit()
		}
		if n := spends(); n != 10 {
			t.Errorf("20 requests at 50%%: %d more retries; want 10", n)
		}
		time.Sleep(5 * time.Second)
		if b.spend() {
			t.Error("budget refilled within the window")
		}
		time.Sleep(5 * time.Second)
		if n := spends(); n != minRetries {
			t.Errorf("next window: %d; want %d", n, minRetries)
		}
	})
}
