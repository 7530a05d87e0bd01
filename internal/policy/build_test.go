package policy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// markConfig names a marker policy instance.
type markConfig struct {
	Tag string `json:"tag"`
}

func (c *markConfig) Validate() error {
	if c.Tag == "bad" {
		return fmt.Errorf("tag: must not be bad")
	}
	return nil
}

// marker appends "<phase>:<tag>" to X-Trace on the request, so a test sees the order.
func marker(name string, phase policy.Phase) policy.Type {
	return policy.Define(name, phase, "test marker", func(env *policy.Env, next policy.Handler, cfg *markConfig, n string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			c.R.Header.Add("X-Trace", n+"="+cfg.Tag)
			if cfg.Tag == "reject" {
				return policy.Reject(n, http.StatusTeapot, "rejected_by_marker", "no")
			}
			return next.Serve(c)
		}), nil
	})
}

// headerAuth identifies the app named by header X-<name>, or is "not mine".
type headerAuth struct{ header, app string }

func (a headerAuth) Challenge() string { return "Test realm=\"" + a.header + "\"" }
func (a headerAuth) Authenticate(c *policy.Context) (bool, error) {
	v := c.R.Header.Get(a.header)
	if v == "" {
		return false, nil
	}
	if v == "bad" {
		return false, policy.Reject(a.header, http.StatusUnauthorized, "bad_"+a.header, "bad")
	}
	c.Identity = policy.Identity{Method: a.header, App: v, Consumer: consumers[v]}
	return true, nil
}

var consumers = map[string]*policy.Consumer{}

func authType(name string) policy.Type {
	return policy.DefineAuth(name, "test auth", func(env *policy.Env, cfg *struct{}, n string) (policy.Authenticator, error) {
		return headerAuth{header: "X-" + name}, nil
	})
}

// subType is a minimal subscription check: the app must have a grant for the API.
var subType = policy.Define(policy.SubscriptionType, policy.Authz, "test subscription", func(env *policy.Env, next policy.Handler, cfg *struct{}, n string) (policy.Handler, error) {
	return policy.HandlerFunc(func(c *policy.Context) error {
		if c.Identity.Consumer == nil {
			return policy.Reject(n, http.StatusForbidden, "not_subscribed", "no")
		}
		g := c.Identity.Consumer.GrantFor(env.API.Name)
		if g == nil {
			return policy.Reject(n, http.StatusForbidden, "not_subscribed", "no")
		}
		c.Identity.Plan = g.Plan.Name
		return next.Serve(c)
	}), nil
})

// limitType stands in for rate-limit and quota: it records the plan-derived config.
func limitType(name string) policy.Type {
	return policy.Define(name, policy.Limits, "test limit", func(env *policy.Env, next policy.Handler, cfg *map[string]any, n string) (policy.Handler, error) {
		b, _ := json.Marshal(*cfg)
		return policy.HandlerFunc(func(c *policy.Context) error {
			c.R.Header.Add("X-Trace", n+"="+string(b))
			return next.Serve(c)
		}), nil
	})
}

func registry() policy.Registry {
	return policy.NewRegistry(
		marker("edge", policy.Edge), marker("authz", policy.Authz), marker("limit", policy.Limits),
		marker("xform", policy.Transform), marker("validate", policy.Validation),
		authType("a"), authType("b"), subType, limitType(policy.RateLimitType), limitType(policy.QuotaType),
	)
}

func spec(typ, cfg string) gatehouse.PolicySpec {
	s := gatehouse.PolicySpec{Type: typ}
	if cfg != "" {
		s.Config = json.RawMessage(cfg)
	}
	return s
}

