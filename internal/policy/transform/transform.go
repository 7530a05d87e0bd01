// Package transform is the "transform" policy: it rewrites the request before it goes
// upstream: its path (from a template or a regular expression), its query parameters and
// its method.
//
// The path is rewritten as the client sent it, API prefix included: after the chain the
// gateway's proxy strips the API's path (when strip_path is on) and prepends the target's
// base path, so a rewrite for an API at /shop with strip_path should produce
// "/shop/v2/items/42" for the upstream to see "/v2/items/42". Routing has already
// happened: a rewritten path does not select another API or route.
package transform

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/template"
)

// Type is the "transform" policy type.
var Type = policy.Define("transform", policy.Transform, "rewrite the request's path, query and method before it goes upstream", New)

// Config configures transform. Path and PathRegex exclude each other.
type Config struct {
	// Path is a template for the new path, such as "/v2/items/{{ path.id }}"; values are
	// escaped as path segments (a "/" in a parameter stays inside its segment).
	// Default: "" (the path is kept).
	Path string `json:"path,omitempty"`
	// PathRegex rewrites the path by regular expression instead. Default: none.
	PathRegex *PathRegex `json:"path_regex,omitempty"`
	// Query edits the query parameters. Default: no edits.
	Query Query `json:"query,omitzero"`
	// Method replaces the request method, such as "POST". Default: "" (kept).
	Method string `json:"method,omitempty"`
}

// PathRegex is a regular-expression rewrite of the path.
type PathRegex struct {
	// Pattern is a Go regular expression matched against the path as the client sent it
	// (escaped). Required.
	Pattern string `json:"pattern"`
	// Replace replaces every match; $1 or ${name} insert groups. Default: "" (matches are
	// deleted).
	Replace string `json:"replace"`
}

// Query edits query parameters, applied in this order: remove, rename, set, add. Values
// are templates; a value that renders empty adds nothing (and set still removes).
type Query struct {
	// Add appends a parameter, keeping those already there. Default: empty.
	Add map[string]string `json:"add,omitempty"`
	// Set replaces every value of a parameter with one. Default: empty.
	Set map[string]string `json:"set,omitempty"`
	// Remove deletes these parameters. Default: empty.
	Remove []string `json:"remove,omitempty"`
	// Rename moves a parameter's values to a new name (old: new), replacing the new
	// name's values when the old one is present. Default: empty.
	Rename map[string]string `json:"rename,omitempty"`
}

func (q *Query) empty() bool {
	return len(q.Add) == 0 && len(q.Set) == 0 && len(q.Remove) == 0 && len(q.Rename) == 0
}

type compiled struct {
	path   *template.Template
	re     *regexp.Regexp
	repl   string
	query  queryOps
	method string
}

func compile(cfg *Config) (*compiled, error) {
	var errs []error
	out := &compiled{}
	if cfg.Path == "" && cfg.PathRegex == nil && cfg.Query.empty() && cfg.Method == "" {
		errs = append(errs, errors.New("path, path_regex, query or method: set at least one"))
	}
	if cfg.Path != "" && cfg.PathRegex != nil {
		errs = append(errs, errors.New("path, path_regex: set one or the other"))
	}
	if cfg.Path != "" {
		t, err := template.Parse(cfg.Path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("path: %w", err))
		case !strings.HasPrefix(cfg.Path, "/") && !strings.HasPrefix(cfg.Path, "{{"):
			errs = append(errs, fmt.Errorf("path: %q must start with /", cfg.Path))
		case strings.ContainsAny(cfg.Path, "?#"):
			errs = append(errs, fmt.Errorf("path: %q: no query or fragment here; edit the query with query", cfg.Path))
		default:
			out.path = t
		}
	}
	if pr := cfg.PathRegex; pr != nil {
		if pr.Pattern == "" {
			errs = append(errs, errors.New("path_regex.pattern: required"))
		} else if re, err := regexp.Compile(pr.Pattern); err != nil {
			errs = append(errs, fmt.Errorf("path_regex.pattern: %w", err))
		} else {
			out.re, out.repl = re, pr.Replace
		}
		if strings.ContainsAny(pr.Replace, "?#") {
			errs = append(errs, fmt.Errorf("path_regex.replace: %q: no query or fragment here; edit the query with query", pr.Replace))
		}
	}
	if cfg.Method != "" {
		if !policy.IsToken(cfg.Method) {
			errs = append(errs, fmt.Errorf("method: %q is not a valid method", cfg.Method))
		}
		out.method = strings.ToUpper(cfg.Method)
	}
	q, qerrs := compileQuery(&cfg.Query)
	out.query = q
	errs = append(errs, qerrs...)
	return out, errors.Join(errs...)
}

// Validate checks the templates, the pattern and the names.
func (c *Config) Validate() error {
	_, err := compile(c)
	return err
}

type transform struct {
	next    policy.Handler
	c       *compiled
	badPath *policy.Error
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	return &transform{next: next, c: c,
		badPath: policy.Reject(name, http.StatusBadRequest, "invalid_path", "the rewritten path would contain a . or .. segment"),
	}, nil
}

func (t *transform) Serve(c *policy.Context) error {
	u := c.R.URL
	switch {
	case t.c.path != nil:
		var arr [512]byte
		p := t.c.path.RenderPath(c, arr[:0])
		if err := t.setPath(u, p); err != nil {
			return err
		}
	case t.c.re != nil:
		old := u.EscapedPath()
		if p := t.c.re.ReplaceAllString(old, t.c.repl); p != old {
			if err := t.setPath(u, []byte(p)); err != nil {
				return err
			}
		}
	}
	if !t.c.query.empty() {
		t.c.query.apply(c, u)
	}
	if t.c.method != "" {
		c.R.Method = t.c.method
	}
	return t.next.Serve(c)
}

// setPath sets u's path from its escaped form, keeping Path and RawPath consistent: RawPath
// is set only where the default encoding of Path would differ (an escaped "/" in a
// segment), as url.URL itself does.
func (t *transform) setPath(u *url.URL, escaped []byte) error {
	if len(escaped) == 0 || escaped[0] != '/' {
		escaped = append([]byte{'/'}, escaped...)
	}
	if hasDotSegment(escaped) {
		return t.badPath
	}
	e := string(escaped)
	p, err := url.PathUnescape(e)
	if err != nil {
		// A stray % from the configuration or a capture: take the text literally.
		u.Path, u.RawPath = e, ""
		return nil
	}
	u.Path, u.RawPath = p, ""
	if u.EscapedPath() != e {
		u.RawPath = e
		if u.EscapedPath() != e { // e is not a valid encoding of p; let url encode p
			u.RawPath = ""
		}
	}
	return nil
}

// hasDotSegment reports whether p has a "." or ".." segment, which the upstream would
// resolve: a parameter of ".." must not climb out of the rewritten prefix.
func hasDotSegment(p []byte) bool {
	for len(p) > 0 {
		seg := p
		if i := bytes.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if s := string(seg); s == "." || s == ".." {
			return true
		}
	}
	return false
}
