package gatehouse

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// APIState is an API's place in its lifecycle.
type APIState string

// Lifecycle states. Only published and deprecated APIs are served; deprecated ones carry
// Deprecation and Sunset headers; retired ones answer 410.
const (
	StateDraft      APIState = "draft"
	StatePublished  APIState = "published"
	StateDeprecated APIState = "deprecated"
	StateRetired    APIState = "retired"
)

// Valid reports whether s is a known state.
func (s APIState) Valid() bool {
	switch s {
	case StateDraft, StatePublished, StateDeprecated, StateRetired:
		return true
	}
	return false
}

// Served reports whether the gateway routes traffic to an API in this state.
func (s APIState) Served() bool { return s == StatePublished || s == StateDeprecated }

// Meta holds the fields the server manages on every named resource. Clients never set
// them; Revision doubles as the resource's ETag.
type Meta struct {
	Revision  int64     `json:"revision,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// API is a published back-end API: where it is served, where it is proxied to and which
// policies guard it. Name is its stable identifier.
type API struct {
	Name        string       `json:"name"`
	Version     string       `json:"version,omitempty"`
	Description string       `json:"description,omitempty"`
	State       APIState     `json:"state"`
	Hosts       []string     `json:"hosts,omitempty"`
	Path        string       `json:"path"`
	StripPath   bool         `json:"strip_path"`
	Upstream    Upstream     `json:"upstream"`
	Routes      []Route      `json:"routes,omitempty"`
	Policies    []PolicySpec `json:"policies,omitempty"`
	OpenAPI     string       `json:"openapi,omitempty"`
	Sunset      *time.Time   `json:"sunset,omitempty"` // announced end of a deprecated API
	// MaxBodyBytes caps request bodies (413 when exceeded); 0 means the node's default.
	MaxBodyBytes int64    `json:"max_body_bytes,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	// Realtime makes the API a GRIP proxy (Pushpin-compatible): origin responses carrying
	// GRIP instructions hold the client connection open for published messages.
	Realtime *Realtime `json:"realtime,omitempty"`
	Meta
}

// Realtime configures GRIP on an API. The zero value of every field is Gatehouse's
// default; the quirk switches keep Pushpin's behaviours available where they differ.
type Realtime struct {
	Enabled bool `json:"enabled"`
	// SigKey signs the Grip-Sig token sent to the origin: a secret ("base64:..." for
	// binary). Empty: the node's realtime.sig_key (Pushpin's "changeme" unless set).
	SigKey string `json:"sig_key,omitempty"`
	// SigIssuer is the token's iss claim; empty: the node's realtime.sig_iss ("gatehouse").
	SigIssuer string `json:"sig_iss,omitempty"`
	// UpstreamKey, when set, lets a client that presents a Grip-Sig signed with it (another
	// GRIP proxy in front) receive the origin's GRIP instructions unprocessed.
	UpstreamKey string `json:"upstream_key,omitempty"`
	// ChannelPrefix is prepended to every channel the origin names (Pushpin's prefix=).
	ChannelPrefix string `json:"channel_prefix,omitempty"`
	// WebSocketOverHTTP turns client WebSockets into WebSocket-over-HTTP requests to the
	// origin (Pushpin's over_http target option). Otherwise WebSockets are proxied as
	// WebSockets, and an origin may still negotiate GRIP on them.
	WebSocketOverHTTP bool `json:"websocket_over_http,omitempty"`
	// UpdateOnFirstSubscription re-requests long-polls (and fetches next links) about a
	// second after a channel gets its first subscriber on this node, as Pushpin does
	// (its update_on_first_subscription). Off by default: it doubles origin requests and
	// only helps publishers that track subscriptions.
	UpdateOnFirstSubscription bool `json:"update_on_first_subscription,omitempty"`
	// Debug puts the reason for a GRIP failure in the 502 body, as Pushpin's debug option.
	Debug bool `json:"debug,omitempty"`
	// MaxConnectionsPerApp caps one app's held connections (HTTP holds and WebSockets)
	// to this API on this node; 0: no cap.
	MaxConnectionsPerApp int `json:"max_connections_per_app,omitempty"`
	// MaxMessagesPerApp caps messages delivered to one app's connections per
	// MessagesPeriod (default one minute); deliveries over it are dropped and counted.
	MaxMessagesPerApp int      `json:"max_messages_per_app,omitempty"`
	MessagesPeriod    Duration `json:"messages_period,omitempty"`
}

