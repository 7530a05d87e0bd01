// Package quota is the "quota" policy: at most Limit requests per calendar hour, day, week
// or month (in a configurable time zone) per consumer, app, key, IP or header value,
// counted by the node's policy.Quotas (internal/quota: in memory and persisted in the
// store, or in Redis) so that counts survive restarts and configuration changes. A plan's
// quota is one of these, with scope "plan:<name>" so that it spans every API of the plan.
package quota

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones work on hosts without a zoneinfo database (minimal images)
	"unsafe"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the quota policy type.
var Type = policy.Define(policy.QuotaType, policy.Limits,
	"cap requests per calendar hour, day, week or month per consumer, app, key, IP or header", New)

// Config is the quota policy's configuration.
type Config struct {
	// Limit is how many requests each caller may make per period. Required, greater
	// than 0; no default.
	Limit int64 `json:"limit"`
	// Period is the calendar period counted over: "hour", "day", "week" (from Monday) or
	// "month". Required; no default.
	Period gatehouse.QuotaPeriod `json:"period"`
	// Timezone is the IANA time zone (such as "America/New_York") whose calendar the
	// periods follow: a day starts at local midnight, a week on Monday, a month on the
	// 1st, DST included. Default "UTC".
	Timezone string `json:"timezone,omitempty"`
	// By is what is counted per: "consumer" (the app when identified, else the token
	// subject, else the client IP), "app", "key", "ip" or "header:<Name>"; when the
	// identity is missing, the client IP. Default "consumer".
	By string `json:"by,omitempty"`
	// Scope namespaces the counters: policies with the same scope and by share them.
	// Default "<api name>:<policy name>" (the policy name is "quota", or "quota#2" for the
	// second in a chain), with the route's name (or methods and path) in between for a
	// quota set on a route, so that it counts apart from the API's.
	Scope string `json:"scope,omitempty"`
	// Headers sends X-Quota-Limit, X-Quota-Remaining and X-Quota-Reset on responses the
	// policy passes or rejects. Default true.
	Headers *bool `json:"headers,omitempty"`
}

// maxScope bounds Scope: it is part of every counter's key.
const maxScope = 256

// Validate checks the configuration; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, errors.New("limit: must be greater than 0"))
	}
	switch c.Period {
	case gatehouse.PeriodHour, gatehouse.PeriodDay, gatehouse.PeriodWeek, gatehouse.PeriodMonth:
	case "":
		errs = append(errs, errors.New("period: required: hour, day, week or month"))
	default:
		errs = append(errs, fmt.Errorf("period: unknown value %q: want hour, day, week or month", c.Period))
	}
	if _, err := location(c.Timezone); err != nil {
		errs = append(errs, err)
	}
	if _, err := limit.ParseBy(c.By); err != nil {
		errs = append(errs, err)
	}
	if len(c.Scope) > maxScope {
		errs = append(errs, fmt.Errorf("scope: longer than %d bytes", maxScope))
	}
	return errors.Join(errs...)
}

// location loads the zone named tz ("" is UTC).
func location(tz string) (*time.Location, error) {
	if tz == "Local" {
		// The host's zone: the same configuration would count differently on each node.
		return nil, errors.New(`timezone: name a zone such as "Europe/Paris", not Local`)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("timezone: unknown time zone %q: want an IANA name such as \"America/New_York\"", tz)
	}
	return loc, nil
}

type handler struct {
	next   policy.Handler
	quotas policy.Quotas
	usage  policy.QuotaUsage // nil: nobody listens
	now    func() time.Time
	limit  int64
	period gatehouse.QuotaPeriod
	loc    *time.Location
	by     limit.By
	// header is the canonical header name of by "header:<Name>": its values may be
	// credentials, so they are hashed before becoming part of a key that is stored.
	header  string
	ipBy    limit.By // the fallback when the header is missing
	prefix  string   // scope + ":"
	headers bool

	limitValue  string
	cur         atomic.Pointer[span]   // the current period, recomputed when it ends
	resetValue  atomic.Pointer[number] // the last X-Quota-Reset value, reused within the second
	exceeded    *policy.Error
	unavailable *policy.Error

	log      *slog.Logger
	name     string
	lastWarn atomic.Int64 // Unix seconds of the last logged failure
}

type span struct{ start, end time.Time }

type number struct {
	n int64
	s string
}

// New builds the policy. It uses env.Quotas (the node's counters) and env.Clock().
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if env.Quotas == nil {
		return nil, errors.New("no quota counters configured")
	}
	loc, err := location(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	by, err := limit.ParseBy(cfg.By)
	if err != nil {
		return nil, err
	}
	ipBy, _ := limit.ParseBy("ip")
	header, _ := strings.CutPrefix(by.String(), "header:")
	if header == by.String() {
		header = ""
	}
	scope := cfg.Scope
	if scope == "" {
		scope = defaultScope(env, name)
	}
	return &handler{
		next:       next,
		quotas:     env.Quotas,
		usage:      env.QuotaUsage,
		now:        env.Clock(),
		limit:      cfg.Limit,
		period:     cfg.Period,
		loc:        loc,
		by:         by,
		header:     header,
		ipBy:       ipBy,
		prefix:     scope + ":",
		headers:    cfg.Headers == nil || *cfg.Headers,
		limitValue: strconv.FormatInt(cfg.Limit, 10),
		exceeded: policy.Reject(name, http.StatusTooManyRequests, "quota_exceeded",
			fmt.Sprintf("quota exceeded: %d requests per %s", cfg.Limit, cfg.Period)),
		unavailable: policy.Reject(name, http.StatusServiceUnavailable, "quota_unavailable",
			"the quota cannot be checked right now; try again shortly"),
		log:  env.Log(),
		name: name,
	}, nil
}

