package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// writePEM writes blocks of type typ to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCA makes a CA and a client certificate it signed; it returns the CA pool and the
// client's cert and key files.
func clientCA(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gatehouse"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, writePEM(t, dir, "client.crt", "CERTIFICATE", der), writePEM(t, dir, "client.key", "EC PRIVATE KEY", keyDER)
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewTLSServer(echo("tls"))
	t.Cleanup(srv.Close)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	mtls := httptest.NewUnstartedServer(echo("mtls"))
	roots, certFile, keyFile := clientCA(t, dir)
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)
	mtlsCA := writePEM(t, dir, "mtls-ca.pem", "CERTIFICATE", mtls.Certificate().Raw)

	tests := []struct {
		name    string
		url     string
		tls     *gatehouse.UpstreamTLS
		wantErr string // "" means 200
	}{
		{"system roots refuse a private CA", srv.URL, nil, "certificate"},
		{"private CA", srv.URL, &gatehouse.UpstreamTLS{CAFile: caFile}, ""},
		// httptest's certificate is valid for example.com as well as 127.0.0.1.
		{"server name verified", srv.URL, &gatehouse.UpstreamTLS{CAFile: caFile, ServerName: "example.com"}, ""},
		{"wrong server name", srv.URL, &gatehouse.UpstreamTLS{CAFile: caFile, ServerName: "wrong.test"}, "wrong.test"},
		{"insecure skip verify", srv.URL, &gatehouse.UpstreamTLS{InsecureSkipVerify: true}, ""},
		{"mTLS without a client certificate", mtls.URL, &gatehouse.UpstreamTLS{CAFile: mtlsCA}, "certificate"},
		{"mTLS", mtls.URL, &gatehouse.UpstreamTLS{CAFile: mtlsCA, CertFile: certFile, KeyFile: keyFile}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamOf("", tt.url)
			u.TLS = tt.tls
			p := newTestPool(t, u, Options{})
			code, _, err := get(p, outReq(context.Background(), "GET", "/"))
			switch {
			case tt.wantErr == "" && (err != nil || code != 200):
				t.Errorf("got %d, %v; want 200", code, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %d, %v; want an error mentioning %q", code, err, tt.wantErr)
			}
		})
	}
}

func TestTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	_, certFile, keyFile := clientCA(t, dir)
	_, otherCert, _ := clientCA(t, t.TempDir())
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		tls  gatehouse.UpstreamTLS
		want string
	}{
		{"missing ca", gatehouse.UpstreamTLS{CAFile: missing}, "ca_file: open " + missing},
		{"garbage ca", gatehouse.UpstreamTLS{CAFile: garbage}, `ca_file "` + garbage + `": no PEM certificate`},
		{"missing cert", gatehouse.UpstreamTLS{CertFile: missing, KeyFile: keyFile}, "cert_file: open " + missing},
		{"missing key", gatehouse.UpstreamTLS{CertFile: certFile, KeyFile: missing}, "key_file: open " + missing},
		{"key of another cert", gatehouse.UpstreamTLS{CertFile: otherCert, KeyFile: keyFile}, `cert_file "` + otherCert + `" with key_file "` + keyFile + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamOf("", "https://a")
			u.TLS = &tt.tls
			_, err := NewPool("secure", u, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTransportTuning(t *testing.T) {
	u := upstreamOf("", "https://a")
	u.ConnectTimeout = gatehouse.Duration(time.Second)
	u.ResponseTimeout = gatehouse.Duration(7 * time.Second)
	p := newTestPool(t, u, Options{})
	tr := p.transport.(*h1Transport).std
	if tr.MaxIdleConnsPerHost != 256 || tr.IdleConnTimeout != 90*time.Second || tr.ResponseHeaderTimeout != 7*time.Second ||
		!tr.DisableCompression || !tr.ForceAttemptHTTP2 {
		t.Errorf("transport not tuned: %+v", tr)
	}
}
