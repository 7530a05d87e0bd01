package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// setting is one leaf of Config. The table below is the one place that names a setting's
// YAML key, flag and checks; the environment variable is derived from the key, and a test
// holds the table to the struct's yaml tags.
type setting struct {
	key   string // YAML path, segments joined by "."
	flag  string // command-line flag without "--", "" when there is none
	usage string
	// ptr returns a pointer to the field in c: *string, *bool, *int, *int64 or
	// *gatehouse.Duration.
	ptr func(c *Config) any
	// check returns what is wrong with the field's value, or "".
	check func(c *Config) string
}

// env is the environment variable of s: GATEHOUSE_ and the upper-cased key, with "." as
// "_" (log.level is GATEHOUSE_LOG_LEVEL).
func (s setting) env() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

const (
	envPrefix = "GATEHOUSE_"
	// EnvConfig names the config file when --config is not given.
	EnvConfig = "GATEHOUSE_CONFIG"
	// FlagConfig is the flag naming the config file.
	FlagConfig = "config"
)

// settings returns the table of every setting, in the order of Config. It is a function,
// not a package variable, so nothing can mutate it.
func settings() []setting {
	return []setting{
		{key: "proxy_addr", flag: "proxy-addr", usage: "address of the proxy listener (API traffic)",
			ptr: func(c *Config) any { return &c.ProxyAddr }, check: func(c *Config) string { return checkAddr(c.ProxyAddr) }},
		{key: "admin_addr", flag: "admin-addr", usage: "address of the admin listener (admin API, dashboard, publish, metrics)",
			ptr: func(c *Config) any { return &c.AdminAddr }, check: func(c *Config) string { return checkAddr(c.AdminAddr) }},
		{key: "portal_addr", flag: "portal-addr", usage: "address of the developer portal listener",
			ptr: func(c *Config) any { return &c.PortalAddr }, check: func(c *Config) string { return checkAddr(c.PortalAddr) }},
		{key: "data_dir", flag: "data-dir", usage: "directory for the SQLite database and node state",
			ptr: func(c *Config) any { return &c.DataDir }, check: func(c *Config) string { return required(c.DataDir) }},
		{key: "store", flag: "store", usage: `store DSN: sqlite:PATH or postgres://... (default "sqlite:<data-dir>/gatehouse.db")`,
			ptr: func(c *Config) any { return &c.Store }, check: func(c *Config) string { return checkStore(c.Store) }},
		{key: "log.level", flag: "log-level", usage: "log level: debug, info, warn or error",
			ptr: func(c *Config) any { return &c.Log.Level }, check: func(c *Config) string { return oneOf(c.Log.Level, "debug", "info", "warn", "error") }},
		{key: "log.format", flag: "log-format", usage: "log format: text or json",
			ptr: func(c *Config) any { return &c.Log.Format }, check: func(c *Config) string { return oneOf(c.Log.Format, "text", "json") }},
		{key: "shutdown_timeout", flag: "shutdown-timeout", usage: "how long in-flight requests may drain on shutdown",
			ptr: func(c *Config) any { return &c.ShutdownTimeout }, check: func(c *Config) string { return nonNegative(c.ShutdownTimeout) }},
		{key: "read_header_timeout", usage: "how long a client may take to send request headers",
			ptr: func(c *Config) any { return &c.ReadHeaderTimeout }, check: func(c *Config) string { return positiveDuration(c.ReadHeaderTimeout) }},
		{key: "idle_timeout", usage: "how long an idle keep-alive connection stays open (0: no limit)",
			ptr: func(c *Config) any { return &c.IdleTimeout }, check: func(c *Config) string { return nonNegative(c.IdleTimeout) }},
		{key: "max_header_bytes", usage: "largest request header block accepted",
			ptr: func(c *Config) any { return &c.MaxHeaderBytes }, check: func(c *Config) string { return sizeRange(int64(c.MaxHeaderBytes), 4<<10, 64<<20) }},
		{key: "proxy_tls_addr", flag: "proxy-tls-addr", usage: "address of the proxy's TLS listener (used when tls.cert_file is set)",
			ptr: func(c *Config) any { return &c.ProxyTLSAddr }, check: func(c *Config) string { return checkAddr(c.ProxyTLSAddr) }},
		{key: "tls.cert_file", flag: "tls-cert-file", usage: "PEM certificate (chain) of the proxy's TLS listener; reloaded when it changes",
			ptr: func(c *Config) any { return &c.TLS.CertFile }, check: func(c *Config) string { return pairedFile(c.TLS.CertFile, c.TLS.KeyFile, "tls.key_file") }},
		{key: "tls.key_file", flag: "tls-key-file", usage: "PEM private key of tls.cert_file",
			ptr: func(c *Config) any { return &c.TLS.KeyFile }, check: func(c *Config) string { return pairedFile(c.TLS.KeyFile, c.TLS.CertFile, "tls.cert_file") }},
		{key: "tls.client_certs", usage: "ask TLS clients for a certificate, for APIs with the mtls policy",
			ptr: func(c *Config) any { return &c.TLS.ClientCerts }},
		{key: "h2c", usage: "serve cleartext HTTP/2 beside HTTP/1.1 on the proxy listener",
			ptr: func(c *Config) any { return &c.H2C }},
		{key: "proxy_server", usage: "HTTP/1.1 server of the cleartext proxy listener: gatehouse or net/http",
			ptr: func(c *Config) any { return &c.ProxyServer }, check: func(c *Config) string { return oneOf(c.ProxyServer, "gatehouse", "net/http") }},
		{key: "max_connections", usage: "most concurrent connections per proxy listener (0: no cap)",
			ptr: func(c *Config) any { return &c.MaxConnections }, check: func(c *Config) string { return sizeRange(int64(c.MaxConnections), 0, 1<<24) }},
		{key: "proxy_max_body", usage: "largest request body an API accepts unless it sets max_body_bytes",
			ptr: func(c *Config) any { return &c.ProxyMaxBody }, check: func(c *Config) string { return sizeRange(c.ProxyMaxBody, 1, 1<<50) }},
		{key: "read_timeout", usage: "how long reading a whole request may take on the proxy listener (0: no limit)",
			ptr: func(c *Config) any { return &c.ReadTimeout }, check: func(c *Config) string { return nonNegative(c.ReadTimeout) }},
		{key: "write_timeout", usage: "how long writing a whole response may take on the proxy listener (0: no limit)",
			ptr: func(c *Config) any { return &c.WriteTimeout }, check: func(c *Config) string { return nonNegative(c.WriteTimeout) }},
		{key: "admin_max_body", usage: "largest admin API request body",
			ptr: func(c *Config) any { return &c.AdminMaxBody }, check: func(c *Config) string { return sizeRange(c.AdminMaxBody, 1<<10, 1<<30) }},
		{key: "gc_percent", usage: "Go garbage collector target (GOGC) unless the GOGC environment variable is set",
			ptr: func(c *Config) any { return &c.GCPercent }, check: func(c *Config) string { return sizeRange(int64(c.GCPercent), 25, 10000) }},
		{key: "demo.enabled", flag: "demo", usage: "seed a demo upstream, APIs, plans, a developer and a key",
			ptr: func(c *Config) any { return &c.Demo.Enabled }},
		{key: "demo.upstream_addr", flag: "demo-upstream-addr", usage: "address of the built-in demo upstream",
			ptr: func(c *Config) any { return &c.Demo.UpstreamAddr }, check: func(c *Config) string { return checkAddr(c.Demo.UpstreamAddr) }},
		{key: "addr_file", flag: "addr-file", usage: "write the bound listener addresses to this file as JSON",
			ptr: func(c *Config) any { return &c.AddrFile }},
		{key: "redis.url", flag: "redis-url", usage: "Redis for shared limits, quotas and caches: redis://[:password@]host:port/db or rediss://",
			ptr: func(c *Config) any { return &c.Redis.URL }, check: func(c *Config) string { return checkRedis(c) }},
		{key: "redis.prefix", usage: "prefix of every Redis key Gatehouse writes",
			ptr: func(c *Config) any { return &c.Redis.Prefix }},
		{key: "limits.backend", usage: "rate limiter: memory (per node) or redis (shared across nodes)",
			ptr: func(c *Config) any { return &c.Limits.Backend }, check: func(c *Config) string { return oneOf(c.Limits.Backend, "memory", "redis") }},
		{key: "limits.fallback", usage: "while Redis is unreachable: local (limit per node) or closed (reject with 503)",
			ptr: func(c *Config) any { return &c.Limits.Fallback }, check: func(c *Config) string { return oneOf(c.Limits.Fallback, "local", "closed") }},
		{key: "quota.backend", usage: "quota counters: store (memory, persisted every flush_interval) or redis (exact across nodes)",
			ptr: func(c *Config) any { return &c.Quota.Backend }, check: func(c *Config) string { return oneOf(c.Quota.Backend, "store", "redis") }},
		{key: "quota.flush_interval", usage: "how often store-backed quota counters are written",
			ptr: func(c *Config) any { return &c.Quota.FlushInterval }, check: func(c *Config) string { return positiveDuration(c.Quota.FlushInterval) }},
		{key: "cache.backend", usage: "response cache: memory or redis",
			ptr: func(c *Config) any { return &c.Cache.Backend }, check: func(c *Config) string { return oneOf(c.Cache.Backend, "memory", "redis") }},
		{key: "cache.max_bytes", usage: "size bound of the memory response cache",
			ptr: func(c *Config) any { return &c.Cache.MaxBytes }, check: func(c *Config) string { return sizeRange(c.Cache.MaxBytes, 1<<20, 1<<40) }},
		{key: "realtime.sig_key", usage: `Grip-Sig signing key for realtime APIs without their own ("base64:..." for binary)`,
			ptr: func(c *Config) any { return &c.Realtime.SigKey }, check: func(c *Config) string { return required(c.Realtime.SigKey) }},
		{key: "realtime.sig_iss", usage: "Grip-Sig issuer for realtime APIs without their own",
			ptr: func(c *Config) any { return &c.Realtime.SigIssuer }},
		{key: "realtime.publish_key", usage: "key of HS256 JWTs that publishers may present instead of an admin token",
			ptr: func(c *Config) any { return &c.Realtime.PublishKey }},
		{key: "realtime.publish_addr", flag: "publish-addr", usage: "dedicated listener for the publish API (like Pushpin's 5561); it is on the admin listener too",
			ptr: func(c *Config) any { return &c.Realtime.PublishAddr }, check: func(c *Config) string { return optionalAddr(c.Realtime.PublishAddr) }},
		{key: "realtime.broker", usage: "realtime fan-out: memory (this node) or nats (every node)",
			ptr: func(c *Config) any { return &c.Realtime.Broker }, check: func(c *Config) string { return oneOf(c.Realtime.Broker, "memory", "nats") }},
		{key: "realtime.nats_url", usage: "NATS server of the nats realtime broker: nats://host:port",
			ptr: func(c *Config) any { return &c.Realtime.NATSURL }, check: func(c *Config) string { return checkNATSURL(c.Realtime.NATSURL) }},
		{key: "realtime.nats_prefix", usage: "prefix of the NATS subjects of the realtime broker",
			ptr: func(c *Config) any { return &c.Realtime.NATSPrefix }, check: func(c *Config) string { return required(c.Realtime.NATSPrefix) }},
		{key: "analytics.enabled", usage: "record every request: rollups, live stream, metrics, alerts",
			ptr: func(c *Config) any { return &c.Analytics.Enabled }},
		{key: "analytics.queue_size", usage: "events that may wait for the recorder before new ones are dropped (and counted)",
			ptr: func(c *Config) any { return &c.Analytics.QueueSize }, check: func(c *Config) string { return sizeRange(int64(c.Analytics.QueueSize), 1024, 1<<24) }},
		{key: "analytics.flush_interval", usage: "how often this node writes its partial rollups",
			ptr: func(c *Config) any { return &c.Analytics.FlushInterval }, check: func(c *Config) string { return positiveDuration(c.Analytics.FlushInterval) }},
		{key: "analytics.minute_retention", usage: "how long per-minute rollups are kept (0: forever)",
			ptr: func(c *Config) any { return &c.Analytics.MinuteRetention }, check: func(c *Config) string { return nonNegative(c.Analytics.MinuteRetention) }},
		{key: "analytics.hour_retention", usage: "how long per-hour rollups are kept (0: forever)",
			ptr: func(c *Config) any { return &c.Analytics.HourRetention }, check: func(c *Config) string { return nonNegative(c.Analytics.HourRetention) }},
		{key: "analytics.day_retention", usage: "how long per-day rollups are kept (0: forever)",
			ptr: func(c *Config) any { return &c.Analytics.DayRetention }, check: func(c *Config) string { return nonNegative(c.Analytics.DayRetention) }},
		{key: "analytics.request_retention", usage: "how long the raw request log is kept (0: forever)",
			ptr: func(c *Config) any { return &c.Analytics.RequestRetention }, check: func(c *Config) string { return nonNegative(c.Analytics.RequestRetention) }},
		{key: "analytics.request_log_percent", usage: "percentage of requests written to the raw request log (0: off)",
			ptr: func(c *Config) any { return &c.Analytics.RequestLogPercent }, check: func(c *Config) string { return sizeRange(int64(c.Analytics.RequestLogPercent), 0, 100) }},
		{key: "analytics.access_log", flag: "access-log", usage: `JSON access log: "" (off), stdout, stderr or a file path`,
			ptr: func(c *Config) any { return &c.Analytics.AccessLog }},
		{key: "analytics.alerts", usage: "evaluate alert rules on this node",
			ptr: func(c *Config) any { return &c.Analytics.Alerts }},
		{key: "analytics.compactor", usage: "merge and prune rollups on this node (one node per shared store)",
			ptr: func(c *Config) any { return &c.Analytics.Compactor }},
		{key: "portal.name", usage: "name heading every portal page",
			ptr: func(c *Config) any { return &c.Portal.Name }, check: func(c *Config) string { return required(c.Portal.Name) }},
		{key: "portal.logo", usage: "image file (PNG, JPEG, SVG, WebP) shown beside the portal's name",
			ptr: func(c *Config) any { return &c.Portal.Logo }, check: func(c *Config) string { return checkLogo(c.Portal.Logo) }},
		{key: "portal.primary_color", usage: "portal's main colour, #rgb or #rrggbb",
			ptr: func(c *Config) any { return &c.Portal.PrimaryColor }, check: func(c *Config) string { return checkColor(c.Portal.PrimaryColor) }},
		{key: "portal.accent_color", usage: "portal's accent colour, #rgb or #rrggbb",
			ptr: func(c *Config) any { return &c.Portal.AccentColor }, check: func(c *Config) string { return checkColor(c.Portal.AccentColor) }},
		{key: "portal.home", usage: "Markdown file shown above the catalogue (raw HTML is not rendered)",
			ptr: func(c *Config) any { return &c.Portal.Home }},
		{key: "portal.signup", usage: "let developers sign up on the portal",
			ptr: func(c *Config) any { return &c.Portal.SignUp }},
		{key: "portal.approval", usage: "new developers: auto (active at once) or manual (an operator approves them)",
			ptr: func(c *Config) any { return &c.Portal.Approval }, check: func(c *Config) string { return oneOf(c.Portal.Approval, "auto", "manual") }},
		{key: "portal.url", usage: "portal's public URL, for password reset links (default: its listener)",
			ptr: func(c *Config) any { return &c.Portal.URL }, check: func(c *Config) string { return checkHTTPURL(c.Portal.URL) }},
		{key: "portal.gateway_url", usage: "gateway's public URL shown to developers and used by try-it (default: the proxy listener)",
			ptr: func(c *Config) any { return &c.Portal.GatewayURL }, check: func(c *Config) string { return checkHTTPURL(c.Portal.GatewayURL) }},
		{key: "portal.secure_cookies", usage: "mark portal and dashboard session cookies Secure on every request (behind a TLS proxy)",
			ptr: func(c *Config) any { return &c.Portal.SecureCookies }},
		{key: "portal.smtp.addr", usage: "SMTP relay host:port for password reset mail (empty: links are logged for operators)",
			ptr: func(c *Config) any { return &c.Portal.SMTP.Addr }, check: func(c *Config) string { return optionalAddr(c.Portal.SMTP.Addr) }},
		{key: "portal.smtp.from", usage: "sender address of portal mail",
			ptr: func(c *Config) any { return &c.Portal.SMTP.From }, check: func(c *Config) string {
				if c.Portal.SMTP.Addr != "" && c.Portal.SMTP.From == "" {
					return "is required when portal.smtp.addr is set"
				}
				return ""
			}},
		{key: "portal.smtp.username", usage: "SMTP user (PLAIN auth, only over TLS)",
			ptr: func(c *Config) any { return &c.Portal.SMTP.Username }},
		{key: "portal.smtp.password", usage: "SMTP password",
			ptr: func(c *Config) any { return &c.Portal.SMTP.Password }},
		{key: "tracing.otlp_endpoint", usage: "OTLP/HTTP traces URL to export spans to (empty: none)",
			ptr: func(c *Config) any { return &c.Tracing.OTLPEndpoint }, check: func(c *Config) string { return checkHTTPURL(c.Tracing.OTLPEndpoint) }},
		{key: "tracing.sample_percent", usage: "percentage of traces exported",
			ptr: func(c *Config) any { return &c.Tracing.SamplePercent }, check: func(c *Config) string { return sizeRange(int64(c.Tracing.SamplePercent), 0, 100) }},
	}
}

