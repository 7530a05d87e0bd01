// Package publish parses Pushpin's publish API body ({"items": [...]}) into
// typed items, with the status codes and messages Pushpin 1.36 answers, so a
// publisher written for Pushpin (or a GRIP library) gets the same errors from
// Gatehouse. No networking: the admin listener and the CLI call Parse.
package publish

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
)

// Action is what an item asks of its subscribers.
type Action string

// Actions. Close is ignored by response holds; Refresh is ws-message only
// (Pushpin 1.38+).
const (
	Send    Action = "send"
	Hint    Action = "hint"
	Close   Action = "close"
	Refresh Action = "refresh"
)

// Item is one published item. At least one format may be nil.
type Item struct {
	Channel string
	ID      string // empty: none
	PrevID  string // empty: none
	// Meta is publish meta for filters (sender, skip_users, require_sub...).
	Meta  map[string]string
	Size  int  // optional size for statistics; 0 when absent
	NoSeq bool // skip the sequencer

	HTTPResponse *HTTPResponse
	HTTPStream   *HTTPStream
	WSMessage    *WSMessage
}

// HTTPResponse is delivered to response holds.
type HTTPResponse struct {
	Action Action
	Code   int // 200 when absent
	Reason string
	Header http.Header
	Body   []byte
	// BodyPatch is JSON-Patch ops applied to the held original body, when set.
	BodyPatch      json.RawMessage
	ContentFilters []string
}

// HTTPStream is delivered to stream holds.
type HTTPStream struct {
	Action         Action
	Content        []byte
	ContentFilters []string
}

// WSMessage is delivered to WebSocket connections.
type WSMessage struct {
	Action         Action
	Type           string // text, binary, ping or pong
	Content        []byte
	Code           int    // close: 0 when absent
	Reason         string // close
	ContentFilters []string
}

// Error is a rejected publish request: the API answers Status with Body() as
// text/plain (or the JSON form) [T:J]. Pushpin also closes the connection; Gatehouse
// keeps it for the next publish.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return "publish: " + e.Message }

// Body is the text/plain body Pushpin sends.
func (e *Error) Body() string { return e.Message + "\n" }

func invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: "Invalid format: " + fmt.Sprintf(format, args...)}
}

// Options adjust compatibility.
type Options struct {
	// RejectRefresh answers the ws-message action "refresh" as Pushpin 1.36
	// does (400 "Invalid format: "); 1.38+ accepts it, and so do we by default.
	RejectRefresh bool
}

// Parse validates a whole publish body; the request is all-or-nothing, so
// any invalid item rejects every item. The error is always an *Error.
func Parse(body []byte, opts Options) ([]Item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, &Error{Status: http.StatusBadRequest, Message: "Body is not valid JSON."}
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Status: http.StatusBadRequest, Message: "Invalid format."}
	}
	rawItems, ok := top["items"]
	if !ok {
		return nil, invalid("object does not contain 'items'")
	}
	list, ok := rawItems.([]any)
	if !ok {
		return nil, invalid("object contains 'items' with wrong type")
	}
	items := make([]Item, 0, len(list))
	for _, raw := range list {
		it, err := parseItem(raw, opts)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// object wraps a decoded JSON object with Pushpin's error wording; name is
// how messages refer to it ("publish item object", "'http-stream'").
type object struct {
	name string
	m    map[string]any
}

func (o object) missing(key string) *Error { return invalid("%s does not contain '%s'", o.name, key) }
func (o object) wrong(key string) *Error {
	return invalid("%s contains '%s' with wrong type", o.name, key)
}
func (o object) unknown(key string) *Error {
	return invalid("%s contains '%s' with unknown value", o.name, key)
}

func (o object) str(key string, required bool) (string, bool, *Error) {
	v, ok := o.m[key]
	if !ok {
		if required {
			return "", false, o.missing(key)
		}
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", true, o.wrong(key)
	}
	return s, true, nil
}

// integer reads an optional number, truncated to an int as Qt's
// QVariant::toInt does with a JSON double.
func (o object) integer(key string) (int, bool, *Error) {
	v, ok := o.m[key]
	if !ok {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, true, o.wrong(key)
	}
	f, err := n.Float64()
	if err != nil || f >= 1<<31 || f <= -(1<<31) {
		return 0, true, o.wrong(key)
	}
	return int(f), true, nil
}

func (o object) filters() ([]string, *Error) {
	v, ok := o.m["content-filters"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, o.wrong("content-filters")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, invalid("content-filters contains element with wrong type")
		}
		out = append(out, s)
	}
	return out, nil
}

