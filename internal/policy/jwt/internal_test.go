package jwt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// eventually polls cond: the refresher runs on real timers, so the test waits for what it
// does rather than for how long it takes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefresherAndRegistryLifetime(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "e"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := &policy.Env{Ctx: ctx}
	s := sharedJWKS(env, srv.URL, time.Hour)
	if again := sharedJWKS(env, srv.URL, 10*time.Millisecond); again != s {
		t.Fatal("the same node and URL got a second set")
	}
	if s.interval.Load() != int64(10*time.Millisecond) {
		t.Fatal("the shorter refresh interval did not win")
	}
	if other := sharedJWKS(&policy.Env{Ctx: context.Background()}, srv.URL, time.Hour); other == s {
		t.Fatal("another node shares the set")
	}
	if hits.Load() != 0 {
		t.Fatal("creating a set fetched it")
	}
	if err := s.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "background refreshes", func() bool { return hits.Load() >= 3 })

	cancel()
	key := jwksKey{ctx, srv.URL}
	eventually(t, "the set to leave the registry", func() bool {
		jwksRegistry.Lock()
		defer jwksRegistry.Unlock()
		return jwksRegistry.sets[key] == nil
	})
	// The refresher has stopped: the count settles.
	n := hits.Load()
	time.Sleep(50 * time.Millisecond)
	if m := hits.Load(); m > n+1 {
		t.Fatalf("refresher still running after the node's context ended: %d -> %d", n, m)
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sig, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "sig"}})
	enc, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "enc", USE: jwkset.UseEnc}})
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{sig.Marshal(), enc.Marshal(), {KTY: jwkset.KtyOct, KID: "hmac", K: "c2VjcmV0"}, {KTY: "XYZ", KID: "odd"}}}
	body, _ := json.Marshal(set)
	keys, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Marshal().KID != "sig" {
		t.Fatalf("kept %d keys", len(keys))
	}
	if _, err := parseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("an empty set was accepted")
	}
}

func FuzzLooksLikeJWT(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "a.b.", ".b.c", "a..c", "a.b.c.d", "gh_abc", "eyJ0.eyJ1.sig-_", "a b.c.d", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ".")
		want := len(parts) == 3 && parts[0] != "" && parts[1] != "" &&
			strings.Trim(strings.Join(parts, ""), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
		if got := looksLikeJWT(s); got != want {
			t.Fatalf("looksLikeJWT(%q) = %v, want %v", s, got, want)
		}
	})
}

func FuzzDropQueryParam(f *testing.F) {
	f.Add("a=1&access_token=x&b=2", "access_token")
	f.Add("access%5Ftoken=x&access_token=y&z", "access_token")
	f.Add("&&=&a", "a")
	f.Add("a+b=1&c=%zz", "a b")
	f.Fuzz(func(t *testing.T, raw, name string) {
		if name == "" {
			return
		}
		out := dropQueryParam(raw, name)
		if _, ok := queryValue(out, name); ok {
			t.Fatalf("dropQueryParam(%q, %q) = %q still has it", raw, name, out)
		}
		var kept []string
		for p := range strings.SplitSeq(raw, "&") {
			if k, _, _ := strings.Cut(p, "="); !keyIs(k, name) && p != "" {
				kept = append(kept, p)
			}
		}
		var got []string
		for p := range strings.SplitSeq(out, "&") {
			if p != "" {
				got = append(got, p)
			}
		}
		if !slices.Equal(kept, got) {
			t.Fatalf("dropQueryParam(%q, %q) = %q: other parameters changed", raw, name, out)
		}
		if v, ok := queryValue(raw, name); ok {
			if q, err := url.ParseQuery(raw); err == nil && q.Has(name) && q.Get(name) != v {
				t.Fatalf("queryValue(%q, %q) = %q, url.ParseQuery says %q", raw, name, v, q.Get(name))
			}
		}
	})
}

func FuzzDropCookie(f *testing.F) {
	f.Add("theme=dark; session=abc; lang=en", "session")
	f.Add("session=abc", "session")
	f.Add(";;session", "session")
	f.Fuzz(func(t *testing.T, line, name string) {
		if !validToken(name) {
			return
		}
		h := http.Header{"Cookie": {line}}
		dropCookie(h, name)
		r := &http.Request{Header: h}
		if _, err := r.Cookie(name); err == nil {
			t.Fatalf("dropCookie(%q, %q) left it: %q", line, name, h["Cookie"])
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n")
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parsePublicKey(s)
		if err == nil && algorithmsFor(k) == nil {
			t.Fatalf("accepted an unusable key %T", k)
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"GB9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE","kid":"a"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err == nil && len(keys) == 0 {
			t.Fatal("success without keys")
		}
		for _, k := range keys {
			if algorithmsFor(k.Key()) == nil {
				t.Fatalf("kept an unusable key %T", k.Key())
			}
		}
	})
}

// FuzzAuthenticate feeds arbitrary Authorization values through the whole method: it must
// never panic, and must succeed only for a token the secret signed.
func FuzzAuthenticate(f *testing.F) {
	const secret = "fuzzing-secret-that-is-at-least-32-bytes"
	good, _ := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, jwtlib.MapClaims{"exp": 4102444800, "sub": "s"}).SignedString([]byte(secret))
	f.Add("Bearer " + good)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIn0.")
	f.Add("Bearer a.b.c")
	f.Add("bearer  " + good + " ")
	f.Add("Basic Zm9vOmJhcg==")
	env := &policy.Env{Directory: policytest.NewDirectory()}
	a, err := New(env, &Config{Secret: secret}, "jwt")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", v)
		c := &policy.Context{W: httptest.NewRecorder(), R: r}
		ok, err := a.Authenticate(c)
		if ok && (err != nil || c.Identity.Method != TypeName || r.Header.Get("Authorization") != "") {
			t.Fatalf("success for %q without identity or with the header left", v)
		}
		if err != nil {
			if _, isPolicy := err.(*policy.Error); !isPolicy {
				t.Fatalf("non-policy error %v", err)
			}
		}
	})
}
