package quota

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/quota/quotatest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// headerWriter is a ResponseWriter whose header map is reused across iterations, as the
// gateway's own writer does not allocate one per request either.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}

// BenchmarkServe is the policy's cost on the allowed path, counters in memory (Local, the
// counter loaded) or in Redis when GATEHOUSE_TEST_REDIS is set.
func BenchmarkServe(b *testing.B) {
	cases := []struct{ name, config string }{
		{"by app", `{"limit":1000000000000,"period":"day","by":"app"}`},
		{"by ip", `{"limit":1000000000000,"period":"day","by":"ip"}`},
		{"by header", `{"limit":1000000000000,"period":"day","by":"header:X-Tenant"}`},
		{"by app no headers", `{"limit":1000000000000,"period":"day","by":"app","headers":false}`},
		{"by app in New York", `{"limit":1000000000000,"period":"month","timezone":"America/New_York"}`},
		{"by app small limit", `{"limit":90,"period":"day","by":"app"}`}, // remaining < 100: interned
	}
	backends := map[string]func(b *testing.B) policy.Quotas{
		"local": func(b *testing.B) policy.Quotas {
			l, err := quota.NewLocal(nopStore{}, quota.LocalOptions{FlushInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			return l
		},
	}
	if url := os.Getenv("GATEHOUSE_TEST_REDIS"); url != "" {
		backends["redis"] = func(b *testing.B) policy.Quotas {
			r, err := quota.NewRedis(url, quotatest.RedisPrefix(b, url))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = r.Close() })
			return r
		}
	}
	for bname, open := range backends {
		for _, tc := range cases {
			b.Run(bname+"/"+tc.name, func(b *testing.B) {
				cfg, err := Type.Decode(json.RawMessage(tc.config))
				if err != nil {
					b.Fatal(err)
				}
				q := open(b)
				env := &policy.Env{Quotas: q, API: &gatehouse.API{Name: "orders"}}
				h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), cfg.(*Config), "quota")
				if err != nil {
					b.Fatal(err)
				}
				w := &headerWriter{h: http.Header{}}
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("X-Tenant", "tenant-42")
				c := new(policy.Context)
				small := tc.name == "by app small limit"
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					c.Reset(w, r)
					c.API, c.Identity.App = "orders", "mobile-app"
					if err := h.Serve(c); err != nil && !small {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// nopStore is a quota.CounterStore with nothing stored that saves nothing: the benchmark
// measures the policy and memory counters.
type nopStore struct{}

func (nopStore) LoadCounter(context.Context, string, time.Time) (int64, error) { return 0, nil }
func (nopStore) AddCounters(context.Context, []sqlstore.CounterDelta) error    { return nil }
func (nopStore) PruneCounters(context.Context, time.Time) (int64, error)       { return 0, nil }
