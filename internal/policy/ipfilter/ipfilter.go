// Package ipfilter is the "ip-filter" policy: it allows or denies requests by client
// address, and, behind trusted proxies, finds that address in X-Forwarded-For, X-Real-IP
// or Forwarded and records it on the Context for every later policy (rate limits by ip,
// templates, analytics).
package ipfilter

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the "ip-filter" policy type.
var Type = policy.Define("ip-filter", policy.Edge, "allow or deny requests by client IP address, resolving it behind trusted proxies", New)

// Config configures ip-filter. Entries are IPv4 or IPv6 addresses or CIDR prefixes;
// IPv4-mapped IPv6 addresses count as IPv4.
type Config struct {
	// Allow, when not empty, lets only these addresses through. Default: empty (any address).
	Allow []string `json:"allow,omitempty"`
	// Deny rejects these addresses, even when Allow matches too. Default: empty.
	Deny []string `json:"deny,omitempty"`
	// TrustedProxies are the proxies in front of the gateway: when the connection comes
	// from one, the client address is read from RealIPHeader. Default: empty (the
	// connection's peer is the client and forwarding headers are ignored).
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// RealIPHeader is where trusted proxies put the client address: "X-Forwarded-For"
	// (the rightmost address that is not a trusted proxy), "X-Real-IP" or "Forwarded"
	// (its for= parameters, likewise). Default: "X-Forwarded-For".
	RealIPHeader string `json:"real_ip_header,omitempty"`
}

const (
	headerXFF       = "X-Forwarded-For"
	headerRealIP    = "X-Real-Ip" // canonical form of X-Real-IP
	headerForwarded = "Forwarded"
)

// realIPHeader returns the canonical header name for v ("" for the default).
func realIPHeader(v string) (string, bool) {
	switch {
	case v == "" || strings.EqualFold(v, headerXFF):
		return headerXFF, true
	case strings.EqualFold(v, headerRealIP):
		return headerRealIP, true
	case strings.EqualFold(v, headerForwarded):
		return headerForwarded, true
	}
	return "", false
}

// Validate checks every entry and the header name.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Allow) == 0 && len(c.Deny) == 0 && len(c.TrustedProxies) == 0 {
		errs = append(errs, errors.New("allow, deny or trusted_proxies: set at least one"))
	}
	for _, l := range []struct {
		field   string
		entries []string
	}{{"allow", c.Allow}, {"deny", c.Deny}, {"trusted_proxies", c.TrustedProxies}} {
		if _, err := ParseSet(l.field, l.entries); err != nil {
			errs = append(errs, err)
		}
	}
	if _, ok := realIPHeader(c.RealIPHeader); !ok {
		errs = append(errs, fmt.Errorf("real_ip_header: must be X-Forwarded-For, X-Real-IP or Forwarded, not %q", c.RealIPHeader))
	}
	return errors.Join(errs...)
}

type filter struct {
	next    policy.Handler
	allow   *Set // nil: no allow list
	deny    *Set
	trusted *Set // nil: no trusted proxies
	header  string
	denied  *policy.Error
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &filter{next: next, denied: policy.Reject(name, http.StatusForbidden, "ip_denied", "requests from this address are not allowed")}
	f.header, _ = realIPHeader(cfg.RealIPHeader)
	var err error
	if len(cfg.Allow) > 0 {
		if f.allow, err = ParseSet("allow", cfg.Allow); err != nil {
			return nil, err
		}
	}
	if len(cfg.Deny) > 0 {
		if f.deny, err = ParseSet("deny", cfg.Deny); err != nil {
			return nil, err
		}
	}
	if len(cfg.TrustedProxies) > 0 {
		if f.trusted, err = ParseSet("trusted_proxies", cfg.TrustedProxies); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *filter) Serve(c *policy.Context) error {
	ip := c.ClientIP()
	if f.trusted != nil && f.trusted.Contains(ip) {
		if a, ok := f.forwarded(c.R.Header); ok {
			c.SetClientIP(a)
			ip = a
		}
	}
	if f.deny.Contains(ip) || f.allow != nil && !f.allow.Contains(ip) {
		return f.denied
	}
	return f.next.Serve(c)
}

// forwarded reads the client address a trusted proxy passed on.
func (f *filter) forwarded(h http.Header) (netip.Addr, bool) {
	switch f.header {
	case headerRealIP:
		// One value written by the proxy; the last line is the one nearest to us.
		if v := h[headerRealIP]; len(v) > 0 {
			return ParseNode(v[len(v)-1])
		}
		return netip.Addr{}, false
	case headerForwarded:
		return FromForwarded(h[headerForwarded], f.trusted)
	}
	return FromXFF(h[headerXFF], f.trusted)
}
