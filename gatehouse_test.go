package gatehouse_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func validAPI() *gatehouse.API {
	return &gatehouse.API{
		Name:     "orders",
		State:    gatehouse.StatePublished,
		Path:     "/orders",
		Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://10.0.0.1:8080"}}},
	}
}

// fields returns the field names an EInvalid error reports.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *gatehouse.Error
	if !errors.As(err, &e) || e.Code != gatehouse.EInvalid {
		t.Fatalf("want an EInvalid *Error, got %v", err)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestAPIValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *gatehouse.API)
		want   []string // fields reported, nil for valid
	}{
		{"valid", func(a *gatehouse.API) {}, nil},
		{"root path", func(a *gatehouse.API) { a.Path = "/" }, nil},
		{"draft without targets", func(a *gatehouse.API) { a.State = gatehouse.StateDraft; a.Upstream.Targets = nil }, nil},
		{"wildcard host", func(a *gatehouse.API) { a.Hosts = []string{"*.example.com", "api.example.com"} }, nil},
		{"missing name", func(a *gatehouse.API) { a.Name = "" }, []string{"name"}},
		{"bad name", func(a *gatehouse.API) { a.Name = "has space" }, []string{"name"}},
		{"name too long", func(a *gatehouse.API) { a.Name = strings.Repeat("a", 65) }, []string{"name"}},
		{"bad state", func(a *gatehouse.API) { a.State = "live" }, []string{"state"}},
		{"path without slash", func(a *gatehouse.API) { a.Path = "orders" }, []string{"path"}},
		{"path trailing slash", func(a *gatehouse.API) { a.Path = "/orders/" }, []string{"path"}},
		{"path dot dot", func(a *gatehouse.API) { a.Path = "/a/../b" }, []string{"path"}},
		{"path double slash", func(a *gatehouse.API) { a.Path = "/a//b" }, []string{"path"}},
		{"path template", func(a *gatehouse.API) { a.Path = "/a/{id}" }, []string{"path"}},
		{"path query", func(a *gatehouse.API) { a.Path = "/a?x=1" }, []string{"path"}},
		{"upper host is lowered", func(a *gatehouse.API) { a.Hosts = []string{"API.example.com"} }, nil},
		{"underscore host", func(a *gatehouse.API) { a.Hosts = []string{"a_b.com"} }, []string{"hosts[0]"}},
		{"host with port", func(a *gatehouse.API) { a.Hosts = []string{"a.com:80"} }, []string{"hosts[0]"}},
		{"inner wildcard", func(a *gatehouse.API) { a.Hosts = []string{"a.*.com"} }, []string{"hosts[0]"}},
		{"published without targets", func(a *gatehouse.API) { a.Upstream.Targets = nil }, []string{"upstream.targets"}},
		{"relative target", func(a *gatehouse.API) { a.Upstream.Targets[0].URL = "10.0.0.1:80" }, []string{"upstream.targets[0].url"}},
		{"ftp target", func(a *gatehouse.API) { a.Upstream.Targets[0].URL = "ftp://x" }, []string{"upstream.targets[0].url"}},
		{"target query", func(a *gatehouse.API) { a.Upstream.Targets[0].URL = "http://x/?a=1" }, []string{"upstream.targets[0].url"}},
		{"bad weight", func(a *gatehouse.API) { w := 5000; a.Upstream.Targets[0].Weight = &w }, []string{"upstream.targets[0].weight"}},
		{"bad balancing", func(a *gatehouse.API) { a.Upstream.Balancing = "random" }, []string{"upstream.balancing"}},
		{"hash without key", func(a *gatehouse.API) { a.Upstream.Balancing = "hash" }, []string{"upstream.hash_on"}},
		{"hash on header", func(a *gatehouse.API) { a.Upstream.Balancing = "hash"; a.Upstream.HashOn = "header:X-User" }, nil},
		{"retry budget", func(a *gatehouse.API) { a.Upstream.RetryBudget = 101 }, []string{"upstream.retry_budget"}},
		{"passive status", func(a *gatehouse.API) { a.Upstream.Passive = &gatehouse.PassiveCheck{Statuses: []int{404}} }, []string{"upstream.passive.statuses[0]"}},
		{"tls on http", func(a *gatehouse.API) { a.Upstream.TLS = &gatehouse.UpstreamTLS{CAFile: "ca.pem"} }, []string{"upstream.tls"}},
		{"tls cert without key", func(a *gatehouse.API) {
			a.Upstream.Targets[0].URL = "https://x"
			a.Upstream.TLS = &gatehouse.UpstreamTLS{CertFile: "c.pem"}
		}, []string{"upstream.tls"}},
		{"negative body limit", func(a *gatehouse.API) { a.MaxBodyBytes = -1 }, []string{"max_body_bytes"}},
		{"too many retries", func(a *gatehouse.API) { a.Upstream.Retries = 11 }, []string{"upstream.retries"}},
		{"health path", func(a *gatehouse.API) { a.Upstream.HealthCheck = &gatehouse.HealthCheck{Path: "health"} }, []string{"upstream.health_check.path"}},
		{"route template ok", func(a *gatehouse.API) { a.Routes = []gatehouse.Route{{Path: "/x/{id}", Methods: []string{"GET"}}} }, nil},
		{"route partial template", func(a *gatehouse.API) { a.Routes = []gatehouse.Route{{Path: "/x/a{id}"}} }, []string{"routes[0].path"}},
		{"route repeated param", func(a *gatehouse.API) { a.Routes = []gatehouse.Route{{Path: "/{id}/{id}"}} }, []string{"routes[0].path"}},
		{"route bad method", func(a *gatehouse.API) { a.Routes = []gatehouse.Route{{Path: "/x", Methods: []string{"G T"}}} }, []string{"routes[0].methods[0]"}},
		{"route dup name", func(a *gatehouse.API) {
			a.Routes = []gatehouse.Route{{Name: "r", Path: "/a"}, {Name: "r", Path: "/b"}}
		}, []string{"routes[1].name"}},
		{"policy type", func(a *gatehouse.API) { a.Policies = []gatehouse.PolicySpec{{Type: ""}} }, []string{"policies[0].type"}},
		{"policy config array", func(a *gatehouse.API) {
			a.Policies = []gatehouse.PolicySpec{{Type: "cors", Config: json.RawMessage(`[1]`)}}
		}, []string{"policies[0].config"}},
		{"bad tag", func(a *gatehouse.API) { a.Tags = []string{"no spaces"} }, []string{"tags[0]"}},
		{"several at once", func(a *gatehouse.API) { a.Name = ""; a.Path = "x" }, []string{"name", "path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validAPI()
			tt.mutate(a)
			a.Normalize()
			got := fields(t, a.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v (err: %v)", got, tt.want, a.Validate())
			}
		})
	}
}

