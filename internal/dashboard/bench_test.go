package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// Benchmark sizes: a large installation.
const (
	benchAPIs       = 1000
	benchDevelopers = 1000
	benchApps       = 10_000
	benchKeys       = 3000
	benchSubs       = 3000
	benchPlans      = 20
)

// seedLarge fills st with benchAPIs APIs, benchApps apps and their developers, keys and
// subscriptions, and a day of analytics. The writes go through the store (validation,
// audit and all) from several goroutines: the single SQLite writer stays busy while the
// others prepare their next write.
func seedLarge(tb testing.TB, st *sqlite.Store) {
	tb.Helper()
	ctx := gatehouse.WithActor(context.Background(), "bench")
	run := func(n int, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, 1)
		next := make(chan int)
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for i := range next {
					if err := f(i); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		select {
		case err := <-errs:
			tb.Fatal(err)
		default:
		}
	}
	states := []gatehouse.APIState{gatehouse.StatePublished, gatehouse.StatePublished, gatehouse.StateDraft, gatehouse.StateDeprecated}
	run(benchAPIs, func(i int) error {
		_, err := st.CreateAPI(ctx, &gatehouse.API{Name: fmt.Sprintf("api-%04d", i), Version: "1", Path: fmt.Sprintf("/api-%04d", i), State: states[i%len(states)],
			Description: "A benchmark API with a description of ordinary length.",
			Upstream:    gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "https://upstream.internal:8443"}}},
			Routes:      []gatehouse.Route{{Path: "/things"}, {Path: "/things/{id}"}}})
		return err
	})
	run(benchPlans, func(i int) error {
		apis := make([]string, 0, 50)
		for j := range 50 {
			apis = append(apis, fmt.Sprintf("api-%04d", (i*50+j)%benchAPIs))
		}
		approval := gatehouse.ApprovalAuto
		if i%2 == 1 {
			approval = gatehouse.ApprovalManual
		}
		_, err := st.CreatePlan(ctx, &gatehouse.Plan{Name: fmt.Sprintf("plan-%02d", i), APIs: apis, Approval: approval})
		return err
	})
	run(benchDevelopers, func(i int) error {
		status := gatehouse.DeveloperActive
		if i%10 == 0 {
			status = gatehouse.DeveloperPending
		}
		_, err := st.CreateDeveloper(ctx, &gatehouse.Developer{Email: fmt.Sprintf("dev%04d@example.com", i), Name: fmt.Sprintf("Developer %d", i), Status: status})
		return err
	})
	run(benchApps, func(i int) error {
		_, err := st.CreateApp(ctx, &gatehouse.App{Name: fmt.Sprintf("app-%05d", i), Developer: fmt.Sprintf("dev%04d@example.com", i%benchDevelopers),
			Description: "An app of the benchmark."})
		return err
	})
	run(benchKeys, func(i int) error {
		_, prefix, hash := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
		_, err := st.CreateKey(ctx, &gatehouse.Key{App: fmt.Sprintf("app-%05d", i%benchApps), Prefix: prefix, Hash: hash})
		return err
	})
	run(benchSubs, func(i int) error {
		_, err := st.CreateSubscription(ctx, &gatehouse.Subscription{App: fmt.Sprintf("app-%05d", i%benchApps), Plan: fmt.Sprintf("plan-%02d", i%benchPlans)})
		return err
	})
	// A day of minute rollups over 20 APIs and 50 apps.
	now := time.Now().UTC().Truncate(time.Minute)
	var rows []analytics.Rollup
	for m := range 24 * 60 {
		for k := range 4 {
			rows = append(rows, analytics.Rollup{Start: now.Add(-time.Duration(m) * time.Minute), Res: analytics.Minute,
				Dims:  analytics.Dims{API: fmt.Sprintf("api-%04d", (m+k)%20), App: fmt.Sprintf("app-%05d", (m*3+k)%50), StatusClass: 2 + (m+k)%4},
				Count: int64(10 + (m+k)%50), LatencySum: 30 * time.Millisecond})
		}
	}
	if err := st.WriteRollups(context.Background(), rows); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPages renders each main page of a large installation (1,000 APIs, 10,000
// apps, 3,000 keys and subscriptions) through the whole handler: session lookup, store
// reads, template. first-ms is the page's first render, before any cache is warm.
func BenchmarkPages(b *testing.B) {
	st := openStore(b)
	start := time.Now()
	seedLarge(b, st)
	b.Logf("seeded %d APIs, %d apps, %d keys, %d subscriptions in %v", benchAPIs, benchApps, benchKeys, benchSubs, time.Since(start).Round(time.Millisecond))
	h, err := New(Options{Store: st, Sessions: st, Alerts: st, Query: analytics.NewQuery(analytics.QueryOptions{Store: st}),
		Gateway: gatewayStatus, Live: fakeLive})
	if err != nil {
		b.Fatal(err)
	}
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	if _, err := st.CreateAdminToken(ctxSystem, &gatehouse.AdminToken{Name: "bench", Role: gatehouse.RoleAdmin, Prefix: prefix, Hash: hash}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(url.Values{"method": {"token"}, "token": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("sign-in: %d", rec.Code)
	}
	get := func(tb testing.TB, path string) {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body.String())
		}
	}
	for _, p := range []struct{ name, path string }{
		{"overview", "/ui/"},
		{"apis", "/ui/apis"},
		{"api", "/ui/apis/api-0500"},
		{"plans", "/ui/plans"},
		{"plan", "/ui/plans/plan-07"},
		{"developers", "/ui/developers"},
		{"developers-pending", "/ui/developers?status=pending"},
		{"developer", "/ui/developers/dev0042@example.com"},
		{"apps", "/ui/apps"},
		{"apps-of-developer", "/ui/apps?developer=dev0042@example.com"},
		{"app", "/ui/apps/app-00042"},
		{"subscriptions-pending", "/ui/subscriptions?status=pending"},
		{"analytics-24h-by-api", "/ui/analytics?range=24h&by=api&m=count&m=errors&m=latency_p99"},
		{"alerts", "/ui/alerts"},
		{"audit", "/ui/audit"},
		{"users", "/ui/users"},
	} {
		b.Run(p.name, func(b *testing.B) {
			t0 := time.Now()
			get(b, p.path)
			first := time.Since(t0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				get(b, p.path)
			}
			b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
		})
	}
}
