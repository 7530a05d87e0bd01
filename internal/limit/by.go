package limit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// By is what a limit counts per: the "by" option of rate-limit and concurrency.
//
//	consumer        the app when identified, else the subject (a token's sub, a basic-auth
//	                user), else the client IP
//	app             the app, else the client IP
//	key             the API key (or credential) id, else the client IP
//	ip              the client IP
//	route           the matched route: one count per route for everyone
//	api             the API: one count for everyone
//	header:<Name>   the value of request header Name, else the client IP
//
// Falling back to the client IP means an anonymous request is still limited, per caller,
// rather than sharing one bucket with every other anonymous caller.
type By struct {
	kind   byKind
	header string // canonical, for byHeader
}

type byKind uint8

const (
	byConsumer byKind = iota
	byApp
	byKey
	byIP
	byRoute
	byAPI
	byHeader
)

var byNames = [...]string{"consumer", "app", "key", "ip", "route", "api", "header:"}

// maxValue is the longest identity value used verbatim in a key; longer ones (a header an
// attacker controls, a certificate subject) are hashed so keys stay short.
const maxValue = 64

// ParseBy parses a "by" option; "" is "consumer". allowed lists the kinds a policy accepts
// besides consumer, app, key, ip and header:<Name> (e.g. "route", "api").
func ParseBy(s string, allowed ...string) (By, error) {
	if s == "" {
		return By{kind: byConsumer}, nil
	}
	if name, ok := strings.CutPrefix(s, "header:"); ok {
		if !policy.ValidHeaderName(name) {
			return By{}, fmt.Errorf("by: %q is not a valid header name", name)
		}
		return By{kind: byHeader, header: textproto.CanonicalMIMEHeaderKey(name)}, nil
	}
	for k, n := range byNames[:byHeader] {
		if s == n {
			if kind := byKind(k); kind <= byIP || slices.Contains(allowed, s) {
				return By{kind: kind}, nil
			}
			break
		}
	}
	want := []string{"consumer", "app", "key", "ip"}
	want = append(want, allowed...)
	return By{}, fmt.Errorf("by: unknown value %q: want one of %s or header:<Name>", s, strings.Join(want, ", "))
}

// String is the option as written.
func (b By) String() string {
	if b.kind == byHeader {
		return "header:" + b.header
	}
	return byNames[b.kind]
}

// AppendKey appends the identity c is counted under to dst: a short tag and the value, so
// that an app named like an IP address never shares that address's bucket. It does not
// allocate unless a value is longer than maxValue.
func (b By) AppendKey(dst []byte, c *policy.Context) []byte {
	switch b.kind {
	case byConsumer:
		if c.Identity.App != "" {
			return appendValue(append(dst, "app:"...), c.Identity.App)
		}
		if c.Identity.Subject != "" {
			return appendValue(append(dst, "sub:"...), c.Identity.Subject)
		}
	case byApp:
		if c.Identity.App != "" {
			return appendValue(append(dst, "app:"...), c.Identity.App)
		}
	case byKey:
		if c.Identity.KeyID != "" {
			return appendValue(append(dst, "key:"...), c.Identity.KeyID)
		}
	case byRoute:
		dst = appendValue(append(dst, "route:"...), c.API)
		return appendValue(append(dst, '/'), c.Route)
	case byAPI:
		return appendValue(append(dst, "api:"...), c.API)
	case byHeader:
		if v := c.R.Header[b.header]; len(v) > 0 && v[0] != "" {
			return appendValue(append(dst, "hdr:"...), v[0])
		}
	}
	return appendIP(dst, c)
}

func appendIP(dst []byte, c *policy.Context) []byte {
	dst = append(dst, "ip:"...)
	if ip := c.ClientIP(); ip.IsValid() {
		return ip.AppendTo(dst)
	}
	return append(dst, "unknown"...)
}

func appendValue(dst []byte, v string) []byte {
	if len(v) <= maxValue {
		return append(dst, v...)
	}
	sum := sha256.Sum256([]byte(v))
	dst = append(dst, '#')
	return hex.AppendEncode(dst, sum[:16])
}
