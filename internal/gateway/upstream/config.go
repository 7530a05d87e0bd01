package upstream

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Defaults for what an Upstream leaves unset. The root package documents the same values
// next to each field.
const (
	defaultConnectTimeout  = 5 * time.Second
	defaultResponseTimeout = 60 * time.Second
	defaultRetryBudget     = 20
	defaultFailures        = 5
	defaultEjection        = 30 * time.Second
	defaultInterval        = 10 * time.Second
	defaultCheckTimeout    = 2 * time.Second
	defaultHealthy         = 2
	defaultUnhealthy       = 3

	// maxTargets matches the root package's validation and sizes the fixed bitsets that
	// let a pick exclude targets without allocating.
	maxTargets = 256
)

// settings is an Upstream with every default filled in, so that two configurations that
// mean the same thing compare equal (a nil weight and 100, a nil Passive and the defaults).
type settings struct {
	targets []targetSettings
	knobs
}

type targetSettings struct {
	url    string
	weight int
}

// knobs is the comparable part of settings.
type knobs struct {
	balancing    string
	hashOn       string
	connect      time.Duration
	response     time.Duration
	retries      int
	budget       int
	preserveHost bool
	failures     int
	ejection     time.Duration
	statuses     statusSet
	health       healthSettings // zero when active checks are off
	tls          tlsKey
}

type healthSettings struct {
	path      string
	interval  time.Duration
	timeout   time.Duration
	healthy   int
	unhealthy int
}

// statusSet holds 5xx statuses as bits (status-500).
type statusSet [2]uint64

func (s *statusSet) add(code int) {
	if code >= 500 && code < 600 {
		s[(code-500)>>6] |= 1 << ((code - 500) & 63)
	}
}

func (s *statusSet) has(code int) bool {
	return code >= 500 && code < 600 && s[(code-500)>>6]&(1<<((code-500)&63)) != 0
}

func (s settings) equal(o settings) bool {
	return s.knobs == o.knobs && slices.Equal(s.targets, o.targets)
}

// resolve fills defaults and loads the TLS material, whose digest becomes part of the
// settings: a rotated certificate is a changed configuration.
func resolve(cfg gatehouse.Upstream) (settings, *tls.Config, error) {
	var s settings
	if len(cfg.Targets) > maxTargets {
		return s, nil, fmt.Errorf("%d targets; at most %d", len(cfg.Targets), maxTargets)
	}
	for _, t := range cfg.Targets {
		w := gatehouse.DefaultWeight
		if t.Weight != nil {
			w = *t.Weight
		}
		if w < 0 {
			return s, nil, fmt.Errorf("target %q: negative weight", t.URL)
		}
		s.targets = append(s.targets, targetSettings{url: t.URL, weight: w})
	}
	s.balancing = cfg.Balancing
	switch s.balancing {
	case "":
		s.balancing = gatehouse.BalanceRoundRobin
	case gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn:
	case gatehouse.BalanceHash:
		s.hashOn = cfg.HashOn
		if s.hashOn == "" {
			s.hashOn = "ip"
		}
		if h, ok := strings.CutPrefix(s.hashOn, "header:"); s.hashOn != "ip" && (!ok || h == "") {
			return s, nil, fmt.Errorf("hash_on %q: want \"ip\" or \"header:<Name>\"", cfg.HashOn)
		}
	default:
		return s, nil, fmt.Errorf("unknown balancing %q", cfg.Balancing)
	}
	s.connect = orDefault(cfg.ConnectTimeout.D(), defaultConnectTimeout)
	s.response = orDefault(cfg.ResponseTimeout.D(), defaultResponseTimeout)
	s.retries = max(cfg.Retries, 0)
	s.budget = orDefault(cfg.RetryBudget, defaultRetryBudget)
	s.preserveHost = cfg.PreserveHost

	s.failures, s.ejection = defaultFailures, defaultEjection
	statuses := []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	if pc := cfg.Passive; pc != nil {
		s.failures = orDefault(pc.Failures, defaultFailures)
		s.ejection = orDefault(pc.Ejection.D(), defaultEjection)
		if len(pc.Statuses) > 0 {
			statuses = pc.Statuses
		}
	}
	for _, code := range statuses {
		s.statuses.add(code)
	}
	if hc := cfg.HealthCheck; hc != nil {
		s.health = healthSettings{
			path:      hc.Path,
			interval:  orDefault(hc.Interval.D(), defaultInterval),
			timeout:   orDefault(hc.Timeout.D(), defaultCheckTimeout),
			healthy:   orDefault(hc.Healthy, defaultHealthy),
			unhealthy: orDefault(hc.Unhealthy, defaultUnhealthy),
		}
		if s.health.path == "" {
			s.health.path = "/"
		}
	}
	tc, key, err := loadTLS(cfg.TLS)
	if err != nil {
		return s, nil, err
	}
	s.tls = key
	return s, tc, nil
}

// orDefault treats zero (and the negative values validation already refuses) as unset.
func orDefault[T cmp.Ordered](v, def T) T {
	var zero T
	if v <= zero {
		return def
	}
	return v
}
