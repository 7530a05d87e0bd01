package hold

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// frameReserve is kept free at the front of a hijacked session's pending buffer for the
// chunk-size line ("ffffffff\r\n" at most), so a flush frames everything pending as one
// chunk without copying: items published together arrive as one chunk, as in Pushpin [T:X].
const frameReserve = 10

// keepPending is the largest pending buffer kept across flushes; larger ones are
// dropped so an idle session stays small.
const keepPending = 1024

// Session flags, guarded by streamSession.mu.
const (
	fScheduled  uint16 = 1 << iota // on the writer pool (or the fallback loop was woken)
	fClosing                       // write what is pending, then the terminating chunk, then end
	fEnding                        // end without writing more
	fDone                          // torn down
	fFetching                      // a next-link request is in flight
	fNeedUpdate                    // another update was asked for during the fetch
	fSlow                          // ended for being slow: counted once
)

// streamSession is one stream hold. Fields above mu are set before the session is
// subscribed and never change.
type streamSession struct {
	h      *Holder
	cfg    *Config
	origin Origin
	conn   net.Conn  // hijacked connection; nil in fallback mode
	fb     *fallback // HTTP/2 or not hijackable: Serve's goroutine writes through w
	mc     *meter.Conn

	mu        sync.Mutex
	flags     uint16
	queued    uint16 // publishes in pending
	pending   []byte // frameReserve bytes, then unwritten body data
	subs      []sub
	meta      map[string]string
	cur       *url.URL // the URI next links resolve against (the last one fetched)
	link      *grip.Link
	ka        *grip.KeepAlive
	kaTimer   *time.Timer
	linkTimer *time.Timer
	held      []*publish.Item // publishes that arrived during a link fetch
	cancel    context.CancelFunc
}

// fallback is the write side of a session that could not be hijacked.
type fallback struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	wake chan struct{}
}

var _ fanout.Subscriber = (*streamSession)(nil)

func (h *Holder) serveStream(w http.ResponseWriter, r *http.Request, cfg *Config, app string, in *grip.Instruction, up *Upstream, origin Origin) {
	mc, ok := h.openMeter(w, cfg, app)
	if !ok {
		return
	}
	resp := in.ClientResponse(up.Status, up.Header, up.Body)
	s := &streamSession{h: h, cfg: cfg, mc: mc, meta: in.Meta, ka: in.KeepAlive}
	if in.NextLink != nil {
		// Only a stream with a next link goes back to its origin: others keep neither the
		// origin (and the request it holds) nor the URI, which would cost every one of
		// thousands of held streams a kilobyte.
		s.origin, s.cur = origin, requestURL(r)
		s.link = resolveLink(s.cur, in.NextLink)
	}
	hdr := w.Header().Clone()
	mergeHeader(hdr, resp.Header)

	// Hijack on HTTP/1.1 so that net/http's per-connection state (goroutine, buffers) is
	// freed while the stream is held; HTTP/1.0 cannot be chunked and HTTP/2 not hijacked.
	if r.ProtoAtLeast(1, 1) && r.ProtoMajor == 1 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			s.conn = conn
		}
	}
	if s.conn == nil {
		s.fb = &fallback{w: w, rc: http.NewResponseController(w), wake: make(chan struct{}, 1)}
	}

	h.opened.Add(1)
	if h.opts.Settle != nil {
		h.opts.Settle.Opened()
	}
	h.heldStream.Add(1)
	h.mu.Lock()
	h.streams[s] = struct{}{}
	h.mu.Unlock()

	if err := s.writeHead(resp.Code, resp.Reason, hdr, resp.Body); err != nil {
		s.teardown()
		return
	}
	if mc != nil && len(resp.Body) > 0 {
		mc.Delivered(len(resp.Body))
	}

	// A prev-id needs a next link to recover through [grip.md §1.7].
	if s.link == nil {
		for _, c := range in.Channels {
			if c.PrevID != "" {
				s.fail(fmt.Sprintf("channel '%s' specifies prev-id, but no next link found", c.Name))
				s.run(r)
				return
			}
		}
	}
	s.setChannels(in.Channels)
	s.mu.Lock()
	s.startTimersLocked()
	if h.conflict(s.subs) {
		s.updateLocked()
	}
	s.mu.Unlock()
	if s.conn != nil {
		if peerSweepable(s.conn) {
			s.h.startSweep()
		} else {
			go s.readLoop()
		}
	}
	s.run(r)
}

