package listener

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Certificate serves a certificate and key from PEM files and reloads them when either
// file changes. A reload that fails (a half-written file during renewal, say) keeps the
// previous certificate and is logged; the next check tries again.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu       sync.Mutex // serialises reloads
	modCert  time.Time
	modKey   time.Time
	lastSeen atomic.Int64 // unix nanos of the last stat, to stat at most once per interval
	interval time.Duration
}

// LoadCertificate reads the pair once (an error here is fatal to the caller: a node must not
// start with a broken certificate) and returns a Certificate that checks the files for
// changes at most once per interval, on the handshake path.
func LoadCertificate(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*Certificate, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log, interval: interval}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Certificate) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	if c.cert.Load() != nil && ci.ModTime().Equal(c.modCert) && ki.ModTime().Equal(c.modKey) {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading tls certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	first := c.cert.Load() == nil
	c.cert.Store(&pair)
	c.modCert, c.modKey = ci.ModTime(), ki.ModTime()
	if !first {
		c.log.Info("tls certificate reloaded", "cert_file", c.certFile)
	}
	return nil
}

// GetCertificate is a tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if last := c.lastSeen.Load(); now-last >= int64(c.interval) && c.lastSeen.CompareAndSwap(last, now) {
		if err := c.reload(); err != nil {
			c.log.Error("tls certificate reload failed; serving the previous one", "err", err)
		}
	}
	return c.cert.Load(), nil
}

// TLSConfig returns a server config using c, offering HTTP/2 and HTTP/1.1 by ALPN.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: c.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
