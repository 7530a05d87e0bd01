package cache_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	store "github.com/gatehouse-dev/gatehouse/internal/cache"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// sink is a reusable ResponseWriter, so that the benchmarks count the chain's allocations
// and not the recorder's.
type sink struct {
	h      http.Header
	status int
}

func (s *sink) Header() http.Header  { return s.h }
func (s *sink) WriteHeader(code int) { s.status = code }

func (s *sink) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}

var body1k = make([]byte, 1024)

// origin answers like a typical JSON API.
var origin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Etag"] = []string{`"abc123"`}
	h["Cache-Control"] = []string{"public, max-age=300"}
	_, _ = w.Write(body1k)
})

// missing is a cache that never has anything and stores nothing: every request is a miss.
type missing struct{}

func (missing) Get(context.Context, string) ([]byte, bool, error)        { return nil, false, nil }
func (missing) Set(context.Context, string, []byte, time.Duration) error { return nil }
func (missing) Purge(context.Context, string) error                      { return nil }

func bench(b *testing.B, c policy.Cache, specs []gatehouse.PolicySpec) {
	h, err := policytest.Build(b, registry, &policy.Env{Cache: c}, specs, nil, origin)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://api.example/v1/items?page=2&sort=name", nil)
	r.Header.Set("Accept", "application/json")
	w := &sink{h: http.Header{}}
	h.ServeHTTP(w, r) // fill the cache
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

var cacheSpec = []gatehouse.PolicySpec{{Type: "cache"}}

// BenchmarkNoCache is the chain without the policy, for comparison.
func BenchmarkNoCache(b *testing.B) { bench(b, missing{}, nil) }

func BenchmarkHit(b *testing.B) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	bench(b, mem, cacheSpec)
}

func BenchmarkMiss(b *testing.B) { bench(b, missing{}, cacheSpec) }
