package mtls_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/mtls"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// pki issues test certificates.
type pki struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

var serial int64

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func issue(t testing.TB, tmpl *x509.Certificate, parent *pki, key crypto.Signer) *pki {
	t.Helper()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func newCA(t testing.TB, name string, now time.Time, parent *pki) *pki {
	return issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, parent, newKey())
}

type leafOpt func(*x509.Certificate)

func newLeaf(t testing.TB, ca *pki, cn string, now time.Time, opts ...leafOpt) *pki {
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"Shop Inc"}}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"other.clients.example", cn + ".clients.example"}, EmailAddresses: []string{cn + "@clients.example"},
	}
	u, _ := url.Parse("spiffe://example.org/" + cn)
	tmpl.URIs = []*url.URL{u}
	for _, o := range opts {
		o(tmpl)
	}
	return issue(t, tmpl, ca, newKey())
}

type fixture struct {
	t     *testing.T
	clock *clock
	ca    *pki
	dir   *policytest.Directory
}

func newFixture(t *testing.T) *fixture {
	c := &clock{t: time.Now().Truncate(time.Second)}
	f := &fixture{t: t, clock: c, ca: newCA(t, "Test Client CA", c.Now(), nil), dir: policytest.NewDirectory()}
	f.dir.AddApp("shop", "dev@example.com")
	f.dir.AddApp("shady", "bad@example.com").Blocked = true
	return f
}

// serve starts a TLS server that requests client certificates without verifying them,
// as the gateway's listener does, with the mtls chain in front of Echo.
func (f *fixture) serve(cfg map[string]any) *httptest.Server {
	f.t.Helper()
	b, _ := json.Marshal(cfg)
	env := &policy.Env{Directory: f.dir, Now: f.clock.Now}
	reg := policy.NewRegistry(mtls.Type, identityType)
	specs := []gatehouse.PolicySpec{{Type: mtls.TypeName, Config: b}, {Type: "identity-echo"}}
	h, err := policytest.Build(f.t, reg, env, specs, nil, policytest.Echo)
	if err != nil {
		f.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	f.t.Cleanup(srv.Close)
	return srv
}

// identityType copies the identity into request headers, which Echo reflects.
var identityType = policy.Define("identity-echo", policy.Authz, "test: identity to headers",
	func(env *policy.Env, next policy.Handler, cfg *struct{}, name string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			h := c.R.Header
			h.Set("X-Id-Method", c.Identity.Method)
			h.Set("X-Id-App", c.Identity.App)
			h.Set("X-Id-Key", c.Identity.KeyID)
			h.Set("X-Id-Subject", c.Identity.Subject)
			return next.Serve(c)
		}), nil
	})

type result struct {
	status int
	code   string
	header http.Header
}

