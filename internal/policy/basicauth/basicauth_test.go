package basicauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/basicauth"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// identityType copies the identity into request headers, which Echo reflects.
var identityType = policy.Define("identity-echo", policy.Authz, "test: identity to headers",
	func(env *policy.Env, next policy.Handler, cfg *struct{}, name string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			h := c.R.Header
			h.Set("X-Id-Method", c.Identity.Method)
			h.Set("X-Id-App", c.Identity.App)
			h.Set("X-Id-Key", c.Identity.KeyID)
			h.Set("X-Id-Subject", c.Identity.Subject)
			h.Set("X-Id-Developer", c.Identity.Developer)
			return next.Serve(c)
		}), nil
	})

type failingDirectory struct{}

func (failingDirectory) Key(context.Context, string) (*policy.Credential, error) {
	return nil, errors.New("down")
}
func (failingDirectory) App(context.Context, string) (*policy.Consumer, error) {
	return nil, errors.New("down")
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, dir policy.Directory, cfg string) string {
	t.Helper()
	env := &policy.Env{Directory: dir, Now: func() time.Time { return now }}
	reg := policy.NewRegistry(basicauth.Type, identityType)
	specs := []gatehouse.PolicySpec{{Type: "basic-auth", Config: json.RawMessage(cfg)}, {Type: "identity-echo"}}
	return policytest.Serve(t, reg, env, specs, nil, policytest.Echo).URL
}

func directory() *policytest.Directory {
	d := policytest.NewDirectory()
	d.AddApp("shop", "dev@example.com")
	d.AddApp("other", "o@example.com")
	d.AddApp("shady", "bad@example.com").Blocked = true
	d.AddKey("gh_shop_key", "key-1", "shop", time.Time{})
	d.AddKey("gh_shop_later", "key-2", "shop", now.Add(time.Minute))
	d.AddKey("gh_shop_old", "key-3", "shop", now)
	d.AddKey("gh_shop_revoked", "key-4", "shop", time.Time{})
	d.Revoke("gh_shop_revoked")
	d.AddKey("gh_other_key", "key-5", "other", time.Time{})
	d.AddKey("gh_shady_key", "key-6", "shady", time.Time{})
	return d
}

type result struct {
	status int
	code   string
	header http.Header
}

func call(t *testing.T, url, authorization string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &doc)
	return result{resp.StatusCode, doc.Code, resp.Header}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestBasicAuth(t *testing.T) {
	url := setup(t, directory(), `{}`)
	for _, tc := range []struct {
		name, authorization string
		status              int
		code                string
	}{
		{"valid", basic("shop", "gh_shop_key"), 200, ""},
		{"scheme case-insensitive", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("shop:gh_shop_key")), 200, ""},
		{"expires later", basic("shop", "gh_shop_later"), 200, ""},
		{"a colon belongs to the password", basic("shop", "gh_shop_key:x"), 401, "invalid_credentials"},
		{"expired at this instant", basic("shop", "gh_shop_old"), 401, "key_expired"},
		{"revoked", basic("shop", "gh_shop_revoked"), 401, "key_revoked"},
		{"another app's key", basic("shop", "gh_other_key"), 401, "invalid_credentials"},
		{"unknown key", basic("shop", "gh_nope"), 401, "invalid_credentials"},
		{"unknown app", basic("ghost", "gh_shop_key"), 401, "invalid_credentials"},
		{"blocked developer", basic("shady", "gh_shady_key"), 403, "developer_blocked"},
		{"empty password", basic("shop", ""), 401, "invalid_credentials"},
		{"empty user", basic("", "gh_shop_key"), 401, "invalid_credentials"},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("shop")), 401, "invalid_credentials"},
		{"bad base64", "Basic %%%", 401, "invalid_credentials"},
		{"too long", "Basic " + strings.Repeat("QUFB", 400), 401, "invalid_credentials"},
		{"bearer is not ours", "Bearer gh_shop_key", 401, "missing_credentials"},
		{"none", "", 401, "missing_credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, url, tc.authorization)
			if r.status != tc.status || r.code != tc.code {
				t.Fatalf("got %d %q, want %d %q", r.status, r.code, tc.status, tc.code)
			}
			if tc.status == 401 {
				if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="test"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
			if tc.status == 200 {
				if r.header.Get("X-Echo-Authorization") != "" {
					t.Error("the credentials went upstream")
				}
				for h, want := range map[string]string{"X-Echo-X-Id-Method": "basic-auth", "X-Echo-X-Id-App": "shop",
					"X-Echo-X-Id-Subject": "shop", "X-Echo-X-Id-Developer": "dev@example.com"} {
					if got := r.header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				if r.header.Get("X-Echo-X-Id-Key") == "" {
					t.Error("no key id")
				}
			}
		})
	}
}

func TestKeepCredentialsAndRealm(t *testing.T) {
	url := setup(t, directory(), `{"hide_credentials": false, "realm": "my \"shop\""}`)
	r := call(t, url, basic("shop", "gh_shop_key"))
	if r.status != 200 || r.header.Get("X-Echo-Authorization") == "" {
		t.Fatalf("status %d, upstream Authorization %q", r.status, r.header.Get("X-Echo-Authorization"))
	}
	r = call(t, url, "")
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="my \"shop\""` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

func TestDirectoryDown(t *testing.T) {
	url := setup(t, failingDirectory{}, `{}`)
	if r := call(t, url, basic("shop", "gh_shop_key")); r.status != 503 || r.code != "directory_unavailable" {
		t.Fatalf("got %d %q", r.status, r.code)
	}
}

func TestValidate(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"realm":"a\nb"}`: "realm:",
		`{"realm":"` + strings.Repeat("r", 300) + `"}`: "realm:",
		`{"realm":1}`:   "realm",
		`{"hide":true}`: "unknown field",
	} {
		if _, err := basicauth.Type.Decode([]byte(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", cfg, err, want)
		}
	}
	if _, err := basicauth.New(&policy.Env{}, &basicauth.Config{}, "basic-auth"); err == nil {
		t.Error("New without a directory succeeded")
	}
}

func newAuth(tb testing.TB) policy.Authenticator {
	a, err := basicauth.New(&policy.Env{Directory: directory(), Now: func() time.Time { return now }}, &basicauth.Config{}, "basic-auth")
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// FuzzAuthenticate: arbitrary Authorization values never panic, and only the right app
// and key pass.
func FuzzAuthenticate(f *testing.F) {
	for _, s := range []string{basic("shop", "gh_shop_key"), basic("shop", "gh_other_key"), "Basic ", "Basic =", "basic Og==", "Basic " + strings.Repeat("A", 2000)} {
		f.Add(s)
	}
	a := newAuth(f)
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", v)
		c := &policy.Context{W: httptest.NewRecorder(), R: r}
		ok, err := a.Authenticate(c)
		if ok {
			if err != nil || c.Identity.App == "" || r.Header.Get("Authorization") != "" {
				t.Fatalf("bad success for %q", v)
			}
			dec, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:]))
			if user, pass, _ := strings.Cut(string(dec), ":"); user != c.Identity.App || !strings.HasPrefix(pass, "gh_"+user) {
				t.Fatalf("%q authenticated as %q", dec, c.Identity.App)
			}
		}
	})
}

func BenchmarkBasicAuth(b *testing.B) {
	a := newAuth(b)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	hdr := []string{basic("shop", "gh_shop_key")}
	c := &policy.Context{W: httptest.NewRecorder(), R: r}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = hdr
		if ok, err := a.Authenticate(c); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
