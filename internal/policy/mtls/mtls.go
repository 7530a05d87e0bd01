// Package mtls is the mtls policy: callers authenticate with a TLS client certificate.
// The gateway's TLS listener asks for a certificate without verifying it, so that APIs can
// trust different CAs; this policy verifies the chain against the API's CA pool at request
// time (for client authentication, at the node's clock), caches each verified leaf by its
// SHA-256 fingerprint, and maps a field of the certificate to an app.
//
// Revocation (CRL, OCSP) is not checked: use short-lived certificates, or drop the
// certificate's entry from apps.
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TypeName is the policy type, also the Identity.Method it sets.
const TypeName = "mtls"

// Type registers mtls.
var Type = policy.DefineAuth(TypeName, "TLS client certificates verified against the API's CAs", New)

// Config configures mtls. CAFile or CAPEM is required; with both, either CA may sign.
type Config struct {
	// CAFile is a PEM file of the CA certificates that may sign client certificates,
	// read when the policy is built. Default "".
	CAFile string `json:"ca_file,omitempty"`
	// CAPEM is the CA certificates themselves, PEM-encoded. Default "".
	CAPEM string `json:"ca_pem,omitempty"`
	// AppFrom is the certificate field that names the app: "cn" (subject common name),
	// "san_dns", "san_uri", "san_email" (the first such subject alternative name, or with
	// Apps the first one listed there) or "fingerprint" (SHA-256 of the certificate, hex).
	// Default "cn".
	AppFrom string `json:"app_from,omitempty"`
	// Apps maps the field's value to an app name. Default none: the value is the app name.
	Apps map[string]string `json:"apps,omitempty"`
	// ForwardHeader names a request header that carries the verified certificate upstream,
	// PEM and percent-encoded (like nginx's $ssl_client_escaped_cert). Any copy a client
	// sends is always removed. Default "" (not forwarded).
	ForwardHeader string `json:"forward_header,omitempty"`
}

var appFroms = []string{"cn", "san_dns", "san_uri", "san_email", "fingerprint"}

// Validate checks the config; the CA file is read by New.
func (c *Config) Validate() error {
	if c.CAFile == "" && c.CAPEM == "" {
		return errors.New("ca_file or ca_pem: one is required")
	}
	if c.CAPEM != "" {
		if _, err := parseCAs([]byte(c.CAPEM)); err != nil {
			return fmt.Errorf("ca_pem: %w", err)
		}
	}
	if c.AppFrom != "" && !slices.Contains(appFroms, c.AppFrom) {
		return fmt.Errorf("app_from: %q is not one of %s", c.AppFrom, strings.Join(appFroms, ", "))
	}
	for k, v := range c.Apps {
		if k == "" || v == "" {
			return fmt.Errorf("apps: %q -> %q: neither may be empty", k, v)
		}
	}
	if c.ForwardHeader != "" && !validToken(c.ForwardHeader) {
		return fmt.Errorf("forward_header: %q is not a valid header name", c.ForwardHeader)
	}
	return nil
}

