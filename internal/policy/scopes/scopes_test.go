package scopes_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
	"github.com/gatehouse-dev/gatehouse/internal/policy/scopes"
)

// tokenAuth identifies every request, with the scopes in X-Scopes and the claims (JSON) in
// X-Claims, as a token method would.
type tokenAuth struct{}

func (tokenAuth) Challenge() string { return "" }
func (tokenAuth) Authenticate(c *policy.Context) (bool, error) {
	id := policy.Identity{Method: "test", App: "app"}
	if s := c.R.Header.Get("X-Scopes"); s != "" {
		id.Scopes = strings.Fields(s)
	}
	if s := c.R.Header.Get("X-Claims"); s != "" {
		if err := json.Unmarshal([]byte(s), &id.Claims); err != nil {
			return false, err
		}
	}
	c.Identity = id
	return true, nil
}

func TestScopesAndClaims(t *testing.T) {
	reg := policy.NewRegistry(scopes.Type, policy.DefineAuth("test-token", "test", func(*policy.Env, *struct{}, string) (policy.Authenticator, error) {
		return tokenAuth{}, nil
	}))
	specs := []gatehouse.PolicySpec{
		{Type: "test-token"},
		{Type: policy.SubscriptionType, Disabled: true}, // identify only: this test is about scopes
		{Type: "scopes", Config: json.RawMessage(`{"scopes":["orders:read"],"any_scopes":["a","b"],"claims":{"realm.role":["admin","ops"]}}`)},
	}
	srv := policytest.Serve(t, reg, &policy.Env{}, specs, nil, policytest.Echo)
	for _, c := range []struct {
		scopes, claims string
		want           int
	}{
		{"orders:read a", `{"realm":{"role":"admin"}}`, 200},
		{"orders:read b", `{"realm":{"role":["x","ops"]}}`, 200},
		{"a b", `{"realm":{"role":"admin"}}`, 403},           // lacks the required scope
		{"orders:read", `{"realm":{"role":"admin"}}`, 403},   // none of any_scopes
		{"orders:read a", `{"realm":{"role":"guest"}}`, 403}, // claim value not allowed
		{"orders:read a", `{"role":"admin"}`, 403},           // claim not at its path
		{"orders:read a", ``, 403},                           // no claims at all
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-Scopes", c.scopes)
		if c.claims != "" {
			req.Header.Set("X-Claims", c.claims)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("scopes %q claims %s: %d, want %d", c.scopes, c.claims, resp.StatusCode, c.want)
		}
		if c.want == 403 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("scopes %q: challenge %q", c.scopes, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if _, err := scopes.Type.Decode(json.RawMessage(`{}`)); err == nil {
		t.Error("a scopes policy that checks nothing was accepted")
	}
}
