// Package hold keeps client connections open on behalf of an origin that answered with
// GRIP instructions, as Pushpin 1.36's handler does: long-poll ("response") holds answered
// by a publish or a timeout, HTTP-streaming and SSE ("stream") holds appended to by
// publishes, and next links (pagination, recovery after a prev-id gap, periodic refresh).
//
// Held streams are the memory-critical part: on HTTP/1.1 the connection is hijacked and
// Serve returns, so a held stream costs a small session struct, its subscriptions, one
// tiny reader goroutine and the socket. Publishes are appended to the session's pending
// buffer by fanout's goroutine and written by a bounded pool of writer goroutines.
package hold

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/problem"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/settle"
)

// Config is one API's realtime settings, compiled by the gateway.
type Config struct {
	API                       string
	ChannelPrefix             string // prepended to every channel the origin names (Pushpin's route prefix=)
	Debug                     bool   // 502 bodies carry the reason (grip.Error.DebugBody)
	UpdateOnFirstSubscription bool   // honour fanout's FirstSubscription updates; otherwise ignore them
	Limits                    meter.Limits
}

// Upstream is an origin response already read by the gateway: Body is complete and at
// most grip.MaxInstructSize bytes.
type Upstream struct {
	Status int
	Header http.Header
	Body   []byte
}

// Origin lets a held connection go back to its origin; the gateway implements it (its
// requests go through the API's upstream pool and are signed with Grip-Sig and carry
// Grip-Feature).
type Origin interface {
	// Retry re-sends the client's original request (method, headers, body) with extra
	// headers added (e.g. Grip-Last), as Pushpin does for response holds after a prev-id
	// gap, a recover or a first-subscription update.
	Retry(ctx context.Context, extra http.Header) (*Upstream, error)
	// Link GETs a next link (absolute, already resolved) with only the extra headers
	// (Grip-Last lines), as Pushpin's internal link requests.
	Link(ctx context.Context, u *url.URL, extra http.Header) (*Upstream, error)
}

// Options configures a Holder.
type Options struct {
	Fanout       *fanout.Fanout
	Meter        *meter.Meter // nil: no accounting or caps
	Logger       *slog.Logger
	WriteTimeout time.Duration // one write to a client; a slower client is disconnected; default 10s
	MaxQueued    int           // publishes queued per stream session while its client is slow; default 100 (Pushpin); beyond: the session is ended and counted
	// SweepInterval is how often held streams are checked for clients that went away;
	// default 1s. One sweep for all streams replaces a reader goroutine (and its stack)
	// per connection.
	SweepInterval time.Duration
	// Settle, when set, is told of every hold, to return memory after a burst of them.
	Settle *settle.Settler
}

// Defaults.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxQueued    = 100 // Pushpin's PUBLISH_QUEUE_MAX
	// linkRetries and the backoff are Pushpin's RETRY_MAX, RETRY_TIMEOUT, RETRY_RAND_MAX.
	linkRetries = 5
)

// Stats are the Holder's counters.
type Stats struct {
	HeldResponse int64  `json:"held_response"` // response holds open now
	HeldStream   int64  `json:"held_stream"`   // stream holds open now
	Opened       uint64 `json:"opened"`        // holds started
	Ended        uint64 `json:"ended"`         // holds finished, for any reason
	SlowDropped  uint64 `json:"slow_dropped"`  // stream sessions ended because the client could not keep up
	Rejected     uint64 `json:"rejected"`      // holds refused by the per-app connection cap
	Messages     uint64 `json:"messages"`      // published messages delivered to clients
	Bytes        uint64 `json:"bytes"`         // their bytes
}

// DefaultSweepInterval is how often held streams are checked for departed clients.
const DefaultSweepInterval = time.Second

// startSweep starts, once, the goroutine that ends streams whose client went away.
func (h *Holder) startSweep() {
	h.sweepOnce.Do(func() { go h.sweep() })
}

