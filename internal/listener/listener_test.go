package listener

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(raw, 2)
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	got := []net.Conn{<-accepted, <-accepted}
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted past the limit of 2")
	case <-time.After(200 * time.Millisecond):
	}
	got[0].Close() // frees a slot: the waiting client is accepted
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted after one closed")
	}
	got[1].Close()
	for _, c := range clients {
		c.Close()
	}
	l.Close()
	if _, ok := <-accepted; ok {
		t.Error("Accept after Close returned a connection")
	}
	if Limit(raw, 0) != raw {
		t.Error("Limit(0) should not wrap")
	}
}

// writePair writes a fresh self-signed certificate for cn.
func writePair(t *testing.T, dir, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func served(t *testing.T, c *Certificate) string {
	t.Helper()
	cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "one.test")
	c, err := LoadCertificate(certFile, keyFile, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, c); got != "one.test" {
		t.Fatalf("served %q", got)
	}

	// A broken file during renewal keeps the old certificate.
	os.WriteFile(certFile, []byte("not a pem"), 0o600)
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	if got := served(t, c); got != "one.test" {
		t.Fatalf("after a broken write served %q", got)
	}

	writePair(t, dir, "two.test")
	later := time.Now().Add(2 * time.Minute)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	if got := served(t, c); got != "two.test" {
		t.Fatalf("after renewal served %q", got)
	}

	if _, err := LoadCertificate(filepath.Join(dir, "missing.pem"), keyFile, 0, nil); err == nil {
		t.Error("a missing certificate file must fail at start")
	}
}

func TestTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "gw.test")
	c, err := LoadCertificate(certFile, keyFile, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", c.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err == nil {
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.NegotiatedProtocol != "h2" || st.PeerCertificates[0].Subject.CommonName != "gw.test" {
		t.Errorf("ALPN %q, certificate %q", st.NegotiatedProtocol, st.PeerCertificates[0].Subject.CommonName)
	}
}