// Balancing algorithms for an upstream's targets.
const (
	BalanceRoundRobin = "round_robin"
	BalanceLeastConn  = "least_conn"
	BalanceHash       = "hash"
)

// Upstream is where an API's traffic goes.
type Upstream struct {
	Targets   []Target `json:"targets"`
	Balancing string   `json:"balancing,omitempty"` // round_robin (default), least_conn, hash
	// HashOn picks the hash key for "hash" balancing: "ip" or "header:<Name>".
	HashOn          string   `json:"hash_on,omitempty"`
	ConnectTimeout  Duration `json:"connect_timeout,omitempty"`  // default 5s
	ResponseTimeout Duration `json:"response_timeout,omitempty"` // until response headers; default 60s
	Retries         int      `json:"retries,omitempty"`          // extra attempts for idempotent requests
	// RetryBudget caps retries at this percentage of recent requests (default 20), so that
	// retries cannot multiply the load on an upstream that is already failing.
	RetryBudget  int           `json:"retry_budget,omitempty"`
	PreserveHost bool          `json:"preserve_host,omitempty"` // send the client's Host, not the target's
	HealthCheck  *HealthCheck  `json:"health_check,omitempty"`
	Passive      *PassiveCheck `json:"passive,omitempty"`
	TLS          *UpstreamTLS  `json:"tls,omitempty"`
}

// PassiveCheck ejects a target after consecutive failures of real traffic (connection
// errors, timeouts, 5xx from the list): a circuit breaker that lets one probe request
// through after Ejection (half-open) and closes again on its success.
type PassiveCheck struct {
	Failures int      `json:"failures,omitempty"` // consecutive failures to open; default 5
	Ejection Duration `json:"ejection,omitempty"` // how long a target stays out; default 30s
	Statuses []int    `json:"statuses,omitempty"` // statuses that count as failures; default 502, 503, 504
}

// UpstreamTLS configures TLS to https targets: a private CA, a client certificate for
// mutual TLS, and the name to verify.
type UpstreamTLS struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	ServerName         string `json:"server_name,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// Target is one upstream server. Weight 0 takes it out of rotation without deleting it.
type Target struct {
	URL    string `json:"url"`
	Weight *int   `json:"weight,omitempty"` // default 100
}

// HealthCheck configures active health checks of an upstream's targets.
type HealthCheck struct {
	Path      string   `json:"path"`
	Interval  Duration `json:"interval,omitempty"`  // default 10s
	Timeout   Duration `json:"timeout,omitempty"`   // default 2s
	Healthy   int      `json:"healthy,omitempty"`   // successes to mark up, default 2
	Unhealthy int      `json:"unhealthy,omitempty"` // failures to mark down, default 3
}

// Route narrows an API to explicit operations. Path is relative to the API's path and may
// hold templates (`/orders/{id}`); no Methods means any method.
type Route struct {
	Name    string   `json:"name,omitempty"`
	Methods []string `json:"methods,omitempty"`
	Path    string   `json:"path"`
	// Policies add to the API's: a route policy of a type replaces the API's policies of
	// that type, and a disabled one removes them for this route.
	Policies []PolicySpec `json:"policies,omitempty"`
}

// PolicySpec attaches one policy to an API or a plan. Config is validated by the policy
// named by Type when the gateway compiles it.
type PolicySpec struct {
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config,omitempty"`
	// Disabled turns the policy off without deleting it; on a route it removes the API's
	// policies of this type for that route.
	Disabled bool `json:"disabled,omitempty"`
}

// DefaultWeight is a target's weight when none is given.
const DefaultWeight = 100

// MaxOpenAPIBytes bounds an attached OpenAPI document.
const MaxOpenAPIBytes = 4 << 20

// Normalize fills defaults and canonical forms in place, so that a stored API and the same
// API read from a file compare equal.
func (a *API) Normalize() {
	if a.State == "" {
		a.State = StateDraft
	}
	for i, h := range a.Hosts {
		a.Hosts[i] = strings.ToLower(strings.TrimSpace(h))
	}
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Upstream.Targets == nil {
		a.Upstream.Targets = []Target{} // "targets": [] rather than null, in every output
	}
	if a.Upstream.Balancing == "" {
		a.Upstream.Balancing = BalanceRoundRobin
	}
	for i := range a.Upstream.Targets {
		if a.Upstream.Targets[i].Weight == nil {
			w := DefaultWeight
			a.Upstream.Targets[i].Weight = &w
		}
	}
	for i := range a.Routes {
		for j, m := range a.Routes[i].Methods {
			a.Routes[i].Methods[j] = strings.ToUpper(m)
		}
		normalizePolicies(a.Routes[i].Policies)
	}
	normalizePolicies(a.Policies)
	if a.Sunset != nil {
		t := a.Sunset.UTC().Truncate(time.Second)
		a.Sunset = &t
	}
}