// content reads the base64 "-bin" member, else the text one (Pushpin's
// precedence); present is false if neither is there.
func (o object) content(text, bin string) ([]byte, bool, *Error) {
	if s, ok, err := o.str(bin, false); err != nil {
		return nil, false, err
	} else if ok {
		return grip.DecodeBase64Lenient(s), true, nil
	}
	s, ok, err := o.str(text, false)
	return []byte(s), ok, err
}

// action reads "action". An unknown value fails without a message, as in
// Pushpin ("Invalid format: "); so does refresh under RejectRefresh, which is
// how 1.36 answered it before 1.38 added the action [T:J].
func (o object) action(opts Options) (Action, *Error) {
	s, ok, err := o.str("action", false)
	if err != nil {
		return "", err
	}
	switch a := Action(s); {
	case !ok || a == Send:
		return Send, nil
	case a == Hint || a == Close || a == Refresh && !opts.RejectRefresh:
		return a, nil
	}
	return "", invalid("")
}

func parseItem(raw any, opts Options) (Item, error) {
	m, ok := raw.(map[string]any)
	o := object{name: "publish item object", m: m}
	if !ok {
		return Item{}, invalid("%s is not an object", o.name)
	}
	var it Item
	var err *Error
	if it.Channel, _, err = o.str("channel", true); err != nil {
		return Item{}, err
	}
	if it.ID, _, err = o.str("id", false); err != nil {
		return Item{}, err
	}
	if it.PrevID, _, err = o.str("prev-id", false); err != nil {
		return Item{}, err
	}
	// Formats sit under "formats" or, without it, directly on the item [T:J].
	formats := map[string]any{}
	if v, ok := m["formats"]; ok {
		if formats, ok = v.(map[string]any); !ok {
			return Item{}, o.wrong("formats")
		}
	} else {
		for _, k := range []string{"http-response", "http-stream", "ws-message"} {
			if v, ok := m[k]; ok {
				formats[k] = v
			}
		}
	}
	if len(formats) == 0 {
		return Item{}, invalid("no formats specified")
	}
	if f, ok := formats["http-response"]; ok {
		if it.HTTPResponse, err = parseHTTPResponse(f, opts); err != nil {
			return Item{}, err
		}
	}
	if f, ok := formats["http-stream"]; ok {
		if it.HTTPStream, err = parseHTTPStream(f, opts); err != nil {
			return Item{}, err
		}
	}
	if f, ok := formats["ws-message"]; ok {
		if it.WSMessage, err = parseWSMessage(f, opts); err != nil {
			return Item{}, err
		}
	}
	if v, ok := m["meta"]; ok {
		mm, ok := v.(map[string]any)
		if !ok {
			return Item{}, o.wrong("meta")
		}
		it.Meta = make(map[string]string, len(mm))
		for k, x := range mm {
			s, ok := x.(string)
			if !ok {
				return Item{}, invalid("'meta' contains '%s' with wrong type", k)
			}
			it.Meta[k] = s
		}
	}
	if n, ok, err := o.integer("size"); err != nil {
		return Item{}, err
	} else if ok {
		if n < 0 {
			return Item{}, invalid("%s contains 'size' with invalid value", o.name)
		}
		it.Size = n
	}
	if v, ok := m["no-seq"]; ok {
		if it.NoSeq, ok = v.(bool); !ok {
			return Item{}, o.wrong("no-seq")
		}
	}
	return it, nil
}

func formatObject(name string, raw any) (object, *Error) {
	m, ok := raw.(map[string]any)
	o := object{name: "'" + name + "'", m: m}
	if !ok {
		return o, invalid("%s is not an object", o.name)
	}
	return o, nil
}

