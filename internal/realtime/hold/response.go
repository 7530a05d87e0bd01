package hold

import (
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// respSession is a response (long-poll) hold. It blocks in Serve: nothing is written
// until a publish, a timeout or a retry decides the one response, so the HTTP/1.1
// connection stays reusable and net/http does the framing.
type respSession struct {
	h    *Holder
	cfg  *Config
	wake chan struct{} // Deliver/Update → Serve's goroutine; capacity 1

	mu    sync.Mutex
	subs  []sub
	meta  map[string]string
	got   *publish.Item // first publish accepted; answered by Serve's goroutine
	retry bool          // re-request the origin (hint, gap, recover, first subscription)
	done  bool
}

var _ fanout.Subscriber = (*respSession)(nil)

func (s *respSession) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Deliver implements fanout.Subscriber; it only records what happened.
func (s *respSession) Deliver(channel string, it *publish.Item) {
	hr := it.HTTPResponse
	if hr == nil {
		return // no format for response holds
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.got != nil || s.retry {
		return
	}
	i := findSub(s.subs, channel)
	if i < 0 {
		return
	}
	sb := &s.subs[i]
	if !grip.FiltersPass(sb.filters, s.meta, it.Meta, s.subscribed) {
		return
	}
	if sb.prevID != "" && it.PrevID != sb.prevID {
		// A gap: the origin must tell us what we missed (Grip-Last carries our position).
		s.retry = true
		s.signal()
		return
	}
	switch hr.Action {
	case publish.Hint:
		s.retry = true
		s.signal()
	case publish.Send, "":
		if !grip.ContentFiltersMatch(hr.ContentFilters, sb.filters) {
			return
		}
		s.got = it
		s.signal()
	}
	// Close is ignored by response holds, as in Pushpin.
}

// Update implements fanout.Subscriber.
func (s *respSession) Update(channel string, why fanout.Reason) {
	if why == fanout.FirstSubscription && !s.cfg.UpdateOnFirstSubscription {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.got != nil {
		return
	}
	s.retry = true
	s.signal()
}

// setInstruction installs a (new) hold's channels and meta, keeping subscriptions to
// channels it already had so no publish is missed across a retry.
func (s *respSession) setInstruction(in *grip.Instruction) {
	s.mu.Lock()
	next, removed := s.h.planSubs(s.cfg, s.subs, in.Channels)
	s.subs, s.meta, s.got, s.retry = next, in.Meta, nil, false
	s.mu.Unlock()
	for _, o := range removed {
		o.unsub()
	}
	uns := s.h.subscribe(s.cfg, next, s)
	s.mu.Lock()
	for i, un := range uns {
		if un != nil {
			s.subs[i].unsub = un
		}
	}
	s.mu.Unlock()
}

func (s *respSession) end() {
	s.mu.Lock()
	s.done = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, o := range subs {
		if o.unsub != nil {
			o.unsub()
		}
	}
}

func (h *Holder) serveResponse(w http.ResponseWriter, r *http.Request, cfg *Config, app string, in *grip.Instruction, up *Upstream, origin Origin) {
	mc, ok := h.openMeter(w, cfg, app)
	if !ok {
		return
	}
	s := &respSession{h: h, cfg: cfg, wake: make(chan struct{}, 1)}
	h.opened.Add(1)
	if h.opts.Settle != nil {
		h.opts.Settle.Opened()
	}
	h.heldResponse.Add(1)
	next := h.holdResponse(w, r, s, mc, in, up, origin)
	s.end()
	mc.Close()
	h.heldResponse.Add(-1)
	h.ended.Add(1)
	if next != nil {
		// A retry turned the long-poll into a stream hold (or pagination).
		h.dispatch(w, r, cfg, app, next.in, next.up, origin)
	}
}

type handoff struct {
	in *grip.Instruction
	up *Upstream
}

// holdResponse runs the hold until it answers; it returns a non-response instruction a
// retry produced, for the caller to serve once this hold's accounting is closed.
func (h *Holder) holdResponse(w http.ResponseWriter, r *http.Request, s *respSession, mc *meter.Conn, in *grip.Instruction, up *Upstream, origin Origin) *handoff {
	ctx := r.Context()
	first := true
	for {
		orig := in.ClientResponse(up.Status, up.Header, up.Body)
		s.setInstruction(in)
		// Only on the first hold: Pushpin forgets the conflicting last id when it
		// recovers, so a retried hold is trusted (otherwise a stale origin would loop).
		if first && h.conflict(s.subs) {
			s.mu.Lock()
			s.retry = true
			s.mu.Unlock()
			s.signal()
		}
		first = false
		timer := time.NewTimer(in.Timeout)
	wait:
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-h.shutdown:
			timer.Stop()
			h.writeResponse(w, orig.Code, orig.Reason, orig.Header, orig.Body)
			return nil
		case <-timer.C:
			h.writeResponse(w, orig.Code, orig.Reason, orig.Header, orig.Body)
			return nil
		case <-s.wake:
		}
		s.mu.Lock()
		got, retry := s.got, s.retry
		s.got = nil
		s.mu.Unlock()
		if got != nil {
			if mc != nil && !mc.Allow() {
				goto wait // over the app's message cap: this publish is not for us
			}
			timer.Stop()
			h.answerPublish(w, s, mc, orig, got)
			return nil
		}
		if !retry {
			goto wait
		}
		timer.Stop()
		extra := gripLast(s.subs)
		nu, err := origin.Retry(ctx, extra)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Debug("realtime: retry failed", "api", s.cfg.API, "error", err)
				h.writeGripError(w, s.cfg, err)
			}
			return nil
		}
		if !grip.IsGrip(nu.Header) {
			h.writeResponse(w, nu.Status, "", nu.Header, nu.Body)
			return nil
		}
		nin, err := grip.Parse(nu.Status, nu.Header, nu.Body)
		if err != nil {
			h.writeGripError(w, s.cfg, err)
			return nil
		}
		if nin.Hold != grip.HoldResponse {
			return &handoff{in: nin, up: nu}
		}
		in, up = nin, nu
	}
}

