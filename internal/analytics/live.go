package analytics

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LiveOptions configure a Live sink.
type LiveOptions struct {
	// History is how many past seconds are kept for Window and Recent (default 5 minutes).
	History time.Duration
	// MaxAPIs bounds the per-API entries of one second (default 1000); events of further
	// APIs count in the overall totals only.
	MaxAPIs int
	// MaxNotable bounds the notable events kept per second (default 20).
	MaxNotable int
	Clock      func() time.Time // nil: time.Now
	Logger     *slog.Logger     // nil discards
}

// LiveCounts are one second's (or a window's) totals.
type LiveCounts struct {
	Count       int64   `json:"count"`
	Errors      int64   `json:"errors"`       // status >= 500
	RateLimited int64   `json:"rate_limited"` // status 429
	Rejected    int64   `json:"rejected"`     // ended by a policy
	BytesIn     int64   `json:"bytes_in"`
	BytesOut    int64   `json:"bytes_out"`
	P50Ms       float64 `json:"p50_ms"` // latency percentiles, milliseconds
	P99Ms       float64 `json:"p99_ms"`
}

// Notable is an event worth showing on its own in the live view: a server error or a
// policy rejection.
type Notable struct {
	Time       time.Time `json:"time"`
	Reason     string    `json:"reason"` // "error" or "rejected"
	API        string    `json:"api,omitempty"`
	Route      string    `json:"route,omitempty"`
	Method     string    `json:"method,omitempty"`
	Status     int       `json:"status"`
	App        string    `json:"app,omitempty"`
	RejectedBy string    `json:"rejected_by,omitempty"`
	RejectCode string    `json:"reject_code,omitempty"`
	TraceID    string    `json:"trace_id,omitempty"`
	LatencyMs  float64   `json:"latency_ms"`
}

// LiveSecond is one completed second, as counted when the events reached the sink.
type LiveSecond struct {
	Time time.Time `json:"time"` // the second's start
	LiveCounts
	// Messages are realtime messages delivered to clients (not requests).
	Messages int64                 `json:"messages"`
	APIs     map[string]LiveCounts `json:"apis,omitempty"` // requests that matched an API
	Notable  []Notable             `json:"notable,omitempty"`
}

// LiveTotals are the totals of the last Seconds completed seconds, for alert rules.
type LiveTotals struct {
	API       string    `json:"api,omitempty"` // "" for all traffic
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Seconds   int       `json:"seconds"` // seconds covered (fewer than asked just after start)
	RPS       float64   `json:"rps"`
	ErrorRate float64   `json:"error_rate"`
	P95Ms     float64   `json:"p95_ms"`
	LiveCounts
}

// Live is a Sink that keeps per-second totals, overall and per API, for the last few
// minutes, and hands each completed second to subscribers.
type Live struct {
	history    int
	maxAPIs    int
	maxNotable int
	now        func() time.Time
	log        *slog.Logger

	mu      sync.Mutex
	slots   []liveSlot // ring by second
	cur     int64      // the open second (unix), 0 before the first event or tick
	started int64      // the first second counted
	subs    map[*liveSub]struct{}
}

type liveSlot struct {
	sec      int64
	messages int64 // realtime messages delivered
	all      liveAgg
	apis     map[string]*liveAgg
	notable  []Notable
}

type liveAgg struct {
	LiveCounts
	sk  *Sketch // while the second is open
	enc []byte  // once closed
}

type liveSub struct {
	ch   chan LiveSecond
	done chan struct{}
}

