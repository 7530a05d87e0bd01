package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway.test"},
		DNSNames: []string{"gateway.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestTLSHTTP2AndH2C: HTTP/2 over TLS by ALPN on the TLS listener, cleartext HTTP/2 on the
// plain one, HTTP/1.1 on both.
func TestTLSHTTP2AndH2C(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "proto-ok") }))
	t.Cleanup(origin.Close)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, t.TempDir())
	n := start(t, dir, testToken, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--proxy-tls-addr", "127.0.0.1:0")
	n.putAPI(map[string]any{"name": "p", "state": "published", "path": "/p", "upstream": map[string]any{"targets": targets(origin.URL)}})
	waitServed(t, n.proxy()+"/p", 200)
	if n.addrs["proxy_tls"] == "" {
		t.Fatalf("no proxy_tls listener in %v", n.addrs)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + n.addrs["proxy_tls"] + "/p")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(b) != "proto-ok" || resp.TLS.PeerCertificates[0].Subject.CommonName != "gateway.test" {
		t.Errorf("TLS: %s %q", resp.Proto, b)
	}

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	resp, err = (&http.Client{Transport: h2c}).Get(n.proxy() + "/p")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(b) != "proto-ok" {
		t.Errorf("h2c: %s %q", resp.Proto, b)
	}
}

// TestBodyLimit: an API's max_body_bytes turns a larger body into 413 too_large, whether
// announced by Content-Length or streamed.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		json.NewEncoder(w).Encode(n)
	}))
	t.Cleanup(origin.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "small", "state": "published", "path": "/small", "max_body_bytes": 1000,
		"upstream": map[string]any{"targets": targets(origin.URL)}})
	waitServed(t, n.proxy()+"/small", 200)
	check := func(body io.Reader, want int) {
		t.Helper()
		resp, err := http.Post(n.proxy()+"/small", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Code string }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(b, &p)
		if resp.StatusCode != want || want == 413 && p.Code != "too_large" {
			t.Errorf("got %d %s, want %d", resp.StatusCode, b, want)
		}
	}
	check(strings.NewReader(strings.Repeat("a", 1000)), 200)
	check(strings.NewReader(strings.Repeat("a", 1001)), 413)
	check(io.MultiReader(strings.NewReader(strings.Repeat("a", 5000))), 413) // chunked: no Content-Length
}

// TestProxyServers: the plain proxy listener's HTTP/1.1 server is Gatehouse's own by
// default (a malformed request gets a problem document) and net/http's with
// proxy_server: net/http; both proxy a request with a body, keep the connection alive,
// and pass a WebSocket-style upgrade through.
func TestProxyServers(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			w.Header().Set("Upgrade", "echo")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line, _ := brw.ReadString('\n')
			brw.WriteString("up:" + line)
			brw.Flush()
			return
		}
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+string(b))
	}))
	t.Cleanup(origin.Close)
	for _, tc := range []struct {
		server     string
		badType    string // Content-Type of the answer to a malformed request
		badContent string
	}{
		{"gatehouse", "application/problem+json", `"code":"bad_request"`},
		{"net/http", "text/plain; charset=utf-8", "400 Bad Request"},
	} {
		t.Run(strings.ReplaceAll(tc.server, "/", "-"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := filepath.Join(dir, "gatehouse.yaml")
			os.WriteFile(cfg, []byte("proxy_server: "+tc.server+"\n"), 0o600)
			n := start(t, dir, testToken, "--config", cfg)
			n.putAPI(map[string]any{"name": "s", "state": "published", "path": "/s", "upstream": map[string]any{"targets": targets(origin.URL)}})
			waitServed(t, n.proxy()+"/s", 200)

			conn, err := net.Dial("tcp", n.addrs["proxy"])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			// Two requests on one connection, the first with a body.
			io.WriteString(conn, "POST /s HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhelloGET /s HTTP/1.1\r\nHost: gw\r\n\r\n")
			for _, want := range []string{"POST hello", "GET "} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != want || resp.Close {
					t.Fatalf("got %d %q close=%v, want %q", resp.StatusCode, b, resp.Close, want)
				}
			}
			io.WriteString(conn, "GET /s HTTP/1.1\r\nHost: gw\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			io.WriteString(conn, "ping\n")
			if line, _ := br.ReadString('\n'); line != "up:ping\n" {
				t.Fatalf("through the upgrade: %q", line)
			}

			bad, err := net.Dial("tcp", n.addrs["proxy"])
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			bad.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(bad, "GET /s HTTP/1.1\r\nHost: gw\r\nBad Name: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(bad), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != tc.badType || !strings.Contains(string(b), tc.badContent) {
				t.Fatalf("malformed request: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
		})
	}
}
