package wsproxy

import (
	"math/rand/v2"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/wsevents"
)

// subscription is one channel the origin subscribed the connection to.
type subscription struct {
	filters []string
	unsub   func() // nil while the fan-out subscription is being made
}

// keepAlive is the client keep-alive a keep-alive control message set.
type keepAlive struct {
	t        *time.Timer
	op       ws.OpCode
	content  []byte
	timeout  time.Duration
	interval bool // interval mode: not reset by other messages
}

// delayedMsg is a send-delayed message waiting for its timer.
type delayedMsg struct {
	t       *time.Timer
	op      ws.OpCode
	content []byte
}

// handleControl applies one control message (grip.md §2.3). Invalid ones are
// logged and dropped, as Pushpin does.
func (c *conn) handleControl(payload []byte) {
	ctl, err := wsevents.ParseControl(payload)
	if err != nil {
		c.p.log.Info("realtime: invalid grip control message", "api", c.cfg.API, "error", err)
		return
	}
	switch ctl.Type {
	case wsevents.CtlSubscribe:
		c.subscribe(ctl.Channel, ctl.Filters)
	case wsevents.CtlUnsubscribe:
		c.unsubscribe(ctl.Channel)
	case wsevents.CtlDetach:
		c.detach()
	case wsevents.CtlKeepAlive:
		c.mu.Lock()
		c.setKeepAliveLocked(ctl)
		c.mu.Unlock()
	case wsevents.CtlSetMeta:
		c.mu.Lock()
		if ctl.HasValue {
			if c.subMeta == nil {
				c.subMeta = map[string]string{}
			}
			c.subMeta[ctl.Name] = ctl.Value
		} else {
			delete(c.subMeta, ctl.Name)
		}
		c.mu.Unlock()
	case wsevents.CtlSendDelayed:
		c.mu.Lock()
		c.sendDelayedLocked(ctl)
		c.mu.Unlock()
	case wsevents.CtlFlushDelayed:
		c.mu.Lock()
		if d := c.delayed; d != nil {
			d.t.Stop()
			c.delayed = nil
			c.enqueueDataLocked(d.op, d.content)
		}
		c.mu.Unlock()
	case wsevents.CtlSession:
		// Sessions are a Pushpin handler feature with no effect on delivery.
	}
}

func (c *conn) subscribe(channel string, filters []string) {
	name := c.cfg.ChannelPrefix + channel
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if s := c.subs[name]; s != nil {
		s.filters = filters
		c.mu.Unlock()
		return
	}
	if len(c.subs) >= grip.MaxChannels {
		c.mu.Unlock()
		c.p.log.Info("realtime: websocket subscription limit reached", "api", c.cfg.API, "channel", name, "max", grip.MaxChannels)
		return
	}
	if c.subs == nil {
		c.subs = map[string]*subscription{}
	}
	// Registered before the fan-out knows us, so Deliver finds it at once.
	s := &subscription{filters: filters}
	c.subs[name] = s
	c.mu.Unlock()
	if c.p.fan == nil {
		return
	}
	unsub, err := c.p.fan.Subscribe(name, c)
	c.mu.Lock()
	if err != nil {
		if c.subs[name] == s {
			delete(c.subs, name)
		}
		c.mu.Unlock()
		c.p.log.Info("realtime: websocket subscribe failed", "api", c.cfg.API, "channel", name, "error", err)
		return
	}
	if c.gone || c.subs[name] != s {
		// Torn down or unsubscribed meanwhile.
		c.mu.Unlock()
		unsub()
		return
	}
	s.unsub = unsub
	c.mu.Unlock()
}

func (c *conn) unsubscribe(channel string) {
	name := c.cfg.ChannelPrefix + channel
	c.mu.Lock()
	s := c.subs[name]
	delete(c.subs, name)
	c.mu.Unlock()
	if s != nil && s.unsub != nil {
		s.unsub()
	}
}

// detach stops talking to the origin (a final CLOSE goes to it) while the
// client stays connected and keeps receiving publishes [T:V].
func (c *conn) detach() {
	if c.plain != nil {
		c.plain.detach(c)
		return
	}
	c.mu.Lock()
	c.detached = true
	c.finalEventLocked(wsevents.CloseEvent(0, ""), false)
	c.mu.Unlock()
}