// NewLive returns a live sink; call Start to close seconds on time without traffic.
func NewLive(o LiveOptions) *Live {
	l := &Live{history: int(o.History / time.Second), maxAPIs: o.MaxAPIs, maxNotable: o.MaxNotable, now: o.Clock, log: o.Logger, subs: map[*liveSub]struct{}{}}
	if l.history <= 0 {
		l.history = 300
	}
	if l.maxAPIs <= 0 {
		l.maxAPIs = 1000
	}
	if l.maxNotable <= 0 {
		l.maxNotable = 20
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.slots = make([]liveSlot, l.history+1)
	return l
}

func (a *liveAgg) add(e *Event) {
	a.Count++
	if e.Status >= 500 {
		a.Errors++
	}
	if e.Status == 429 {
		a.RateLimited++
	}
	if e.RejectedBy != "" {
		a.Rejected++
	}
	a.BytesIn += e.BytesIn
	a.BytesOut += e.BytesOut
	if a.sk == nil {
		a.sk = GetSketch()
	}
	a.sk.Add(e.Latency)
}

// close freezes the second: percentiles computed, sketch encoded for windows.
func (a *liveAgg) close() {
	if a.sk == nil {
		return
	}
	a.P50Ms, a.P99Ms = ms(a.sk.Quantile(0.5)), ms(a.sk.Quantile(0.99))
	a.enc, _ = a.sk.AppendBinary(a.enc[:0])
	PutSketch(a.sk)
	a.sk = nil
}

// Consume counts a batch into the current second (Sink).
func (l *Live) Consume(batch []Event) {
	now := l.now()
	l.mu.Lock()
	l.advance(now.Unix())
	s := &l.slots[l.cur%int64(len(l.slots))]
	for i := range batch {
		e := &batch[i]
		if e.Kind != KindRequest {
			// Realtime connections and messages are not requests: counting them would
			// skew request rates, error rates and latencies (and the alerts on them).
			if e.Kind == KindMessage {
				s.messages++
			}
			continue
		}
		s.all.add(e)
		if e.API != "" {
			a := s.apis[e.API]
			if a == nil && len(s.apis) < l.maxAPIs {
				if s.apis == nil {
					s.apis = map[string]*liveAgg{}
				}
				a = &liveAgg{}
				s.apis[e.API] = a
			}
			if a != nil {
				a.add(e)
			}
		}
		if len(s.notable) < l.maxNotable && (e.Status >= 500 || e.RejectedBy != "") {
			reason := "error"
			if e.RejectedBy != "" {
				reason = "rejected"
			}
			s.notable = append(s.notable, Notable{
				Time: EventEnd(e, now), Reason: reason, API: e.API, Route: e.Route, Method: e.Method,
				Status: e.Status, App: e.App, RejectedBy: e.RejectedBy, RejectCode: e.RejectCode,
				TraceID: e.TraceID, LatencyMs: ms(e.Latency),
			})
		}
	}
	l.mu.Unlock()
}

// advance moves the open second to sec, closing the one before and sending it (and
// zero seconds for any gap) to the subscribers. Sending under mu keeps the order; the
// sends never block.
func (l *Live) advance(sec int64) {
	if l.cur == 0 {
		l.cur, l.started = sec, sec
		l.resetSlot(sec)
		return
	}
	if sec <= l.cur {
		return // the clock went back a little: keep counting into the open second
	}
	slot := &l.slots[l.cur%int64(len(l.slots))]
	slot.all.close()
	for _, a := range slot.apis {
		a.close()
	}
	if len(l.subs) > 0 {
		l.send(slot.snapshot())
		// Seconds without events have no slot (their ring entries hold older seconds,
		// which Window and Recent skip by number).
		for s := max(l.cur+1, sec-int64(l.history)); s < sec; s++ {
			l.send(LiveSecond{Time: time.Unix(s, 0).UTC()})
		}
	}
	l.cur = sec
	l.resetSlot(sec)
}

func (l *Live) send(p LiveSecond) {
	for s := range l.subs {
		select {
		case s.ch <- p:
		default: // a slow subscriber misses seconds rather than holding up the rest
		}
	}
}

func (l *Live) resetSlot(sec int64) {
	s := &l.slots[sec%int64(len(l.slots))]
	s.sec, s.messages = sec, 0
	PutSketch(s.all.sk)
	s.all = liveAgg{enc: s.all.enc[:0]}
	for _, a := range s.apis {
		PutSketch(a.sk)
	}
	clear(s.apis)
	s.notable = s.notable[:0]
}

func (s *liveSlot) snapshot() LiveSecond {
	out := LiveSecond{Time: time.Unix(s.sec, 0).UTC(), LiveCounts: s.all.LiveCounts, Messages: s.messages}
	if len(s.apis) > 0 {
		out.APIs = make(map[string]LiveCounts, len(s.apis))
		for k, a := range s.apis {
			out.APIs[k] = a.LiveCounts
		}
	}
	if len(s.notable) > 0 {
		out.Notable = append([]Notable(nil), s.notable...)
	}
	return out
}

// Tick closes the seconds that have ended by now and publishes them; Start calls it every
// second (tests with a fake clock call it directly).
func (l *Live) Tick() {
	now := l.now()
	l.mu.Lock()
	l.advance(now.Unix())
	l.mu.Unlock()
}

// Start ticks just after every second boundary until ctx ends.
func (l *Live) Start(ctx context.Context) {
	go func() {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		for {
			now := l.now()
			t.Reset(now.Truncate(time.Second).Add(time.Second + 5*time.Millisecond).Sub(now))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.Tick()
			}
		}
	}()
}