func (h *Holder) sweep() {
	t := time.NewTicker(h.opts.SweepInterval)
	defer t.Stop()
	var list []*streamSession
	for {
		select {
		case <-h.shutdown:
			return
		case <-t.C:
		}
		list = list[:0]
		h.mu.Lock()
		for s := range h.streams {
			if s.conn != nil {
				list = append(list, s)
			}
		}
		h.mu.Unlock()
		for _, s := range list {
			if peerSweepable(s.conn) && peerGone(s.conn) {
				s.end()
				s.schedule()
			}
		}
		clear(list) // let ended sessions go
	}
}

// Holder holds connections for every API of a node. Safe for concurrent use.
type Holder struct {
	opts Options
	log  *slog.Logger
	pool *writerPool

	closed   atomic.Bool
	shutdown chan struct{} // closed by Close; response holds answer with their timeout response

	mu      sync.Mutex
	streams map[*streamSession]struct{}

	sweepOnce sync.Once

	heldResponse, heldStream                       atomic.Int64
	opened, ended, slowDropped, rejected, messages atomic.Uint64
	bytes                                          atomic.Uint64
}

// New returns a Holder. opts.Fanout is required.
func New(opts Options) *Holder {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	opts.MaxQueued = min(opts.MaxQueued, 1<<16-1) // a session counts its queue in a uint16
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	return &Holder{
		opts: opts, log: opts.Logger, pool: newWriterPool(),
		shutdown: make(chan struct{}), streams: map[*streamSession]struct{}{},
	}
}

// Stats reports the counters.
func (h *Holder) Stats() Stats {
	return Stats{
		HeldResponse: h.heldResponse.Load(), HeldStream: h.heldStream.Load(),
		Opened: h.opened.Load(), Ended: h.ended.Load(), SlowDropped: h.slowDropped.Load(),
		Rejected: h.rejected.Load(), Messages: h.messages.Load(), Bytes: h.bytes.Load(),
	}
}

// Close ends every held connection: response holds answer with their timeout response,
// streams are terminated cleanly (so EventSource clients reconnect elsewhere). Serve
// after Close answers 503.
func (h *Holder) Close() {
	if h.closed.Swap(true) {
		return
	}
	close(h.shutdown)
	h.mu.Lock()
	list := make([]*streamSession, 0, len(h.streams))
	for s := range h.streams {
		list = append(list, s)
	}
	h.mu.Unlock()
	for _, s := range list {
		s.finish("")
	}
}

// Serve handles an origin response that carries GRIP instructions, for client request r.
// app is the authenticated app's name ("" if none). It may return before a stream hold
// ends: on HTTP/1.1 the connection is hijacked and served from then on by the Holder.
func (h *Holder) Serve(w http.ResponseWriter, r *http.Request, cfg *Config, app string, up *Upstream, origin Origin) {
	if h.closed.Load() {
		problem.Write(w, http.StatusServiceUnavailable, "realtime_unavailable", "this node is shutting down")
		return
	}
	in, err := grip.Parse(up.Status, up.Header, up.Body)
	if err != nil {
		h.writeGripError(w, cfg, err)
		return
	}
	h.dispatch(w, r, cfg, app, in, up, origin)
}

// dispatch serves a parsed instruction: relay, pagination, or a hold.
func (h *Holder) dispatch(w http.ResponseWriter, r *http.Request, cfg *Config, app string, in *grip.Instruction, up *Upstream, origin Origin) {
	switch in.Hold {
	case grip.HoldResponse:
		h.serveResponse(w, r, cfg, app, in, up, origin)
	case grip.HoldStream:
		h.serveStream(w, r, cfg, app, in, up, origin)
	default:
		if in.NextLink != nil {
			h.paginate(w, r, cfg, in, up, origin)
			return
		}
		resp := in.ClientResponse(up.Status, up.Header, up.Body)
		h.writeResponse(w, resp.Code, resp.Reason, resp.Header, resp.Body)
	}
}

// writeGripError answers an invalid instruction as Pushpin does [T:K].
func (h *Holder) writeGripError(w http.ResponseWriter, cfg *Config, err error) {
	body := grip.ClientBody
	var ge *grip.Error
	if cfg.Debug && errors.As(err, &ge) {
		body = ge.DebugBody()
	}
	h.log.Debug("realtime: invalid GRIP instructions", "api", cfg.API, "error", err)
	hdr := w.Header()
	hdr.Set("Content-Type", grip.ErrorContentType)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(grip.ErrorStatus)
	_, _ = w.Write([]byte(body))
}

