package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
)

// Realtime is the GRIP engine (internal/realtime) that takes over held connections. The
// gateway routes, runs policies and proxies; when an origin answers with GRIP
// instructions, or a client opens a WebSocket on a realtime API, it hands the connection
// here with an Origin through which the engine reaches the same upstream again.
type Realtime interface {
	// Hold takes over a GRIP response to r. up's body is complete.
	Hold(w http.ResponseWriter, r *http.Request, api *RealtimeAPI, app string, up *OriginResponse, o Origin)
	// WebSocket takes over a WebSocket upgrade request on a realtime API.
	WebSocket(w http.ResponseWriter, r *http.Request, api *RealtimeAPI, app string, o Origin)
}

// RealtimeAPI is a realtime API's settings, compiled into a snapshot.
type RealtimeAPI struct {
	Name     string
	Settings gatehouse.Realtime
}

// OriginResponse is an origin response read whole.
type OriginResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// Origin reaches a held connection's upstream through the API's pool, with the same
// forwarding headers and Grip-Sig as the original request.
type Origin interface {
	// Retry re-sends the client's request with extra headers (Grip-Last).
	Retry(ctx context.Context, extra http.Header) (*OriginResponse, error)
	// Link GETs a next link with only extra headers, as Pushpin's internal requests.
	Link(ctx context.Context, u *url.URL, extra http.Header) (*OriginResponse, error)
	// Post sends a WebSocket-over-HTTP request to the client's URI with exactly header.
	Post(ctx context.Context, header http.Header, body []byte) (*OriginResponse, error)
	// Upgrade sends the client's WebSocket handshake with header; a 101 response's Body
	// is the origin connection (io.ReadWriteCloser).
	Upgrade(ctx context.Context, header http.Header) (*http.Response, error)
}

// Limits of what is buffered from and for the origin (grip.md §1.1, §2.2).
const (
	maxRetryBody  = 100_000   // client bodies kept for re-requests
	maxWSResponse = 1_000_000 // WebSocket-over-HTTP response bodies
)

// rtRoute is a realtime API's compiled GRIP settings.
type rtRoute struct {
	api       RealtimeAPI
	key       []byte
	issuer    string
	trustKey  []byte // upstream_key; nil: no trusted clients
	token     atomic.Pointer[sigToken]
	overHTTP  bool
	defaulted bool // signing with Pushpin's well-known default key
}

type sigToken struct {
	value string
	until time.Time
}

// compileRealtime prepares an API's realtime settings; defKey and defIss are the node's.
func compileRealtime(a *gatehouse.API, defKey, defIss string) (*rtRoute, error) {
	rt := a.Realtime
	if rt == nil || !rt.Enabled {
		return nil, nil
	}
	keyText := rt.SigKey
	if keyText == "" {
		keyText = defKey
	}
	if keyText == "" {
		keyText = "changeme"
	}
	key, err := grip.ParseKey(keyText)
	if err != nil {
		return nil, fmt.Errorf("realtime.sig_key: %w", err)
	}
	r := &rtRoute{api: RealtimeAPI{Name: a.Name, Settings: *rt}, key: key, issuer: rt.SigIssuer,
		overHTTP: rt.WebSocketOverHTTP, defaulted: keyText == "changeme"}
	if r.issuer == "" {
		r.issuer = defIss
	}
	if rt.UpstreamKey != "" {
		if r.trustKey, err = grip.ParseKey(rt.UpstreamKey); err != nil {
			return nil, fmt.Errorf("realtime.upstream_key: %w", err)
		}
	}
	return r, nil
}

// sig returns a Grip-Sig token, reusing one for a minute: it is valid for an hour, and
// signing per request would cost an HMAC on every realtime request.
func (rt *rtRoute) sig(now time.Time) string {
	if t := rt.token.Load(); t != nil && now.Before(t.until) {
		return t.value
	}
	t := &sigToken{value: grip.Sign(rt.key, rt.issuer, now), until: now.Add(time.Minute)}
	rt.token.Store(t)
	return t.value
}

