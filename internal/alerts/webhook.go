package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Webhook request headers.
const (
	// HeaderEvent is the event type: firing, resolved or test.
	HeaderEvent = "X-Gatehouse-Event"
	// HeaderDelivery is the delivery id, the same on every retry of one delivery.
	HeaderDelivery = "X-Gatehouse-Delivery"
	// HeaderTimestamp is when the attempt was sent, in Unix seconds.
	HeaderTimestamp = "X-Gatehouse-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the webhook's
	// secret, of the timestamp header, a dot and the raw body.
	HeaderSignature = "X-Gatehouse-Signature"
)

// EventTest is the event type of POST /v1/webhooks/{id}/test.
const EventTest = "test"

// Sign returns the X-Gatehouse-Signature value of body sent at timestamp (the
// X-Gatehouse-Timestamp value): "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned by VerifySignature when the signature does not match.
var ErrBadSignature = errors.New("webhook signature does not match")

// VerifySignature checks a delivery for a receiver: secret is the webhook's secret,
// timestamp the X-Gatehouse-Timestamp header, body the raw request body (read it before
// decoding, byte for byte) and header the X-Gatehouse-Signature header. It compares in
// constant time and returns nil when the signature matches.
//
// A receiver should also reject timestamps far from its clock (five minutes is usual),
// so that a captured delivery cannot be replayed later, and may drop deliveries whose
// X-Gatehouse-Delivery it has already processed: retries repeat it.
//
// In another language: compute HMAC-SHA256 with the secret as key over the bytes of the
// timestamp, ".", and the body; hex-encode it in lower case; compare with the header
// after its "sha256=" prefix.
func VerifySignature(secret, timestamp string, body []byte, header string) error {
	if secret == "" || timestamp == "" {
		return ErrBadSignature
	}
	if _, err := strconv.ParseInt(timestamp, 10, 64); err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(strings.TrimSpace(header))) {
		return ErrBadSignature
	}
	return nil
}

// delivery is one queued event for one webhook.
type delivery struct {
	hook    Webhook
	id      string
	typ     string // firing, resolved, test
	eventID string
	body    []byte
	attempt int // the attempt to make next, from 1
}

// DeliveryStats counts webhook deliveries since the engine started.
type DeliveryStats struct {
	Queued    uint64 `json:"queued"`    // deliveries accepted into the queue
	Succeeded uint64 `json:"succeeded"` // deliveries that got a 2xx
	Failed    uint64 `json:"failed"`    // deliveries that gave up after their last attempt
	Dropped   uint64 `json:"dropped"`   // deliveries or retries dropped for a full queue or shutdown
	Attempts  uint64 `json:"attempts"`  // HTTP requests made
}

type deliveryCounters struct {
	queued, succeeded, failed, dropped, attempts atomic.Uint64
}

// dispatcher delivers webhooks on a bounded pool of workers. Retries wait on timers, not
// on workers, so a dead receiver holds no worker between attempts. Deliveries are not
// ordered: a resolved event may arrive before a firing one still being retried, so
// receivers order by the event's `at` (and drop repeated X-Gatehouse-Delivery ids).
type dispatcher struct {
	e       *Engine
	queue   chan *delivery
	n       deliveryCounters
	stopped atomic.Bool
}

// enqueue queues d without blocking; it reports false (and counts a drop) when the queue
// is full or the engine has stopped.
func (p *dispatcher) enqueue(d *delivery) bool {
	if p.stopped.Load() {
		p.n.dropped.Add(1)
		return false
	}
	select {
	case p.queue <- d:
		return true
	default:
		p.n.dropped.Add(1)
		p.e.log.Warn("alerts: webhook queue full, delivery dropped",
			"webhook", d.hook.ID, "delivery", d.id, "attempt", d.attempt)
		return false
	}
}

// run is one worker.
func (p *dispatcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-p.queue:
			p.attempt(ctx, d)
		}
	}
}