// openMeter starts a hold's accounting; ok is false (and 429 has been written) when the
// app is at its connection cap.
func (h *Holder) openMeter(w http.ResponseWriter, cfg *Config, app string) (*meter.Conn, bool) {
	if h.opts.Meter == nil {
		return nil, true
	}
	mc, ok := h.opts.Meter.Open(meter.Key{API: cfg.API, App: app}, cfg.Limits)
	if !ok {
		h.rejected.Add(1)
		problem.Write(w, http.StatusTooManyRequests, "realtime_connection_limit",
			"this app holds the maximum number of realtime connections ("+strconv.Itoa(cfg.Limits.MaxConnections)+") to this API")
		return nil, false
	}
	return mc, true
}

// hopHeaders are framed by this hop, never copied from the origin.
var hopHeaders = []string{"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Upgrade", "Trailer"}

func isHop(k string) bool {
	for _, x := range hopHeaders {
		if strings.EqualFold(k, x) {
			return true
		}
	}
	return false
}

// mergeHeader adds src's values to dst (which holds what the gateway already set), as
// ReverseProxy does for ordinary responses, minus hop-by-hop headers.
func mergeHeader(dst, src http.Header) {
	for k, v := range src {
		if isHop(k) {
			continue
		}
		dst[k] = append(dst[k], v...)
	}
}

// writeResponse sends a complete response through w with its length recomputed.
// net/http cannot send a custom reason phrase (Grip-Status "299 Custom", a published
// "reason"), so such a response is written on the hijacked HTTP/1.x connection, which is
// then closed; other responses, and HTTP/2, go through net/http with the standard phrase.
func (h *Holder) writeResponse(w http.ResponseWriter, code int, reason string, hdr http.Header, body []byte) {
	dst := w.Header()
	mergeHeader(dst, hdr)
	if reason != "" && reason != http.StatusText(code) && code >= 200 && code <= 999 && h.writeRaw(w, code, reason, body) {
		return
	}
	dst.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(safeCode(code))
	_, _ = w.Write(body)
}

// writeRaw writes the response with its own reason phrase on the hijacked connection.
func (h *Holder) writeRaw(w http.ResponseWriter, code int, reason string, body []byte) bool {
	hdr := w.Header()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false // HTTP/2, or a writer that cannot: the standard phrase will do
	}
	defer conn.Close()
	b := appendHead(make([]byte, 0, 256+len(body)), code, reason, hdr)
	if _, ok := hdr["Date"]; !ok {
		b = append(b, "Date: "...)
		b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	b = append(b, body...)
	_ = conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, _ = conn.Write(b)
	return true
}

// safeCode keeps net/http from panicking (or sending an interim response) on the codes
// Grip-Status allows but net/http does not write as a final status.
func safeCode(code int) int {
	if code < 200 || code > 999 {
		return http.StatusBadGateway
	}
	return code
}

// requestURL is the absolute URI of the client's request, which next links resolve against.
func requestURL(r *http.Request) *url.URL {
	u := *r.URL
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	if u.Host == "" {
		u.Host = r.Host
	}
	return &u
}

// sub is one channel subscription of a session.
type sub struct {
	name    string // as the origin named it: Grip-Last lines and require-sub use it
	full    string // ChannelPrefix+name: the fanout channel
	prevID  string
	filters []string
	unsub   func()
}

// gripLast is the Grip-Last header for every channel with a prev-id.
func gripLast(subs []sub) http.Header {
	var hdr http.Header
	for _, s := range subs {
		if s.prevID != "" {
			if hdr == nil {
				hdr = http.Header{}
			}
			hdr.Add("Grip-Last", s.name+"; last-id="+s.prevID)
		}
	}
	return hdr
}

func findSub(subs []sub, full string) int {
	for i := range subs {
		if subs[i].full == full {
			return i
		}
	}
	return -1
}