// parseHTTPResponse reads an http-response format; only "send" carries
// fields, as in Pushpin.
func parseHTTPResponse(raw any, opts Options) (*HTTPResponse, *Error) {
	o, err := formatObject("http-response", raw)
	if err != nil {
		return nil, err
	}
	r := &HTTPResponse{}
	if r.Action, err = o.action(opts); err != nil || r.Action != Send {
		return r, err
	}
	r.Code = http.StatusOK
	if code, ok, err := o.integer("code"); err != nil {
		return nil, err
	} else if ok {
		if code < 0 || code > 999 {
			return nil, invalid("%s contains 'code' with invalid value", o.name)
		}
		r.Code = code
	}
	if r.Reason, _, err = o.str("reason", false); err != nil {
		return nil, err
	}
	if r.Reason == "" {
		r.Reason = http.StatusText(r.Code)
	}
	r.Header = http.Header{}
	if v, ok := o.m["headers"]; ok {
		b, _ := json.Marshal(v)
		h, herr := grip.ParseJSONHeaders(b)
		if herr != nil {
			var ge *grip.Error
			if herr != grip.ErrHeadersType && errors.As(herr, &ge) {
				return nil, invalid("%s", ge.Reason)
			}
			return nil, o.wrong("headers")
		}
		r.Header = h
	}
	if r.ContentFilters, err = o.filters(); err != nil {
		return nil, err
	}
	if body, ok, err := o.content("body", "body-bin"); err != nil {
		return nil, err
	} else if ok {
		r.Body = body
	} else if v, ok := o.m["body-patch"]; ok {
		if _, isList := v.([]any); !isList {
			return nil, o.wrong("body-patch")
		}
		r.BodyPatch, _ = json.Marshal(v)
	} else {
		return nil, invalid("%s does not contain 'body', 'body-bin', or 'body-patch'", o.name)
	}
	return r, nil
}

func parseHTTPStream(raw any, opts Options) (*HTTPStream, *Error) {
	o, err := formatObject("http-stream", raw)
	if err != nil {
		return nil, err
	}
	s := &HTTPStream{}
	if s.Action, err = o.action(opts); err != nil || s.Action != Send {
		return s, err
	}
	if s.ContentFilters, err = o.filters(); err != nil {
		return nil, err
	}
	content, ok, err := o.content("content", "content-bin")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("%s does not contain 'content' or 'content-bin'", o.name)
	}
	s.Content = content
	return s, nil
}

func parseWSMessage(raw any, opts Options) (*WSMessage, *Error) {
	o, err := formatObject("ws-message", raw)
	if err != nil {
		return nil, err
	}
	w := &WSMessage{}
	if w.Action, err = o.action(opts); err != nil {
		return nil, err
	}
	switch w.Action {
	case Send:
		t, ok, err := o.str("type", false)
		if err != nil {
			return nil, err
		}
		if ok {
			switch t {
			case "text", "binary", "ping", "pong":
				w.Type = t
			default:
				return nil, o.unknown("type")
			}
		}
		if w.ContentFilters, err = o.filters(); err != nil {
			return nil, err
		}
		_, isBin := o.m["content-bin"]
		content, present, err := o.content("content", "content-bin")
		if err != nil {
			return nil, err
		}
		switch {
		case present && w.Type == "" && isBin:
			w.Type = "binary"
		case present && w.Type == "":
			w.Type = "text"
		case !present && (w.Type == "" || w.Type == "text" || w.Type == "binary"):
			return nil, invalid("%s does not contain 'content' or 'content-bin'", o.name)
		}
		w.Content = content
	case Close:
		if code, ok, err := o.integer("code"); err != nil {
			return nil, err
		} else if ok {
			if code < 0 {
				return nil, invalid("%s contains 'code' with invalid value", o.name)
			}
			w.Code = code
		}
		if w.Reason, _, err = o.str("reason", false); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Reply bodies of the publish API (text/plain, or JSON when the client asks).
const (
	PublishedText = "Published\n"
	PublishedJSON = `{"message":"Published"}` + "\n"
	NotAcceptable = "Not Acceptable. Supported formats are text/plain and application/json.\n"
)

// Negotiate picks the reply format from an Accept header as Pushpin does:
// every entry is looked at and the last one naming text/plain, text/*, */*
// or * (text) or application/json, application/* (JSON) wins; q-values are
// ignored. ok is false (406 NotAcceptable) when no entry matches. A missing
// header means text.
func Negotiate(accept []string) (useJSON, ok bool) {
	if len(accept) == 0 {
		return false, true
	}
	for _, e := range grip.ParseList(accept) {
		switch e.First {
		case "text/plain", "text/*", "*/*", "*":
			useJSON, ok = false, true
		case "application/json", "application/*":
			useJSON, ok = true, true
		}
	}
	return useJSON, ok
}