// attempt makes one attempt, logs it and schedules the next one if it failed.
func (p *dispatcher) attempt(ctx context.Context, d *delivery) {
	o := &p.e.opts
	rec, retry := p.send(ctx, d)
	last := d.attempt >= o.WebhookAttempts
	var wait time.Duration
	if !rec.Success && retry && !last {
		wait = backoff(o.WebhookBackoff, o.WebhookMaxBackoff, d.attempt)
		next := rec.At.Add(wait)
		rec.NextRetry = &next
	}
	p.e.logDelivery(ctx, rec)
	switch {
	case rec.Success:
		p.n.succeeded.Add(1)
	case rec.NextRetry == nil:
		p.n.failed.Add(1)
		p.e.log.Warn("alerts: webhook delivery failed", "webhook", d.hook.ID, "delivery", d.id,
			"attempts", d.attempt, "status", rec.StatusCode, "err", rec.Error)
	default:
		d.attempt++
		time.AfterFunc(wait, func() {
			if ctx.Err() != nil {
				p.n.dropped.Add(1)
				return
			}
			p.enqueue(d)
		})
	}
}

// send POSTs d once. retry says whether a failure is worth another attempt: network
// errors, 408, 429 and 5xx are; other answers are the receiver's final word.
func (p *dispatcher) send(ctx context.Context, d *delivery) (rec *Delivery, retry bool) {
	o := &p.e.opts
	p.n.attempts.Add(1)
	start := time.Now()
	rec = &Delivery{ID: d.id, Attempt: d.attempt, Webhook: d.hook.ID, Event: d.eventID, EventType: d.typ,
		URL: d.hook.URL, At: o.Now().UTC()}
	ts := strconv.FormatInt(rec.At.Unix(), 10)
	rctx, cancel := context.WithTimeout(ctx, o.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.hook.URL, bytes.NewReader(d.body))
	if err != nil {
		rec.Error = err.Error()
		return rec, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	req.Header.Set(HeaderEvent, d.typ)
	req.Header.Set(HeaderDelivery, d.id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(d.hook.Secret, ts, d.body))
	resp, err := o.HTTPClient.Do(req)
	rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		rec.Error = err.Error()
		return rec, ctx.Err() == nil
	}
	// Drain a little so the connection can be reused; the answer's body is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	rec.StatusCode = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		rec.Success = true
		return rec, false
	}
	rec.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
	return rec, resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// backoff is the wait after failed attempt n (from 1): base·2^(n-1), capped at max, with
// ±20% jitter so that receivers recovering from an outage are not hit in lockstep.
func backoff(base, ceiling time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return max(d+jitter, time.Millisecond)
}

// logDelivery appends rec to the delivery log; a failure to log does not stop delivery.
func (e *Engine) logDelivery(ctx context.Context, rec *Delivery) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.opts.Store.AppendDelivery(ctx, rec); err != nil {
		e.log.Warn("alerts: writing the delivery log", "webhook", rec.Webhook, "delivery", rec.ID, "err", err)
	}
}

// newDeliveryID names a delivery.
func newDeliveryID() string { return gatehouse.NewID("dlv") }

// DeliveryStats reports the webhook counters.
func (e *Engine) DeliveryStats() DeliveryStats {
	n := &e.disp.n
	return DeliveryStats{Queued: n.queued.Load(), Succeeded: n.succeeded.Load(), Failed: n.failed.Load(),
		Dropped: n.dropped.Load(), Attempts: n.attempts.Load()}
}

// TestWebhook sends one test event to the webhook now, once, without retries, logs the
// attempt and returns it. It works on disabled webhooks too.
func (e *Engine) TestWebhook(ctx context.Context, id string) (*Delivery, error) {
	w, err := e.opts.Store.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	now := e.opts.Now().UTC()
	ev := Event{ID: gatehouse.NewID("test"), Rule: "test", RuleName: "Test", Kind: KindErrorRate, Severity: SeverityInfo,
		Subject: "*", State: StateFiring, StartedAt: now, At: now,
		Message: "test event from Gatehouse: webhook " + w.ID + " is reachable"}
	body, err := marshalEvent(&ev)
	if err != nil {
		return nil, err
	}
	d := &delivery{hook: *w, id: newDeliveryID(), typ: EventTest, eventID: ev.ID, body: body, attempt: 1}
	rec, _ := e.disp.send(ctx, d)
	e.logDelivery(ctx, rec)
	return rec, nil
}
