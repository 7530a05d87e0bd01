package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/builtin"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
	"github.com/gatehouse-dev/gatehouse/internal/quota"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// policyGateway serves orders (key-auth for the API, a public health route, a route that
// adds a header policy) from a gateway with the built-in policies and an in-memory
// directory holding one app subscribed to plan gold.
func policyGateway(t *testing.T) (*Gateway, *policytest.Directory) {
	t.Helper()
	up := origin(t, "a")
	dir := policytest.NewDirectory()
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"orders"}}
	dir.AddApp("shop", "d@example.com", gold)
	dir.AddKey("gh_good", "key1", "shop", time.Time{})
	g := New(Options{Policies: builtin.Registry(), Services: policy.Env{Directory: dir}})
	t.Cleanup(g.Close)
	a := api("orders", "/orders", nil, gatehouse.StatePublished, up.URL)
	a.StripPath = true
	a.Policies = []gatehouse.PolicySpec{{Type: "key-auth"}}
	a.Routes = []gatehouse.Route{
		{Name: "health", Path: "/health", Policies: []gatehouse.PolicySpec{{Type: "key-auth", Disabled: true}}},
		{Name: "tagged", Path: "/tagged", Policies: []gatehouse.PolicySpec{{Type: "header", Config: json.RawMessage(`{"request":{"set":{"X-Route":"{{route}}"}}}`)}}},
		{Name: "rest", Path: "/{rest...}"},
	}
	a.Normalize()
	if err := g.Swap(1, []*gatehouse.API{a}, gold); err != nil {
		t.Fatal(err)
	}
	return g, dir
}

func TestPolicyChainsPerAPIAndRoute(t *testing.T) {
	g, _ := policyGateway(t)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	get := func(path, key string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/orders/1", ""); r.StatusCode != 401 || r.Header.Get("X-Request-Id") == "" {
		t.Errorf("no key: %d, request id %q (rejections carry one too)", r.StatusCode, r.Header.Get("X-Request-Id"))
	}
	if r := get("/orders/1", "gh_good"); r.StatusCode != 200 || r.Header.Get("X-Origin") != "a" {
		t.Errorf("good key: %d", r.StatusCode)
	}
	if r := get("/orders/health", ""); r.StatusCode != 200 {
		t.Errorf("public route: %d", r.StatusCode)
	}
	// A route's own policies are added to the API's: key-auth still applies.
	if r := get("/orders/tagged", ""); r.StatusCode != 401 {
		t.Errorf("tagged route without a key: %d", r.StatusCode)
	}
}

