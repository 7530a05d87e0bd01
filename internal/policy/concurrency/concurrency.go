// Package concurrency is the "concurrency" policy: a cap on the requests in flight at once,
// for the whole API or per consumer, app, key, IP, route or header value. Counts are kept
// on each node, and survive configuration reloads.
package concurrency

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/limit"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the concurrency policy type.
var Type = policy.Define("concurrency", policy.Limits,
	"cap the requests in flight at once, per API, consumer, app, key, IP, route or header", New)

// Config is the concurrency policy's configuration.
type Config struct {
	// Limit is the most requests in flight at once, per By value. Required, greater than 0.
	Limit int `json:"limit"`
	// By is what the cap counts per: "api" (one cap for the whole API on this node),
	// "consumer" (the app when identified, else the token subject, else the client IP),
	// "app", "key", "ip", "route" or "header:<Name>"; when the identity is missing, the
	// client IP. Default "api".
	By string `json:"by,omitempty"`
	// Scope namespaces the counters: two policies with the same scope and by share them.
	// Default "<api name>:<policy name>".
	Scope string `json:"scope,omitempty"`
}

// byExtra are the "by" values concurrency takes besides the common ones.
var byExtra = []string{"route", "api"}

// maxScope bounds Scope: it is part of every key.
const maxScope = 256

// Validate checks the configuration; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, errors.New("limit: must be greater than 0"))
	}
	if _, err := parseBy(c.By); err != nil {
		errs = append(errs, err)
	}
	if len(c.Scope) > maxScope {
		errs = append(errs, fmt.Errorf("scope: longer than %d bytes", maxScope))
	}
	return errors.Join(errs...)
}

func parseBy(s string) (limit.By, error) {
	if s == "" {
		s = "api"
	}
	return limit.ParseBy(s, byExtra...)
}

// inFlight holds the node's counters. It is package state, against the rule, because the
// counts must outlive the chains that use them (a configuration reload must not reset a
// cap while requests are in flight) and Env has no place for them yet; a counter at zero
// is swept, so it stays bounded.
var inFlight = limit.NewInFlight()

type handler struct {
	next    policy.Handler
	counts  *limit.InFlight
	limit   int64
	keys    limit.Keys
	limited *policy.Error
}

// New builds the policy.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	by, err := parseBy(cfg.By)
	if err != nil {
		return nil, err
	}
	return &handler{
		next:   next,
		counts: inFlight,
		limit:  int64(cfg.Limit),
		keys:   limit.NewKeys(env, name, cfg.Scope, by),
		limited: policy.Reject(name, http.StatusTooManyRequests, "concurrency_limited",
			fmt.Sprintf("too many requests in flight: at most %d at once", cfg.Limit)),
	}, nil
}

func (h *handler) Serve(c *policy.Context) error {
	key := h.keys.Build(c)
	slot, ok := h.counts.Acquire(key.String(), h.limit)
	key.Free()
	if !ok {
		c.W.Header()["Retry-After"] = c.OneValue("1")
		return h.limited
	}
	defer slot.Release() // also when a later handler panics
	return h.next.Serve(c)
}
