// Package ratelimit is the "rate-limit" policy: a GCRA limit per consumer, app, key, IP,
// route or header value, enforced by the node's limiter (memory, or Redis shared by every
// node), advertised with the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers. A plan's rate_limit is one of these, with scope
// "plan:<name>" so that it spans every API of the plan.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the rate-limit policy type.
var Type = policy.Define("rate-limit", policy.Limits,
	"limit the request rate per consumer, app, key, IP, route or header (GCRA)", New)

// Config is the rate-limit policy's configuration.
type Config struct {
	// Limit is how many requests Window allows. Required, greater than 0.
	Limit int64 `json:"limit"`
	// Window is the period Limit counts over, such as "1s" or "1m". Required, from 1ms to
	// 744h. Requests are spread evenly: 60 per "1m" refills one every second.
	Window gatehouse.Duration `json:"window"`
	// Burst is how many requests may arrive at once after a quiet spell. Default: Limit.
	Burst int64 `json:"burst,omitempty"`
	// By is what the limit counts per: "consumer" (the app when identified, else the
	// token subject, else the client IP), "app", "key", "ip", "route", "api" or
	// "header:<Name>"; when the identity is missing, the client IP. Default "consumer".
	By string `json:"by,omitempty"`
	// Scope namespaces the buckets: two policies with the same scope and by share them.
	// Default "<api name>:<policy name>" (the policy name is "rate-limit", or
	// "rate-limit#2" for the second in a chain).
	Scope string `json:"scope,omitempty"`
	// Headers sends RateLimit-Policy and RateLimit on every response the policy passes or
	// rejects. Default true.
	Headers *bool `json:"headers,omitempty"`
}

// byExtra are the "by" values rate-limit takes besides the common ones.
var byExtra = []string{"route", "api"}

// maxScope bounds Scope: it is part of every key.
const maxScope = 256

// maxTolerance is the longest burst tolerance (Burst × Window / Limit) accepted.
const maxTolerance = 10 * 365 * 24 * time.Hour

// Validate checks the configuration; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, errors.New("limit: must be greater than 0"))
	}
	if w := c.Window.D(); w < time.Millisecond || w > 744*time.Hour {
		errs = append(errs, errors.New(`window: must be between 1ms and 744h, such as "1s" or "1m"`))
	}
	if c.Burst < 0 {
		errs = append(errs, errors.New("burst: must not be negative"))
	}
	if c.Limit > 0 && c.Window > 0 {
		// The limiters space requests at least a nanosecond apart.
		interval := max(float64(c.Window.D())/float64(c.Limit), 1)
		if c.Limit > int64(c.Window.D()) {
			errs = append(errs, fmt.Errorf("limit: %d per %s is more than one request per nanosecond", c.Limit, c.Window))
		} else if float64(c.Burst)*interval > float64(maxTolerance) {
			errs = append(errs, fmt.Errorf("burst: %d at %d per %s takes longer than 10 years to refill", c.Burst, c.Limit, c.Window))
		}
	}
	if _, err := limit.ParseBy(c.By, byExtra...); err != nil {
		errs = append(errs, err)
	}
	if len(c.Scope) > maxScope {
		errs = append(errs, fmt.Errorf("scope: longer than %d bytes", maxScope))
	}
	return errors.Join(errs...)
}

type handler struct {
	next    policy.Handler
	limiter policy.Limiter
	rate    policy.Rate
	keys    limit.Keys
	headers bool
	item    string // the policy's name as an sf-string
	polHdr  string // this policy's RateLimit-Policy member

	limited     *policy.Error
	unavailable *policy.Error
}

// New builds the policy. It uses env.Limiter, the node's limiter.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if env.Limiter == nil {
		return nil, errors.New("no limiter configured")
	}
	by, err := limit.ParseBy(cfg.By, byExtra...)
	if err != nil {
		return nil, err
	}
	h := &handler{
		next:    next,
		limiter: env.Limiter,
		rate:    policy.Rate{Limit: cfg.Limit, Window: cfg.Window.D(), Burst: cfg.Burst},
		keys:    limit.NewKeys(env, name, cfg.Scope, by),
		headers: cfg.Headers == nil || *cfg.Headers,
		item:    sfString(name),
		limited: policy.Reject(name, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("rate limit exceeded: %d requests per %s", cfg.Limit, cfg.Window)),
		unavailable: policy.Reject(name, http.StatusServiceUnavailable, "limiter_unavailable",
			"the rate limiter is unavailable; try again shortly"),
	}
	q, w := policyQuota(cfg.Limit, cfg.Window.D())
	h.polHdr = h.item + ";q=" + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)
	return h, nil
}

// policyQuota expresses limit per window in whole seconds, as RateLimit-Policy's w must
// be: 10 per 500ms is advertised as 20 per 1s.
func policyQuota(n int64, window time.Duration) (q, w int64) {
	if window%time.Second == 0 {
		return n, int64(window / time.Second)
	}
	w = int64(math.Ceil(window.Seconds()))
	return int64(float64(n) * float64(w) / window.Seconds()), w
}

func (h *handler) Serve(c *policy.Context) error {
	key := h.keys.Build(c)
	d, err := h.limiter.Allow(c.R.Context(), key.String(), h.rate, 1)
	key.Free()

	hdr := c.W.Header()
	if err != nil {
		// Never a 429 (or a pass) the limiter did not decide: ErrUnavailable from the
		// closed fallback, a Redis failure without one, or a bug.
		hdr["Retry-After"] = c.OneValue(retryAfter(d.Retry))
		return h.unavailable
	}
	if h.headers {
		h.setHeaders(c, hdr, d)
	}
	if !d.Allowed {
		hdr["Retry-After"] = c.OneValue(retryAfter(d.Retry))
		return h.limited
	}
	return h.next.Serve(c)
}

// retryAfter is d in whole seconds, rounded up, at least 1 (under 100 s, without allocating).
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(ceilSeconds(d), 1), 10)
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// setHeaders adds this policy's members to RateLimit-Policy and RateLimit: a plan's limit
// and the API's own each add theirs.
func (h *handler) setHeaders(c *policy.Context, hdr http.Header, d policy.Decision) {
	addHeader(c, hdr, "Ratelimit-Policy", h.polHdr)
	var buf [96]byte
	b := append(buf[:0], h.item...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, d.Remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(d.Reset), 10)
	addHeader(c, hdr, "Ratelimit", string(b)) // the one allocation of a passed request
}

// addHeader is hdr.Add(key, v) for a canonical key, without allocating for the first value.
func addHeader(c *policy.Context, hdr http.Header, key, v string) {
	if old := hdr[key]; len(old) > 0 {
		hdr[key] = append(old, v)
	} else {
		hdr[key] = c.OneValue(v)
	}
}

// sfString quotes s as a Structured Field string (RFC 9651): printable ASCII only, with
// '"' and '\' escaped; other bytes become '_'.
func sfString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c <= 0x7e:
			b = append(b, c)
		default:
			b = append(b, '_')
		}
	}
	return string(append(b, '"'))
}
