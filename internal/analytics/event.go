// Package analytics turns every request, realtime connection and delivered message into an
// Event, counts them into per-minute rollups with mergeable latency histograms, stores the
// rollups, and answers queries over them.
//
// The request path only calls Recorder.Record, which copies the Event into a bounded queue
// and never blocks: when the queue is full the event is dropped and counted. One goroutine
// drains the queue into the Sinks (the rollup aggregator, Prometheus metrics, the access
// log...).
package analytics

import "time"

// Kind says what an Event describes.
type Kind uint8

const (
	// KindRequest is one HTTP request through the gateway (held realtime requests
	// included: their Latency is the time until the hold began).
	KindRequest Kind = iota
	// KindConnection is one realtime connection that ended: Latency is how long it was
	// held, BytesOut what was delivered on it.
	KindConnection
	// KindMessage is one message delivered to a realtime connection.
	KindMessage
)

// Event is one thing that happened. Every string field refers to memory that outlives the
// request (names from the configuration snapshot, header values), so building an Event
// allocates nothing; Record copies it.
type Event struct {
	Kind   Kind
	Time   time.Time // when the request arrived (or the connection opened, or the message was sent)
	API    string    // "" when no API matched
	Route  string
	Method string
	Status int

	App       string
	Developer string
	KeyID     string // the credential's id, never the secret
	Plan      string

	ClientIP  string
	UserAgent string
	Channel   string // realtime events

	BytesIn  int64
	BytesOut int64

	Latency         time.Duration // total, as the client saw it
	UpstreamLatency time.Duration // until the upstream's response headers; 0 when not proxied

	Cache      string // "HIT", "MISS", ... or ""
	RejectedBy string // the policy that rejected the request, or ""
	RejectCode string // its problem code
	TraceID    string // W3C trace id (32 hex digits), or ""
}

// StatusClass is the event's status class: 2 for 2xx, ..., 0 for none.
func (e *Event) StatusClass() int { return e.Status / 100 }

// Sink consumes events on the recorder's goroutine, in batches. It must not keep the
// slice or the events after Consume returns (they are reused).
type Sink interface {
	Consume(batch []Event)
}
