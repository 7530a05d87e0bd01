// Package cors is the "cors" policy: Cross-Origin Resource Sharing answered by the
// gateway. Preflight requests are answered at the edge and never reach the upstream or the
// policies after this one; actual requests get their Access-Control-* headers from this
// policy alone, replacing any the upstream sent, so a browser never sees two answers.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/respwriter"
)

// Type is the "cors" policy type.
var Type = policy.Define("cors", policy.Edge, "answer CORS preflights at the edge and set Access-Control-* headers", New)

// Config configures cors.
type Config struct {
	// Origins are the allowed origins: exact ("https://app.example.com"), "*" for any, or
	// one wildcard label ("https://*.example.com", which does not match example.com
	// itself). Required.
	Origins []string `json:"origins"`
	// Methods are the methods a preflight may ask for; "*" allows any.
	// Default: GET, HEAD, POST, PUT, PATCH, DELETE.
	Methods []string `json:"methods,omitempty"`
	// Headers are the request headers a preflight may ask for; "*" allows any.
	// Default: empty, which allows and reflects whatever headers the preflight asks for.
	Headers []string `json:"headers,omitempty"`
	// ExposeHeaders are the response headers scripts may read beyond the CORS-safelisted
	// ones. Default: empty.
	ExposeHeaders []string `json:"expose_headers,omitempty"`
	// Credentials allows cookies and Authorization: the allowed origin is echoed, never
	// "*", and Access-Control-Allow-Credentials is true. Default: false.
	Credentials bool `json:"credentials,omitempty"`
	// MaxAge is how long browsers may cache a preflight answer (Access-Control-Max-Age,
	// in whole seconds). Default: 10m.
	MaxAge gatehouse.Duration `json:"max_age,omitempty"`
	// PreflightContinue passes allowed preflights on to the upstream, with the CORS
	// headers set, instead of answering them with 204. Default: false.
	PreflightContinue bool `json:"preflight_continue,omitempty"`
}

// DefaultMethods are the methods allowed when Config.Methods is empty.
func DefaultMethods() []string { return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} }

// DefaultMaxAge is the preflight cache lifetime when Config.MaxAge is zero.
const DefaultMaxAge = 10 * time.Minute

// wildcard is "scheme://*.suffix": prefix "scheme://", suffix ".suffix" (with any port).
type wildcard struct{ prefix, suffix string }

func (w wildcard) match(origin string) bool {
	if len(origin) <= len(w.prefix)+len(w.suffix) || !strings.HasPrefix(origin, w.prefix) || !strings.HasSuffix(origin, w.suffix) {
		return false
	}
	// What the * stands for: one or more DNS labels, nothing else (no port, no path).
	sub := origin[len(w.prefix) : len(origin)-len(w.suffix)]
	if sub[0] == '.' || sub[len(sub)-1] == '.' {
		return false
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// origins is the compiled origin list.
type origins struct {
	any       bool
	exact     map[string]struct{}
	wildcards []wildcard
}

func parseOrigins(list []string) (origins, error) {
	o := origins{exact: map[string]struct{}{}}
	var errs []error
	if len(list) == 0 {
		return o, errors.New(`origins: required; list the allowed origins, or "*"`)
	}
	for i, s := range list {
		if s == "*" {
			o.any = true
			continue
		}
		norm, wild, err := parseOrigin(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("origins[%d]: %w", i, err))
			continue
		}
		if wild {
			scheme, rest, _ := strings.Cut(norm, "://*")
			o.wildcards = append(o.wildcards, wildcard{prefix: scheme + "://", suffix: rest})
			continue
		}
		o.exact[norm] = struct{}{}
	}
	return o, errors.Join(errs...)
}

// parseOrigin checks one configured origin and returns it lowercased, as browsers send it.
func parseOrigin(s string) (string, bool, error) {
	if s == "null" {
		return "", false, errors.New(`"null" is not allowed: sandboxed documents and local files all send it, so allowing it allows anyone`)
	}
	wild := strings.Contains(s, "*")
	probe := s
	if wild {
		scheme, rest, ok := strings.Cut(s, "://*.")
		if !ok || strings.Contains(rest, "*") || strings.Contains(scheme, "*") {
			return "", false, fmt.Errorf("%q: a wildcard may only stand for the leftmost labels, as in https://*.example.com", s)
		}
		probe = scheme + "://x." + rest
	}
	u, err := url.Parse(probe)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", false, fmt.Errorf("%q is not an origin such as https://app.example.com", s)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", false, fmt.Errorf("%q: an origin is scheme://host[:port], without path, query or credentials", s)
	}
	return strings.ToLower(s), wild, nil
}

