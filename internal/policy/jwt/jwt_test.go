package jwt_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/jwt"
)

func TestValidTokens(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{
		"secret": hsSecret,
		"public_keys": []any{
			pemOf(&rsaKey().PublicKey),
			map[string]any{"kid": "ec-1", "pem": pemOf(&ecKey().PublicKey)},
			pemOf(edKey().Public()),
		},
	}))
	now := f.clock.Now()
	for _, tc := range []struct {
		name   string
		method jwtlib.SigningMethod
		key    any
		kid    string
	}{
		{"HS256", jwtlib.SigningMethodHS256, []byte(hsSecret), ""},
		{"HS512", jwtlib.SigningMethodHS512, []byte(hsSecret), ""},
		{"RS256", jwtlib.SigningMethodRS256, rsaKey(), ""},
		{"PS256", jwtlib.SigningMethodPS256, rsaKey(), "unknown-kid-falls-back-to-alg"},
		{"ES256", jwtlib.SigningMethodES256, ecKey(), "ec-1"},
		{"EdDSA", jwtlib.SigningMethodEdDSA, edKey(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, tc.method, tc.key, tc.kid, claims(now, nil))
			r := get(t, url+"/x", "Authorization", "Bearer "+tok, "X-Other", "kept")
			r.expect(t, 200, "")
			if got := r.header.Get("X-Echo-Authorization"); got != "" {
				t.Errorf("Authorization went upstream: %q", got)
			}
			if r.header.Get("X-Echo-X-Other") != "kept" {
				t.Error("an unrelated header was dropped")
			}
			for h, want := range map[string]string{
				"X-Echo-X-Id-Method": "jwt", "X-Echo-X-Id-App": "shop", "X-Echo-X-Id-Consumer": "shop",
				"X-Echo-X-Id-Developer": "dev@example.com", "X-Echo-X-Id-Subject": "user-1", "X-Echo-X-Id-Scopes": "read,write",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestRejections(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{
		"public_keys": []any{pemOf(&rsaKey().PublicKey)},
		"issuer":      []string{"https://idp.example", "https://other.example"},
		"audience":    []string{"api", "api2"},
	}))
	now := f.clock.Now()
	good := map[string]any{"iss": "https://other.example", "aud": []string{"x", "api2"}}
	with := func(extra map[string]any) jwtlib.MapClaims {
		c := claims(now, good)
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	rs := func(c jwtlib.MapClaims) string { return sign(t, jwtlib.SigningMethodRS256, rsaKey(), "", c) }

	// alg none: the library refuses to sign it unless asked to.
	none := sign(t, jwtlib.SigningMethodNone, jwtlib.UnsafeAllowNoneSignatureType, "", with(nil))
	// alg confusion: HS256 with the RSA public key's PEM as the HMAC secret.
	confused := sign(t, jwtlib.SigningMethodHS256, []byte(pemOf(&rsaKey().PublicKey)), "", with(nil))
	// a valid token with its signature's first byte changed
	good1 := rs(with(nil))
	parts := strings.Split(good1, ".")
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)

	for _, tc := range []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"valid", good1, 200, ""},
		{"wrong key", sign(t, jwtlib.SigningMethodRS256, rsaKey2(), "", with(nil)), 401, "invalid_token"},
		{"tampered signature", tampered, 401, "invalid_token"},
		{"alg none", none, 401, "invalid_token"},
		{"alg confusion", confused, 401, "invalid_token"},
		{"malformed", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", 401, "invalid_token"},
		{"expired beyond leeway", rs(with(map[string]any{"exp": now.Add(-60 * time.Second).Unix()})), 401, "token_expired"},
		{"expired within leeway", rs(with(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), 200, ""},
		{"nbf within leeway", rs(with(map[string]any{"nbf": now.Add(10 * time.Second).Unix()})), 200, ""},
		{"nbf beyond leeway", rs(with(map[string]any{"nbf": now.Add(60 * time.Second).Unix()})), 401, "invalid_token"},
		{"iat in the future", rs(with(map[string]any{"iat": now.Add(time.Hour).Unix()})), 401, "invalid_token"},
		{"no exp", rs(with(map[string]any{"exp": nil})), 401, "invalid_token"},
		{"wrong issuer", rs(with(map[string]any{"iss": "https://evil.example"})), 401, "invalid_token"},
		{"no issuer", rs(with(map[string]any{"iss": nil})), 401, "invalid_token"},
		{"wrong audience", rs(with(map[string]any{"aud": "nope"})), 401, "invalid_token"},
		{"audience string", rs(with(map[string]any{"aud": "api"})), 200, ""},
		{"no audience", rs(with(map[string]any{"aud": nil})), 401, "invalid_token"},
		{"unknown app", rs(with(map[string]any{"client_id": "ghost"})), 403, "unknown_app"},
		{"blocked developer", rs(with(map[string]any{"client_id": "shady"})), 403, "developer_blocked"},
		{"app from azp", rs(with(map[string]any{"client_id": nil, "azp": "shop"})), 200, ""},
		{"no app claim", rs(with(map[string]any{"client_id": nil})), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, url, "Authorization", "Bearer "+tc.token)
			r.expect(t, tc.status, tc.code)
			if tc.status == 401 {
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="test"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
		})
	}
}

