// Package config holds the settings of one Gatehouse node (listener addresses, data
// directory, store, logging, timeouts and limits) and loads them from defaults, a YAML
// file, GATEHOUSE_* environment variables and command-line flags, each layer overriding the
// one before.
//
// The package does no I/O of its own: Load takes the environment and a file reader as
// functions, so callers and tests decide where settings come from. Every problem is
// reported at once, each with where the bad value came from (file:line:col, an environment
// variable or a flag), so an operator fixes a file in one pass.
package config

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Config is the configuration of one node. The zero value is not useful; start from
// Default, Load or Parse.
type Config struct {
	// ProxyAddr is where API traffic and realtime connections arrive.
	ProxyAddr string `yaml:"proxy_addr"`
	// AdminAddr serves the admin API, dashboard, publish endpoint and metrics. It defaults
	// to loopback because it carries the keys to everything.
	AdminAddr string `yaml:"admin_addr"`
	// PortalAddr serves the developer portal.
	PortalAddr string `yaml:"portal_addr"`
	// DataDir holds the SQLite database and other node-local state.
	DataDir string `yaml:"data_dir"`
	// Store is the DSN of the store: "sqlite:PATH" or "postgres://...". It defaults to
	// "sqlite:" + DataDir + "/gatehouse.db", following DataDir wherever it is set.
	Store string `yaml:"store"`
	// Log configures the node's log/slog output.
	Log Log `yaml:"log"`
	// ShutdownTimeout is how long in-flight requests may drain after a stop signal before
	// connections are closed; 0 closes them at once.
	ShutdownTimeout gatehouse.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers on every
	// listener, so slow clients cannot hold connections open for free (http.Server field).
	ReadHeaderTimeout gatehouse.Duration `yaml:"read_header_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next request on
	// every listener; 0 means no limit (http.Server field).
	IdleTimeout gatehouse.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the size of request headers on every listener (http.Server
	// field).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ProxyTLSAddr is where the proxy listens for TLS (HTTP/1.1 and HTTP/2) when TLS has a
	// certificate; unused otherwise.
	ProxyTLSAddr string `yaml:"proxy_tls_addr"`
	// TLS holds the proxy's certificate, reloaded from its files when they change.
	TLS TLS `yaml:"tls"`
	// H2C serves cleartext HTTP/2 (prior knowledge; not Upgrade: h2c) on the proxy listener
	// beside HTTP/1.1, for service meshes and gRPC clients inside a trusted network.
	H2C bool `yaml:"h2c"`
	// ProxyServer is what serves HTTP/1.1 on the cleartext proxy listener: "gatehouse"
	// (internal/h1server, lean per-request costs; the default) or "net/http" (the
	// standard library's server, the fallback). TLS listeners always use net/http.
	ProxyServer string `yaml:"proxy_server"`
	// MaxConnections caps concurrent connections per proxy listener; further clients wait
	// in the accept queue. 0 means no cap.
	MaxConnections int `yaml:"max_connections"`
	// ProxyMaxBody is the largest request body an API accepts unless the API sets its own
	// max_body_bytes. Bodies stream, so this is a policy limit, not a memory one.
	ProxyMaxBody int64 `yaml:"proxy_max_body"`
	// ReadTimeout and WriteTimeout bound a whole request read and response write on the
	// proxy listener; 0 means none, which streaming uploads, downloads and SSE need. Per-API
	// upstream timeouts bound the wait for an upstream instead.
	ReadTimeout  gatehouse.Duration `yaml:"read_timeout"`
	WriteTimeout gatehouse.Duration `yaml:"write_timeout"`
	// AdminMaxBody bounds the size of an admin API request body, in bytes. It must leave
	// room for OpenAPI documents (gatehouse.MaxOpenAPIBytes).
	AdminMaxBody int64 `yaml:"admin_max_body"`
	// GCPercent is the Go garbage collector's target (GOGC) when the GOGC environment
	// variable is not set. A proxy's live heap is small and its garbage is per request, so
	// collecting less often buys CPU for little memory.
	GCPercent int `yaml:"gc_percent"`
	// Demo seeds the node with a demo upstream and sample resources.
	Demo Demo `yaml:"demo"`
	// AddrFile, when set, names a file the node writes the bound listener addresses to, as
	// JSON, once it listens. Tests and scripts use it with ":0" addresses.
	AddrFile string `yaml:"addr_file"`
	// Redis is the Redis server that shared limits, quotas and caches use when their
	// backend is "redis".
	Redis Redis `yaml:"redis"`
	// Limits configures the rate limiter behind rate-limit policies and plan rate limits.
	Limits Limits `yaml:"limits"`
	// Quota configures the counters behind quota policies and plan quotas.
	Quota Quota `yaml:"quota"`
	// Cache configures the response cache behind cache policies.
	Cache Cache `yaml:"cache"`
	// Realtime configures the GRIP proxy, its publish API and the broker between nodes.
	Realtime Realtime `yaml:"realtime"`
	// Analytics configures request capture, rollups, their retention and the access log.
	Analytics Analytics `yaml:"analytics"`
	// Portal configures the developer portal: branding, sign-up and mail.
	Portal Portal `yaml:"portal"`
	// Tracing configures OpenTelemetry export of request spans.
	Tracing Tracing `yaml:"tracing"`
}

// Analytics configures built-in analytics.
type Analytics struct {
	// Enabled records every request as an event (rollups, live stream, metrics, alerts).
	Enabled bool `yaml:"enabled"`
	// QueueSize bounds the events waiting for the recorder; beyond it they are dropped and
	// counted, never waited for.
	QueueSize int `yaml:"queue_size"`
	// FlushInterval is how often this node writes its partial rollups to the store.
	FlushInterval gatehouse.Duration `yaml:"flush_interval"`
	// Retention of per-minute, per-hour and per-day rollups, and of the raw request log.
	MinuteRetention  gatehouse.Duration `yaml:"minute_retention"`
	HourRetention    gatehouse.Duration `yaml:"hour_retention"`
	DayRetention     gatehouse.Duration `yaml:"day_retention"`
	RequestRetention gatehouse.Duration `yaml:"request_retention"`
	// RequestLogPercent samples this percentage of requests into the raw request log.
	RequestLogPercent int `yaml:"request_log_percent"`
	// AccessLog writes one JSON line per request: "" (off), "stdout", "stderr" or a file.
	AccessLog string `yaml:"access_log"`
	// Alerts evaluates alert rules on this node.
	Alerts bool `yaml:"alerts"`
	// Compactor merges and prunes rollups on this node. With several nodes on one
	// PostgreSQL, exactly one should.
	Compactor bool `yaml:"compactor"`
}

// Portal configures the developer portal.
type Portal struct {
	// Name heads every page.
	Name string `yaml:"name"`
	// Logo is an image file (PNG, JPEG, SVG or WebP) shown beside the name.
	Logo string `yaml:"logo"`
	// PrimaryColor and AccentColor are #rgb or #rrggbb.
	PrimaryColor string `yaml:"primary_color"`
	AccentColor  string `yaml:"accent_color"`
	// Home is a Markdown file shown above the catalogue (sanitised: no raw HTML).
	Home string `yaml:"home"`
	// SignUp lets developers create accounts themselves.
	SignUp bool `yaml:"signup"`
	// Approval is "auto" (new developers are active at once) or "manual" (pending until
	// an operator approves them in the dashboard).
	Approval string `yaml:"approval"`
	// URL is the portal's public URL, used in password reset links (default: its listener).
	URL string `yaml:"url"`
	// GatewayURL is the gateway's public URL shown to developers and used by the try-it
	// console (default: the proxy listener).
	GatewayURL string `yaml:"gateway_url"`
	// SecureCookies marks the portal's and the dashboard's session cookies Secure on every
	// request, for nodes behind a TLS-terminating proxy that sends no X-Forwarded-Proto
	// (they are Secure anyway on TLS and forwarded-https requests).
	SecureCookies bool `yaml:"secure_cookies"`
	// SMTP sends password reset links by mail when Addr is set; otherwise they are
	// logged and an operator delivers them from the dashboard.
	SMTP SMTP `yaml:"smtp"`
}

// SMTP is a mail relay.
type SMTP struct {
	Addr     string `yaml:"addr"` // host:port; STARTTLS is used when offered
	From     string `yaml:"from"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Tracing configures span export.
type Tracing struct {
	// OTLPEndpoint is an OTLP/HTTP traces URL (e.g. http://127.0.0.1:4318/v1/traces); ""
	// exports nothing (trace context is still propagated upstream).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SamplePercent of traces are exported.
	SamplePercent int `yaml:"sample_percent"`
}

// Realtime configures realtime (GRIP) serving on this node.
type Realtime struct {
	// SigKey signs Grip-Sig for APIs that set no sig_key. Pushpin's default is "changeme";
	// so is ours, so that origins written for Pushpin verify unchanged, with a warning.
	SigKey string `yaml:"sig_key"`
	// SigIssuer is the Grip-Sig iss claim for APIs that set none.
	SigIssuer string `yaml:"sig_iss"`
	// PublishKey, when set, lets publishers authenticate with a JWT signed with it (HS256,
	// as GRIP libraries do with GRIP_URL's key=), besides an admin token.
	PublishKey string `yaml:"publish_key"`
	// PublishAddr, when set, is a dedicated listener for the publish API (like Pushpin's
	// 5561). The publish API is always on the admin listener too.
	PublishAddr string `yaml:"publish_addr"`
	// Broker is "memory" (publishes reach this node only) or "nats" (every node).
	Broker string `yaml:"broker"`
	// NATSURL is the NATS server of the nats broker.
	NATSURL string `yaml:"nats_url"`
	// NATSPrefix starts every NATS subject, so deployments can share a server.
	NATSPrefix string `yaml:"nats_prefix"`
}

// Redis locates the Redis server.
type Redis struct {
	// URL is redis://[:password@]host:port/db or rediss:// for TLS; "" means none.
	URL string `yaml:"url"`
	// Prefix starts every key Gatehouse writes, so several deployments can share a server.
	Prefix string `yaml:"prefix"`
}

// Limits picks the rate limiter.
type Limits struct {
	// Backend is "memory" (each node limits alone) or "redis" (limits hold across nodes).
	Backend string `yaml:"backend"`
	// Fallback is what a redis limiter does while Redis is unreachable: "local" (each
	// node enforces the limits alone) or "closed" (reject with 503).
	Fallback string `yaml:"fallback"`
}

// Quota picks the quota counters.
type Quota struct {
	// Backend is "store" (counted in memory, persisted to the store every FlushInterval)
	// or "redis" (counted in Redis: exact across nodes).
	Backend string `yaml:"backend"`
	// FlushInterval is how often store-backed counters are written.
	FlushInterval gatehouse.Duration `yaml:"flush_interval"`
}

// Cache picks the response cache.
type Cache struct {
	// Backend is "memory" or "redis".
	Backend string `yaml:"backend"`
	// MaxBytes bounds the memory cache.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// TLS names the proxy's certificate and key files (PEM). Both or neither.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCerts asks TLS clients for a certificate (without requiring or verifying one
	// here: the mtls policy verifies it against each API's own CA).
	ClientCerts bool `yaml:"client_certs"`
}

// Enabled reports whether the proxy serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Demo configures demo mode (`gatehouse serve --demo`).
type Demo struct {
	Enabled bool `yaml:"enabled"`
	// UpstreamAddr is where the built-in demo upstream listens.
	UpstreamAddr string `yaml:"upstream_addr"`
}

// Defaults of the settings whose values are more than a literal in Default.
const (
	DefaultDataDir      = "./gatehouse-data"
	DefaultAdminMaxBody = 8 << 20
	// DefaultMaxHeaderBytes matches net/http's own default.
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultMaxConnections is generous for one node and still bounds file descriptors.
	DefaultMaxConnections = 16384
	DefaultProxyMaxBody   = 1 << 30
)

// Default returns the settings a node runs with when nothing is configured.
func Default() Config {
	c := defaults()
	c.deriveStore()
	return c
}

// defaults is Default without the derived store DSN, so that loading can tell whether a
// layer set the store or it should follow the final data directory.
func defaults() Config {
	return Config{
		ProxyAddr:         ":8000",
		AdminAddr:         "127.0.0.1:8001",
		PortalAddr:        ":8002",
		DataDir:           DefaultDataDir,
		Log:               Log{Level: "info", Format: "text"},
		ShutdownTimeout:   gatehouse.Duration(30 * time.Second),
		ReadHeaderTimeout: gatehouse.Duration(10 * time.Second),
		IdleTimeout:       gatehouse.Duration(2 * time.Minute),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		AdminMaxBody:      DefaultAdminMaxBody,
		ProxyTLSAddr:      ":8443",
		H2C:               true,
		ProxyServer:       "gatehouse",
		MaxConnections:    DefaultMaxConnections,
		ProxyMaxBody:      DefaultProxyMaxBody,
		Demo:              Demo{UpstreamAddr: "127.0.0.1:8009"},
		Redis:             Redis{Prefix: "gatehouse:"},
		Limits:            Limits{Backend: "memory", Fallback: "local"},
		Quota:             Quota{Backend: "store", FlushInterval: gatehouse.Duration(time.Second)},
		Cache:             Cache{Backend: "memory", MaxBytes: 64 << 20},
		GCPercent:         400,
		Realtime:          Realtime{SigKey: "changeme", SigIssuer: "gatehouse", Broker: "memory", NATSPrefix: "gatehouse.rt"},
		Analytics: Analytics{Enabled: true, QueueSize: 65536, FlushInterval: gatehouse.Duration(5 * time.Second),
			MinuteRetention: gatehouse.Duration(48 * time.Hour), HourRetention: gatehouse.Duration(90 * 24 * time.Hour),
			DayRetention: gatehouse.Duration(730 * 24 * time.Hour), RequestRetention: gatehouse.Duration(7 * 24 * time.Hour), Alerts: true, Compactor: true},
		Tracing: Tracing{SamplePercent: 100},
		Portal:  Portal{Name: "Gatehouse developer portal", SignUp: true, Approval: "auto"},
	}
}

// deriveStore fills an unset Store from DataDir.
func (c *Config) deriveStore() {
	if c.Store != "" || c.DataDir == "" {
		return
	}
	// Not filepath.Join: it would turn "./gatehouse-data" into "gatehouse-data", and the
	// DSN is clearer when it repeats the directory as the operator wrote it.
	dir := strings.TrimRight(c.DataDir, `/\`)
	c.Store = "sqlite:" + dir + "/gatehouse.db"
}

// Redacted returns a copy of c that is safe to log or print: the password of a postgres
// store DSN is masked.
func (c Config) Redacted() Config {
	if strings.HasPrefix(c.Store, "postgres") {
		if u, err := url.Parse(c.Store); err == nil {
			c.Store = u.Redacted()
		} else {
			c.Store = "postgres://(unparsable DSN redacted)"
		}
	}
	return c
}

// Logger returns a slog logger writing to w in c's format at c's level. Unknown values
// fall back to text at info; Load has rejected them already.
func Logger(c Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