func TestCheckAPIReportsPolicyErrors(t *testing.T) {
	g := New(Options{Policies: builtin.Registry()})
	t.Cleanup(g.Close)
	a := api("orders", "/orders", nil, gatehouse.StatePublished, "http://127.0.0.1:1")
	a.Policies = []gatehouse.PolicySpec{{Type: "key-auth", Config: json.RawMessage(`{"heder":"X"}`)}, {Type: "nope"}}
	a.Routes = []gatehouse.Route{{Path: "/x", Policies: []gatehouse.PolicySpec{{Type: "cors", Config: json.RawMessage(`{"max_age":"soon"}`)}}}}
	a.Normalize()
	err := g.CheckAPI(a)
	var ge *gatehouse.Error
	if !asError(err, &ge) || ge.Code != gatehouse.EInvalid {
		t.Fatalf("got %v, want an invalid error", err)
	}
	msg := err.Error()
	for _, want := range []string{`unknown field "heder"`, `unknown policy type "nope"`, "routes[0].policies"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	fields := map[string]bool{}
	for _, f := range ge.Fields {
		fields[f.Field] = true
	}
	for _, want := range []string{"policies[0].config", "policies[1].type", "routes[0].policies"} {
		if !fields[want] {
			t.Errorf("no problem at field %s: %+v", want, ge.Fields)
		}
	}
	// A bad configuration never reaches the route table either: the swap fails and the
	// previous snapshot keeps serving.
	if err := g.Swap(2, []*gatehouse.API{a}); err == nil {
		t.Error("a snapshot with a bad policy compiled")
	}
}

func asError(err error, target **gatehouse.Error) bool {
	e, ok := err.(*gatehouse.Error)
	if ok {
		*target = e
	}
	return ok
}

// BenchmarkServeHTTPKeyAuth is BenchmarkServeHTTP with key-auth and the subscription check:
// the difference between the two is what the policies cost the gateway per request.
func BenchmarkServeHTTPKeyAuth(b *testing.B) {
	dir := policytest.NewDirectory()
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"bench"}}
	dir.AddApp("shop", "d@example.com", gold)
	dir.AddKey("gh_good", "key1", "shop", time.Time{})
	g := New(Options{Upstream: upstream.Options{Transport: okTransport{}}, Policies: builtin.Registry(), Services: policy.Env{Directory: dir}})
	defer g.Close()
	a := api("bench", "/", nil, gatehouse.StatePublished, "http://127.0.0.1:9")
	a.Policies = []gatehouse.PolicySpec{{Type: "key-auth"}}
	a.Normalize()
	if err := g.Swap(1, []*gatehouse.API{a}, gold); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gw/items/1", nil)
	req.Header.Set("X-Request-Id", "fixed")
	key := []string{"gh_good"}
	b.ReportAllocs()
	for b.Loop() {
		req.Header["X-Api-Key"] = key // key-auth removes it before proxying
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// nopCounters is a quota.CounterStore that keeps nothing.
type nopCounters struct{}

func (nopCounters) LoadCounter(context.Context, string, time.Time) (int64, error) { return 0, nil }
func (nopCounters) AddCounters(context.Context, []sqlstore.CounterDelta) error    { return nil }
func (nopCounters) PruneCounters(context.Context, time.Time) (int64, error)       { return 0, nil }

// BenchmarkServeHTTPKeyAuthLimits is the bench harness's scenario (b) without the network:
// key-auth, the subscription check, and the plan's rate limit and daily quota, on the
// memory limiter and store-backed quota counters.
func BenchmarkServeHTTPKeyAuthLimits(b *testing.B) {
	dir := policytest.NewDirectory()
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"bench"},
		RateLimit: &gatehouse.RateLimit{Limit: 1e8, Window: gatehouse.Duration(time.Second)},
		Quota:     &gatehouse.Quota{Limit: 1e15, Period: gatehouse.PeriodDay}}
	dir.AddApp("shop", "d@example.com", gold)
	dir.AddKey("gh_good", "key1", "shop", time.Time{})
	quotas, err := quota.NewLocal(nopCounters{}, quota.LocalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer quotas.Close()
	g := New(Options{Upstream: upstream.Options{Transport: okTransport{}}, Policies: builtin.Registry(),
		Services: policy.Env{Directory: dir, Limiter: limit.NewMemory(limit.MemoryOptions{}), Quotas: quotas}})
	defer g.Close()
	a := api("bench", "/", nil, gatehouse.StatePublished, "http://127.0.0.1:9")
	a.Policies = []gatehouse.PolicySpec{{Type: "key-auth"}}
	a.Normalize()
	if err := g.Swap(1, []*gatehouse.API{a}, gold); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gw/items/1", nil)
	req.Header.Set("X-Request-Id", "fixed")
	key := []string{"gh_good"}
	b.ReportAllocs()
	for b.Loop() {
		req.Header["X-Api-Key"] = key
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		// Result's headers are the snapshot taken at WriteHeader, as net/http sends them.
		if h := rec.Result().Header; rec.Code != 200 || h.Get("RateLimit") == "" || h.Get("X-Quota-Remaining") == "" {
			b.Fatalf("status %d, headers %v: %s", rec.Code, h, rec.Body)
		}
	}
}
