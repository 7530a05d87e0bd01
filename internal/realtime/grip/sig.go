package grip

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Grip-Sig defaults, as Pushpin's sig_iss / sig_key and its one-hour expiry.
const (
	DefaultIssuer = "pushpin"
	SigTTL        = time.Hour
)

// ParseKey decodes a key written as Pushpin writes sig_key: a plain secret,
// or "base64:<data>".
func ParseKey(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, "base64:"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("grip: decoding base64 key: %w", err)
		}
		return k, nil
	}
	return []byte(s), nil
}

// Sign returns a Grip-Sig value: an HS256 JWT with exactly Pushpin's bytes
// (header {"typ":"JWT","alg":"HS256"}, claims {"exp":...,"iss":...}), so an
// origin that compares or caches tokens sees no difference. It is built by
// hand because jwt libraries order the header members differently.
func Sign(key []byte, issuer string, now time.Time) string {
	const header = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9" // {"typ":"JWT","alg":"HS256"}
	claims := `{"exp":` + strconv.FormatInt(now.Add(SigTTL).Unix(), 10) + `,"iss":` + jsonString(issuer) + `}`
	signing := header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// jsonString quotes s as a JSON string (issuers are short ASCII in practice,
// but a configured one must never break the token).
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ErrBadSig is wrapped by every Verify failure.
var ErrBadSig = errors.New("grip: invalid signature")

// Verify checks an HS256 token as GRIP libraries send it to the publish API
// or as an upstream GRIP proxy signs requests: signature and exp are
// required; iss is checked only when issuer is non-empty, because the
// reference libraries' validateSig does not check it. leeway tolerates clock skew.
func Verify(token string, key []byte, issuer string, now time.Time, leeway time.Duration) error {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	_, err := jwt.NewParser(opts...).Parse(token, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSig, err)
	}
	return nil
}
