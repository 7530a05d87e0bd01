// Package bot is the "bot" policy: it rejects requests by User-Agent, with substring or
// regular-expression patterns, an allow list that wins over the deny list, and an optional
// built-in list of well-known vulnerability scanners and abusive scrapers.
package bot

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the "bot" policy type.
var Type = policy.Define("bot", policy.Edge, "reject requests by User-Agent: patterns, known scanners, empty agents", New)

// Config configures bot. A pattern is a case-insensitive substring ("curl/"), or a Go
// regular expression when written between slashes ("/^python-requests\/2\./"), also
// matched case-insensitively unless it says (?-i).
type Config struct {
	// Deny rejects User-Agents that match any of these patterns. Default: empty.
	Deny []string `json:"deny,omitempty"`
	// Allow lets User-Agents through that match any of these patterns, even when Deny or
	// KnownBots would reject them. Default: empty.
	Allow []string `json:"allow,omitempty"`
	// DenyEmpty rejects requests without a User-Agent (or with an empty one).
	// Default: false.
	DenyEmpty bool `json:"deny_empty,omitempty"`
	// KnownBots adds the built-in list of scanners and scrapers (KnownBots()) to Deny.
	// Default: false.
	KnownBots bool `json:"known_bots,omitempty"`
}

// KnownBots is the built-in deny list: the default User-Agents of vulnerability scanners,
// brute-forcers and content scrapers that no legitimate client of an API sends. General
// HTTP libraries (curl, python-requests, Go-http-client) are deliberately absent.
func KnownBots() []string {
	return []string{
		// Vulnerability and port scanners.
		"sqlmap", "nikto", "nmap scripting engine", "masscan", "zgrab", "nuclei", "acunetix",
		"netsparker", "wpscan", "w3af", "openvas", "nessus", "arachni", "skipfish", "whatweb",
		"commix", "havij", "jorgee", "zmeu", "morfeus", "webinspect", "appscan",
		// Content discovery and brute forcing.
		"dirbuster", "gobuster", "feroxbuster", "wfuzz", "fuzz faster u fool", "(hydra)",
		// Scrapers known for ignoring robots.txt and hammering sites.
		"scrapy", "mj12bot", "bytespider", "petalbot", "blexbot",
	}
}

// maxPatternBytes bounds the automaton built from substring patterns.
const maxPatternBytes = 64 << 10

type compiled struct {
	substr []Pattern
	allow  []*regexp.Regexp
	deny   []*regexp.Regexp
}

func compile(cfg *Config) (*compiled, error) {
	var errs []error
	out := &compiled{}
	total := 0
	add := func(field string, list Flags, patterns []string) {
		for i, p := range patterns {
			switch {
			case p == "":
				errs = append(errs, fmt.Errorf("%s[%d]: empty pattern", field, i))
			case len(p) >= 2 && p[0] == '/' && p[len(p)-1] == '/':
				src := p[1 : len(p)-1]
				if src == "" {
					errs = append(errs, fmt.Errorf("%s[%d]: empty regular expression", field, i))
					continue
				}
				// Compiled alone first so that an error quotes what the user wrote.
				if _, err := regexp.Compile(src); err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
					continue
				}
				re, err := regexp.Compile("(?i)" + src)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
					continue
				}
				if list == Allow {
					out.allow = append(out.allow, re)
				} else {
					out.deny = append(out.deny, re)
				}
			default:
				total += len(p)
				out.substr = append(out.substr, Pattern{Text: p, List: list})
			}
		}
	}
	add("deny", Deny, cfg.Deny)
	add("allow", Allow, cfg.Allow)
	if cfg.KnownBots {
		add("known_bots", Deny, KnownBots())
	}
	if total > maxPatternBytes {
		errs = append(errs, fmt.Errorf("deny, allow: %d bytes of patterns; at most %d", total, maxPatternBytes))
	}
	if len(cfg.Deny) == 0 && !cfg.KnownBots && !cfg.DenyEmpty {
		errs = append(errs, errors.New("deny, known_bots or deny_empty: set at least one, or the policy rejects nothing"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Validate compiles the patterns.
func (c *Config) Validate() error {
	_, err := compile(c)
	return err
}

type filter struct {
	next      policy.Handler
	m         *Matcher
	allowRe   []*regexp.Regexp
	denyRe    []*regexp.Regexp
	denyEmpty bool
	denied    *policy.Error
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	cp, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return &filter{
		next:      next,
		m:         NewMatcher(cp.substr),
		allowRe:   cp.allow,
		denyRe:    cp.deny,
		denyEmpty: cfg.DenyEmpty,
		denied:    policy.Reject(name, http.StatusForbidden, "bot_denied", "this client is not allowed"),
	}, nil
}

func (f *filter) Serve(c *policy.Context) error {
	var ua string
	if v := c.R.Header["User-Agent"]; len(v) > 0 {
		ua = strings.TrimSpace(v[0])
	}
	if f.denies(ua) && !f.allows(ua) {
		return f.denied
	}
	return f.next.Serve(c)
}

// denies reports whether a deny rule matches ua. Most requests are not denied, so the
// allow rules are not consulted for them at all.
func (f *filter) denies(ua string) bool {
	if ua == "" {
		return f.denyEmpty
	}
	fl := f.m.Scan(ua, Deny)
	if fl&Deny != 0 {
		return true
	}
	for _, re := range f.denyRe {
		if re.MatchString(ua) {
			return true
		}
	}
	return false
}

// allows reports whether an allow rule matches ua; it runs only for denied requests.
func (f *filter) allows(ua string) bool {
	if ua == "" {
		return false
	}
	if f.m.any&Allow != 0 && f.m.Scan(ua, Allow)&Allow != 0 {
		return true
	}
	for _, re := range f.allowRe {
		if re.MatchString(ua) {
			return true
		}
	}
	return false
}