// traceEcho answers with the request's X-Trace values joined by " | ".
var traceEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, strings.Join(r.Header.Values("X-Trace"), " | "))
})

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestPhasesRunInOrderWhateverTheListing(t *testing.T) {
	specs := []gatehouse.PolicySpec{
		spec("xform", `{"tag":"1"}`), spec("limit", `{"tag":"2"}`), spec("edge", `{"tag":"3"}`),
		spec("validate", `{"tag":"4"}`), spec("edge", `{"tag":"5"}`), spec("authz", `{"tag":"6"}`),
	}
	srv := policytest.Serve(t, registry(), &policy.Env{}, specs, nil, traceEcho)
	_, body := get(t, srv.URL)
	want := "edge=3 | edge#2=5 | authz=6 | limit=2 | validate=4 | xform=1"
	if body != want {
		t.Errorf("order:\n got %s\nwant %s", body, want)
	}
}

func TestRejectionRendersProblemAndStopsTheChain(t *testing.T) {
	specs := []gatehouse.PolicySpec{spec("edge", `{"tag":"reject"}`), spec("xform", `{"tag":"never"}`)}
	upstreamHit := false
	srv := policytest.Serve(t, registry(), &policy.Env{}, specs, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { upstreamHit = true }))
	resp, body := get(t, srv.URL)
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct{ Code string }
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.Code != "rejected_by_marker" {
		t.Errorf("body %s", body)
	}
	if upstreamHit {
		t.Error("the upstream was called after a rejection")
	}
}

func TestAuthenticationFirstMatchWins(t *testing.T) {
	plan := &gatehouse.Plan{Name: "gold", APIs: []string{"test"}}
	consumers["app1"] = &policy.Consumer{App: "app1", Grants: []policy.Grant{{Plan: plan}}}
	consumers["nosub"] = &policy.Consumer{App: "nosub"}
	specs := []gatehouse.PolicySpec{spec("a", ""), spec("b", "")}
	srv := policytest.Serve(t, registry(), &policy.Env{}, specs, nil, traceEcho)

	resp, _ := get(t, srv.URL)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Test realm="X-a", Test realm="X-b"` {
		t.Errorf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := get(t, srv.URL, "X-b", "app1"); resp.StatusCode != 200 {
		t.Errorf("second method: %d", resp.StatusCode)
	}
	// The first method with credentials decides: a bad one is not rescued by a good second.
	if resp, _ := get(t, srv.URL, "X-a", "bad", "X-b", "app1"); resp.StatusCode != 401 {
		t.Errorf("bad first credential: %d, want 401", resp.StatusCode)
	}
	// Authentication implies the subscription check.
	if resp, _ := get(t, srv.URL, "X-a", "nosub"); resp.StatusCode != 403 {
		t.Errorf("unsubscribed app: %d, want 403", resp.StatusCode)
	}
}

func TestPlanLimitsRunForTheGrantingPlan(t *testing.T) {
	gold := &gatehouse.Plan{Name: "gold", APIs: []string{"test"},
		RateLimit: &gatehouse.RateLimit{Limit: 10, Window: gatehouse.Duration(1e9)},
		Quota:     &gatehouse.Quota{Limit: 1000, Period: gatehouse.PeriodDay},
		Policies:  []gatehouse.PolicySpec{spec("limit", `{"tag":"plan"}`)}}
	free := &gatehouse.Plan{Name: "free", APIs: []string{"test"}}
	consumers["goldapp"] = &policy.Consumer{App: "goldapp", Grants: []policy.Grant{{Plan: gold}}}
	consumers["freeapp"] = &policy.Consumer{App: "freeapp", Grants: []policy.Grant{{Plan: free}}}
	specs := []gatehouse.PolicySpec{spec("a", ""), spec("limit", `{"tag":"api"}`)}
	srv := policytest.Serve(t, registry(), &policy.Env{}, specs, []*gatehouse.Plan{gold, free}, traceEcho)

	_, body := get(t, srv.URL, "X-a", "goldapp")
	want := `plan:gold:rate-limit={"by":"app","limit":10,"scope":"plan:gold","window":"1s"} | plan:gold:quota={"by":"app","limit":1000,"period":"day","scope":"plan:gold"} | plan:gold:limit=plan | limit=api`
	if body != want {
		t.Errorf("gold:\n got %s\nwant %s", body, want)
	}
	if _, body := get(t, srv.URL, "X-a", "freeapp"); body != "limit=api" {
		t.Errorf("free: %s", body)
	}
}

func TestMergeAndDisabled(t *testing.T) {
	api := []gatehouse.PolicySpec{spec("edge", `{"tag":"api"}`), spec("xform", `{"tag":"api"}`)}
	route := []gatehouse.PolicySpec{spec("edge", `{"tag":"route"}`), {Type: "xform", Disabled: true}, spec("limit", `{"tag":"route"}`)}
	srv := policytest.Serve(t, registry(), &policy.Env{}, policy.Merge(api, route), nil, traceEcho)
	if _, body := get(t, srv.URL); body != "edge=route | limit=route" {
		t.Errorf("merged chain: %s", body)
	}
}

func TestBuildErrorsNameEverything(t *testing.T) {
	specs := []gatehouse.PolicySpec{spec("nope", ""), spec("edge", `{"tag":"bad"}`), spec("edge", `{"tag":1}`), spec("edge", `{"tga":"x"}`)}
	_, err := registry().Build(&policy.Env{API: &gatehouse.API{Name: "x"}}, specs, nil, policy.HandlerFunc(func(*policy.Context) error { return nil }))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`policies[0]: unknown policy type "nope"`, "policies[1] (edge): tag: must not be bad", "policies[2] (edge): tag: must be a string, not number", `policies[3] (edge): unknown field "tga"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := registry().CheckPlan(&gatehouse.Plan{Name: "p", Policies: []gatehouse.PolicySpec{spec("edge", `{"tag":"x"}`)}}); err == nil || !strings.Contains(err.Error(), "limits-phase") {
		t.Errorf("plan with an edge policy: %v", err)
	}
}

