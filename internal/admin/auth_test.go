package admin

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"no token", req{method: "GET", path: "/v1/apis", noAuth: true}, 401, "unauthorized"},
		{"unknown token", req{method: "GET", path: "/v1/apis", as: "gha_nope_nope"}, 401, "unauthorized"},
		{"basic auth", req{method: "GET", path: "/v1/apis", header: map[string]string{"Authorization": "Basic cm9vdDpyb290"}}, 401, "unauthorized"},
		{"empty bearer", req{method: "GET", path: "/v1/apis", header: map[string]string{"Authorization": "Bearer "}}, 401, "unauthorized"},
		{"expired", req{method: "GET", path: "/v1/apis", as: e.old}, 401, "unauthorized"},
		{"no token on a write", req{method: "POST", path: "/v1/apis", body: apiBody, noAuth: true}, 401, "unauthorized"},
		{"read_only reads", req{method: "GET", path: "/v1/apis", as: e.viewer}, 200, ""},
		{"read_only status", req{method: "GET", path: "/v1/status", as: e.viewer}, 200, ""},
		{"read_only creates", req{method: "POST", path: "/v1/apis", body: apiBody, as: e.viewer}, 403, "forbidden"},
		{"read_only deletes", req{method: "DELETE", path: "/v1/apis/orders", as: e.viewer}, 403, "forbidden"},
		{"editor creates", req{method: "POST", path: "/v1/apis", body: apiBody, as: e.editor}, 201, ""},
		{"editor makes tokens", req{method: "POST", path: "/v1/admin-tokens", body: `{"name":"x","role":"admin"}`, as: e.editor}, 403, "forbidden"},
		{"editor deletes tokens", req{method: "DELETE", path: "/v1/admin-tokens/tok_x", as: e.editor}, 403, "forbidden"},
		{"editor lists tokens", req{method: "GET", path: "/v1/admin-tokens", as: e.editor}, 200, ""},
		{"read_only makes tokens", req{method: "POST", path: "/v1/admin-tokens", body: `{"name":"x","role":"admin"}`, as: e.viewer}, 403, "forbidden"},
		{"lower-case scheme", req{method: "GET", path: "/v1/apis", header: map[string]string{"Authorization": "bearer " + e.root}}, 200, ""},
		{"healthz is public", req{method: "GET", path: "/healthz", noAuth: true}, 200, ""},
		{"readyz is public", req{method: "GET", path: "/readyz", noAuth: true}, 200, ""},
		{"openapi is public", req{method: "GET", path: "/v1/openapi.json", noAuth: true}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(c.r)
			if r.status != c.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, c.status, r.body)
			}
			if c.code == "" {
				return
			}
			if p := r.problem(t); p.Code != c.code {
				t.Errorf("code = %q, want %q", p.Code, c.code)
			}
			if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			e.unchanged(before)
		})
	}
}

// TestTokenCache checks that a burst of calls is one token lookup, and that a deleted
// token stops working at once on this node.
func TestTokenCache(t *testing.T) {
	e, hs := newHookedEnv(t)
	hs.set(func(*hooks) {})
	for range 5 {
		e.want(e.get("/v1/apis"), http.StatusOK)
	}
	if n := hs.count("AdminTokenByHash"); n != 1 {
		t.Errorf("5 calls made %d token lookups, want 1", n)
	}
	// Unknown tokens are not cached: each is a lookup, so they cannot fill the cache.
	for range 3 {
		e.want(e.do(req{method: "GET", path: "/v1/apis", as: "gha_bad_guess"}), http.StatusUnauthorized)
	}
	if n := hs.count("AdminTokenByHash"); n != 4 {
		t.Errorf("after 3 bad tokens: %d lookups, want 4", n)
	}

	r := e.want(e.post("/v1/admin-tokens", `{"name":"ci","role":"admin"}`), http.StatusCreated).json(t)
	ci, id := r["token"].(string), r["id"].(string)
	e.want(e.do(req{method: "GET", path: "/v1/apis", as: ci}), http.StatusOK) // now cached
	e.want(e.del("/v1/admin-tokens/"+id), http.StatusNoContent)
	e.want(e.do(req{method: "GET", path: "/v1/apis", as: ci}), http.StatusUnauthorized)
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(time.Minute, 3)
	now := time.Now()
	for i, h := range []string{"a", "b", "c", "d", "e"} {
		c.put(h, &gatehouse.AdminToken{ID: h}, now.Add(time.Duration(i)))
		if len(c.m) > 3 {
			t.Fatalf("cache holds %d entries, bound 3", len(c.m))
		}
	}
	if c.get("e", now) == nil {
		t.Error("the newest entry was evicted")
	}
	if c.get("e", now.Add(2*time.Minute)) != nil {
		t.Error("an expired entry was served")
	}
	c.forget("e")
	if c.get("e", now) != nil {
		t.Error("a forgotten token was served")
	}
}