// trusted reports whether r comes from a GRIP proxy in front of us (its Grip-Sig verifies
// with upstream_key): then GRIP passes through to it unprocessed, as Pushpin does.
func (rt *rtRoute) trusted(r *http.Request) bool {
	if rt.trustKey == nil {
		return false
	}
	tok := r.Header.Get("Grip-Sig")
	return tok != "" && grip.Verify(tok, rt.trustKey, "", time.Now(), 0) == nil
}

// rtState travels in a realtime request's context from the terminal handler to the
// proxy's hooks, which only see the outgoing request.
type rtState struct {
	in      *http.Request
	app     string
	trusted bool
	body    []byte // the client's body, kept for re-requests; nil when none
}

type rtKey struct{}

func rtFrom(ctx context.Context) *rtState {
	s, _ := ctx.Value(rtKey{}).(*rtState)
	return s
}

// gripResponse carries a GRIP response from ModifyResponse to ErrorHandler, the one
// ReverseProxy hook that gets the client's ResponseWriter without having written to it.
type gripResponse struct{ up *OriginResponse }

func (*gripResponse) Error() string { return "grip response" }

// serveRealtime is the terminal handler of a realtime API.
func (g *Gateway) serveRealtime(ar *apiRoute, w http.ResponseWriter, r *http.Request, app string) {
	if g.realtime == nil {
		ar.proxy.ServeHTTP(w, r)
		return
	}
	st := &rtState{in: r, app: app, trusted: ar.rt.trusted(r)}
	if !st.trusted && isWebSocket(r) && (ar.rt.overHTTP || g.wsGrip) {
		g.realtime.WebSocket(w, r, &ar.rt.api, app, newOrigin(g, ar, st))
		return
	}
	// Keep a small body so that a held request can be re-sent (Pushpin's retries carry
	// the original body); larger ones stream and cannot be.
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength >= 0 && r.ContentLength <= maxRetryBody {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			g.proxyError(w, r, err, ar.api.Name)
			return
		}
		st.body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{}) // a hold outlives the listener's write_timeout
	ar.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rtKey{}, st)))
}

