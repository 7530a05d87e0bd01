package jwt_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/jwt"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// benchAuth measures Authenticate on the allowed path with keys already loaded.
func benchAuth(b *testing.B, env *policy.Env, cfg *jwt.Config, token string) {
	dir := policytest.NewDirectory()
	dir.AddApp("shop", "dev@example.com")
	env.Directory = dir
	if env.Ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		env.Ctx = ctx
	}
	a, err := jwt.New(env, cfg, "jwt")
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	hdr := []string{"Bearer " + token}
	c := &policy.Context{W: w, R: r}
	r.Header["Authorization"] = hdr
	if ok, err := a.Authenticate(c); !ok || err != nil {
		b.Fatalf("warm-up: %v %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = hdr
		c.Identity = policy.Identity{}
		if ok, err := a.Authenticate(c); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func benchClaims() jwtlib.MapClaims {
	return jwtlib.MapClaims{"sub": "user-1", "client_id": "shop", "scope": "read write", "exp": time.Now().Add(time.Hour).Unix()}
}

func BenchmarkHS256(b *testing.B) {
	tok := sign(b, jwtlib.SigningMethodHS256, []byte(hsSecret), "", benchClaims())
	benchAuth(b, &policy.Env{}, &jwt.Config{Secret: hsSecret}, tok)
}

func BenchmarkRS256(b *testing.B) {
	tok := sign(b, jwtlib.SigningMethodRS256, rsaKey(), "", benchClaims())
	benchAuth(b, &policy.Env{}, &jwt.Config{PublicKeys: []jwt.PublicKey{{PEM: pemOf(&rsaKey().PublicKey)}}}, tok)
}

func BenchmarkES256(b *testing.B) {
	tok := sign(b, jwtlib.SigningMethodES256, ecKey(), "", benchClaims())
	benchAuth(b, &policy.Env{}, &jwt.Config{PublicKeys: []jwt.PublicKey{{PEM: pemOf(&ecKey().PublicKey)}}}, tok)
}

func BenchmarkRS256JWKS(b *testing.B) {
	j, err := jwkset.NewJWKFromKey(&rsaKey().PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256}})
	if err != nil {
		b.Fatal(err)
	}
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	tok := sign(b, jwtlib.SigningMethodRS256, rsaKey(), "k1", benchClaims())
	benchAuth(b, &policy.Env{}, &jwt.Config{JWKSURL: srv.URL}, tok)
}
