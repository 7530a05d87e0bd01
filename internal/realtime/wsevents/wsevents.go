// Package wsevents implements WebSocket-over-HTTP (application/websocket-events)
// as Pushpin 1.36 speaks it: the event framing of request and response bodies,
// CLOSE payloads, the grip extension negotiation, and the GRIP control messages
// an origin sends in "c:"-prefixed TEXT events. No networking: the realtime
// proxy drives the connections.
package wsevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
)

// ContentType is compared as a raw string, parameters and all, as Pushpin does.
const ContentType = "application/websocket-events"

// Limits from Pushpin 1.36 (grip.md §2.1, §2.2, §7).
const (
	MaxRequestContent = 200_000   // batched client content per request
	MaxResponseBody   = 1_000_000 // origin response body
	MaxRejectionBody  = 100_000   // rejected handshake body passed to the client
	MinKeepAlive      = 20        // seconds, Keep-Alive-Interval floor
)

// Event types. There is no keep-alive event: a keep-alive is an empty body.
const (
	Open       = "OPEN"
	Text       = "TEXT"
	Binary     = "BINARY"
	Ping       = "PING"
	Pong       = "PONG"
	Close      = "CLOSE"
	Disconnect = "DISCONNECT"
)

// Event is one event. A nil Content is encoded without a length ("OPEN\r\n");
// a non-nil one, even empty, with it ("TEXT 0\r\n\r\n").
type Event struct {
	Type    string
	Content []byte
}

// TextEvent and BinaryEvent always carry a length, as Pushpin sends them.
func TextEvent(s string) Event { return Event{Type: Text, Content: []byte(s)} }

// BinaryEvent is a BINARY event with content b.
func BinaryEvent(b []byte) Event { return Event{Type: Binary, Content: append([]byte{}, b...)} }

// CloseEvent builds a CLOSE event; code 0 means no code, so no content
// ("CLOSE\r\n"), as Pushpin sends for a close frame without status.
func CloseEvent(code int, reason string) Event {
	if code == 0 {
		return Event{Type: Close}
	}
	c := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(c, uint16(code))
	return Event{Type: Close, Content: append(c, reason...)}
}

// CloseCode reads a CLOSE event's code and reason; ok is false when it has none.
func (e Event) CloseCode() (code int, reason string, ok bool) {
	if e.Type != Close || len(e.Content) < 2 {
		return 0, "", false
	}
	return int(binary.BigEndian.Uint16(e.Content)), string(e.Content[2:]), true
}

// AppendEvent appends the wire form of e to dst.
func AppendEvent(dst []byte, e Event) []byte {
	dst = append(dst, e.Type...)
	if e.Content != nil {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(len(e.Content)), 16)
		dst = append(dst, "\r\n"...)
		dst = append(dst, e.Content...)
	}
	return append(dst, "\r\n"...)
}

// Encode returns the body carrying events in order.
func Encode(events ...Event) []byte {
	var b []byte
	for _, e := range events {
		b = AppendEvent(b, e)
	}
	return b
}

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("wsevents: malformed events")

// Decode parses a whole body. Unknown types are returned, not rejected, so
// the proxy decides (Pushpin ignores them); an empty body decodes to none.
// Like Pushpin, the two bytes after content are skipped unchecked and content
// cut short by the end of the body is taken as is: an origin that worked
// behind Pushpin must not fail here.
func Decode(body []byte) ([]Event, error) {
	var out []Event
	for off := 0; off < len(body); {
		e, n, err := decodeOne(body[off:])
		if err != nil {
			return nil, fmt.Errorf("%w at byte %d: %s", ErrMalformed, off, err)
		}
		out = append(out, e)
		off += n
	}
	return out, nil
}

func decodeOne(b []byte) (Event, int, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		return Event{}, 0, errors.New("missing CRLF after type")
	}
	typ, size, hasSize := strings.Cut(string(b[:end]), " ")
	n := end + 2
	if !hasSize {
		return Event{Type: typ}, n, nil
	}
	l, err := strconv.ParseUint(size, 16, 31)
	if err != nil || size == "" || size[0] == '+' {
		return Event{}, 0, errors.New("bad content length")
	}
	c := b[n:]
	if uint64(len(c)) > l {
		c = c[:l]
	}
	return Event{Type: typ, Content: append([]byte{}, c...)}, min(n+int(l)+2, len(b)), nil
}

// Extension is the grip WebSocket extension an origin accepted.
type Extension struct {
	Enabled bool
	// Prefix every non-control origin message must carry; "m:" by default,
	// "" turns the requirement off.
	Prefix string
}

// DefaultPrefix is the message prefix when the origin names none.
const DefaultPrefix = "m:"

// ParseExtension reads Sec-WebSocket-Extensions from the origin's response
// to OPEN: `grip[; message-prefix="..."]` turns GRIP mode on.
func ParseExtension(h http.Header) Extension {
	for _, e := range grip.ParseList(h.Values("Sec-WebSocket-Extensions")) {
		if e.First != "grip" {
			continue
		}
		x := Extension{Enabled: true, Prefix: DefaultPrefix}
		if p, ok := e.Get("message-prefix"); ok {
			x.Prefix = p
		}
		return x
	}
	return Extension{}
}

// Kind classifies an origin event in GRIP mode.
type Kind int

// Kinds returned by Classify.
const (
	KindOther   Kind = iota // not TEXT/BINARY: handle by type
	KindMessage             // deliver Payload to the client
	KindControl             // parse Payload with ParseControl
	KindDrop                // unprefixed in GRIP mode: silently dropped [T:P]
)

// Classify applies the prefix rules to an origin event: in GRIP mode a TEXT
// starting "c:" is a control message, a TEXT or BINARY with the message
// prefix is a message (prefix stripped), anything else is dropped.
func (x Extension) Classify(e Event) (Kind, []byte) {
	if e.Type != Text && e.Type != Binary {
		return KindOther, e.Content
	}
	if !x.Enabled {
		return KindMessage, e.Content
	}
	if e.Type == Text && bytes.HasPrefix(e.Content, []byte("c:")) {
		return KindControl, e.Content[2:]
	}
	if bytes.HasPrefix(e.Content, []byte(x.Prefix)) {
		return KindMessage, e.Content[len(x.Prefix):]
	}
	return KindDrop, nil
}
