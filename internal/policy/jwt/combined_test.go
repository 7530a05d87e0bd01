package jwt_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy/introspection"
	"github.com/gatehouse-dev/gatehouse/internal/policy/jwt"
)

// An API with [jwt, oauth2-introspection]: a JWT is verified locally, an opaque token is
// introspected, and a bad JWT is refused by jwt rather than passed on.
func TestJWTThenIntrospection(t *testing.T) {
	var calls atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_ = r.ParseForm()
		active := r.PostForm.Get("token") == "opaque-token-123"
		_ = json.NewEncoder(w).Encode(map[string]any{"active": active, "client_id": "shop", "sub": "svc", "scope": "batch"})
	}))
	defer idp.Close()

	f := newFixture(t, jwt.Type, introspection.Type)
	url := f.serve(
		spec("jwt", map[string]any{"secret": hsSecret}),
		spec("oauth2-introspection", map[string]any{"url": idp.URL}),
	)
	tok := sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(f.clock.Now(), nil))

	r := get(t, url, "Authorization", "Bearer "+tok)
	r.expect(t, 200, "")
	if m := r.header.Get("X-Echo-X-Id-Method"); m != "jwt" || calls.Load() != 0 {
		t.Fatalf("JWT went to %q (introspection calls: %d)", m, calls.Load())
	}

	r = get(t, url, "Authorization", "Bearer opaque-token-123")
	r.expect(t, 200, "")
	if m := r.header.Get("X-Echo-X-Id-Method"); m != "oauth2-introspection" || calls.Load() != 1 {
		t.Fatalf("opaque token went to %q (introspection calls: %d)", m, calls.Load())
	}
	if r.header.Get("X-Echo-X-Id-Scopes") != "batch" || r.header.Get("X-Echo-Authorization") != "" {
		t.Errorf("scopes %q, upstream Authorization %q", r.header.Get("X-Echo-X-Id-Scopes"), r.header.Get("X-Echo-Authorization"))
	}

	get(t, url, "Authorization", "Bearer opaque-but-inactive").expect(t, 401, "invalid_token")
	get(t, url, "Authorization", "Bearer "+tok+"x").expect(t, 401, "invalid_token")
	r = get(t, url, "Authorization", "Bearer gh_live_key")
	r.expect(t, 401, "missing_credentials")
	if calls.Load() != 2 {
		t.Errorf("introspection calls = %d, want 2 (a bad JWT and an API key are not introspected)", calls.Load())
	}
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="test"` {
		t.Errorf("WWW-Authenticate = %q (one challenge for both bearer methods)", got)
	}
}
