package wsevents

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
)

// Control message types an origin may send in GRIP mode (grip.md §2.3).
const (
	CtlSubscribe    = "subscribe"
	CtlUnsubscribe  = "unsubscribe"
	CtlDetach       = "detach"
	CtlKeepAlive    = "keep-alive"
	CtlSetMeta      = "set-meta"
	CtlSession      = "session"
	CtlSendDelayed  = "send-delayed"
	CtlFlushDelayed = "flush-delayed"
)

// Defaults of control messages, in seconds.
const (
	DefaultKeepAliveTimeout   = 55
	DefaultSendDelayedTimeout = 1
)

// Control is one parsed control message. Which fields are set depends on Type.
type Control struct {
	Type    string
	Channel string   // subscribe, unsubscribe
	Filters []string // subscribe

	// Content is the frame to send for keep-alive and send-delayed; nil means
	// none (a keep-alive without content turns keep-alives off).
	Content     []byte
	MessageType string // text, binary, ping or pong
	Timeout     int    // seconds, default applied
	Mode        string // keep-alive: idle or interval

	Name     string // set-meta
	Value    string // set-meta
	HasValue bool   // set-meta without a value deletes the name
	ID       string // session
}

// ErrControl is wrapped by every ParseControl error. Pushpin only logs such
// errors and drops the message; the messages are Pushpin's, for the log.
var ErrControl = errors.New("wsevents: invalid control message")

type ctlJSON struct {
	Type        *string   `json:"type"`
	Channel     *string   `json:"channel"`
	Filters     *[]string `json:"filters"`
	Content     *string   `json:"content"`
	ContentBin  *string   `json:"content-bin"`
	MessageType *string   `json:"message-type"`
	Timeout     *float64  `json:"timeout"`
	Mode        *string   `json:"mode"`
	Name        *string   `json:"name"`
	Value       *string   `json:"value"`
	ID          *string   `json:"id"`
}

// ctlFields names each member for the wrong-type message.
var ctlFields = []string{"type", "channel", "filters", "content", "content-bin", "message-type", "timeout", "mode", "name", "value", "id"}

// ParseControl parses the JSON after "c:" [grip.md §2.3].
func ParseControl(payload []byte) (Control, error) {
	fail := func(format string, args ...any) (Control, error) {
		return Control{}, fmt.Errorf("%w: %s", ErrControl, fmt.Sprintf(format, args...))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		if json.Valid(payload) {
			return fail("grip control packet is not an object")
		}
		return fail("grip control message is not valid json")
	}
	var j ctlJSON
	if err := json.Unmarshal(payload, &j); err != nil {
		// Find which member has the wrong type, for Pushpin's wording.
		for _, f := range ctlFields {
			if v, ok := raw[f]; ok && json.Unmarshal(v, fieldPtr(f)) != nil {
				return fail("grip control object contains '%s' with wrong type", f)
			}
		}
		return fail("%v", err)
	}
	if j.Type == nil {
		return fail("grip control object does not contain 'type'")
	}
	c := Control{Type: *j.Type}
	switch c.Type {
	case CtlSubscribe, CtlUnsubscribe:
		if j.Channel == nil {
			return fail("grip control object does not contain 'channel'")
		}
		if *j.Channel == "" {
			return fail("grip control object contains 'channel' with invalid value")
		}
		c.Channel = *j.Channel
		if c.Type == CtlSubscribe && j.Filters != nil {
			c.Filters = *j.Filters
		}
	case CtlSession:
		if j.ID != nil {
			c.ID = *j.ID
		}
	case CtlSetMeta:
		if j.Name == nil {
			return fail("grip control object does not contain 'name'")
		}
		if *j.Name == "" {
			return fail("grip control object contains 'name' with invalid value")
		}
		c.Name = *j.Name
		if j.Value != nil {
			c.Value, c.HasValue = *j.Value, true
		}
	case CtlKeepAlive, CtlSendDelayed:
		c.MessageType = "text"
		if j.MessageType != nil {
			switch *j.MessageType {
			case "text", "binary", "ping", "pong":
				c.MessageType = *j.MessageType
			default:
				return fail("grip control object contains 'message-type' with unknown value")
			}
		}
		switch {
		case j.ContentBin != nil:
			c.Content = grip.DecodeBase64Lenient(*j.ContentBin)
		case j.Content != nil:
			c.Content = []byte(*j.Content)
		}
		// The timeout is only read with content; zero means the default.
		if c.Content != nil && j.Timeout != nil {
			if *j.Timeout < 0 {
				return fail("grip control object contains 'timeout' with invalid value")
			}
			c.Timeout = int(min(*j.Timeout, 1<<30))
		}
		if c.Timeout <= 0 {
			c.Timeout = DefaultKeepAliveTimeout
			if c.Type == CtlSendDelayed {
				c.Timeout = DefaultSendDelayedTimeout
			}
		}
		// Any mode other than "interval" means idle, as in Pushpin.
		c.Mode = "idle"
		if c.Type == CtlKeepAlive && j.Mode != nil && *j.Mode == "interval" {
			c.Mode = "interval"
		}
	case CtlDetach, CtlFlushDelayed:
	default:
		return fail("'type' contains unknown value: %s", c.Type)
	}
	return c, nil
}

func fieldPtr(f string) any {
	switch f {
	case "filters":
		return new([]string)
	case "timeout":
		return new(float64)
	}
	return new(string)
}

// ControlEvent builds the TEXT event an origin sends for a control message;
// m is marshalled as JSON. It is what GRIP libraries emit, and what tests and
// the demo origin use.
func ControlEvent(m map[string]any) (Event, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return Event{}, err
	}
	return Event{Type: Text, Content: append([]byte("c:"), b...)}, nil
}