func BenchmarkChain(b *testing.B) {
	specs := []gatehouse.PolicySpec{spec("edge", `{"tag":"1"}`), spec("xform", `{"tag":"2"}`)}
	reg := policy.NewRegistry(
		policy.Define("edge", policy.Edge, "noop", func(env *policy.Env, next policy.Handler, cfg *markConfig, n string) (policy.Handler, error) {
			return next, nil
		}),
		policy.Define("xform", policy.Transform, "noop", func(env *policy.Env, next policy.Handler, cfg *markConfig, n string) (policy.Handler, error) {
			return policy.HandlerFunc(func(c *policy.Context) error { return next.Serve(c) }), nil
		}))
	h, err := policytest.Build(b, reg, &policy.Env{}, specs, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	w := discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// stripAuth never identifies anyone; it strips X-Forwarded-Cert, as mtls does.
type stripAuth struct{}

func (stripAuth) Challenge() string                          { return "" }
func (stripAuth) Authenticate(*policy.Context) (bool, error) { return false, nil }
func (stripAuth) Strip(c *policy.Context)                    { c.R.Header.Del("X-Forwarded-Cert") }

// TestStrippersRunWhateverMethodMatches: a method listed first that identifies the caller
// does not let a forged forward header of a later method through.
func TestStrippersRunWhateverMethodMatches(t *testing.T) {
	plan := &gatehouse.Plan{Name: "gold", APIs: []string{"test"}}
	consumers["stripapp"] = &policy.Consumer{App: "stripapp", Grants: []policy.Grant{{Plan: plan}}}
	reg := registry()
	reg["s"] = policy.DefineAuth("s", "test stripper", func(env *policy.Env, cfg *struct{}, n string) (policy.Authenticator, error) {
		return stripAuth{}, nil
	})
	srv := policytest.Serve(t, reg, &policy.Env{}, []gatehouse.PolicySpec{spec("a", ""), spec("s", "")}, nil,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-Cert"))
		}))
	resp, body := get(t, srv.URL, "X-a", "stripapp", "X-Forwarded-Cert", "forged")
	if resp.StatusCode != 200 || body != "" {
		t.Errorf("got %d, upstream saw X-Forwarded-Cert %q", resp.StatusCode, body)
	}
}
