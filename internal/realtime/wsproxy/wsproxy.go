// Package wsproxy is the WebSocket edge of the realtime proxy, as Pushpin 1.36
// behaves: client WebSockets are either converted to WebSocket-over-HTTP
// requests to the origin (Pushpin's over_http, grip.md §2) or proxied as
// WebSockets with the grip extension offered. In both, an origin that accepts
// grip can subscribe the connection to channels with "c:" control messages,
// and published ws-message items are delivered to it.
//
// Memory is the main design constraint: Serve returns after the upgrade so the
// net/http handler's buffers are freed; an idle over-HTTP connection holds one
// reader goroutine blocked on its socket with no buffers, and writes to clients
// are done by a small shared writer pool from a per-connection frame queue.
package wsproxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/settle"
)

// Config is one API's realtime WebSocket settings.
type Config struct {
	API           string
	ChannelPrefix string // prepended to channels in subscribe/unsubscribe (Pushpin's prefix=)
	OverHTTP      bool   // client WebSockets become WebSocket-over-HTTP POSTs; otherwise proxied as WebSockets with GRIP offered
	Debug         bool
	Limits        meter.Limits
}

// Response is an origin response read by the gateway (Body complete, at most 1,000,000 bytes).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Origin is how the proxy reaches the origin; the gateway implements it
// through the API's upstream pool, adding Grip-Sig, Grip-Feature and
// forwarding headers.
type Origin interface {
	// Post sends one WebSocket-over-HTTP request to the client's URI with
	// exactly these headers and body.
	Post(ctx context.Context, header http.Header, body []byte) (*Response, error)
	// Upgrade performs the client's WebSocket handshake against the origin
	// with these headers (for the non-OverHTTP mode). A 101 response's Body is
	// an io.ReadWriteCloser carrying the origin connection; any other response
	// is relayed to the client.
	Upgrade(ctx context.Context, header http.Header) (*http.Response, error)
}

// Options configures a Proxy.
type Options struct {
	Fanout       *fanout.Fanout
	Meter        *meter.Meter // nil: no accounting
	Logger       *slog.Logger
	WriteTimeout time.Duration // one write to a client; default 10s
	// Settle, when set, is told of every connection, to return memory after a burst.
	Settle *settle.Settler
}

// Stats are the proxy's counters since New.
type Stats struct {
	Connections      int64  `json:"connections"`       // open now
	ConnectionsTotal uint64 `json:"connections_total"` // accepted since start
	Rejected         uint64 `json:"rejected"`          // handshakes refused (origin, limit, failure)
	MessagesIn       uint64 `json:"messages_in"`       // client messages received
	MessagesOut      uint64 `json:"messages_out"`      // data frames queued to clients
	Published        uint64 `json:"published"`         // publishes delivered to clients
	OriginRequests   uint64 `json:"origin_requests"`   // WebSocket-over-HTTP requests made
	OriginErrors     uint64 `json:"origin_errors"`     // failed requests (after retries) and bad responses
	SlowClients      uint64 `json:"slow_clients"`      // connections dropped for a full write queue
}

// Defaults and limits not given by Pushpin.
const (
	defaultWriteTimeout = 10 * time.Second
	// requestTimeout bounds one origin request so a hung origin cannot pin a
	// connection forever.
	requestTimeout = 60 * time.Second
	// closeWait is how long a close handshake we started waits for the
	// client's reply before the TCP connection is dropped.
	closeWait = 5 * time.Second
	// maxMessage caps one client (or plain-mode origin) message; bigger ones
	// close the connection with 1009.
	maxMessage = 1 << 20
	// maxQueue caps bytes waiting to be written to one client; a client that
	// falls this far behind is dropped rather than buffering without bound.
	maxQueue = 4 << 20
	// maxRetries and the backoff are Pushpin's (grip.md §2.1).
	maxRetries = 5
)