func optionalAddr(a string) string {
	if a == "" {
		return ""
	}
	return checkAddr(a)
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func checkColor(s string) string {
	if s != "" && !colorRE.MatchString(s) {
		return "must be a colour as #rgb or #rrggbb"
	}
	return ""
}

func checkLogo(s string) string {
	if s == "" {
		return ""
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".png", ".jpg", ".jpeg", ".svg", ".webp":
		return ""
	}
	return "must be a .png, .jpg, .svg or .webp file"
}

func checkHTTPURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an http:// or https:// URL"
	}
	return ""
}

func checkNATSURL(s string) string {
	if s == "" {
		return ""
	}
	for one := range strings.SplitSeq(s, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return "must be nats://host:port (or tls://), comma-separated for a cluster"
		}
	}
	return ""
}

// checkRedis requires a redis URL when a backend uses Redis, and checks its form.
func checkRedis(c *Config) string {
	uses := c.Limits.Backend == "redis" || c.Quota.Backend == "redis" || c.Cache.Backend == "redis"
	if c.Redis.URL == "" {
		if uses {
			return "required when a backend is redis"
		}
		return ""
	}
	u, err := url.Parse(c.Redis.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return "must be redis://host:port[/db] or rediss://..."
	}
	return ""
}

// setValue parses s into the field p points to. Errors are messages for an operator.
func setValue(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		*p = b
	case *int64:
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		*p = n
	case *int:
		n, err := parseSize(s)
		if err != nil {
			return err
		}
		if int64(int(n)) != n {
			return fmt.Errorf("%q is too large", s)
		}
		*p = int(n)
	case *gatehouse.Duration:
		return p.UnmarshalText([]byte(s))
	default:
		return fmt.Errorf("unsupported setting type %T", p) // a bug in the settings table
	}
	return nil
}

