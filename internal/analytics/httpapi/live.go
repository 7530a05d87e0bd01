package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

// LiveEvent is the data of a live stream's "second" event: one completed second of one
// node, as published on the realtime channel (the ws-message content is this JSON).
type LiveEvent struct {
	Node string `json:"node"`
	analytics.LiveSecond
}

// LiveAPIEvent is the data of a "second" event of a stream filtered to one API: that
// API's counts (zeros when it had no traffic) and its notable events.
type LiveAPIEvent struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`
	API  string    `json:"api"`
	analytics.LiveCounts
	Notable []analytics.Notable `json:"notable,omitempty"`
}

const publishTimeout = 5 * time.Second

// Start subscribes to Live and publishes each completed second to the realtime channel
// through Fanout, until ctx ends; open live streams end with ctx too (so a graceful
// shutdown need not wait for dashboards to disconnect). Call it once. With a Fanout, the
// live endpoint's new seconds are the ones published here (by every node on the
// broker), so a node that serves /live must call Start. Without Live or Fanout nothing
// is published.
func (a *API) Start(ctx context.Context) {
	context.AfterFunc(ctx, func() { a.stopOnce.Do(func() { close(a.stopped) }) })
	if a.live == nil || a.fan == nil {
		return
	}
	cancel := a.live.Subscribe(func(s analytics.LiveSecond) { a.publish(ctx, s) })
	context.AfterFunc(ctx, cancel)
}

// publish sends one second to the channel: an SSE event for stream holds (and our own
// SSE endpoint) and the bare JSON for WebSocket subscribers.
func (a *API) publish(ctx context.Context, s analytics.LiveSecond) {
	if ctx.Err() != nil {
		return
	}
	data, err := json.Marshal(LiveEvent{Node: a.node, LiveSecond: s})
	if err != nil {
		a.log.Error("analytics live: encoding a second", "err", err)
		return
	}
	it := publish.Item{
		Channel:    a.channel,
		HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: sseEvent("second", data)},
		WSMessage:  &publish.WSMessage{Action: publish.Send, Type: "text", Content: data},
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := a.fan.Publish(pctx, []publish.Item{it}); err != nil {
		// Once a minute at most while the broker is down: one line per second is noise.
		if n := a.pubErrors.Add(1); n%60 == 1 && ctx.Err() == nil {
			a.log.Warn("analytics live: publishing a second failed", "channel", a.channel, "failures", n, "err", err)
		}
		return
	}
	a.published.Add(1)
}

// sseEvent frames data (one line of JSON) as a server-sent event.
func sseEvent(name string, data []byte) []byte {
	b := make([]byte, 0, len(name)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// sseData returns the data of an SSE event (its data lines joined by newlines).
func sseData(ev []byte) []byte {
	var out []byte
	n := 0
	for line := range bytes.SplitSeq(ev, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if n > 0 {
				out = append(out, '\n')
			}
			out = append(out, bytes.TrimPrefix(d, []byte(" "))...)
			n++
		}
	}
	return out
}

// streamSub is one SSE connection's subscription: Deliver queues the event's bytes
// without blocking, dropping (and counting) when the connection is behind.
type streamSub struct {
	ch      chan []byte
	dropped atomic.Uint64
	api     *API
}

func (s *streamSub) push(b []byte) {
	select {
	case s.ch <- b:
	default:
		s.dropped.Add(1)
		s.api.dropped.Add(1)
	}
}

// Deliver implements fanout.Subscriber. The item is shared: its content is only read.
func (s *streamSub) Deliver(_ string, it *publish.Item) {
	if it.HTTPStream == nil || it.HTTPStream.Action != publish.Send {
		return
	}
	s.push(it.HTTPStream.Content)
}

// Update implements fanout.Subscriber: the stream has no origin to refresh from.
func (s *streamSub) Update(string, fanout.Reason) {}

// ServeLive serves the live stream of per-second aggregates (the same server-sent events
// as GET /v1/analytics/live, including its api parameter) to another listener's page, such
// as the operator dashboard. It does not authenticate: the caller must have checked that
// the request's session may see the whole node's traffic.
func (a *API) ServeLive(w http.ResponseWriter, r *http.Request) { a.stream(w, r) }

// stream serves GET /v1/analytics/live.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	if a.live == nil {
		a.notFound(w, r, "live analytics are not enabled on this node")
		return
	}
	p := newParams(r, liveSpec, a.now())
	api := p.get("api")
	if len(api) > maxValueLen {
		p.addf("api", "at most %d bytes", maxValueLen)
	}
	if err := p.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)

	// Subscribe before reading the backlog so that no second falls between the two;
	// seconds in both are sent once.
	sub := &streamSub{ch: make(chan []byte, a.bufSize), api: a}
	var cancel func()
	if a.fan != nil {
		var err error
		if cancel, err = a.fan.Subscribe(a.channel, sub); err != nil {
			a.fail(w, r, err)
			return
		}
	} else {
		cancel = a.live.Subscribe(func(s analytics.LiveSecond) {
			if data, err := json.Marshal(LiveEvent{Node: a.node, LiveSecond: s}); err == nil {
				sub.push(sseEvent("second", data))
			}
		})
	}
	defer cancel()
	a.streams.Add(1)
	defer a.streams.Add(-1)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		// A deadline per write: a client that stops reading cannot hold the handler
		// forever, and the listener's own WriteTimeout must not cut a healthy stream.
		_ = rc.SetWriteDeadline(time.Now().Add(a.writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": analytics live stream\n\n")) {
		return
	}

	var last time.Time // the newest backlog second: this node's seconds up to it are sent
	for _, s := range a.live.Recent(a.backlog) {
		ev, ok := a.encode(LiveEvent{Node: a.node, LiveSecond: s}, api)
		if ok && !write(ev) {
			return
		}
		last = s.Time
	}

	tick := time.NewTicker(a.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.stopped:
			return
		case <-tick.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case ev := <-sub.ch:
			if n := sub.dropped.Swap(0); n > 0 {
				if !write([]byte(": dropped " + strconv.FormatUint(n, 10) + " seconds (client too slow)\n\n")) {
					return
				}
			}
			if !last.IsZero() || api != "" {
				var e LiveEvent
				if err := json.Unmarshal(sseData(ev), &e); err != nil {
					continue
				}
				if !last.IsZero() && e.Node == a.node {
					if !e.Time.After(last) {
						continue // in the backlog already
					}
					last = time.Time{}
				}
				if api != "" {
					var ok bool
					if ev, ok = a.encode(e, api); !ok {
						continue
					}
				}
			}
			if !write(ev) {
				return
			}
		}
	}
}

// encode frames a second as an SSE event, restricted to api when it is not empty.
func (a *API) encode(e LiveEvent, api string) ([]byte, bool) {
	var v any = e
	if api != "" {
		f := LiveAPIEvent{Node: e.Node, Time: e.Time, API: api, LiveCounts: e.APIs[api]}
		for _, n := range e.Notable {
			if n.API == api {
				f.Notable = append(f.Notable, n)
			}
		}
		v = f
	}
	data, err := json.Marshal(v)
	if err != nil {
		a.log.Error("analytics live: encoding a second", "err", err)
		return nil, false
	}
	return sseEvent("second", data), true
}