// Validate reports every rule a breaks as an EInvalid *Error.
func (a *API) Validate() error {
	var p Problems
	checkName(&p, "name", a.Name)
	if len(a.Version) > 64 {
		p.Addf("version", "must be at most 64 characters")
	}
	if len(a.Description) > 4096 {
		p.Addf("description", "must be at most 4096 characters")
	}
	if !a.State.Valid() {
		p.Addf("state", "must be one of draft, published, deprecated, retired")
	}
	for i, h := range a.Hosts {
		if err := checkHost(h); err != "" {
			p.Addf(fmt.Sprintf("hosts[%d]", i), "%s", err)
		}
	}
	if err := checkPathPrefix(a.Path); err != "" {
		p.Addf("path", "%s", err)
	}
	a.Upstream.validate(&p, a.State.Served())
	seen := map[string]bool{}
	for i, r := range a.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			checkName(&p, f+".name", r.Name)
			if seen[r.Name] {
				p.Addf(f+".name", "duplicate route name %q", r.Name)
			}
			seen[r.Name] = true
		}
		if err := checkRoutePath(r.Path); err != "" {
			p.Addf(f+".path", "%s", err)
		}
		for j, m := range r.Methods {
			if !isToken(m) {
				p.Addf(fmt.Sprintf("%s.methods[%d]", f, j), "%q is not an HTTP method", m)
			}
		}
		checkPolicies(&p, f+".policies", r.Policies)
	}
	checkPolicies(&p, "policies", a.Policies)
	if a.MaxBodyBytes < 0 {
		p.Addf("max_body_bytes", "must not be negative")
	}
	if len(a.OpenAPI) > MaxOpenAPIBytes {
		p.Addf("openapi", "must be at most %d bytes", MaxOpenAPIBytes)
	}
	checkTags(&p, a.Tags)
	if rt := a.Realtime; rt != nil {
		if len(rt.SigKey) > 4096 || len(rt.UpstreamKey) > 4096 {
			p.Addf("realtime", "keys must be at most 4096 characters")
		}
		if len(rt.SigIssuer) > 256 {
			p.Addf("realtime.sig_iss", "must be at most 256 characters")
		}
		if len(rt.ChannelPrefix) > 256 {
			p.Addf("realtime.channel_prefix", "must be at most 256 characters")
		}
		if rt.MaxConnectionsPerApp < 0 {
			p.Addf("realtime.max_connections_per_app", "must not be negative")
		}
		if rt.MaxMessagesPerApp < 0 {
			p.Addf("realtime.max_messages_per_app", "must not be negative")
		}
		if rt.MessagesPeriod < 0 {
			p.Addf("realtime.messages_period", "must not be negative")
		}
	}
	return p.Err("api")
}