// defaultScope is "<api>:<name>", or "<api>:<route>:<name>" when the route being compiled
// sets its own quota: Merge then replaced the API's, and the route's must not share the
// API's counters (nor another route's).
func defaultScope(env *policy.Env, name string) string {
	api := ""
	if env.API != nil {
		api = env.API.Name
	}
	if r := env.Route; r != nil && slices.ContainsFunc(r.Policies, func(s gatehouse.PolicySpec) bool {
		return s.Type == policy.QuotaType && !s.Disabled
	}) {
		route := r.Name
		if route == "" {
			route = strings.Join(r.Methods, ",") + " " + r.Path
		}
		return api + ":" + route + ":" + name
	}
	return api + ":" + name
}

// keyBufs are the buffers keys are built in, so that building one allocates nothing.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func (h *handler) Serve(c *policy.Context) error {
	now := h.now()
	p := h.cur.Load()
	if p == nil || now.Before(p.start) || !now.Before(p.end) {
		start, end := periodOf(h.period, h.loc, now)
		p = &span{start, end}
		h.cur.Store(p)
	}

	bp := keyBufs.Get().(*[]byte)
	key := h.appendKey(append((*bp)[:0], h.prefix...), c)
	// internal/quota's backends copy a key before keeping it, so the buffer can go back
	// to the pool as soon as Take returns.
	used, ok, err := h.quotas.Take(c.R.Context(), unsafe.String(unsafe.SliceData(key), len(key)), p.start, p.end, h.limit, 1)
	*bp = key[:0]
	keyBufs.Put(bp)
	hdr := c.W.Header()
	if err != nil {
		// Never a 429 (or a pass) the counters did not decide.
		h.warn(now, err)
		hdr["Retry-After"] = c.OneValue("1")
		return h.unavailable
	}

	if h.usage != nil && c.Identity.App != "" {
		h.usage.Report(h.prefix[:len(h.prefix)-1], c.API, c.Identity.App, c.Identity.Plan, string(h.period), used, h.limit, p.end)
	}
	reset := h.seconds(ceilSeconds(p.end.Sub(now)))
	if !ok {
		hdr["Retry-After"] = c.OneValue(reset)
		if h.headers {
			h.setHeaders(c, hdr, 0, reset, true)
		}
		return h.exceeded
	}
	if h.headers {
		h.setHeaders(c, hdr, h.limit-used, reset, false)
	}
	return h.next.Serve(c)
}

// appendKey appends what the request is counted under.
func (h *handler) appendKey(dst []byte, c *policy.Context) []byte {
	if h.header == "" {
		return h.by.AppendKey(dst, c)
	}
	v := c.R.Header[h.header]
	if len(v) == 0 || v[0] == "" {
		return h.ipBy.AppendKey(dst, c)
	}
	// Hash the value in the key's own buffer (no allocation), then replace it.
	n := len(dst)
	dst = append(dst, v[0]...)
	sum := sha256.Sum256(dst[n:])
	dst = append(dst[:n], "hdr#"...)
	return hex.AppendEncode(dst, sum[:16])
}

// setHeaders sets the X-Quota-* headers, unless an earlier quota of the chain (a plan's)
// already set them with fewer requests remaining: the response advertises the quota that
// runs out first. A rejecting quota always sets them.
func (h *handler) setHeaders(c *policy.Context, hdr http.Header, remaining int64, reset string, rejected bool) {
	remaining = max(remaining, 0)
	if !rejected {
		if old := hdr["X-Quota-Remaining"]; len(old) > 0 {
			if r, err := strconv.ParseInt(old[0], 10, 64); err == nil && r <= remaining {
				return
			}
		}
	}
	hdr["X-Quota-Limit"] = c.OneValue(h.limitValue)
	hdr["X-Quota-Remaining"] = c.OneValue(strconv.FormatInt(remaining, 10))
	hdr["X-Quota-Reset"] = c.OneValue(reset)
}

// seconds formats n, reusing the last value: under load every request of one second
// shares the string.
func (h *handler) seconds(n int64) string {
	if n < 100 {
		return strconv.FormatInt(n, 10) // small numbers are interned by strconv
	}
	if v := h.resetValue.Load(); v != nil && v.n == n {
		return v.s
	}
	v := &number{n, strconv.FormatInt(n, 10)}
	h.resetValue.Store(v)
	return v.s
}

// warn logs a counters failure, at most every 10 seconds per policy: an outage must not
// flood the log with one line per request.
func (h *handler) warn(now time.Time, err error) {
	sec := now.Unix()
	last := h.lastWarn.Load()
	if sec-last < 10 && sec >= last || !h.lastWarn.CompareAndSwap(last, sec) {
		return
	}
	h.log.Warn("quota counters unavailable; rejecting with 503", "policy", h.name, "err", err)
}