// Tokens that are not JWTs belong to other methods: with jwt alone, they are missing
// credentials, not invalid ones.
func TestNotMine(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret}))
	for _, h := range []string{"", "Bearer gh_abcdef", "Bearer opaque-token", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer a.b.c.d", "Bearer .b.c", "Bearer a..c", "Bearer a+b.c.d"} {
		r := get(t, url, "Authorization", h)
		r.expect(t, 401, "missing_credentials")
	}
}

func TestRequireExpOff(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret, "require_exp": false, "leeway": "5s"}))
	now := f.clock.Now()
	get(t, url, "Authorization", "Bearer "+sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(now, map[string]any{"exp": nil}))).expect(t, 200, "")
	// leeway 5s: 10s past exp fails
	get(t, url, "Authorization", "Bearer "+sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(now, map[string]any{"exp": now.Add(-10 * time.Second).Unix()}))).expect(t, 401, "token_expired")
}

func TestClaimMapping(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret, "app_claim": "app", "subject_claim": "email", "scope_claim": "perms"}))
	now := f.clock.Now()
	tok := sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(now, map[string]any{
		"app": "shop", "client_id": "ghost", "email": "a@example.com", "perms": []any{"p1", "p2", 3},
	}))
	r := get(t, url, "Authorization", "Bearer "+tok)
	r.expect(t, 200, "")
	for h, want := range map[string]string{"X-Echo-X-Id-App": "shop", "X-Echo-X-Id-Subject": "a@example.com", "X-Echo-X-Id-Scopes": "p1,p2"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	url = f.serve(spec("jwt", map[string]any{"secret": hsSecret}))
	tok = sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(now, map[string]any{"scope": nil, "scp": []any{"a", "b"}}))
	r = get(t, url, "Authorization", "Bearer "+tok)
	r.expect(t, 200, "")
	if got := r.header.Get("X-Echo-X-Id-Scopes"); got != "a,b" {
		t.Errorf("scp scopes = %q", got)
	}
}

func TestDirectoryDown(t *testing.T) {
	f := newFixture(t, jwt.Type)
	f.env.Directory = failingDirectory{}
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret}))
	tok := sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(f.clock.Now(), nil))
	get(t, url, "Authorization", "Bearer "+tok).expect(t, 503, "directory_unavailable")
}

