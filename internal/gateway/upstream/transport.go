package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// tlsKey identifies TLS material by content, not by file name, so that a rotated
// certificate makes a new transport rather than reusing connections made with the old one.
type tlsKey [sha256.Size]byte

// loadTLS reads the files of cfg. A nil or empty cfg means the system roots and a zero key.
func loadTLS(cfg *gatehouse.UpstreamTLS) (*tls.Config, tlsKey, error) {
	if cfg == nil || *cfg == (gatehouse.UpstreamTLS{}) {
		return nil, tlsKey{}, nil
	}
	h := sha256.New()
	// Field separators keep ("ab", "") and ("a", "b") apart.
	fmt.Fprintf(h, "sni=%q insecure=%t\n", cfg.ServerName, cfg.InsecureSkipVerify)
	tc := &tls.Config{
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, // an operator's explicit choice, for test upstreams
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, tlsKey{}, fmt.Errorf("upstream tls ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, tlsKey{}, fmt.Errorf("upstream tls ca_file %q: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = roots
		fmt.Fprintf(h, "ca %d\n", len(pem))
		h.Write(pem)
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		certPEM, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, tlsKey{}, fmt.Errorf("upstream tls cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, tlsKey{}, fmt.Errorf("upstream tls key_file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, tlsKey{}, fmt.Errorf("upstream tls cert_file %q with key_file %q: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
		fmt.Fprintf(h, "cert %d\n", len(certPEM))
		h.Write(certPEM)
		fmt.Fprintf(h, "key %d\n", len(keyPEM))
		h.Write(keyPEM)
	}
	var key tlsKey
	h.Sum(key[:0])
	return tc, key, nil
}

// newTransport tunes an *http.Transport for a proxy: the stdlib keeps only 2 idle
// connections per host, which makes a busy gateway redial constantly.
func newTransport(tc *tls.Config, connect, response time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		// A custom dialer or TLS config turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: response,
		ExpectContinueTimeout: time.Second,
		// The client's Accept-Encoding is forwarded as is; the transport must not add its own
		// and transparently decompress, or the client would get a body it did not ask for.
		DisableCompression: true,
	}
}

// transportKey is what makes two pools' transports interchangeable.
type transportKey struct {
	tls      tlsKey
	connect  time.Duration
	response time.Duration
}

// transportCache shares transports, and so their idle connections, between the pools of a
// Registry. A transport lives while a pool uses it.
type transportCache struct {
	mu sync.Mutex
	m  map[transportKey]*sharedTransport // guarded by mu
}

type sharedTransport struct {
	t    *h1Transport // the lean HTTP/1.1 path over the tuned *http.Transport
	refs int
}

// get returns the transport for key, building it with tc when it is new, and the function
// that gives it back.
func (c *transportCache) get(key transportKey, tc *tls.Config) (http.RoundTripper, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[transportKey]*sharedTransport{}
	}
	st := c.m[key]
	if st == nil {
		std := newTransport(tc, key.connect, key.response)
		st = &sharedTransport{t: newH1Transport(std, key.connect, key.response)}
		c.m[key] = st
	}
	st.refs++
	var once sync.Once
	return st.t, func() { once.Do(func() { c.put(key, st) }) }
}

func (c *transportCache) put(key transportKey, st *sharedTransport) {
	c.mu.Lock()
	st.refs--
	last := st.refs == 0
	if last {
		delete(c.m, key)
	}
	c.mu.Unlock()
	if last {
		// Requests still in flight finish on their connections; only idle ones go.
		st.t.CloseIdleConnections()
	}
}
