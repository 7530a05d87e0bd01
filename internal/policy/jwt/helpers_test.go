package jwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// clock is a test clock the policies read through Env.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// identityType is a test policy that copies the identity into request headers, which the
// Echo upstream reflects as X-Echo-X-Id-*.
var identityType = policy.Define("identity-echo", policy.Authz, "test: identity to headers",
	func(env *policy.Env, next policy.Handler, cfg *struct{}, name string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			id := c.Identity
			h := c.R.Header
			h.Set("X-Id-Method", id.Method)
			h.Set("X-Id-App", id.App)
			h.Set("X-Id-Developer", id.Developer)
			h.Set("X-Id-Subject", id.Subject)
			h.Set("X-Id-Key", id.KeyID)
			h.Set("X-Id-Scopes", strings.Join(id.Scopes, ","))
			if id.Consumer != nil {
				h.Set("X-Id-Consumer", id.Consumer.App)
			}
			return next.Serve(c)
		}), nil
	})

// failingDirectory answers every lookup with an error.
type failingDirectory struct{}

func (failingDirectory) Key(context.Context, string) (*policy.Credential, error) {
	return nil, errors.New("store down")
}
func (failingDirectory) App(context.Context, string) (*policy.Consumer, error) {
	return nil, errors.New("store down")
}

type fixture struct {
	t     *testing.T
	clock *clock
	dir   *policytest.Directory
	env   *policy.Env
	reg   policy.Registry
}

func newFixture(t *testing.T, types ...policy.Type) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), dir: policytest.NewDirectory()}
	f.dir.AddApp("shop", "dev@example.com")
	f.dir.AddApp("shady", "bad@example.com").Blocked = true
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.env = &policy.Env{Ctx: ctx, Now: f.clock.Now, Directory: f.dir,
		API: &gatehouse.API{Name: "test", Path: "/", State: gatehouse.StatePublished}}
	f.reg = policy.NewRegistry(append(types, identityType)...)
	return f
}

// spec builds a policy spec with cfg marshalled as its config.
func spec(typ string, cfg any) gatehouse.PolicySpec {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return gatehouse.PolicySpec{Type: typ, Config: b}
}

func (f *fixture) serve(specs ...gatehouse.PolicySpec) string {
	f.t.Helper()
	specs = append(specs, gatehouse.PolicySpec{Type: "identity-echo"})
	srv := policytest.Serve(f.t, f.reg, f.env, specs, nil, policytest.Echo)
	return srv.URL
}

type result struct {
	status int
	code   string
	header http.Header
	body   string
}

func get(t *testing.T, url string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var doc struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &doc)
		r.code = doc.Code
	}
	return r
}

func (r result) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code, r.body, status, code)
	}
}

// Keys are made once per test binary: RSA generation is slow.
var (
	rsaKey   = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaKey2  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	edKey    = sync.OnceValue(func() ed25519.PrivateKey { _, k := must2(ed25519.GenerateKey(rand.Reader)); return k })
	hsSecret = "a-shared-secret-of-at-least-32-bytes!!"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func pemOf(pub any) string {
	der := must(x509.MarshalPKIXPublicKey(pub))
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign makes a token; kid "" leaves the header without one.
func sign(t testing.TB, m jwtlib.SigningMethod, key any, kid string, claims jwtlib.MapClaims) string {
	t.Helper()
	tok := jwtlib.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are valid claims at now for app shop, with extra merged in (nil deletes).
func claims(now time.Time, extra map[string]any) jwtlib.MapClaims {
	c := jwtlib.MapClaims{
		"sub":       "user-1",
		"client_id": "shop",
		"scope":     "read write",
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}