// Proxy serves client WebSockets. It is safe for concurrent use.
type Proxy struct {
	fan  *fanout.Fanout
	met  *meter.Meter
	log  *slog.Logger
	wt   time.Duration
	pool *writerPool
	set  *settle.Settler
	// kaOverride replaces a Keep-Alive-Interval in tests, which cannot wait
	// for the 20 s floor.
	kaOverride time.Duration

	ctx    context.Context // cancelled by Close: aborts origin requests and retries
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool

	open                                              atomic.Int64
	total, rejected, msgIn, msgOut, published         atomic.Uint64
	originRequests, originErrors, slowClients, nextID atomic.Uint64
}

// New returns a Proxy; its writer goroutines run until Close.
func New(opts Options) *Proxy {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		fan: opts.Fanout, met: opts.Meter, log: opts.Logger, wt: opts.WriteTimeout, set: opts.Settle,
		ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{},
	}
	// Enough workers that a few clients stuck until their write deadline do
	// not stall everyone else.
	p.pool = newWriterPool(max(16, 4*runtime.GOMAXPROCS(0)))
	return p
}

// Serve handles a client WebSocket upgrade request r (already authenticated
// by the gateway; app is its app name or ""). It returns once the connection
// is handed to its own goroutines.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, cfg *Config, app string, origin Origin) {
	if !isUpgrade(r) {
		p.rejected.Add(1)
		problem.Write(w, http.StatusBadRequest, "websocket_handshake", "not a valid WebSocket upgrade request")
		return
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.rejected.Add(1)
		problem.Write(w, http.StatusServiceUnavailable, "shutting_down", "the realtime proxy is shutting down")
		return
	}
	var mc *meter.Conn
	if p.met != nil {
		var ok bool
		if mc, ok = p.met.Open(meter.Key{API: cfg.API, App: app}, cfg.Limits); !ok {
			p.rejected.Add(1)
			problem.Write(w, http.StatusTooManyRequests, "realtime_connection_limit",
				"this app holds the maximum number of realtime connections to this API")
			return
		}
	}
	c := &conn{p: p, cfg: cfg, origin: origin, mc: mc}
	var ok bool
	if cfg.OverHTTP {
		ok = p.openOverHTTP(c, w, r)
	} else {
		ok = p.openPlain(c, w, r)
	}
	if !ok {
		p.rejected.Add(1)
		mc.Close()
	}
}

// isUpgrade checks the handshake before the origin is contacted, so an
// invalid request never costs an OPEN round trip; gobwas checks it again.
func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		len(r.Header.Get("Sec-WebSocket-Key")) == 24 &&
		r.Header.Get("Sec-WebSocket-Version") == "13"
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Connections: p.open.Load(), ConnectionsTotal: p.total.Load(), Rejected: p.rejected.Load(),
		MessagesIn: p.msgIn.Load(), MessagesOut: p.msgOut.Load(), Published: p.published.Load(),
		OriginRequests: p.originRequests.Load(), OriginErrors: p.originErrors.Load(),
		SlowClients: p.slowClients.Load(),
	}
}

// Close drops every connection (without telling origins: the gateway is
// going away) and stops the writer pool. Serve refuses new connections after.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.cancel()
	for _, c := range conns {
		c.teardown()
	}
	p.pool.close()
}

// register makes c visible to Close; false when the proxy closed meanwhile.
func (p *Proxy) register(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.open.Add(1)
	p.total.Add(1)
	if p.set != nil {
		p.set.Opened()
	}
	return true
}

func (p *Proxy) unregister(c *conn) {
	p.mu.Lock()
	if _, ok := p.conns[c]; ok {
		delete(p.conns, c)
		p.open.Add(-1)
	}
	p.mu.Unlock()
}

// hopByHop are never forwarded between the client and the origin.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// writeRejection relays an origin's refusal of a handshake: status, headers
// and at most limit bytes of body [T:Y].
func writeRejection(w http.ResponseWriter, status int, h http.Header, body []byte) {
	out := w.Header()
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	for _, k := range hopByHop {
		out.Del(k)
	}
	out.Del("Content-Length")
	if len(body) > maxRejection {
		body = body[:maxRejection]
	}
	if status < 200 || status > 999 {
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// readLimited reads at most n bytes of r; the rest is dropped.
func readLimited(r io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return b
}
