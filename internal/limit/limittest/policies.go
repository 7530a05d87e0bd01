package limittest

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Test policies for the limit policies' tests: every request of those tests comes from
// 127.0.0.1 and nobody in particular, so these two set who is calling from headers.
//
//	test-edge    X-Test-IP: the client IP; X-Test-Route: the matched route
//	test-caller  X-Test-App, X-Test-Key, X-Test-Subject, X-Test-Plan: the identity
//	             (every request passes, anonymous when none is set)
var (
	EdgeType   = policy.Define("test-edge", policy.Edge, "test: client IP and route from headers", newEdge)
	CallerType = policy.DefineAuth("test-caller", "test: identity from headers", newCaller)
)

type none struct{}

func newEdge(_ *policy.Env, next policy.Handler, _ *none, _ string) (policy.Handler, error) {
	return policy.HandlerFunc(func(c *policy.Context) error {
		if ip, err := netip.ParseAddr(c.R.Header.Get("X-Test-IP")); err == nil {
			c.SetClientIP(ip)
		}
		c.Route = c.R.Header.Get("X-Test-Route")
		return next.Serve(c)
	}), nil
}

type caller struct{}

func newCaller(*policy.Env, *none, string) (policy.Authenticator, error) { return caller{}, nil }

func (caller) Authenticate(c *policy.Context) (bool, error) {
	h := c.R.Header
	c.Identity = policy.Identity{
		Method:  "test-caller",
		App:     h.Get("X-Test-App"),
		KeyID:   h.Get("X-Test-Key"),
		Subject: h.Get("X-Test-Subject"),
		Plan:    h.Get("X-Test-Plan"),
	}
	return true, nil
}

func (caller) Challenge() string { return "" }

// CheckConfigs decodes each configuration with typ. cases maps a configuration to what
// decoding it must say: "" for valid, else a substring of the error (the field's name).
func CheckConfigs(t *testing.T, typ policy.Type, cases map[string]string) {
	t.Helper()
	for config, want := range cases {
		_, err := typ.Decode(json.RawMessage(config))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", config, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one containing %q", config, err, want)
		}
	}
}