func TestOtherSources(t *testing.T) {
	f := newFixture(t, jwt.Type)
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret, "header": "X-Token", "query": "access_token", "cookie": "session"}))
	tok := sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(f.clock.Now(), nil))

	r := get(t, url, "X-Token", tok)
	r.expect(t, 200, "")
	if r.header.Get("X-Echo-X-Token") != "" {
		t.Error("X-Token went upstream")
	}
	get(t, url, "X-Token", "Bearer "+tok).expect(t, 200, "")

	r = get(t, url+"/p?a=1&access_token="+tok+"&b=%20x")
	r.expect(t, 200, "")
	if r.body != "/p?a=1&b=%20x" {
		t.Errorf("upstream URI = %q", r.body)
	}

	r = get(t, url+"/c", "Cookie", "theme=dark; session="+tok+"; lang=en")
	r.expect(t, 200, "")
	if got := r.header.Get("X-Echo-Cookie"); got != "theme=dark; lang=en" {
		t.Errorf("upstream Cookie = %q", got)
	}

	// Authorization is not this instance's header: a JWT there is not looked at.
	get(t, url, "Authorization", "Bearer "+tok).expect(t, 401, "missing_credentials")
	// A bad token in the query is rejected, not skipped.
	get(t, url+"/p?access_token="+tok+"x").expect(t, 401, "invalid_token")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  jwt.Config
		want string
	}{
		{jwt.Config{}, "secret, secret_base64, public_keys or jwks_url"},
		{jwt.Config{Secret: "short"}, "secret:"},
		{jwt.Config{Secret: hsSecret, SecretBase64: "eA=="}, "secret, secret_base64"},
		{jwt.Config{SecretBase64: "***"}, "secret_base64:"},
		{jwt.Config{SecretBase64: "c2hvcnQ="}, "secret_base64:"},
		{jwt.Config{PublicKeys: []jwt.PublicKey{{PEM: "nope"}}}, "public_keys[0].pem"},
		{jwt.Config{PublicKeys: []jwt.PublicKey{{KID: "a", PEM: pemOf(&ecKey().PublicKey)}, {KID: "a", PEM: pemOf(edKey().Public())}}}, "public_keys[1].kid"},
		{jwt.Config{JWKSURL: "ftp://x"}, "jwks_url:"},
		{jwt.Config{JWKSURL: "https://idp.example/jwks", JWKSRefresh: 1}, "jwks_refresh:"},
		{jwt.Config{Secret: hsSecret, Leeway: -1}, "leeway:"},
		{jwt.Config{Secret: hsSecret, Algorithms: []string{"none"}}, "algorithms[0]"},
		{jwt.Config{Secret: hsSecret, Algorithms: []string{"HS256", "XS1"}}, "algorithms[1]"},
		{jwt.Config{Secret: hsSecret, Algorithms: []string{"RS256"}}, "algorithms[0]: no configured key"},
		{jwt.Config{PublicKeys: []jwt.PublicKey{{PEM: pemOf(&ecKey().PublicKey)}}, Algorithms: []string{"ES384"}}, "algorithms[0]"},
		{jwt.Config{Secret: hsSecret, Header: "Bad Header"}, "header:"},
		{jwt.Config{Secret: hsSecret, Query: "a&b"}, "query:"},
		{jwt.Config{Secret: hsSecret, Cookie: "a;b"}, "cookie:"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	ok := jwt.Config{SecretBase64: "YS1zaGFyZWQtc2VjcmV0LW9mLWF0LWxlYXN0LTMyLWJ5dGVzISE", Algorithms: []string{"HS256"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// Decoding goes through the framework: a bare PEM string and an object both work, and
// unknown fields are refused.
func TestDecodePublicKeys(t *testing.T) {
	cfg, err := jwt.Type.Decode([]byte(`{"public_keys":[` + jsonString(pemOf(edKey().Public())) + `,{"kid":"k","pem":` + jsonString(pemOf(&ecKey().PublicKey)) + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	keys := cfg.(*jwt.Config).PublicKeys
	if len(keys) != 2 || keys[0].KID != "" || keys[1].KID != "k" || !strings.HasPrefix(keys[0].PEM, "-----BEGIN") {
		t.Errorf("keys = %+v", keys)
	}
	if _, err := jwt.Type.Decode([]byte(`{"public_keys":[{"pem":"x","kidd":"k"}]}`)); err == nil {
		t.Error("an unknown field in a public key was accepted")
	}
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer("\n", `\n`, `"`, `\"`).Replace(s) + `"`
}

func TestNewWithoutDirectory(t *testing.T) {
	_, err := jwt.New(&policy.Env{}, &jwt.Config{Secret: hsSecret}, "jwt")
	if err == nil {
		t.Fatal("New without a directory succeeded")
	}
}

// The challenge quotes the realm.
func TestChallengeQuoting(t *testing.T) {
	f := newFixture(t, jwt.Type)
	f.env.API.Name = `we"ird\api`
	url := f.serve(spec("jwt", map[string]any{"secret": hsSecret}))
	r := get(t, url)
	r.expect(t, http.StatusUnauthorized, "missing_credentials")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="we\"ird\\api"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}