func (o *origins) allowed(origin string) bool {
	if o.any {
		return true
	}
	if _, ok := o.exact[origin]; ok {
		return true
	}
	for _, w := range o.wildcards {
		if w.match(origin) {
			return true
		}
	}
	// Browsers send lowercase; anything else is rare enough to pay for the copy.
	if hasUpper(origin) {
		return o.allowed(strings.ToLower(origin))
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func checkTokens(field string, list []string) []error {
	var errs []error
	for i, s := range list {
		if s != "*" && !policy.IsToken(s) {
			errs = append(errs, fmt.Errorf("%s[%d]: %q is not a valid name", field, i, s))
		}
	}
	return errs
}

// Validate checks origins, names and their combinations.
func (c *Config) Validate() error {
	_, err := parseOrigins(c.Origins)
	errs := []error{err}
	errs = append(errs, checkTokens("methods", c.Methods)...)
	errs = append(errs, checkTokens("headers", c.Headers)...)
	errs = append(errs, checkTokens("expose_headers", c.ExposeHeaders)...)
	if c.Credentials && slices.Contains(c.ExposeHeaders, "*") {
		errs = append(errs, errors.New(`expose_headers: "*" means no header at all to browsers when credentials is on; list the headers`))
	}
	if c.MaxAge < 0 {
		errs = append(errs, errors.New("max_age: must not be negative"))
	}
	return errors.Join(errs...)
}

// Codes of the preflight rejections.
const (
	CodeOriginDenied  = "cors_origin_denied"
	CodeMethodDenied  = "cors_method_denied"
	CodeHeadersDenied = "cors_headers_denied"
)

// Header names, canonical.
const (
	hOrigin           = "Origin"
	hVary             = "Vary"
	hReqMethod        = "Access-Control-Request-Method"
	hReqHeaders       = "Access-Control-Request-Headers"
	hAllowOrigin      = "Access-Control-Allow-Origin"
	hAllowCredentials = "Access-Control-Allow-Credentials"
	hAllowMethods     = "Access-Control-Allow-Methods"
	hAllowHeaders     = "Access-Control-Allow-Headers"
	hExposeHeaders    = "Access-Control-Expose-Headers"
	hMaxAge           = "Access-Control-Max-Age"
)

// ours are the response headers this policy owns; the upstream's are dropped.
func ours() [6]string {
	return [...]string{hAllowOrigin, hAllowCredentials, hAllowMethods, hAllowHeaders, hExposeHeaders, hMaxAge}
}

type cors struct {
	next              policy.Handler
	origins           origins
	anyMethod         bool
	methods           []string // uppercase
	anyHeader         bool
	headers           []string // nil: reflect
	credentials       bool
	preflightContinue bool
	// varies is whether the answer depends on Origin; only "*" without credentials does
	// not, and then caches need no Vary.
	varies bool

	// Values set as shared, full-capacity slices: an append by anyone copies them, so
	// sharing them across requests is safe and setting them allocates nothing.
	star, yes, vary, preflightVary    []string
	allowMethods, allowHeaders        []string
	expose, maxAge                    []string
	originDenied, methodDenied, hdrNo *policy.Error
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, _ := parseOrigins(cfg.Origins)
	p := &cors{
		next:              next,
		origins:           o,
		credentials:       cfg.Credentials,
		preflightContinue: cfg.PreflightContinue,
		varies:            !o.any || cfg.Credentials,
		star:              []string{"*"},
		yes:               []string{"true"},
		vary:              []string{hOrigin},
		preflightVary:     []string{hOrigin + ", " + hReqMethod + ", " + hReqHeaders},
		originDenied:      policy.Reject(name, http.StatusForbidden, CodeOriginDenied, "this origin may not call this API from a browser"),
		methodDenied:      policy.Reject(name, http.StatusForbidden, CodeMethodDenied, "this method is not allowed for cross-origin requests"),
		hdrNo:             policy.Reject(name, http.StatusForbidden, CodeHeadersDenied, "a requested header is not allowed for cross-origin requests"),
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = DefaultMethods()
	}
	for _, m := range methods {
		if m == "*" {
			p.anyMethod = true
			continue
		}
		if m = strings.ToUpper(m); !slices.Contains(p.methods, m) {
			p.methods = append(p.methods, m)
		}
	}
	p.allowMethods = []string{strings.Join(p.methods, ", ")}
	for _, h := range cfg.Headers {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		p.headers = append(p.headers, http.CanonicalHeaderKey(h))
	}
	if len(p.headers) > 0 {
		p.allowHeaders = []string{strings.Join(p.headers, ", ")}
	}
	if len(cfg.ExposeHeaders) > 0 {
		list := make([]string, len(cfg.ExposeHeaders))
		for i, h := range cfg.ExposeHeaders {
			list[i] = http.CanonicalHeaderKey(h)
			if h == "*" {
				list[i] = "*"
			}
		}
		p.expose = []string{strings.Join(list, ", ")}
	}
	age := cfg.MaxAge.D()
	if age == 0 {
		age = DefaultMaxAge
	}
	p.maxAge = []string{strconv.FormatInt(int64(age/time.Second), 10)}
	return p, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (p *cors) Serve(c *policy.Context) error {
	rh := c.R.Header
	origin := first(rh[hOrigin])
	if origin == "" {
		// Not a CORS request, but a cache must not hand this answer to one that is.
		if p.varies {
			addVary(c.W.Header(), p.vary)
		}
		return p.next.Serve(c)
	}
	preflight := c.R.Method == http.MethodOptions && len(rh[hReqMethod]) > 0
	if preflight {
		if err := p.checkPreflight(c, origin); err != nil {
			addVary(c.W.Header(), p.preflightVary)
			return err
		}
		if !p.preflightContinue {
			h := c.W.Header()
			p.setPreflight(c, h)
			c.W.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	w := respwriter.Wrap(c, p)
	err := p.next.Serve(c)
	w.Finish()
	return err
}

func (p *cors) checkPreflight(c *policy.Context, origin string) error {
	if !p.origins.allowed(origin) {
		return p.originDenied
	}
	if m := first(c.R.Header[hReqMethod]); !p.anyMethod && !slices.Contains(p.methods, m) {
		return p.methodDenied
	}
	if p.headers != nil && !p.anyHeader {
		for _, v := range c.R.Header[hReqHeaders] {
			if !p.headersAllowed(v) {
				return p.hdrNo
			}
		}
	}
	return nil
}

// headersAllowed reports whether every name in the comma-separated list v is allowed.
func (p *cors) headersAllowed(v string) bool {
	for v != "" {
		var name string
		name, v, _ = strings.Cut(v, ",")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.ContainsFunc(p.headers, func(h string) bool { return strings.EqualFold(h, name) }) {
			return false
		}
	}
	return true
}

// BeforeHeader replaces whatever Access-Control-* headers the upstream sent with ours.
func (p *cors) BeforeHeader(c *policy.Context, h http.Header, _ int) {
	for _, k := range ours() {
		delete(h, k)
	}
	rh := c.R.Header
	origin := first(rh[hOrigin])
	if !p.origins.allowed(origin) {
		if p.varies {
			addVary(h, p.vary)
		}
		return
	}
	if c.R.Method == http.MethodOptions && len(rh[hReqMethod]) > 0 {
		p.setPreflight(c, h) // preflight_continue: the upstream answered the preflight
		return
	}
	p.setOrigin(c, h, p.vary)
	if p.expose != nil {
		h[hExposeHeaders] = p.expose
	}
}

// setOrigin sets Access-Control-Allow-Origin (and -Credentials) for an allowed origin,
// and vary when the answer depends on the origin.
func (p *cors) setOrigin(c *policy.Context, h http.Header, vary []string) {
	if p.varies {
		v := c.R.Header[hOrigin]
		h[hAllowOrigin] = v[:1:1] // the request's own value, so echoing allocates nothing
		addVary(h, vary)
	} else {
		h[hAllowOrigin] = p.star
	}
	if p.credentials {
		h[hAllowCredentials] = p.yes
	}
}

func (p *cors) setPreflight(c *policy.Context, h http.Header) {
	p.setOrigin(c, h, p.preflightVary)
	rh := c.R.Header
	if p.anyMethod {
		if p.credentials {
			h[hAllowMethods] = rh[hReqMethod][:1:1]
		} else {
			h[hAllowMethods] = p.star
		}
	} else {
		h[hAllowMethods] = p.allowMethods
	}
	switch {
	case p.headers == nil || p.anyHeader && p.credentials:
		if v := rh[hReqHeaders]; len(v) > 0 {
			h[hAllowHeaders] = v[:len(v):len(v)]
		}
	case p.anyHeader:
		h[hAllowHeaders] = p.star
	default:
		h[hAllowHeaders] = p.allowHeaders
	}
	h[hMaxAge] = p.maxAge
}

// addVary adds the value in one (a shared one-element slice) to h's Vary unless a Vary
// line already names it. Setting it where there is none allocates nothing.
func addVary(h http.Header, one []string) {
	v := h[hVary]
	if len(v) == 0 {
		h[hVary] = one
		return
	}
	for _, line := range v {
		if line == one[0] || line == "*" {
			return
		}
	}
	h[hVary] = append(v, one[0])
}