// run returns at once for a hijacked session; a fallback session is served here until
// it ends, because w must only be used by the handler's goroutine.
func (s *streamSession) run(r *http.Request) {
	if s.fb == nil {
		return
	}
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			s.end()
			s.flush()
			return
		case <-s.fb.wake:
			s.flush()
			s.mu.Lock()
			done := s.flags&fDone != 0
			s.mu.Unlock()
			if done {
				return
			}
		}
	}
}

// readLoop notices the client going away where the sweep cannot (no raw socket access).
// Clients do not send anything on a held stream; whatever they send is discarded.
func (s *streamSession) readLoop() {
	var buf [16]byte
	for {
		if _, err := s.conn.Read(buf[:]); err != nil {
			s.end()
			s.schedule()
			return
		}
	}
}

// writeHead sends the status line, headers and initial body. Hijacked: written by hand,
// in condure's form [T:B] (Connection: Transfer-Encoding, chunked, no Content-Length).
func (s *streamSession) writeHead(code int, reason string, hdr http.Header, body []byte) error {
	if s.fb != nil {
		dst := s.fb.w.Header()
		clear(dst)
		for k, v := range hdr {
			if !isHop(k) {
				dst[k] = v
			}
		}
		s.fb.w.WriteHeader(safeCode(code))
		_ = s.fb.rc.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
		if len(body) > 0 {
			if _, err := s.fb.w.Write(body); err != nil {
				return err
			}
		}
		return s.fb.rc.Flush()
	}
	b := appendHead(make([]byte, 0, 256+len(body)), code, reason, hdr)
	b = append(b, "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"...)
	if len(body) > 0 {
		b = strconv.AppendInt(b, int64(len(body)), 16)
		b = append(b, "\r\n"...)
		b = append(b, body...)
		b = append(b, "\r\n"...)
	}
	// Deadlines left by net/http (read/write timeouts) must not cut a held stream.
	_ = s.conn.SetDeadline(time.Time{})
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
	_, err := s.conn.Write(b)
	return err
}