func (u *Upstream) validate(p *Problems, served bool) {
	if served && len(u.Targets) == 0 {
		p.Addf("upstream.targets", "a published or deprecated API needs at least one target")
	}
	if len(u.Targets) > 256 {
		p.Addf("upstream.targets", "at most 256 targets")
	}
	for i, t := range u.Targets {
		f := fmt.Sprintf("upstream.targets[%d]", i)
		if err := checkUpstreamURL(t.URL); err != "" {
			p.Addf(f+".url", "%s", err)
		}
		if t.Weight != nil && (*t.Weight < 0 || *t.Weight > 1000) {
			p.Addf(f+".weight", "must be between 0 and 1000")
		}
	}
	switch u.Balancing {
	case "", BalanceRoundRobin, BalanceLeastConn:
		if u.HashOn != "" {
			p.Addf("upstream.hash_on", "only used with balancing \"hash\"")
		}
	case BalanceHash:
		if u.HashOn != "ip" && !(strings.HasPrefix(u.HashOn, "header:") && isToken(u.HashOn[len("header:"):])) {
			p.Addf("upstream.hash_on", "must be \"ip\" or \"header:<Name>\"")
		}
	default:
		p.Addf("upstream.balancing", "must be one of round_robin, least_conn, hash")
	}
	if u.ConnectTimeout < 0 || u.ConnectTimeout.D() > time.Hour {
		p.Addf("upstream.connect_timeout", "must be between 0 and 1h")
	}
	if u.ResponseTimeout < 0 || u.ResponseTimeout.D() > 24*time.Hour {
		p.Addf("upstream.response_timeout", "must be between 0 and 24h")
	}
	if u.Retries < 0 || u.Retries > 10 {
		p.Addf("upstream.retries", "must be between 0 and 10")
	}
	if u.RetryBudget < 0 || u.RetryBudget > 100 {
		p.Addf("upstream.retry_budget", "must be a percentage between 0 and 100")
	}
	if c := u.Passive; c != nil {
		if c.Failures < 0 || c.Failures > 1000 {
			p.Addf("upstream.passive.failures", "must be between 0 and 1000")
		}
		if c.Ejection < 0 || c.Ejection.D() > 24*time.Hour {
			p.Addf("upstream.passive.ejection", "must be between 0 and 24h")
		}
		for i, st := range c.Statuses {
			if st < 500 || st > 599 {
				p.Addf(fmt.Sprintf("upstream.passive.statuses[%d]", i), "must be a 5xx status")
			}
		}
	}
	if t := u.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			p.Addf("upstream.tls", "cert_file and key_file go together")
		}
		for _, tg := range u.Targets {
			if strings.HasPrefix(tg.URL, "http://") {
				p.Addf("upstream.tls", "set, but target %q is plain http", tg.URL)
				break
			}
		}
	}
	if h := u.HealthCheck; h != nil {
		if !strings.HasPrefix(h.Path, "/") {
			p.Addf("upstream.health_check.path", "must start with /")
		}
		if h.Interval != 0 && (h.Interval.D() < 100*time.Millisecond || h.Interval.D() > time.Hour) {
			p.Addf("upstream.health_check.interval", "must be between 100ms and 1h")
		}
		if h.Timeout < 0 || h.Timeout.D() > time.Minute {
			p.Addf("upstream.health_check.timeout", "must be between 0 and 1m")
		}
		if h.Healthy < 0 || h.Healthy > 100 {
			p.Addf("upstream.health_check.healthy", "must be between 0 and 100")
		}
		if h.Unhealthy < 0 || h.Unhealthy > 100 {
			p.Addf("upstream.health_check.unhealthy", "must be between 0 and 100")
		}
	}
}

// normalizePolicies compacts configs in place, so stored and file forms compare equal.
func normalizePolicies(ps []PolicySpec) {
	for i := range ps {
		if c := ps[i].Config; len(c) > 0 && string(c) != "null" {
			ps[i].Config = compactJSON(c)
		} else {
			ps[i].Config = nil
		}
	}
}

func clonePolicies(ps []PolicySpec) []PolicySpec {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Config = slices.Clone(ps[i].Config)
	}
	return out
}

func checkPolicies(p *Problems, field string, ps []PolicySpec) {
	for i, ps := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !nameRE(ps.Type) {
			p.Addf(f+".type", "must be a policy type such as \"key-auth\"")
		}
		if len(ps.Config) > 0 {
			var m map[string]json.RawMessage
			if string(ps.Config) != "null" && json.Unmarshal(ps.Config, &m) != nil {
				p.Addf(f+".config", "must be a JSON object")
			}
		}
	}
}

func checkTags(p *Problems, tags []string) {
	if len(tags) > 32 {
		p.Addf("tags", "at most 32 tags")
	}
	for i, t := range tags {
		if !nameRE(t) {
			p.Addf(fmt.Sprintf("tags[%d]", i), "must be 1-64 letters, digits, '.', '_' or '-'")
		}
	}
}

func checkUpstreamURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must not carry a query, fragment or user info"
	}
	return ""
}

func checkPathPrefix(s string) string {
	if !strings.HasPrefix(s, "/") {
		return "must start with /"
	}
	if len(s) > 1 && strings.HasSuffix(s, "/") {
		return "must not end with / (except the root path \"/\")"
	}
	if msg := checkPathSegments(s); msg != "" {
		return msg
	}
	if strings.ContainsAny(s, "{}") {
		return "must not contain templates; use routes for {params}"
	}
	return ""
}

