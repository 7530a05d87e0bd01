package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

var (
	hmacAlgorithms       = []string{"HS256", "HS384", "HS512"}
	rsaAlgorithms        = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	asymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	allAlgorithms        = append(append([]string{}, hmacAlgorithms...), asymmetricAlgorithms...)
)

func isHMAC(alg string) bool { return strings.HasPrefix(alg, "HS") }

// ecAlgorithm is the one JWS algorithm for a curve (RFC 7518 §3.4).
func ecAlgorithm(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// algorithmsFor lists the algorithms a public key can verify.
func algorithmsFor(k any) []string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return rsaAlgorithms
	case *ecdsa.PublicKey:
		if a := ecAlgorithm(k.Curve); a != "" {
			return []string{a}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// keyKinds records which algorithms the configured keys can verify.
type keyKinds struct {
	hmac, jwks bool
	asym       map[string]bool
}

func (k *keyKinds) add(pub any) {
	if k.asym == nil {
		k.asym = map[string]bool{}
	}
	for _, a := range algorithmsFor(pub) {
		k.asym[a] = true
	}
}

func (k *keyKinds) any() bool { return len(k.asym) > 0 }

func (k *keyKinds) canVerify(alg string) bool {
	if isHMAC(alg) {
		return k.hmac
	}
	return k.jwks || k.asym[alg]
}

// parsePublicKey reads one PEM block: PKIX public key, PKCS #1 RSA public key or
// certificate.
func parsePublicKey(s string) (any, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("one PEM block per key, please")
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad public key: %w", err)
		}
		key = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad RSA public key: %w", err)
		}
		key = k
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad certificate: %w", err)
		}
		key = cert.PublicKey
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, errors.New("this is a private key: give the public key")
		}
		return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if algorithmsFor(key) == nil {
		return nil, fmt.Errorf("unsupported key type %T (want RSA, ECDSA P-256/P-384/P-521 or Ed25519)", key)
	}
	if k, ok := key.(*rsa.PublicKey); ok && k.Size() < 256 {
		return nil, errors.New("RSA keys must have at least 2048 bits")
	}
	return key, nil
}

// staticKeys are the configured secret and public keys, indexed for the hot path: every
// value handed to the parser is boxed once here, so picking a key allocates nothing.
type staticKeys struct {
	secret any            // []byte, nil when none
	byKID  map[string]any // keys configured with a kid
	byAlg  map[string]any // alg -> one key or a jwtlib.VerificationKeySet
	algs   []string       // what the keys can verify, for the default algorithms
}

func newStaticKeys(cfg *Config) (*staticKeys, error) {
	s := &staticKeys{byKID: map[string]any{}, byAlg: map[string]any{}}
	switch {
	case cfg.Secret != "":
		s.secret = []byte(cfg.Secret)
	case cfg.SecretBase64 != "":
		b, err := decodeBase64(cfg.SecretBase64)
		if err != nil {
			return nil, errors.New("secret_base64: not valid base64")
		}
		s.secret = b
	}
	if s.secret != nil {
		s.algs = append(s.algs, hmacAlgorithms...)
	}
	perAlg := map[string][]jwtlib.VerificationKey{}
	for i, pk := range cfg.PublicKeys {
		key, err := parsePublicKey(pk.PEM)
		if err != nil {
			return nil, fmt.Errorf("public_keys[%d].pem: %w", i, err)
		}
		if pk.KID != "" {
			s.byKID[pk.KID] = key
		}
		for _, alg := range algorithmsFor(key) {
			perAlg[alg] = append(perAlg[alg], key)
			s.algs = appendMissing(s.algs, alg)
		}
	}
	for alg, keys := range perAlg {
		if len(keys) == 1 {
			s.byAlg[alg] = keys[0]
		} else {
			s.byAlg[alg] = jwtlib.VerificationKeySet{Keys: keys}
		}
	}
	if s.secret == nil && len(perAlg) == 0 {
		return nil, nil
	}
	return s, nil
}

func (s *staticKeys) algorithms() []string { return s.algs }

// keyfunc is the jwtlib.Keyfunc when no JWKS is configured.
func (s *staticKeys) keyfunc(t *jwtlib.Token) (any, error) {
	if k, ok := s.lookup(t, false); ok {
		return k, nil
	}
	return nil, errNoKey
}

// lookup returns the static key for t. With others set (a JWKS is configured too), a
// token whose kid is not configured here is left to them.
func (s *staticKeys) lookup(t *jwtlib.Token, others bool) (any, bool) {
	alg := t.Method.Alg()
	if isHMAC(alg) {
		return s.secret, s.secret != nil
	}
	if kid, _ := t.Header["kid"].(string); kid != "" {
		if k, ok := s.byKID[kid]; ok {
			return k, true
		}
		if others {
			return nil, false
		}
	}
	k, ok := s.byAlg[alg]
	return k, ok
}

// UnmarshalJSON accepts a PEM string as well as an object. Objects refuse unknown fields,
// as the framework does for the config around them.
func (k *PublicKey) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*k = PublicKey{}
		return json.Unmarshal(b, &k.PEM)
	}
	type plain PublicKey
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(k))
}