func validToken(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// parseCAs reads every CERTIFICATE block; at least one is required.
func parseCAs(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// cacheSize bounds the verified leaves remembered per instance.
const cacheSize = 4096

// verified is what a verified leaf yields, computed once: the hot path only reads it.
type verified struct {
	notBefore, notAfter int64 // unix ns: the whole chain's validity
	app                 string
	subject             string
	fingerprint         string
	escaped             string // percent-encoded PEM, "" unless forwarding
	noApp               bool   // the certificate names no app (or none listed in apps)
}

type auth struct {
	dir     policy.Directory
	now     func() time.Time
	roots   *x509.CertPool
	from    string
	apps    map[string]string
	forward string // canonical header name, "" for none
	cache   *otter.Cache[[sha256.Size]byte, *verified]

	invalid, noApp, unknownApp, blocked, directory *policy.Error
}

// New builds mtls, reading ca_file.
func New(env *policy.Env, cfg *Config, name string) (policy.Authenticator, error) {
	if env.Directory == nil {
		return nil, errors.New("no consumer directory on this node")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var pemData []byte
	if cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pemData = append(b, '\n')
	}
	pemData = append(pemData, cfg.CAPEM...)
	roots, err := parseCAs(pemData)
	if err != nil {
		if cfg.CAFile != "" {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		return nil, fmt.Errorf("ca_pem: %w", err)
	}
	cache, err := otter.New(&otter.Options[[sha256.Size]byte, *verified]{MaximumSize: cacheSize})
	if err != nil {
		return nil, err
	}
	a := &auth{
		dir:   env.Directory,
		now:   env.Clock(),
		roots: roots,
		from:  cfg.AppFrom,
		apps:  cfg.Apps,
		cache: cache,

		invalid:    policy.Reject(name, http.StatusUnauthorized, "invalid_certificate", "the client certificate is not valid for this API"),
		noApp:      policy.Reject(name, http.StatusForbidden, "unknown_app", "the client certificate does not name an app"),
		unknownApp: policy.Reject(name, http.StatusForbidden, "unknown_app", "the client certificate names an app that does not exist"),
		blocked:    policy.Reject(name, http.StatusForbidden, "developer_blocked", "the developer who owns this app is blocked"),
		directory:  policy.Reject(name, http.StatusServiceUnavailable, "directory_unavailable", "credentials cannot be checked right now; retry shortly"),
	}
	if a.from == "" {
		a.from = "cn"
	}
	if cfg.ForwardHeader != "" {
		a.forward = http.CanonicalHeaderKey(cfg.ForwardHeader)
	}
	return a, nil
}

// Challenge is empty: a client certificate is asked for during the TLS handshake, not
// with WWW-Authenticate.
func (a *auth) Challenge() string { return "" }

// Strip removes a client-sent forward header; the framework calls it on every request,
// whichever method then authenticates it.
func (a *auth) Strip(c *policy.Context) {
	if a.forward != "" {
		delete(c.R.Header, a.forward)
	}
}

// Authenticate verifies the connection's client certificate.
func (a *auth) Authenticate(c *policy.Context) (bool, error) {
	if a.forward != "" {
		delete(c.R.Header, a.forward) // never let a client forge the forwarded certificate
	}
	tls := c.R.TLS
	if tls == nil || len(tls.PeerCertificates) == 0 {
		return false, nil
	}
	leaf := tls.PeerCertificates[0]
	fp := sha256.Sum256(leaf.Raw)
	now := a.now().UnixNano()
	v, ok := a.cache.GetIfPresent(fp)
	if !ok || now < v.notBefore || now > v.notAfter {
		var err error
		if v, err = a.verify(leaf, tls.PeerCertificates[1:], fp); err != nil {
			return false, a.invalid
		}
	}
	if v.noApp {
		return false, a.noApp
	}
	consumer, err := a.dir.App(c.R.Context(), v.app)
	switch {
	case err != nil:
		return false, a.directory
	case consumer == nil:
		return false, a.unknownApp
	case consumer.Blocked:
		return false, a.blocked
	}
	if a.forward != "" {
		c.R.Header[a.forward] = []string{v.escaped}
	}
	c.Identity = policy.Identity{
		Method:    TypeName,
		App:       consumer.App,
		Developer: consumer.Developer,
		KeyID:     v.fingerprint,
		Subject:   v.subject,
		Consumer:  consumer,
	}
	return true, nil
}

// verify checks the chain at the node's clock and caches what the leaf yields.
func (a *auth) verify(leaf *x509.Certificate, rest []*x509.Certificate, fp [sha256.Size]byte) (*verified, error) {
	now := a.now()
	opts := x509.VerifyOptions{
		Roots:       a.roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(rest) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range rest {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, err
	}
	v := &verified{
		notBefore:   leaf.NotBefore.UnixNano(),
		notAfter:    leaf.NotAfter.UnixNano(),
		subject:     leaf.Subject.String(),
		fingerprint: hex.EncodeToString(fp[:]),
	}
	// The cached answer holds while the whole (first) chain is valid.
	for _, c := range chains[0][1:] {
		v.notBefore = max(v.notBefore, c.NotBefore.UnixNano())
		v.notAfter = min(v.notAfter, c.NotAfter.UnixNano())
	}
	app, ok := a.appName(leaf, v.fingerprint)
	v.app, v.noApp = app, !ok
	if a.forward != "" {
		v.escaped = escape(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	}
	a.cache.Set(fp, v)
	return v, nil
}

// appName derives the app from the configured field; false when there is none.
func (a *auth) appName(leaf *x509.Certificate, fingerprint string) (string, bool) {
	var values []string
	switch a.from {
	case "cn":
		values = []string{leaf.Subject.CommonName}
	case "san_dns":
		values = leaf.DNSNames
	case "san_email":
		values = leaf.EmailAddresses
	case "san_uri":
		for _, u := range leaf.URIs {
			values = append(values, u.String())
		}
	case "fingerprint":
		values = []string{fingerprint}
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		if a.apps == nil {
			return v, true
		}
		if app, ok := a.apps[v]; ok {
			return app, true
		}
	}
	return "", false
}

// escape percent-encodes everything but RFC 3986 unreserved characters, so that both
// query-style and path-style decoders restore the PEM exactly.
func escape(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	sb.Grow(len(b) * 3 / 2)
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}
