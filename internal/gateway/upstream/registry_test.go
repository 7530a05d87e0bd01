package upstream

import (
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func isClosed(p *Pool) bool {
	p.life.Lock()
	defer p.life.Unlock()
	return p.closed
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(Options{})
	t.Cleanup(r.Close)
	pool := func(name string, u gatehouse.Upstream) *Pool {
		t.Helper()
		p, err := r.Pool(name, u)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	base := upstreamOf("", "http://a:1", "http://b:1")
	p1 := pool("orders", base)
	if p2 := pool("orders", upstreamOf("", "http://a:1", "http://b:1")); p2 != p1 {
		t.Error("an equal configuration made a new pool")
	}
	// Defaults spelt out mean the same configuration.
	same := withWeights(upstreamOf(gatehouse.BalanceRoundRobin, "http://a:1", "http://b:1"), 100, 100)
	same.RetryBudget = 20
	same.Passive = &gatehouse.PassiveCheck{Failures: 5, Statuses: []int{502, 503, 504}}
	if p2 := pool("orders", same); p2 != p1 {
		t.Error("defaults spelt out made a new pool")
	}

	other := pool("users", base)
	if other == p1 {
		t.Error("two APIs share a pool")
	}
	if other.transport != p1.transport {
		t.Error("pools with the same TLS and timeouts should share a transport")
	}

	changed := base
	changed.Retries = 2
	p3 := pool("orders", changed)
	if p3 == p1 {
		t.Fatal("a changed configuration kept the old pool")
	}
	if p3.transport != p1.transport {
		t.Error("a changed upstream lost its warm connections")
	}
	if isClosed(p1) {
		t.Error("the replaced pool was closed before Retain; the old route table still uses it")
	}
	slow := base
	slow.ResponseTimeout = gatehouse.Duration(time.Second)
	if p := pool("slow", slow); p.transport == p1.transport {
		t.Error("pools with different timeouts share a transport")
	}

	r.Retain([]string{"orders", "slow"})
	if !isClosed(p1) || !isClosed(other) || isClosed(p3) {
		t.Errorf("after Retain: replaced closed %t, dropped closed %t, current closed %t", isClosed(p1), isClosed(other), isClosed(p3))
	}
	if p := pool("orders", changed); p != p3 {
		t.Error("the current pool was replaced by Retain")
	}
	if p := pool("users", base); p == other {
		t.Error("a dropped API got its closed pool back")
	}

	r.Close()
	if !isClosed(p3) {
		t.Error("Close left a pool open")
	}
	if _, err := r.Pool("orders", changed); err == nil {
		t.Error("a closed registry handed out a pool")
	}
}

func TestRegistryTLSRotation(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	roots, certFile, _ := clientCA(t, dir) // any certificate will do as a CA file
	_ = roots
	data, _ := os.ReadFile(certFile)
	os.WriteFile(ca, data, 0o600)

	r := NewRegistry(Options{})
	t.Cleanup(r.Close)
	u := upstreamOf("", "https://a")
	u.TLS = &gatehouse.UpstreamTLS{CAFile: ca}
	p1, err := r.Pool("x", u)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := r.Pool("x", u); p != p1 {
		t.Fatal("unchanged files made a new pool")
	}
	_, other, _ := clientCA(t, t.TempDir())
	data, _ = os.ReadFile(other)
	os.WriteFile(ca, data, 0o600)
	p2, err := r.Pool("x", u)
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p1 || p2.transport == p1.transport {
		t.Error("a rotated CA file kept the old pool or transport")
	}
	os.WriteFile(ca, []byte("broken"), 0o600)
	if _, err := r.Pool("x", u); err == nil {
		t.Error("a broken CA file was accepted")
	}
}

func TestRegistryStartsPools(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var checks atomic.Int64
		fn := newFakeNet()
		fn.set("a", func(r *http.Request) (*http.Response, error) {
			checks.Add(1)
			return status(200)(r)
		})
		r := NewRegistry(Options{Transport: fn})
		u := upstreamOf("", "http://a")
		u.HealthCheck = &gatehouse.HealthCheck{Path: "/health", Interval: gatehouse.Duration(time.Second)}
		if _, err := r.Pool("x", u); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := checks.Load(); n != 4 {
			t.Errorf("%d checks in 3s at 1s; want 4", n)
		}
		u.Retries = 1
		if _, err := r.Pool("x", u); err != nil { // replaced: two pools check until Retain
			t.Fatal(err)
		}
		r.Retain([]string{"x"})
		r.Close() // the bubble ending proves every checker stopped
	})
}