// appendHead appends a status line and hdr (sorted, without hop-by-hop fields) to b,
// without the blank line that ends the head.
func appendHead(b []byte, code int, reason string, hdr http.Header) []byte {
	if reason == "" {
		reason = http.StatusText(code)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = appendClean(b, reason)
	b = append(b, "\r\n"...)
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		if !isHop(k) && validHeaderName(k) && k != "Content-Length" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range hdr[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendClean(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// appendClean appends a header value with CR and LF turned into spaces, as net/http
// does, so an origin cannot split the response.
func appendClean(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

func resolveLink(base *url.URL, l *grip.Link) *grip.Link {
	return &grip.Link{URI: base.ResolveReference(l.URI), Timeout: l.Timeout}
}

// setChannels makes the subscriptions match chans. Subscribing happens outside s.mu:
// fanout calls Deliver with its channel lock held, which takes s.mu.
func (s *streamSession) setChannels(chans []grip.Channel) {
	s.mu.Lock()
	if s.flags&fDone != 0 {
		s.mu.Unlock()
		return
	}
	next, removed := s.h.planSubs(s.cfg, s.subs, chans)
	s.subs = next
	s.mu.Unlock()
	for _, o := range removed {
		o.unsub()
	}
	uns := s.h.subscribe(s.cfg, next, s)
	s.mu.Lock()
	done := s.flags&fDone != 0
	if !done {
		for i, un := range uns {
			if un != nil && i < len(s.subs) && s.subs[i].full == next[i].full {
				s.subs[i].unsub = un
			}
		}
	}
	s.mu.Unlock()
	if done { // torn down meanwhile: teardown did not see these
		for _, un := range uns {
			if un != nil {
				un()
			}
		}
	}
}

// Deliver implements fanout.Subscriber: with fanout's channel lock held, so it only
// appends to pending and schedules a flush.
func (s *streamSession) Deliver(channel string, it *publish.Item) {
	if it.HTTPStream == nil {
		return // no format for stream holds
	}
	s.mu.Lock()
	s.deliverLocked(channel, it)
	s.mu.Unlock()
}

func (s *streamSession) deliverLocked(channel string, it *publish.Item) {
	if s.flags&(fClosing|fEnding|fDone) != 0 {
		return
	}
	i := findSub(s.subs, channel)
	if i < 0 {
		return
	}
	if s.flags&fFetching != 0 {
		// The link response may change channels and prev-ids: decide afterwards.
		if len(s.held) < s.h.opts.MaxQueued {
			s.held = append(s.held, it)
		}
		return
	}
	sb := &s.subs[i]
	if !grip.FiltersPass(sb.filters, s.meta, it.Meta, s.subscribed) {
		return
	}
	if sb.prevID != "" {
		if it.PrevID != sb.prevID {
			s.updateLocked() // a gap: recover through the next link with Grip-Last
			return
		}
		if it.ID != "" {
			sb.prevID = it.ID
		}
	}
	st := it.HTTPStream
	switch st.Action {
	case publish.Hint:
		s.updateLocked()
		return
	case publish.Close:
		s.flags |= fClosing
		s.scheduleLocked()
		return
	}
	if !grip.ContentFiltersMatch(st.ContentFilters, sb.filters) {
		return
	}
	content, err := grip.ApplyContentFilters(sb.filters, s.meta, st.Content)
	if err != nil {
		s.h.log.Debug("realtime: content filter failed, message dropped", "api", s.cfg.API, "error", err)
		return
	}
	if s.mc != nil && !s.mc.Allow() {
		return
	}
	if int(s.queued) >= s.h.opts.MaxQueued {
		// The client cannot keep up: end it rather than buffer without bound.
		s.flags |= fEnding | fSlow
		if s.conn != nil {
			_ = s.conn.Close() // unblocks a writer stuck on this client
		}
		s.scheduleLocked()
		return
	}
	s.appendLocked(content)
	s.queued++
	s.h.messages.Add(1)
	s.h.bytes.Add(uint64(len(content)))
	if s.mc != nil {
		s.mc.Delivered(len(content))
	}
	if s.ka != nil && s.ka.Mode == grip.KeepAliveIdle && s.kaTimer != nil {
		s.kaTimer.Reset(jitter(s.ka.Timeout))
	}
	s.scheduleLocked()
}

func (s *streamSession) appendLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	if len(s.pending) == 0 {
		if cap(s.pending) < frameReserve+len(p)+2 {
			s.pending = make([]byte, frameReserve, max(frameReserve+len(p)+2, 64))
		} else {
			s.pending = s.pending[:frameReserve]
		}
	}
	s.pending = append(s.pending, p...)
}

// Update implements fanout.Subscriber.
func (s *streamSession) Update(channel string, why fanout.Reason) {
	if why == fanout.FirstSubscription && !s.cfg.UpdateOnFirstSubscription {
		return
	}
	s.mu.Lock()
	s.updateLocked()
	s.mu.Unlock()
}

// updateLocked fetches the next link (Pushpin's session update); without one there is
// nothing to update from.
func (s *streamSession) updateLocked() {
	if s.link == nil || s.flags&(fClosing|fEnding|fDone) != 0 {
		return
	}
	if s.flags&fFetching != 0 {
		s.flags |= fNeedUpdate
		return
	}
	s.flags |= fFetching
	// Requests go out on their own goroutine: we may be inside fanout's lock.
	go s.fetch(0)
}

// fetch requests the next link; failures are retried with Pushpin's backoff.
func (s *streamSession) fetch(attempt int) {
	s.mu.Lock()
	if s.flags&(fEnding|fDone) != 0 {
		s.mu.Unlock()
		return
	}
	u := s.link.URI
	extra := gripLast(s.subs)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.mu.Unlock()

	up, err := s.origin.Link(ctx, u, extra)
	cancel()
	if err == nil && (up.Status < 200 || up.Status > 299) {
		err = fmt.Errorf("next link returned status %d", up.Status)
	}
	if err != nil {
		if attempt >= linkRetries {
			s.fail("next link failed: " + err.Error())
			return
		}
		d := time.Second<<attempt + rand.N(time.Second)
		s.mu.Lock()
		if s.flags&(fEnding|fDone) == 0 {
			s.linkTimerStopLocked()
			s.linkTimer = time.AfterFunc(d, func() { s.fetch(attempt + 1) })
		}
		s.mu.Unlock()
		return
	}
	s.applyLink(u, up)
}

// applyLink appends a link response's body and adopts its instructions [grip.md §1.7].
func (s *streamSession) applyLink(u *url.URL, up *Upstream) {
	in := &grip.Instruction{}
	if grip.IsGrip(up.Header) {
		var err error
		if in, err = grip.Parse(up.Status, up.Header, up.Body); err != nil {
			s.fail(err.Error())
			return
		}
	}
	if in.Hold == grip.HoldResponse {
		s.fail("Next link returned non-stream hold.")
		return
	}
	body := up.Body
	if in.Response != nil {
		body = in.Response.Body
	}
	var next *grip.Link
	if in.NextLink != nil {
		next = resolveLink(u, in.NextLink)
	}

	if in.Hold == grip.HoldStream {
		if next == nil {
			for _, c := range in.Channels {
				if c.PrevID != "" {
					s.mu.Lock()
					s.appendLocked(body)
					s.mu.Unlock()
					s.fail(fmt.Sprintf("channel '%s' specifies prev-id, but no next link found", c.Name))
					return
				}
			}
		}
		s.setChannels(in.Channels)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flags&(fEnding|fDone) != 0 {
		return
	}
	s.cur = u
	s.appendLocked(body)
	if len(body) > 0 && s.ka != nil && s.ka.Mode == grip.KeepAliveIdle && s.kaTimer != nil {
		s.kaTimer.Reset(jitter(s.ka.Timeout))
	}
	s.flags &^= fFetching
	held := s.held
	s.held = nil
	switch {
	case in.Hold == grip.HoldStream:
		s.link, s.meta = next, in.Meta
		if in.KeepAlive != nil || s.ka != nil {
			s.ka = in.KeepAlive
			s.kaStopLocked()
		}
		s.startTimersLocked()
		for _, it := range held {
			s.deliverLocked(it.Channel, it)
		}
		if s.flags&fNeedUpdate != 0 {
			s.flags &^= fNeedUpdate
			s.updateLocked()
		}
	case next != nil:
		// No hold but a link: keep following, as pagination does.
		s.link = next
		s.flags |= fFetching
		go s.fetch(0)
	default:
		// No further link: the stream ends after this body.
		s.flags |= fClosing
	}
	s.scheduleLocked()
}

// startTimersLocked arms the keep-alive and next-link timers if not running.
func (s *streamSession) startTimersLocked() {
	if s.ka != nil && s.kaTimer == nil {
		s.kaTimer = time.AfterFunc(jitter(s.ka.Timeout), s.keepAlive)
	}
	s.linkTimerStopLocked()
	if s.link != nil && s.link.Timeout > 0 {
		s.linkTimer = time.AfterFunc(s.link.Timeout, s.linkTimeout)
	}
}

func (s *streamSession) kaStopLocked() {
	if s.kaTimer != nil {
		s.kaTimer.Stop()
		s.kaTimer = nil
	}
}

func (s *streamSession) linkTimerStopLocked() {
	if s.linkTimer != nil {
		s.linkTimer.Stop()
		s.linkTimer = nil
	}
}

// jitter is Pushpin's keep-alive delay: the timeout minus up to 999 ms.
func jitter(d time.Duration) time.Duration {
	return max(d-time.Duration(rand.N(1000))*time.Millisecond, 0)
}

func (s *streamSession) keepAlive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flags&(fClosing|fEnding|fDone) != 0 || s.ka == nil {
		return
	}
	s.appendLocked(s.ka.Data)
	s.scheduleLocked()
	if s.kaTimer != nil {
		s.kaTimer.Reset(jitter(s.ka.Timeout))
	}
}

func (s *streamSession) linkTimeout() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linkTimer = nil
	s.updateLocked()
	// Re-armed by applyLink once this update is done.
}

// fail ends the stream after an error; in debug mode the reason is appended [grip.md §1.5].
func (s *streamSession) fail(msg string) {
	s.h.log.Debug("realtime: stream hold failed", "api", s.cfg.API, "error", msg)
	s.mu.Lock()
	if s.cfg.Debug {
		s.appendLocked([]byte("\n\n" + msg + "\n"))
	}
	s.flags &^= fFetching
	s.flags |= fClosing
	s.scheduleLocked()
	s.mu.Unlock()
}

// finish ends the stream cleanly (node shutdown).
func (s *streamSession) finish(string) {
	s.mu.Lock()
	s.flags |= fClosing
	s.scheduleLocked()
	s.mu.Unlock()
}

// end stops the session without writing more (client gone, write failed).
func (s *streamSession) end() {
	s.mu.Lock()
	s.flags |= fEnding
	s.mu.Unlock()
}

func (s *streamSession) schedule() {
	s.mu.Lock()
	s.scheduleLocked()
	s.mu.Unlock()
}

func (s *streamSession) scheduleLocked() {
	if s.flags&(fScheduled|fDone) != 0 {
		return
	}
	s.flags |= fScheduled
	if s.fb != nil {
		select {
		case s.fb.wake <- struct{}{}:
		default:
		}
		return
	}
	s.h.pool.add(s)
}

// flush writes what is pending; it runs on a pool worker (hijacked) or Serve's
// goroutine (fallback), never two at once for one session.
func (s *streamSession) flush() {
	for {
		s.mu.Lock()
		if s.flags&fEnding != 0 {
			s.mu.Unlock()
			s.teardown()
			return
		}
		data := s.pending
		closing := s.flags&fClosing != 0
		if len(data) <= frameReserve && !closing {
			s.flags &^= fScheduled
			s.mu.Unlock()
			return
		}
		s.pending = nil
		s.queued = 0
		s.mu.Unlock()

		err := s.write(data, closing)
		if err != nil || closing {
			if err != nil {
				s.h.log.Debug("realtime: stream write failed", "api", s.cfg.API, "error", err)
			}
			s.teardown()
			return
		}
		s.mu.Lock()
		if s.pending == nil && cap(data) <= keepPending {
			s.pending = data[:0]
		}
		s.mu.Unlock()
	}
}

// write sends pending data (frameReserve bytes then body) as one chunk, and the
// terminating chunk if closing.
func (s *streamSession) write(data []byte, closing bool) error {
	var body []byte
	if len(data) > frameReserve {
		body = data[frameReserve:]
	}
	if s.fb != nil {
		_ = s.fb.rc.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
		if len(body) > 0 {
			if _, err := s.fb.w.Write(body); err != nil {
				return err
			}
		}
		return s.fb.rc.Flush()
	}
	out := data[:0]
	if len(body) > 0 {
		var size [8]byte
		hex := strconv.AppendInt(size[:0], int64(len(body)), 16)
		start := frameReserve - len(hex) - 2
		copy(data[start:], hex)
		data[frameReserve-2], data[frameReserve-1] = '\r', '\n'
		out = append(data[start:], "\r\n"...)
	}
	if closing {
		out = append(out, "0\r\n\r\n"...)
	}
	if len(out) == 0 {
		return nil
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
	_, err := s.conn.Write(out)
	return err
}

// teardown releases everything the session holds; later calls do nothing.
func (s *streamSession) teardown() {
	s.mu.Lock()
	if s.flags&fDone != 0 {
		s.mu.Unlock()
		return
	}
	s.flags |= fDone
	subs := s.subs
	s.subs = nil
	s.kaStopLocked()
	s.linkTimerStopLocked()
	if s.cancel != nil {
		s.cancel()
	}
	s.pending, s.held = nil, nil
	slow := s.flags&fSlow != 0
	s.mu.Unlock()

	for _, o := range subs {
		if o.unsub != nil {
			o.unsub()
		}
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	if s.mc != nil {
		s.mc.Close()
	}
	h := s.h
	h.mu.Lock()
	delete(h.streams, s)
	h.mu.Unlock()
	h.heldStream.Add(-1)
	h.ended.Add(1)
	if slow {
		h.slowDropped.Add(1)
	}
	if s.fb != nil {
		// Wake the fallback loop so it sees fDone and returns.
		select {
		case s.fb.wake <- struct{}{}:
		default:
		}
	}
}

// writerPool runs flushes on at most max goroutines, started on demand and exiting when
// there is no work: no goroutine per session or per message.
type writerPool struct {
	mu      sync.Mutex
	queue   []*streamSession
	head    int
	running int
	max     int
}

func newWriterPool() *writerPool {
	return &writerPool{max: 4 * max(1, runtimeProcs())}
}

func (p *writerPool) add(s *streamSession) {
	p.mu.Lock()
	p.queue = append(p.queue, s)
	if p.running < p.max {
		p.running++
		go p.work()
	}
	p.mu.Unlock()
}

func (p *writerPool) work() {
	for {
		p.mu.Lock()
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
			p.running--
			p.mu.Unlock()
			return
		}
		s := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if p.head >= 1024 && p.head*2 >= len(p.queue) {
			// Under constant load the queue never empties: reclaim the consumed front.
			n := copy(p.queue, p.queue[p.head:])
			clear(p.queue[n:])
			p.queue, p.head = p.queue[:n], 0
		}
		p.mu.Unlock()
		s.flush()
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// subscribed is require-sub's question; s.mu is held.
func (s *streamSession) subscribed(channel string) bool { return subscribedTo(s.subs, channel) }