func isWebSocket(r *http.Request) bool {
	return isUpgrade(r) && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// rtRewrite adds what a realtime API's origin requests carry: no client Grip-* headers
// (unless the client is a trusted GRIP proxy), no Accept-Encoding (GRIP bodies are read
// and streams appended to, so they must not be compressed), Grip-Sig and Grip-Feature.
func (ar *apiRoute) rtRewrite(pr *httputil.ProxyRequest) {
	ar.rewrite(pr)
	st := rtFrom(pr.In.Context())
	ar.rt.prepare(pr.Out.Header, st != nil && st.trusted)
}

func (rt *rtRoute) prepare(h http.Header, trusted bool) {
	if !trusted {
		stripGrip(h)
	}
	rt.sign(h)
}

// stripGrip removes every Grip-* header: a client must not pose as a GRIP proxy.
func stripGrip(h http.Header) {
	for k := range h {
		if len(k) > 5 && strings.EqualFold(k[:5], "grip-") {
			delete(h, k)
		}
	}
}

// sign adds what tells the origin a GRIP proxy is in front, and drops Accept-Encoding.
func (rt *rtRoute) sign(h http.Header) {
	h.Del("Accept-Encoding")
	h.Set("Grip-Sig", rt.sig(time.Now()))
	h.Set("Grip-Feature", grip.Features)
}

// rtModify detects GRIP in an origin response and, by returning a gripResponse, routes it
// to rtError with its body read.
func (g *Gateway) rtModify(resp *http.Response) error {
	_ = addVia(resp)
	st := rtFrom(resp.Request.Context())
	if st == nil || st.trusted || !grip.IsGrip(resp.Header) || g.realtime == nil {
		return nil
	}
	up, err := readOrigin(resp, grip.MaxInstructSize)
	if err != nil {
		return err
	}
	return &gripResponse{up: up}
}

// rtError is a realtime API's ErrorHandler: GRIP responses go to the engine, real errors
// are rendered as usual. It receives the outgoing request; the client's is in st.
func (g *Gateway) rtError(ar *apiRoute, w http.ResponseWriter, out *http.Request, err error) {
	st := rtFrom(out.Context())
	var gr *gripResponse
	if st != nil && errors.As(err, &gr) {
		g.realtime.Hold(w, st.in, &ar.rt.api, st.app, gr.up, newOrigin(g, ar, st))
		return
	}
	if errors.Is(err, errTooLarge) {
		w.Header().Set("Content-Type", grip.ErrorContentType)
		w.WriteHeader(grip.ErrorStatus)
		_, _ = io.WriteString(w, "GRIP instruct response too large.\n")
		return
	}
	g.proxyError(w, out, err, ar.api.Name)
}

var errTooLarge = errors.New("origin response too large")

// readOrigin reads resp whole, refusing bodies over limit.
func readOrigin(resp *http.Response, limit int64) (*OriginResponse, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return &OriginResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// rtOrigin implements Origin for one held connection. It outlives the request (a stream
// is held for hours), so it keeps a trimmed copy of it: what re-requests and the
// forwarding headers need, not the server's request state and context chain.
type rtOrigin struct {
	g    *Gateway
	ar   *apiRoute
	in   *http.Request
	body []byte
}

func newOrigin(g *Gateway, ar *apiRoute, st *rtState) *rtOrigin {
	r := st.in
	u := *r.URL
	slim := &http.Request{Method: r.Method, URL: &u, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI, TLS: r.TLS}
	return &rtOrigin{g: g, ar: ar, in: slim, body: st.body}
}

// send builds an origin request like the proxy's own (path rewriting, forwarding
// headers, signing) and sends it through the API's pool.
func (o *rtOrigin) send(ctx context.Context, method string, u *url.URL, header http.Header, body []byte) (*http.Response, error) {
	in := o.in
	out := &http.Request{
		Method: method, URL: &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: header, Host: in.Host,
	}
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		out.Body = http.NoBody
	}
	if _, ok := header["User-Agent"]; !ok {
		header["User-Agent"] = []string{""} // no Go default: Pushpin sends none of its own
	}
	out = out.WithContext(ctx)
	o.ar.rewrite(&httputil.ProxyRequest{In: in, Out: out})
	o.ar.rt.sign(out.Header) // header is the engine's, Grip-Last included: nothing to strip
	return o.ar.pool.RoundTrip(out)
}

func (o *rtOrigin) Retry(ctx context.Context, extra http.Header) (*OriginResponse, error) {
	h := o.in.Header.Clone()
	removeHopHeaders(h)
	stripGrip(h)
	for k, v := range extra {
		h[k] = v
	}
	resp, err := o.send(ctx, o.in.Method, o.in.URL, h, o.body)
	if err != nil {
		return nil, err
	}
	return readOrigin(resp, grip.MaxInstructSize)
}

func (o *rtOrigin) Link(ctx context.Context, u *url.URL, extra http.Header) (*OriginResponse, error) {
	h := http.Header{"Accept": {"*/*"}}
	for k, v := range extra {
		h[k] = v
	}
	resp, err := o.send(ctx, http.MethodGet, u, h, nil)
	if err != nil {
		return nil, err
	}
	return readOrigin(resp, grip.MaxInstructSize)
}

func (o *rtOrigin) Post(ctx context.Context, header http.Header, body []byte) (*OriginResponse, error) {
	if body == nil {
		body = []byte{}
	}
	resp, err := o.send(ctx, http.MethodPost, o.in.URL, header.Clone(), body)
	if err != nil {
		return nil, err
	}
	return readOrigin(resp, maxWSResponse)
}

func (o *rtOrigin) Upgrade(ctx context.Context, header http.Header) (*http.Response, error) {
	h := header.Clone()
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	out := &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: o.in.URL.Path, RawPath: o.in.URL.RawPath, RawQuery: o.in.URL.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Host: o.in.Host, Body: http.NoBody,
	}
	out = out.WithContext(ctx)
	o.ar.rewrite(&httputil.ProxyRequest{In: o.in, Out: out})
	o.ar.rt.sign(out.Header)
	return o.ar.pool.RoundTrip(out)
}

// hopHeaders are never forwarded (RFC 9110 §7.6.1), nor are the ones Pushpin removes.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect", "Content-Length", "Content-Encoding"}

func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}