// parseSize reads a byte count: a plain integer or one with a unit (KiB, MiB, GiB, or the
// decimal KB, MB, GB), so that "8MiB" can be written for 8388608.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	units := []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1}}
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size in bytes such as 8388608 or \"8MiB\", got %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// pairedFile checks one of two settings that go together.
func pairedFile(this, other, otherKey string) string {
	if this == "" && other != "" {
		return "must be set together with " + otherKey
	}
	return ""
}

func required(s string) string {
	if s == "" {
		return "must not be empty"
	}
	return ""
}

func oneOf(s string, allowed ...string) string {
	for _, a := range allowed {
		if s == a {
			return ""
		}
	}
	return fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", "))
}

func nonNegative(d gatehouse.Duration) string {
	if d < 0 {
		return "must not be negative"
	}
	return ""
}

func positiveDuration(d gatehouse.Duration) string {
	if d.D() < time.Millisecond {
		return "must be at least 1ms"
	}
	return ""
}

func sizeRange(n, lo, hi int64) string {
	if n < lo || n > hi {
		return fmt.Sprintf("must be between %s and %s", formatSize(lo), formatSize(hi))
	}
	return ""
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// checkAddr accepts what net.Listen("tcp", addr) accepts for a listener: host:port with a
// numeric port, and a host that is empty (all interfaces), an IP address or a name.
func checkAddr(s string) string {
	const want = `must be host:port with a numeric port, such as ":8000" or "127.0.0.1:8001"`
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q: %s", s, want)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Sprintf("%q: %s", s, err)
	}
	if host != "" && !validIP(host) && !validHostname(host) {
		return fmt.Sprintf("%q: host %q is neither an IP address nor a host name", s, host)
	}
	return ""
}