// answerPublish sends a published http-response: it inherits the held response's
// headers, each published header replacing same-named ones [T:F].
func (h *Holder) answerPublish(w http.ResponseWriter, s *respSession, mc *meter.Conn, orig *grip.Response, it *publish.Item) {
	hr := it.HTTPResponse
	hdr := orig.Header.Clone()
	for k := range hr.Header {
		hdr.Del(k)
	}
	for k, v := range hr.Header {
		hdr[http.CanonicalHeaderKey(k)] = append(hdr[http.CanonicalHeaderKey(k)], v...)
	}
	body := hr.Body
	if hr.BodyPatch != nil {
		var err error
		if body, err = applyBodyPatch(orig.Body, hr.BodyPatch); err != nil {
			h.log.Debug("realtime: body-patch failed", "api", s.cfg.API, "error", err)
			body = nil
		}
	}
	s.mu.Lock()
	var filters []string
	if i := findSub(s.subs, it.Channel); i >= 0 {
		filters = s.subs[i].filters
	}
	meta := s.meta
	s.mu.Unlock()
	if b, err := grip.ApplyContentFilters(filters, meta, body); err == nil {
		body = b
	} else {
		h.log.Debug("realtime: content filter failed", "api", s.cfg.API, "error", err)
	}
	code := hr.Code
	if code == 0 {
		code = http.StatusOK
	}
	h.writeResponse(w, code, hr.Reason, hdr, body)
	h.messages.Add(1)
	h.bytes.Add(uint64(len(body)))
	if mc != nil {
		mc.Delivered(len(body))
	}
}

// subscribed is require-sub's question; s.mu is held.
func (s *respSession) subscribed(channel string) bool { return subscribedTo(s.subs, channel) }
