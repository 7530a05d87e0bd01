package jwt_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy/jwt"
)

// jwksServer serves a JWK set that tests change, counting fetches.
type jwksServer struct {
	mu   sync.Mutex
	body []byte
	down bool
	hits atomic.Int32
	url  string
}

type jwk struct {
	kid string
	alg jwkset.ALG
	key any // public key
}

func newJWKSServer(t *testing.T, keys ...jwk) *jwksServer {
	s := &jwksServer{}
	s.set(t, keys...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		down, body := s.down, s.body
		s.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/.well-known/jwks.json"
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...jwk) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *jwksServer) expectHits(t *testing.T, want int32) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestJWKSRotation(t *testing.T) {
	f := newFixture(t, jwt.Type)
	js := newJWKSServer(t, jwk{"k1", jwkset.AlgRS256, &rsaKey().PublicKey}, jwk{"ec", jwkset.AlgES256, &ecKey().PublicKey})
	cfg := spec("jwt", map[string]any{"jwks_url": js.url})
	url := f.serve(cfg)
	js.expectHits(t, 0) // building a chain fetches nothing

	now := f.clock.Now()
	tok := func(m jwtlib.SigningMethod, key any, kid string) string {
		return sign(t, m, key, kid, claims(now, nil))
	}
	bearer := func(s string) []string { return []string{"Authorization", "Bearer " + s} }

	get(t, url, bearer(tok(jwtlib.SigningMethodRS256, rsaKey(), "k1"))...).expect(t, 200, "")
	js.expectHits(t, 1)
	get(t, url, bearer(tok(jwtlib.SigningMethodES256, ecKey(), "ec"))...).expect(t, 200, "")
	js.expectHits(t, 1)

	// A reload builds a new chain on the same node: the keys are reused.
	url2 := f.serve(cfg)
	get(t, url2, bearer(tok(jwtlib.SigningMethodRS256, rsaKey(), "k1"))...).expect(t, 200, "")
	js.expectHits(t, 1)

	// The JWK says RS256: a PS256 token under the same key is refused.
	get(t, url, bearer(tok(jwtlib.SigningMethodPS256, rsaKey(), "k1"))...).expect(t, 401, "invalid_token")

	// Rotation: the server now publishes k2 only; a k2 token triggers a fetch.
	js.set(t, jwk{"k2", jwkset.AlgRS256, &rsaKey2().PublicKey})
	get(t, url, bearer(tok(jwtlib.SigningMethodRS256, rsaKey2(), "k2"))...).expect(t, 200, "")
	js.expectHits(t, 2)
	// k1 is gone, and the next unknown kid within the minute fetches nothing.
	get(t, url, bearer(tok(jwtlib.SigningMethodRS256, rsaKey(), "k1"))...).expect(t, 401, "invalid_token")
	get(t, url, bearer(tok(jwtlib.SigningMethodRS256, rsaKey(), "k3"))...).expect(t, 401, "invalid_token")
	js.expectHits(t, 2)
	f.clock.Add(61 * time.Second)
	get(t, url, bearer(tok(jwtlib.SigningMethodRS256, rsaKey(), "k3"))...).expect(t, 401, "invalid_token")
	js.expectHits(t, 3)

	// No kid: every key is tried.
	get(t, url, bearer(sign(t, jwtlib.SigningMethodRS256, rsaKey2(), "", claims(f.clock.Now(), nil)))...).expect(t, 200, "")
	js.expectHits(t, 3)
}

func TestJWKSUnavailable(t *testing.T) {
	f := newFixture(t, jwt.Type)
	js := newJWKSServer(t, jwk{"k1", jwkset.AlgRS256, &rsaKey().PublicKey})
	js.setDown(true)
	url := f.serve(spec("jwt", map[string]any{"jwks_url": js.url}))
	bearer := func(kid string) []string {
		return []string{"Authorization", "Bearer " + sign(t, jwtlib.SigningMethodRS256, rsaKey(), kid, claims(f.clock.Now(), nil))}
	}

	get(t, url, bearer("k1")...).expect(t, 503, "jwks_unavailable")
	js.expectHits(t, 1)
	// Right after a failure, requests fail fast without hammering the server.
	get(t, url, bearer("k1")...).expect(t, 503, "jwks_unavailable")
	js.expectHits(t, 1)

	js.setDown(false)
	f.clock.Add(6 * time.Second)
	get(t, url, bearer("k1")...).expect(t, 200, "")
	js.expectHits(t, 2)

	// Down again: cached keys keep working; an unknown kid cannot be checked.
	js.setDown(true)
	get(t, url, bearer("k1")...).expect(t, 200, "")
	get(t, url, bearer("k9")...).expect(t, 503, "jwks_unavailable")
	js.expectHits(t, 3)
	get(t, url, bearer("k9")...).expect(t, 503, "jwks_unavailable")
	js.expectHits(t, 3)
}

// Static keys answer first: an HS256 token needs no JWKS fetch.
func TestJWKSWithStaticKeys(t *testing.T) {
	f := newFixture(t, jwt.Type)
	js := newJWKSServer(t, jwk{"k1", jwkset.AlgRS256, &rsaKey().PublicKey})
	url := f.serve(spec("jwt", map[string]any{"jwks_url": js.url, "secret": hsSecret,
		"public_keys": []any{map[string]any{"kid": "ed", "pem": pemOf(edKey().Public())}}}))
	now := f.clock.Now()
	get(t, url, "Authorization", "Bearer "+sign(t, jwtlib.SigningMethodHS256, []byte(hsSecret), "", claims(now, nil))).expect(t, 200, "")
	get(t, url, "Authorization", "Bearer "+sign(t, jwtlib.SigningMethodEdDSA, edKey(), "ed", claims(now, nil))).expect(t, 200, "")
	js.expectHits(t, 0)
	get(t, url, "Authorization", "Bearer "+sign(t, jwtlib.SigningMethodRS256, rsaKey(), "k1", claims(now, nil))).expect(t, 200, "")
	js.expectHits(t, 1)
}
