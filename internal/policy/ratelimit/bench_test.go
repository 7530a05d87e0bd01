package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// headerWriter is a ResponseWriter whose header map is reused across iterations, as the
// gateway's own writer does not allocate one per request either.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}

// BenchmarkServe is the policy's cost on the allowed path with a memory limiter.
func BenchmarkServe(b *testing.B) {
	cases := []struct{ name, config string }{
		{"by app", `{"limit":1000000000,"window":"1s","by":"app"}`},
		{"by ip", `{"limit":1000000000,"window":"1s","by":"ip"}`},
		{"by app no headers", `{"limit":1000000000,"window":"1s","by":"app","headers":false}`},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := Type.Decode(json.RawMessage(tc.config))
			if err != nil {
				b.Fatal(err)
			}
			env := &policy.Env{Limiter: limit.NewMemory(limit.MemoryOptions{}), API: &gatehouse.API{Name: "orders"}}
			h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "rate-limit")
			if err != nil {
				b.Fatal(err)
			}
			w := &headerWriter{h: http.Header{}}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			c := new(policy.Context)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.Reset(w, r)
				c.API, c.Identity.App = "orders", "mobile-app"
				if err := h.Serve(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