func checkRoutePath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return "must start with /"
	}
	if msg := checkPathSegments(s); msg != "" {
		return msg
	}
	seen := map[string]bool{}
	for seg := range strings.SplitSeq(s[1:], "/") {
		open, close := strings.Count(seg, "{"), strings.Count(seg, "}")
		if open == 0 && close == 0 {
			continue
		}
		if open != 1 || close != 1 || seg[0] != '{' || seg[len(seg)-1] != '}' {
			return fmt.Sprintf("segment %q: a template must fill a whole segment, like {id}", seg)
		}
		name := strings.TrimSuffix(seg[1:len(seg)-1], "...")
		if !isIdent(name) {
			return fmt.Sprintf("segment %q: parameter names are letters, digits and _", seg)
		}
		if seen[name] {
			return fmt.Sprintf("parameter %q appears twice", name)
		}
		seen[name] = true
	}
	return ""
}

func checkPathSegments(s string) string {
	if len(s) > 1024 {
		return "must be at most 1024 characters"
	}
	if strings.ContainsAny(s, "?#% \t\r\n") {
		return "must not contain '?', '#', '%' or whitespace"
	}
	if strings.Contains(s, "//") {
		return "must not contain empty segments (//)"
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "." || seg == ".." {
			return "must not contain . or .. segments"
		}
	}
	return ""
}

func checkHost(h string) string {
	if h == "" || len(h) > 253 {
		return "must be a host name of 1-253 characters"
	}
	if h != strings.ToLower(h) {
		return "must be lower case"
	}
	name := h
	if strings.HasPrefix(h, "*.") {
		name = h[2:]
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("%q is not a valid host name (a wildcard is only allowed as the first label, like *.example.com)", h)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("%q is not a valid host name (no ports, schemes or paths)", h)
			}
		}
	}
	return ""
}

func compactJSON(b json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(v) // sorts object keys, so equal configs compare equal
	if err != nil {
		return b
	}
	return out
}

// Clone returns a deep copy of a.
func (a *API) Clone() *API {
	c := *a
	c.Hosts = slices.Clone(a.Hosts)
	c.Tags = slices.Clone(a.Tags)
	c.Upstream.Targets = slices.Clone(a.Upstream.Targets)
	for i, t := range c.Upstream.Targets {
		if t.Weight != nil {
			w := *t.Weight
			c.Upstream.Targets[i].Weight = &w
		}
	}
	if a.Upstream.HealthCheck != nil {
		h := *a.Upstream.HealthCheck
		c.Upstream.HealthCheck = &h
	}
	if a.Upstream.Passive != nil {
		pc := *a.Upstream.Passive
		pc.Statuses = slices.Clone(pc.Statuses)
		c.Upstream.Passive = &pc
	}
	if a.Upstream.TLS != nil {
		t := *a.Upstream.TLS
		c.Upstream.TLS = &t
	}
	c.Routes = slices.Clone(a.Routes)
	for i := range c.Routes {
		c.Routes[i].Methods = slices.Clone(a.Routes[i].Methods)
		c.Routes[i].Policies = clonePolicies(a.Routes[i].Policies)
	}
	c.Policies = clonePolicies(a.Policies)
	if a.Realtime != nil {
		rt := *a.Realtime
		c.Realtime = &rt
	}
	if a.Sunset != nil {
		s := *a.Sunset
		c.Sunset = &s
	}
	return &c
}

// OpenAPIHeadProblem says what is wrong with the start of an attached OpenAPI document,
// or "", as far as the standard library allows (the admin API and the dashboard check it
// before saving): a document that starts with "{" must be a JSON object with an "openapi" (3.x) or
// "swagger" (2.0) version string. Full parsing of both forms (the routes the gateway
// derives from it) is the CheckAPI hook's job, which the server wires to the gateway.
func OpenAPIHeadProblem(doc string) string {
	trimmed := strings.TrimSpace(doc)
	if !strings.HasPrefix(trimmed, "{") {
		return ""
	}
	var head struct {
		OpenAPI any `json:"openapi"`
		Swagger any `json:"swagger"`
	}
	if err := json.Unmarshal([]byte(trimmed), &head); err != nil {
		return "starts with { but is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	_, isOpenAPI := head.OpenAPI.(string)
	_, isSwagger := head.Swagger.(string)
	if !isOpenAPI && !isSwagger {
		return `must be an OpenAPI document: a JSON object with an "openapi" (or "swagger") version string`
	}
	return ""
}