// Subscribe calls fn with every completed second, in order, on a goroutine of its own;
// if fn falls behind, seconds are skipped rather than queued without bound. cancel stops
// the calls (it does not wait for one in progress).
func (l *Live) Subscribe(fn func(LiveSecond)) (cancel func()) {
	s := &liveSub{ch: make(chan LiveSecond, 16), done: make(chan struct{})}
	l.mu.Lock()
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	go func() {
		for {
			select {
			case <-s.done:
				return
			case p := <-s.ch:
				fn(p)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, s)
			l.mu.Unlock()
			close(s.done)
		})
	}
}

// Recent returns the completed seconds of the last d, oldest first (for a dashboard that
// just connected); seconds without events are included as zeros.
func (l *Live) Recent(d time.Duration) []LiveSecond {
	l.mu.Lock()
	defer l.mu.Unlock()
	from, to := l.span(d)
	out := make([]LiveSecond, 0, to-from)
	for s := from; s < to; s++ {
		slot := &l.slots[s%int64(len(l.slots))]
		if slot.sec == s {
			out = append(out, slot.snapshot())
		} else {
			out = append(out, LiveSecond{Time: time.Unix(s, 0).UTC()})
		}
	}
	return out
}

// span is the completed seconds [from, to) of the last d that were counted. mu held.
func (l *Live) span(d time.Duration) (from, to int64) {
	if l.cur == 0 {
		return 0, 0
	}
	n := min(max(int64(d/time.Second), 1), int64(l.history))
	to = l.cur
	from = max(to-n, l.started)
	return from, to
}

// Window returns the totals of the completed seconds of the last d (at most the history)
// for api, or for all traffic when api is "".
func (l *Live) Window(api string, d time.Duration) LiveTotals {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A window that started before the live sink did covers only the seconds since.
	from, to := l.span(d)
	out := LiveTotals{API: api, From: time.Unix(from, 0).UTC(), To: time.Unix(to, 0).UTC(), Seconds: int(to - from)}
	sk := GetSketch()
	defer PutSketch(sk)
	for s := from; s < to; s++ {
		slot := &l.slots[s%int64(len(l.slots))]
		if slot.sec != s {
			continue
		}
		a := &slot.all
		if api != "" {
			if a = slot.apis[api]; a == nil {
				continue
			}
		}
		c := &out.LiveCounts
		c.Count += a.Count
		c.Errors += a.Errors
		c.RateLimited += a.RateLimited
		c.Rejected += a.Rejected
		c.BytesIn += a.BytesIn
		c.BytesOut += a.BytesOut
		if len(a.enc) > 0 {
			_ = sk.MergeBinary(a.enc) // our own encoding
		}
	}
	if out.Seconds > 0 {
		out.RPS = float64(out.Count) / float64(out.Seconds)
	}
	if out.Count > 0 {
		out.ErrorRate = float64(out.Errors) / float64(out.Count)
	}
	out.P50Ms, out.P95Ms, out.P99Ms = ms(sk.Quantile(0.5)), ms(sk.Quantile(0.95)), ms(sk.Quantile(0.99))
	return out
}