// call connects presenting chain (leaf first; nil for no certificate).
func call(t *testing.T, srv *httptest.Server, chain []*pki, hdr ...string) result {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	if len(chain) > 0 {
		c := tls.Certificate{PrivateKey: chain[0].key, Leaf: chain[0].cert}
		for _, p := range chain {
			c.Certificate = append(c.Certificate, p.cert.Raw)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{c}
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
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

func (r result) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("got %d %q, want %d %q", r.status, r.code, status, code)
	}
}

func TestClientCertificates(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	srv := f.serve(map[string]any{"ca_pem": f.ca.pem})

	other := newCA(t, "Other CA", now, nil)
	inter := newCA(t, "Intermediate CA", now, f.ca)
	for _, tc := range []struct {
		name   string
		chain  []*pki
		status int
		code   string
	}{
		{"valid", []*pki{newLeaf(t, f.ca, "shop", now)}, 200, ""},
		{"via an intermediate", []*pki{newLeaf(t, inter, "shop", now), inter}, 200, ""},
		{"intermediate not sent", []*pki{newLeaf(t, inter, "shop", now)}, 401, "invalid_certificate"},
		{"another CA", []*pki{newLeaf(t, other, "shop", now)}, 401, "invalid_certificate"},
		{"self-signed", []*pki{newCA(t, "shop", now, nil)}, 401, "invalid_certificate"},
		{"expired", []*pki{newLeaf(t, f.ca, "shop", now, func(c *x509.Certificate) { c.NotAfter = now.Add(-time.Minute) })}, 401, "invalid_certificate"},
		{"not yet valid", []*pki{newLeaf(t, f.ca, "shop", now, func(c *x509.Certificate) { c.NotBefore = now.Add(time.Minute) })}, 401, "invalid_certificate"},
		{"server-only usage", []*pki{newLeaf(t, f.ca, "shop", now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })}, 401, "invalid_certificate"},
		{"unknown app", []*pki{newLeaf(t, f.ca, "ghost", now)}, 403, "unknown_app"},
		{"blocked developer", []*pki{newLeaf(t, f.ca, "shady", now)}, 403, "developer_blocked"},
		{"no common name", []*pki{newLeaf(t, f.ca, "", now)}, 403, "unknown_app"},
		{"no certificate", nil, 401, "missing_credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, tc.chain)
			r.expect(t, tc.status, tc.code)
			if tc.status != 200 {
				return
			}
			sum := sha256.Sum256(tc.chain[0].cert.Raw)
			for h, want := range map[string]string{"X-Echo-X-Id-Method": "mtls", "X-Echo-X-Id-App": "shop",
				"X-Echo-X-Id-Key": hex.EncodeToString(sum[:]), "X-Echo-X-Id-Subject": "CN=shop,O=Shop Inc", "X-Echo-X-Client-Cert": ""} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// A verified leaf is cached, but never past its validity at the node's clock.
func TestCacheHonoursExpiry(t *testing.T) {
	f := newFixture(t)
	srv := f.serve(map[string]any{"ca_pem": f.ca.pem})
	leaf := newLeaf(t, f.ca, "shop", f.clock.Now())
	call(t, srv, []*pki{leaf}).expect(t, 200, "")
	call(t, srv, []*pki{leaf}).expect(t, 200, "")
	f.clock.Add(2 * time.Hour)
	call(t, srv, []*pki{leaf}).expect(t, 401, "invalid_certificate")
}

func TestAppFrom(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	leaf := newLeaf(t, f.ca, "shop", now)
	sum := sha256.Sum256(leaf.cert.Raw)
	fp := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		from   string
		apps   map[string]string
		status int
	}{
		{"san_dns", map[string]string{"shop.clients.example": "shop"}, 200},
		{"san_dns", nil, 403}, // the first DNS name, other.clients.example, is not an app
		{"san_uri", map[string]string{"spiffe://example.org/shop": "shop"}, 200},
		{"san_email", nil, 403},
		{"san_email", map[string]string{"shop@clients.example": "shop"}, 200},
		{"fingerprint", map[string]string{fp: "shop"}, 200},
		{"fingerprint", map[string]string{"00": "shop"}, 403},
		{"cn", map[string]string{"shop": "shady"}, 403},
	} {
		t.Run(tc.from, func(t *testing.T) {
			cfg := map[string]any{"ca_pem": f.ca.pem, "app_from": tc.from}
			if tc.apps != nil {
				cfg["apps"] = tc.apps
			}
			r := call(t, f.serve(cfg), []*pki{leaf})
			if r.status != tc.status {
				t.Fatalf("got %d %q, want %d", r.status, r.code, tc.status)
			}
		})
	}
}

func TestForwardHeaderAndCAFile(t *testing.T) {
	f := newFixture(t)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte(f.ca.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := f.serve(map[string]any{"ca_file": file, "forward_header": "X-Client-Cert"})
	leaf := newLeaf(t, f.ca, "shop", f.clock.Now())
	r := call(t, srv, []*pki{leaf}, "X-Client-Cert", "forged")
	r.expect(t, 200, "")
	got := r.header.Values("X-Echo-X-Client-Cert")
	if len(got) != 1 {
		t.Fatalf("upstream got %d certificate headers", len(got))
	}
	for name, unescape := range map[string]func(string) (string, error){"query": url.QueryUnescape, "path": url.PathUnescape} {
		if s, err := unescape(got[0]); err != nil || s != leaf.pem {
			t.Errorf("%s-unescaped header is not the PEM: %v %q", name, err, s)
		}
	}
	// Without a certificate nothing is forwarded; the forged header never reaches the
	// upstream either (here the request is refused; with another method it would pass).
	call(t, srv, nil, "X-Client-Cert", "forged").expect(t, 401, "missing_credentials")
}

func TestValidate(t *testing.T) {
	ca := newCA(t, "CA", time.Now(), nil)
	for _, tc := range []struct{ cfg, want string }{
		{`{}`, "ca_file or ca_pem"},
		{`{"ca_pem":"nope"}`, "ca_pem:"},
		{`{"ca_pem":` + quoteJSON(ca.pem) + `,"app_from":"o"}`, "app_from:"},
		{`{"ca_pem":` + quoteJSON(ca.pem) + `,"apps":{"a":""}}`, "apps:"},
		{`{"ca_pem":` + quoteJSON(ca.pem) + `,"forward_header":"a b"}`, "forward_header:"},
	} {
		if _, err := mtls.Type.Decode([]byte(tc.cfg)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	env := &policy.Env{Directory: policytest.NewDirectory()}
	if _, err := mtls.New(env, &mtls.Config{CAFile: filepath.Join(t.TempDir(), "missing.pem")}, "mtls"); err == nil || !strings.Contains(err.Error(), "ca_file:") {
		t.Errorf("missing ca_file: %v", err)
	}
}

func quoteJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

func BenchmarkCachedCertificate(b *testing.B) {
	now := time.Now()
	ca := newCA(b, "CA", now, nil)
	leaf := newLeaf(b, ca, "shop", now)
	dir := policytest.NewDirectory()
	dir.AddApp("shop", "dev@example.com")
	a, err := mtls.New(&policy.Env{Ctx: context.Background(), Directory: dir}, &mtls.Config{CAPEM: ca.pem}, "mtls")
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "https://gw/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.cert}}
	c := &policy.Context{W: httptest.NewRecorder(), R: r}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := a.Authenticate(c); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
