package upstream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// picks returns the hosts of n consecutive picks, each released at once.
func picks(t *testing.T, p *Pool, req *http.Request, n int) []string {
	t.Helper()
	var out []string
	for range n {
		tg, probe := p.pick(req, &set{})
		if tg == nil {
			out = append(out, "-")
			continue
		}
		out = append(out, tg.url.Host)
		tg.abandon(probe)
	}
	return out
}

func TestRoundRobin(t *testing.T) {
	req := outReq(context.Background(), "GET", "/")
	tests := []struct {
		name    string
		weights []int
		down    []int // indexes marked down by active checks
		want    string
	}{
		// nginx's documented sequence for 5:1:1.
		{"smooth 5:1:1", []int{5, 1, 1}, nil, "a a b a c a a a a b a c a a"},
		{"equal", []int{100, 100, 100}, nil, "a b c a b c"},
		{"weight 0 is out of rotation", []int{1, 0, 1}, nil, "a c a c"},
		{"down target skipped", []int{1, 1, 1}, []int{1}, "a c a c"},
		{"all down", []int{1, 1}, []int{0, 1}, "- -"},
		{"all weight 0", []int{0, 0}, nil, "- -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []string
			for i := range tt.weights {
				urls = append(urls, "http://"+string(rune('a'+i)))
			}
			p := newTestPool(t, withWeights(upstreamOf("", urls...), tt.weights...), Options{Transport: newFakeNet()})
			for _, i := range tt.down {
				p.targets[i].down.Store(true)
			}
			want := strings.Fields(tt.want)
			if diff := cmp.Diff(want, picks(t, p, req, len(want))); diff != "" {
				t.Errorf("sequence (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeastConn(t *testing.T) {
	req := outReq(context.Background(), "GET", "/")
	p := newTestPool(t, withWeights(upstreamOf(gatehouse.BalanceLeastConn, "http://a", "http://b", "http://c"), 100, 100, 200), Options{Transport: newFakeNet()})

	// All idle: ties go round-robin by weight, c twice as often.
	if diff := cmp.Diff(strings.Fields("c a b c c a b c"), picks(t, p, req, 8)); diff != "" {
		t.Errorf("idle targets (-want +got):\n%s", diff)
	}

	// Requests held open on a and c: b is the idle one, until it catches up.
	hold := func(i int) { p.targets[i].inflight.Add(1) }
	hold(0)
	hold(2)
	hold(2)
	got, _ := p.pick(req, &set{})
	if got.url.Host != "b" {
		t.Fatalf("picked %s; want the idle target b", got.url.Host)
	}
	// Now a=1, b=1, c=2 (per weight: 1, 1, 1): all tied again.
	next, _ := p.pick(req, &set{})
	if next == nil {
		t.Fatal("nothing picked")
	}
	// Picks raise in-flight at once, so concurrent picks spread rather than pile up.
	if got.inflight.Load() != 1 || p.targets[0].inflight.Load()+p.targets[1].inflight.Load()+p.targets[2].inflight.Load() != 5 {
		t.Errorf("in-flight not counted on pick: %d %d %d", p.targets[0].inflight.Load(), p.targets[1].inflight.Load(), p.targets[2].inflight.Load())
	}
}

func hashPool(t *testing.T, hashOn string, n int) *Pool {
	t.Helper()
	var urls []string
	for i := range n {
		urls = append(urls, fmt.Sprintf("http://t%d.internal:8080", i))
	}
	u := upstreamOf(gatehouse.BalanceHash, urls...)
	u.HashOn = hashOn
	return newTestPool(t, u, Options{Transport: newFakeNet()})
}

// owners maps keys (as X-Forwarded-For client IPs) to the host that gets them.
func owners(t *testing.T, p *Pool, keys int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := range keys {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		req := outReq(context.Background(), "GET", "/")
		req.Header.Set("X-Forwarded-For", "192.0.2.1, "+ip)
		out[ip] = picks(t, p, req, 1)[0]
	}
	return out
}

func TestHashStableAndBalanced(t *testing.T) {
	p := hashPool(t, "ip", 5)
	first := owners(t, p, 20000)
	if diff := cmp.Diff(first, owners(t, p, 20000)); diff != "" {
		t.Fatalf("the same key moved between lookups:\n%s", diff)
	}
	share := map[string]int{}
	for _, h := range first {
		share[h]++
	}
	for h, n := range share {
		if f := float64(n) / 20000; math.Abs(f-0.2) > 0.06 {
			t.Errorf("%s gets %.3f of the keys; want about 0.2", h, f)
		}
	}
	// Another pool (another gateway node, another process) agrees.
	if diff := cmp.Diff(first, owners(t, hashPool(t, "ip", 5), 20000)); diff != "" {
		t.Errorf("two pools with the same targets disagree:\n%s", diff)
	}
}

func TestHashWeights(t *testing.T) {
	for _, ws := range [][]int{{5, 1, 1}, {500, 100, 100}, {1000, 1, 1}} {
		t.Run(fmt.Sprint(ws), func(t *testing.T) {
			u := withWeights(upstreamOf(gatehouse.BalanceHash, "http://a", "http://b", "http://c"), ws...)
			p := newTestPool(t, u, Options{Transport: newFakeNet()})
			share := map[string]float64{}
			for _, h := range owners(t, p, 20000) {
				share[h] += 1.0 / 20000
			}
			sum := float64(ws[0] + ws[1] + ws[2])
			for i, h := range []string{"a", "b", "c"} {
				want := float64(ws[i]) / sum
				if math.Abs(share[h]-want) > 0.05 {
					t.Errorf("%s gets %.3f of the keys; want about %.3f", h, share[h], want)
				}
			}
		})
	}
}

func TestHashMovesOnlyRemovedKeys(t *testing.T) {
	before := owners(t, hashPool(t, "ip", 5), 20000)
	after := owners(t, hashPool(t, "ip", 4), 20000) // t4 removed
	moved := 0
	for k, h := range before {
		if after[k] == h {
			continue
		}
		moved++
		if h != "t4.internal:8080" {
			t.Fatalf("key %s moved from %s to %s though its target stayed", k, h, after[k])
		}
	}
	if f := float64(moved) / 20000; f < 0.14 || f > 0.26 {
		t.Errorf("%.3f of keys moved; want about 1/5", f)
	}
}

func TestHashSkipsUnavailable(t *testing.T) {
	p := hashPool(t, "ip", 4)
	before := owners(t, p, 5000)
	p.targets[1].ejectedUntil.Store(p.now().Add(1e12).UnixNano())
	after := owners(t, p, 5000)
	for k, h := range before {
		switch {
		case h == "t1.internal:8080" && after[k] == h:
			t.Fatalf("key %s still goes to the ejected target", k)
		case h != "t1.internal:8080" && after[k] != h:
			t.Fatalf("key %s moved from %s to %s though its target is fine", k, h, after[k])
		}
	}
}

func TestHashKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		hashOn string
		req    func() *http.Request
		want   string // "" means no key: round-robin
	}{
		{"context ip wins", "ip", func() *http.Request {
			r := outReq(WithClientIP(ctx, "198.51.100.7"), "GET", "/")
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			return r
		}, "198.51.100.7"},
		{"last forwarded-for element", "ip", func() *http.Request {
			r := outReq(ctx, "GET", "/")
			r.Header.Add("X-Forwarded-For", "1.1.1.1, 2.2.2.2")
			r.Header.Add("X-Forwarded-For", "6.6.6.6 , 203.0.113.9 ")
			return r
		}, "203.0.113.9"},
		{"remote addr", "ip", func() *http.Request {
			r := outReq(ctx, "GET", "/")
			r.RemoteAddr = "[2001:db8::1]:5555"
			return r
		}, "2001:db8::1"},
		{"no ip", "ip", func() *http.Request { return outReq(ctx, "GET", "/") }, ""},
		{"header", "header:x-tenant", func() *http.Request {
			r := outReq(ctx, "GET", "/")
			r.Header.Set("X-Tenant", "acme")
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			return r
		}, "acme"},
		{"header missing", "header:X-Tenant", func() *http.Request {
			r := outReq(ctx, "GET", "/")
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			return r
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := hashPool(t, tt.hashOn, 3)
			got, _ := p.hashKey(tt.req())
			if got != tt.want {
				t.Errorf("key %q; want %q", got, tt.want)
			}
		})
	}

	// Without a key, hash falls back to round-robin rather than one target for all.
	p := hashPool(t, "header:X-Tenant", 3)
	if diff := cmp.Diff(strings.Fields("t0.internal:8080 t1.internal:8080 t2.internal:8080"), picks(t, p, outReq(ctx, "GET", "/"), 3)); diff != "" {
		t.Errorf("fallback (-want +got):\n%s", diff)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, b := range []string{gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn, gatehouse.BalanceHash} {
		t.Run(b, func(t *testing.T) {
			p := benchPool(t, b)
			req := outReq(context.Background(), "GET", "/")
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			if n := testing.AllocsPerRun(1000, func() {
				tg, probe := p.pick(req, &set{})
				tg.abandon(probe)
			}); n != 0 {
				t.Errorf("%v allocations per pick; want 0", n)
			}
		})
	}
}

func benchPool(tb testing.TB, balancing string) *Pool {
	u := upstreamOf(balancing)
	for i := range 8 {
		w := 100 + 50*(i%3)
		u.Targets = append(u.Targets, gatehouse.Target{URL: fmt.Sprintf("http://10.0.0.%d:8080", i+1), Weight: &w})
	}
	p, err := NewPool("bench", u, Options{Transport: newFakeNet()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

func BenchmarkPick(b *testing.B) {
	// X-Forwarded-For values built up front, so that the benchmark measures the pick.
	clientIPs := make([][]string, 1024)
	for i := range clientIPs {
		clientIPs[i] = []string{fmt.Sprintf("10.1.%d.%d", i>>8, i&255)}
	}
	for _, balancing := range []string{gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn, gatehouse.BalanceHash} {
		b.Run(balancing, func(b *testing.B) {
			p := benchPool(b, balancing)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := outReq(context.Background(), "GET", "/")
				i := 0
				for pb.Next() {
					i++
					req.Header["X-Forwarded-For"] = clientIPs[i&(len(clientIPs)-1)]
					tg, probe := p.pick(req, &set{})
					tg.abandon(probe)
				}
			})
		})
	}
}