func TestAPINormalize(t *testing.T) {
	a := &gatehouse.API{Name: "x", Hosts: []string{" API.Example.com "}, Routes: []gatehouse.Route{{Path: "/a", Methods: []string{"get"}}},
		Policies: []gatehouse.PolicySpec{{Type: "cors", Config: json.RawMessage(`{ "b": 1, "a": 2 }`)}, {Type: "x", Config: json.RawMessage(`null`)}},
		Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://a"}}}}
	a.Normalize()
	if a.State != gatehouse.StateDraft || a.Path != "/" || a.Upstream.Balancing != gatehouse.BalanceRoundRobin {
		t.Errorf("defaults not filled: %+v", a)
	}
	if a.Hosts[0] != "api.example.com" || a.Routes[0].Methods[0] != "GET" {
		t.Errorf("canonical forms: %v %v", a.Hosts, a.Routes[0].Methods)
	}
	if *a.Upstream.Targets[0].Weight != gatehouse.DefaultWeight {
		t.Errorf("weight = %d", *a.Upstream.Targets[0].Weight)
	}
	if string(a.Policies[0].Config) != `{"a":2,"b":1}` || a.Policies[1].Config != nil {
		t.Errorf("policy configs = %s, %s", a.Policies[0].Config, a.Policies[1].Config)
	}
	c := a.Clone()
	c.Hosts[0] = "changed"
	*c.Upstream.Targets[0].Weight = 1
	if a.Hosts[0] == "changed" || *a.Upstream.Targets[0].Weight == 1 {
		t.Error("Clone shares memory with the original")
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name string
		plan gatehouse.Plan
		want []string
	}{
		{"valid", gatehouse.Plan{Name: "free", APIs: []string{"a"}, RateLimit: &gatehouse.RateLimit{Limit: 10, Window: gatehouse.Duration(time.Minute)}}, nil},
		{"bad approval", gatehouse.Plan{Name: "p", Approval: "maybe"}, []string{"approval"}},
		{"zero rate", gatehouse.Plan{Name: "p", RateLimit: &gatehouse.RateLimit{Limit: 0, Window: gatehouse.Duration(time.Second)}}, []string{"rate_limit.limit"}},
		{"no window", gatehouse.Plan{Name: "p", RateLimit: &gatehouse.RateLimit{Limit: 1}}, []string{"rate_limit.window"}},
		{"bad period", gatehouse.Plan{Name: "p", Quota: &gatehouse.Quota{Limit: 1, Period: "year"}}, []string{"quota.period"}},
		{"bad api name", gatehouse.Plan{Name: "p", APIs: []string{"a b"}}, []string{"apis[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plan
			p.Normalize()
			if got := fields(t, p.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
	p := gatehouse.Plan{Name: "p", APIs: []string{"b", "a", "b"}}
	p.Normalize()
	if !slices.Equal(p.APIs, []string{"a", "b"}) || p.Approval != gatehouse.ApprovalAuto {
		t.Errorf("normalize: %v %v", p.APIs, p.Approval)
	}
}

func TestConsumerValidate(t *testing.T) {
	d := gatehouse.Developer{Email: " Dev@Example.COM "}
	d.Normalize()
	if d.Email != "dev@example.com" || d.Status != gatehouse.DeveloperActive {
		t.Errorf("normalize developer: %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("valid developer: %v", err)
	}
	for _, bad := range []string{"", "nope", "Dev <dev@example.com>", "a@b/c"} {
		d := gatehouse.Developer{Email: bad}
		d.Normalize()
		if got := fields(t, d.Validate()); !slices.Equal(got, []string{"email"}) {
			t.Errorf("email %q: fields %v", bad, got)
		}
	}
	app := gatehouse.App{Name: "a", Developer: "x"}
	if got := fields(t, app.Validate()); !slices.Equal(got, []string{"developer"}) {
		t.Errorf("app fields %v", got)
	}
	s := gatehouse.Subscription{App: "a", Plan: "p", Status: "paused"}
	if got := fields(t, s.Validate()); !slices.Equal(got, []string{"status"}) {
		t.Errorf("subscription fields %v", got)
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		key  gatehouse.Key
		want string
	}{
		{gatehouse.Key{}, "active"},
		{gatehouse.Key{ExpiresAt: &future}, "active"},
		{gatehouse.Key{ExpiresAt: &past}, "expired"},
		{gatehouse.Key{RevokedAt: &past, ExpiresAt: &future}, "revoked"},
	}
	for _, tt := range tests {
		if got := tt.key.Status(now); got != tt.want {
			t.Errorf("Status = %q, want %q", got, tt.want)
		}
		if tt.key.Active(now) != (tt.want == "active") {
			t.Errorf("Active disagrees with Status %q", tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	s1, p1, h1 := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	s2, _, h2 := gatehouse.NewSecret(gatehouse.KeySecretPrefix)
	if s1 == s2 || h1 == h2 {
		t.Fatal("secrets repeat")
	}
	if !strings.HasPrefix(s1, p1+"_") || !strings.HasPrefix(p1, "gh_") || len(p1) != len("gh_")+8 {
		t.Errorf("secret %q prefix %q", s1, p1)
	}
	if gatehouse.SecretPrefix(s1) != p1 || gatehouse.HashSecret(s1) != h1 || len(h1) != 64 {
		t.Errorf("prefix/hash do not round-trip")
	}
	if strings.Contains(h1, s1) {
		t.Error("hash contains the secret")
	}
	if id := gatehouse.NewID("key"); !strings.HasPrefix(id, "key_") || len(id) != 4+16 {
		t.Errorf("id %q", id)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]string{`"1m"`: "1m", `"90s"`: "1m30s", `"1h0m0s"`: "1h", `"250ms"`: "250ms", `"2h30m"`: "2h30m"} {
		var d gatehouse.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if d.String() != want {
			t.Errorf("%s → %q, want %q", in, d.String(), want)
		}
		b, _ := json.Marshal(d)
		if string(b) != `"`+want+`"` {
			t.Errorf("marshal %s", b)
		}
	}
	for _, bad := range []string{`60`, `"sixty"`, `true`} {
		var d gatehouse.Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestErrors(t *testing.T) {
	if gatehouse.ErrorCode(nil) != "" || gatehouse.ErrorCode(errors.New("x")) != gatehouse.EInternal {
		t.Error("ErrorCode of nil / plain error")
	}
	e := &gatehouse.Error{Code: gatehouse.ENotFound, Message: "api \"x\" not found", Err: errors.New("sql: no rows")}
	wrapped := errors.Join(errors.New("ctx"), e)
	if gatehouse.ErrorCode(wrapped) != gatehouse.ENotFound || gatehouse.ErrorMessage(wrapped) != e.Message {
		t.Error("code/message through a wrap")
	}
	if gatehouse.ErrorMessage(errors.New("secret cause")) == "secret cause" {
		t.Error("internal causes must not leak")
	}
	var p gatehouse.Problems
	p.Merge("upstream", (&gatehouse.Problems{}).Err("x"))
	inner := &gatehouse.Problems{}
	inner.Addf("url", "bad")
	p.Merge("targets[0]", inner.Err("target"))
	if got := fields(t, p.Err("api")); !slices.Equal(got, []string{"targets[0].url"}) {
		t.Errorf("merged fields %v", got)
	}
}

func FuzzAPIValidate(f *testing.F) {
	f.Add(`{"name":"a","state":"published","path":"/a","upstream":{"targets":[{"url":"http://x"}]}}`)
	f.Add(`{"name":"a","path":"/a/{id}","hosts":["*.x.com"],"routes":[{"path":"/{a}/{b...}"}]}`)
	f.Add(`{"name":"","path":"//..","upstream":{"balancing":"hash","hash_on":"header:"}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var a gatehouse.API
		if json.Unmarshal([]byte(doc), &a) != nil {
			return
		}
		a.Normalize()
		err := a.Validate()
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.EInvalid {
			t.Fatalf("validation returned code %q", gatehouse.ErrorCode(err))
		}
		// Normalize is idempotent: a stored API compares equal to itself re-read.
		b1, _ := json.Marshal(&a)
		a.Normalize()
		b2, _ := json.Marshal(&a)
		if string(b1) != string(b2) {
			t.Fatalf("Normalize not idempotent:\n%s\n%s", b1, b2)
		}
	})
}

func TestOpenAPIHeadProblem(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{"openapi":"3.1.0"}`: true, `{"swagger":"2.0"}`: true, "openapi: 3.0.0\n": true, "": true,
		`{"openapi":3}`: false, `{"info":{}}`: false, `{not json`: false,
	} {
		if got := gatehouse.OpenAPIHeadProblem(doc); (got == "") != ok {
			t.Errorf("OpenAPIHeadProblem(%q) = %q", doc, got)
		}
	}
}