func parsePort(p string) (int, error) {
	if p == "" {
		return 0, errors.New("port is missing")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return n, nil
}

func validIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkStore accepts the DSN schemes a store implementation exists for. It never quotes
// the DSN: a postgres URL may hold a password.
func checkStore(s string) string {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		if strings.TrimPrefix(s, "sqlite:") == "" {
			return `sqlite needs a path, as in "sqlite:./gatehouse-data/gatehouse.db"`
		}
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return "is not a valid postgres:// URL"
		}
	default:
		const want = `must be "sqlite:PATH" or a "postgres://" URL`
		if scheme, _, ok := strings.Cut(s, ":"); ok && isSchemeName(scheme) {
			return fmt.Sprintf("unsupported scheme %q: %s", scheme, want)
		}
		return want
	}
	return ""
}

// isSchemeName reports whether s looks like a URL scheme, and so is safe to quote back.
func isSchemeName(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// listenerConflicts reports listeners of c that would bind the same port: the later one
// fails at start, so say so now. It returns pairs of setting keys.
func listenerConflicts(c *Config) [][2]string {
	type l struct{ key, addr string }
	ls := []l{{"proxy_addr", c.ProxyAddr}, {"admin_addr", c.AdminAddr}, {"portal_addr", c.PortalAddr}}
	if c.TLS.Enabled() {
		ls = append(ls, l{"proxy_tls_addr", c.ProxyTLSAddr})
	}
	if c.Demo.Enabled {
		ls = append(ls, l{"demo.upstream_addr", c.Demo.UpstreamAddr})
	}
	var out [][2]string
	for i := range ls {
		for j := range i {
			if sameListener(ls[j].addr, ls[i].addr) {
				out = append(out, [2]string{ls[i].key, ls[j].key})
				break
			}
		}
	}
	return out
}

func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, errA := parsePort(pa)
	nb, errB := parsePort(pb)
	if errA != nil || errB != nil || na == 0 || na != nb {
		return false // port 0 picks a free port each time
	}
	return ha == hb || anyHost(ha) || anyHost(hb)
}

// anyHost reports whether h binds every interface.
func anyHost(h string) bool {
	if h == "" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsUnspecified()
}