func opFor(messageType string) ws.OpCode {
	switch messageType {
	case "binary":
		return ws.OpBinary
	case "ping":
		return ws.OpPing
	case "pong":
		return ws.OpPong
	}
	return ws.OpText
}

// sendOpLocked queues a message of any type, control frames truncated.
func (c *conn) sendOpLocked(op ws.OpCode, content []byte) bool {
	if op.IsControl() {
		content = truncControl(content)
	}
	return c.enqueueDataLocked(op, content)
}

// jitter is Pushpin's keep-alive timer: timeout less up to one second.
func jitter(timeout time.Duration) time.Duration {
	return max(timeout-rand.N(time.Second), time.Millisecond)
}

func (c *conn) setKeepAliveLocked(ctl wsevents.Control) {
	if c.ka != nil {
		c.ka.t.Stop()
		c.ka = nil
	}
	if ctl.Content == nil || c.gone {
		return // no content turns keep-alives off
	}
	ka := &keepAlive{
		op: opFor(ctl.MessageType), content: ctl.Content,
		timeout: time.Duration(ctl.Timeout) * time.Second, interval: ctl.Mode == "interval",
	}
	ka.t = time.AfterFunc(jitter(ka.timeout), func() { c.keepAliveFire(ka) })
	c.ka = ka
}

func (c *conn) keepAliveFire(ka *keepAlive) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ka != ka || c.gone {
		return
	}
	c.sendOpLocked(ka.op, ka.content)
	// In idle mode sending re-armed it already; make sure it runs again.
	ka.t.Reset(jitter(ka.timeout))
}

// dataSentLocked restarts an idle-mode keep-alive: it only fires after
// timeout without other messages.
func (c *conn) dataSentLocked() {
	if ka := c.ka; ka != nil && !ka.interval {
		ka.t.Reset(jitter(ka.timeout))
	}
}

func (c *conn) sendDelayedLocked(ctl wsevents.Control) {
	if c.delayed != nil {
		c.delayed.t.Stop() // a new delayed message replaces the pending one
		c.delayed = nil
	}
	if ctl.Content == nil || c.gone {
		return
	}
	d := &delayedMsg{op: opFor(ctl.MessageType), content: ctl.Content}
	d.t = time.AfterFunc(time.Duration(ctl.Timeout)*time.Second, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.delayed == d {
			c.delayed = nil
			c.sendOpLocked(d.op, d.content)
		}
	})
	c.delayed = d
}

// Deliver implements fanout.Subscriber. It runs under the channel lock, so it
// only queues: frames go to the writer pool, requests to their own goroutine.
func (c *conn) Deliver(channel string, it *publish.Item) {
	m := it.WSMessage
	if m == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.subs[channel]
	if c.gone || s == nil || !c.passesLocked(s, it) {
		return
	}
	switch m.Action {
	case publish.Send, "":
		if c.closeSent || (c.mc != nil && !c.mc.Allow()) {
			return
		}
		content, err := grip.ApplyContentFilters(s.filters, c.subMeta, m.Content)
		if err != nil {
			return // Pushpin drops what its var-subst filter cannot fill in
		}
		if c.sendOpLocked(opFor(m.Type), content) {
			c.p.published.Add(1)
			if c.mc != nil {
				c.mc.Delivered(len(content))
			}
		}
	case publish.Close:
		// [T:Q]: the client gets the close frame, the origin a final CLOSE.
		c.closeClientLocked(m.Code, m.Reason)
		if c.plain != nil {
			go c.plain.detach(c)
		} else {
			c.finalEventLocked(wsevents.CloseEvent(0, ""), false)
		}
	case publish.Refresh:
		if c.plain == nil && c.ostate == originActive && !c.detached {
			c.wantEmpty = true
			c.kickLocked()
		}
	case publish.Hint:
		// Ignored for WebSockets (grip.md §2.3).
	}
}

// Update implements fanout.Subscriber; WebSockets have nothing to re-fetch.
func (c *conn) Update(string, fanout.Reason) {}

// passesLocked applies the subscription's filters to a publish (grip.md §3.3).
func (c *conn) passesLocked(s *subscription, it *publish.Item) bool {
	subscribed := func(ch string) bool { return c.subs[ch] != nil || c.subs[c.cfg.ChannelPrefix+ch] != nil }
	return grip.FiltersPass(s.filters, c.subMeta, it.Meta, subscribed) &&
		grip.ContentFiltersMatch(it.WSMessage.ContentFilters, s.filters)
}