// planSubs turns an instruction's channels into the session's new subscription list,
// keeping the subscriptions of channels it already had; removed are those to drop. The
// caller subscribes the entries whose unsub is nil.
func (h *Holder) planSubs(cfg *Config, old []sub, chans []grip.Channel) (next, removed []sub) {
	if len(chans) > grip.MaxChannels {
		h.log.Warn("realtime: too many channels, extras dropped", "api", cfg.API, "channels", len(chans), "max", grip.MaxChannels)
		chans = chans[:grip.MaxChannels]
	}
	next = make([]sub, 0, len(chans))
	for _, c := range chans {
		full := cfg.ChannelPrefix + c.Name
		if findSub(next, full) >= 0 {
			continue // named twice: one subscription
		}
		s := sub{name: c.Name, full: full, prevID: c.PrevID, filters: c.Filters}
		if i := findSub(old, full); i >= 0 {
			s.unsub = old[i].unsub
		}
		next = append(next, s)
	}
	for _, o := range old {
		if findSub(next, o.full) < 0 && o.unsub != nil {
			removed = append(removed, o)
		}
	}
	return next, removed
}

// subscribe subscribes fs to the channels of subs that are not subscribed yet, returning
// the new unsubscribe functions by index (nil where none was made).
func (h *Holder) subscribe(cfg *Config, subs []sub, fs fanout.Subscriber) []func() {
	out := make([]func(), len(subs))
	for i, s := range subs {
		if s.unsub != nil {
			continue
		}
		un, err := h.opts.Fanout.Subscribe(s.full, fs)
		if err != nil {
			h.log.Warn("realtime: cannot subscribe", "api", cfg.API, "channel", s.full, "error", err)
			continue
		}
		out[i] = un
	}
	return out
}

// conflict reports whether this node already delivered a newer item than a prev-id the
// origin gave: the origin's view is stale and the session must recover at once.
func (h *Holder) conflict(subs []sub) bool {
	for _, s := range subs {
		if s.prevID == "" {
			continue
		}
		if last, ok := h.opts.Fanout.LastID(s.full); ok && last != s.prevID {
			return true
		}
	}
	return false
}

// paginate is Pushpin's "no hold + next link" mode: relay the body, then follow links,
// appending their bodies, until a response without a next link.
func (h *Holder) paginate(w http.ResponseWriter, r *http.Request, cfg *Config, in *grip.Instruction, up *Upstream, origin Origin) {
	resp := in.ClientResponse(up.Status, up.Header, up.Body)
	dst := w.Header()
	mergeHeader(dst, resp.Header)
	dst.Del("Content-Length")
	w.WriteHeader(safeCode(resp.Code))
	rc := http.NewResponseController(w)
	_, _ = w.Write(resp.Body)
	_ = rc.Flush()
	cur := requestURL(r)
	link := in.NextLink
	ctx := r.Context()
	for link != nil {
		u := cur.ResolveReference(link.URI)
		next, err := origin.Link(ctx, u, nil)
		if err != nil || next.Status < 200 || next.Status > 299 {
			h.log.Debug("realtime: next link failed", "api", cfg.API, "url", u.String(), "error", err)
			return
		}
		body := next.Body
		link = nil
		if grip.IsGrip(next.Header) {
			nin, err := grip.Parse(next.Status, next.Header, next.Body)
			if err != nil {
				h.log.Debug("realtime: next link returned invalid instructions", "api", cfg.API, "error", err)
				return
			}
			if nin.Hold != grip.HoldNone {
				// Pagination does not turn into a hold; Pushpin errors here too.
				h.log.Debug("realtime: next link returned a hold during pagination", "api", cfg.API)
				return
			}
			if nin.Response != nil {
				body = nin.Response.Body
			}
			link = nin.NextLink
		}
		cur = u
		if _, err := w.Write(body); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

// subscribedTo reports whether subs include channel, as the origin named it or with the
// API's prefix: what the require-sub filter asks.
func subscribedTo(subs []sub, channel string) bool {
	for _, s := range subs {
		if s.name == channel || s.full == channel {
			return true
		}
	}
	return false
}