func TestAdminTokens(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot()
	for _, body := range []string{
		`{"name":"x","role":"owner"}`,
		`{"name":"x"}`,
		`{"name":"bad name","role":"admin"}`,
		`{"name":"x","role":"admin","expires_at":"2001-01-01T00:00:00Z"}`,
		`{"name":"x","role":"admin","secret":"mine"}`,
	} {
		e.want(e.post("/v1/admin-tokens", body), http.StatusBadRequest)
	}
	e.unchanged(before)

	r := e.want(e.post("/v1/admin-tokens", `{"name":"ci","role":"read_only","expires_at":"2099-01-01T00:00:00Z","id":"ignored","prefix":"ignored"}`), http.StatusCreated)
	m := r.json(t)
	secret := m["token"].(string)
	if !strings.HasPrefix(secret, gatehouse.AdminSecretPrefix) || !strings.HasPrefix(secret, m["prefix"].(string)+"_") {
		t.Errorf("token %q, prefix %v", secret, m["prefix"])
	}
	if m["id"] == "ignored" || m["role"] != "read_only" {
		t.Errorf("created token: %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != "/v1/admin-tokens/"+m["id"].(string) {
		t.Errorf("Location = %q", loc)
	}
	e.want(e.do(req{method: "GET", path: "/v1/apis", as: secret}), http.StatusOK)
	e.want(e.do(req{method: "POST", path: "/v1/apis", body: apiBody, as: secret}), http.StatusForbidden)

	list := e.want(e.get("/v1/admin-tokens?limit=500"), http.StatusOK)
	if strings.Contains(string(list.body), secret) || strings.Contains(string(list.body), `"token"`) {
		t.Errorf("token list shows a secret: %s", list.body)
	}
	var rootID string
	for _, it := range list.json(t)["items"].([]any) {
		if tok := it.(map[string]any); tok["name"] == "root" {
			rootID = tok["id"].(string)
		}
	}
	p := e.want(e.del("/v1/admin-tokens/"+rootID), http.StatusConflict).problem(t)
	if !strings.Contains(p.Detail, "itself") {
		t.Errorf("self-delete: %+v", p)
	}
	e.want(e.do(req{method: "DELETE", path: "/v1/admin-tokens/" + m["id"].(string), header: map[string]string{"If-Match": `"3"`}}), http.StatusPreconditionFailed)
	e.want(e.del("/v1/admin-tokens/"+m["id"].(string)), http.StatusNoContent)
	e.want(e.del("/v1/admin-tokens/"+m["id"].(string)), http.StatusNotFound)

	// The audit log has the creation by root, without the secret.
	audit := e.want(e.get("/v1/audit?resource=admin_token&actor=token:root"), http.StatusOK)
	if strings.Contains(string(audit.body), secret) || !strings.Contains(string(audit.body), `"create"`) {
		t.Errorf("audit of admin tokens: %s", audit.body)
	}
}

func TestEnsureToken(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) *sqlite.Store {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	tokens := func(t *testing.T, st gatehouse.Store) []*gatehouse.AdminToken {
		pg, err := st.AdminTokens(ctx, gatehouse.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return pg.Items
	}

	t.Run("bootstrap", func(t *testing.T) {
		st := open(t)
		secret, err := EnsureToken(ctx, st, "")
		if err != nil || !strings.HasPrefix(secret, gatehouse.AdminSecretPrefix) {
			t.Fatalf("EnsureToken = %q, %v", secret, err)
		}
		tok, err := st.AdminTokenByHash(ctx, gatehouse.HashSecret(secret))
		if err != nil || tok.Name != "bootstrap" || tok.Role != gatehouse.RoleAdmin {
			t.Fatalf("bootstrap token %+v, %v", tok, err)
		}
		again, err := EnsureToken(ctx, st, "")
		if err != nil || again != "" || len(tokens(t, st)) != 1 {
			t.Errorf("second start: %q, %v, %d tokens", again, err, len(tokens(t, st)))
		}
	})

	t.Run("env", func(t *testing.T) {
		st := open(t)
		const first, second = "first-env-token-0123456789", "second-env-token-0123456789"
		for range 2 { // idempotent
			if g, err := EnsureToken(ctx, st, first); err != nil || g != "" {
				t.Fatalf("EnsureToken(env) = %q, %v", g, err)
			}
		}
		ts := tokens(t, st)
		if len(ts) != 1 || ts[0].Name != "env" || ts[0].Role != gatehouse.RoleAdmin || strings.Contains(ts[0].Prefix, "first") {
			t.Fatalf("tokens after env start: %+v", ts)
		}
		// Rotating the variable revokes the old value.
		if _, err := EnsureToken(ctx, st, second); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AdminTokenByHash(ctx, gatehouse.HashSecret(first)); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("old env token still stored: %v", err)
		}
		if _, err := st.AdminTokenByHash(ctx, gatehouse.HashSecret(second)); err != nil {
			t.Errorf("new env token: %v", err)
		}
		// With an env token, no bootstrap token is made even in an empty store.
		if n := len(tokens(t, st)); n != 1 {
			t.Errorf("%d tokens, want 1", n)
		}
		if _, err := EnsureToken(ctx, st, "short"); err == nil {
			t.Error("a 5-character env token was accepted")
		}
	})

	t.Run("env token works", func(t *testing.T) {
		st := open(t)
		const secret = "a-long-enough-operator-token"
		if _, err := EnsureToken(ctx, st, secret); err != nil {
			t.Fatal(err)
		}
		e := newEnvWithStore(t, st, st)
		e.want(e.do(req{method: "GET", path: "/v1/status", as: secret}), http.StatusOK)
	})
}
