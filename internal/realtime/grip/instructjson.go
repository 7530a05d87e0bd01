package grip

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// jsonObject is a decoded JSON object whose members are still raw, so each
// can be type-checked with Pushpin's error wording.
type jsonObject map[string]json.RawMessage

func decodeObject(raw []byte) (jsonObject, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var o jsonObject
	if json.Unmarshal(raw, &o) != nil {
		return nil, false
	}
	return o, true
}

func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// str reads an optional string member; wrong is the error for a wrong type.
func (o jsonObject) str(parent, key string) (s string, present bool, err error) {
	raw, present := o[key]
	if !present {
		return "", false, nil
	}
	if jsonKind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, invalid("%s contains '%s' with wrong type", parent, key)
	}
	return s, true, nil
}

// integer reads an optional number member, truncated to an int as Qt's
// QVariant::toInt does with a JSON double.
func (o jsonObject) integer(parent, key string) (n int, present bool, err error) {
	raw, present := o[key]
	if !present {
		return 0, false, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f >= 1<<31 || f <= -(1<<31) {
		return 0, true, invalid("%s contains '%s' with wrong type", parent, key)
	}
	return int(f), true, nil
}

// object reads an optional object member.
func (o jsonObject) object(parent, key string) (jsonObject, bool, error) {
	raw, present := o[key]
	if !present {
		return nil, false, nil
	}
	obj, ok := decodeObject(raw)
	if !ok {
		return nil, true, invalid("%s contains '%s' with wrong type", parent, key)
	}
	return obj, true, nil
}

// parseJSON reads an application/grip-instruct body [grip.md §1.4]. Its
// hold mode overrides the headers' and its channels are added to theirs;
// its response replaces the origin's headers and body.
func (in *Instruction) parseJSON(body []byte) error {
	if !json.Valid(body) {
		return invalid("failed to parse application/grip-instruct content as JSON")
	}
	o, ok := decodeObject(body)
	if !ok {
		return invalid("instruct must be an object")
	}
	if raw, ok := o["hold"]; ok {
		hold, ok := decodeObject(raw)
		if !ok {
			return invalid("instruct contains 'hold' with wrong type")
		}
		if err := in.parseJSONHold(hold); err != nil {
			return err
		}
	}
	// Without "response" the client gets no headers and an empty body; the
	// status is the origin's 200 as amended by Grip-Status.
	r := &Response{Code: http.StatusOK, Header: http.Header{}, Body: []byte{}}
	if in.StatusCode != 0 {
		r.Code, r.Reason = in.StatusCode, in.Reason
	}
	if raw, ok := o["response"]; ok {
		resp, ok := decodeObject(raw)
		if !ok {
			// Pushpin fails here without a message.
			return invalid("")
		}
		if err := r.parseJSON(resp); err != nil {
			return err
		}
	}
	if r.Reason == "" {
		r.Reason = http.StatusText(r.Code)
	}
	in.Response = r
	return nil
}

func (in *Instruction) parseJSONHold(hold jsonObject) error {
	mode, present, err := hold.str("hold", "mode")
	switch {
	case err != nil:
		return err
	case !present || mode == "response":
		in.Hold = HoldResponse
	case mode == "stream":
		in.Hold = HoldStream
	default:
		return invalid("hold 'mode' must be set to either 'response' or 'stream'")
	}
	raw, ok := hold["channels"]
	if !ok {
		return invalid("hold does not contain 'channels'")
	}
	var list []json.RawMessage
	if jsonKind(raw) != '[' || json.Unmarshal(raw, &list) != nil {
		return invalid("hold contains 'channels' with wrong type")
	}
	for _, raw := range list {
		c, ok := decodeObject(raw)
		if !ok {
			return invalid("channel is not an object")
		}
		name, present, err := c.str("channel", "name")
		if err != nil {
			return err
		}
		if !present {
			return invalid("channel does not contain 'name'")
		}
		ch := Channel{Name: name}
		if ch.PrevID, _, err = c.str("channel", "prev-id"); err != nil {
			return err
		}
		if raw, ok := c["filters"]; ok {
			var fs []json.RawMessage
			if jsonKind(raw) != '[' || json.Unmarshal(raw, &fs) != nil {
				return invalid("channel contains 'filters' with wrong type")
			}
			for _, f := range fs {
				var s string
				if jsonKind(f) != '"' || json.Unmarshal(f, &s) != nil {
					return invalid("filters contains value with wrong type")
				}
				ch.Filters = append(ch.Filters, s)
			}
		}
		in.Channels = append(in.Channels, ch)
	}
	if n, present, err := hold.integer("hold", "timeout"); err != nil {
		return err
	} else if present {
		if n < 0 {
			return invalid("hold contains 'timeout' with invalid value")
		}
		in.Timeout = clampTimeout(n)
	}
	if err := in.parseJSONKeepAlive(hold); err != nil {
		return err
	}
	meta, present, err := hold.object("hold", "meta")
	if err != nil {
		return err
	}
	if present {
		for k, raw := range meta {
			var v string
			if jsonKind(raw) != '"' || json.Unmarshal(raw, &v) != nil {
				return invalid("'meta' contains '%s' with wrong type", k)
			}
			if in.Meta == nil {
				in.Meta = map[string]string{}
			}
			in.Meta[k] = v
		}
	}
	return nil
}

func (in *Instruction) parseJSONKeepAlive(hold jsonObject) error {
	ka, present, err := hold.object("hold", "keep-alive")
	if err != nil || !present {
		return err
	}
	var data []byte
	if s, ok, err := ka.str("keep-alive", "content-bin"); err != nil {
		return err
	} else if ok {
		data = DecodeBase64Lenient(s)
	} else if s, ok, err := ka.str("keep-alive", "content"); err != nil {
		return err
	} else if ok {
		data = []byte(s)
	}
	timeout := DefaultKeepAliveTimeout
	if n, present, err := ka.integer("keep-alive", "timeout"); err != nil {
		return err
	} else if present {
		if n < 0 {
			return invalid("keep-alive contains 'timeout' with invalid value")
		}
		timeout = max(time.Duration(min(n, 1<<30))*time.Second, MinKeepAliveTimeout)
	}
	// Pushpin's JSON form has no mode: a header's mode, else idle, applies.
	mode := KeepAliveIdle
	if in.KeepAlive != nil {
		mode = in.KeepAlive.Mode
	}
	if len(data) == 0 {
		// Nothing to send: no keep-alive, as with an absent header.
		in.KeepAlive = nil
		return nil
	}
	in.KeepAlive = &KeepAlive{Data: data, Timeout: timeout, Mode: mode}
	return nil
}

func (r *Response) parseJSON(o jsonObject) error {
	if n, present, err := o.integer("response", "code"); err != nil {
		return err
	} else if present {
		if n < 0 || n > 999 {
			return invalid("response contains 'code' with invalid value")
		}
		// A code in the JSON drops the reason that came with Grip-Status.
		r.Code, r.Reason = n, ""
	}
	if s, _, err := o.str("response", "reason"); err != nil {
		return err
	} else if s != "" {
		r.Reason = s
	}
	if raw, ok := o["headers"]; ok {
		h, err := ParseJSONHeaders(raw)
		if err != nil {
			if err == ErrHeadersType {
				return invalid("response contains 'headers' with wrong type")
			}
			return err
		}
		r.Header = h
	}
	if s, ok, err := o.str("response", "body-bin"); err != nil {
		return err
	} else if ok {
		r.Body = DecodeBase64Lenient(s)
	} else if s, ok, err := o.str("response", "body"); err != nil {
		return err
	} else if ok {
		r.Body = []byte(s)
	}
	return nil
}

// ErrHeadersType is ParseJSONHeaders' error for a value that is neither an
// object nor a list; callers word it with their own parent name.
var ErrHeadersType = &Error{Reason: "headers has wrong type"}

// ParseJSONHeaders reads headers given as an object {"k": "v"} or as a list
// of pairs [["k", "v"], ...] (the form that can repeat a name), in document
// order, with Pushpin's messages for bad elements. Used by the instruct
// body and the publish API alike. The error is an *Error.
func ParseJSONHeaders(raw json.RawMessage) (http.Header, error) {
	h := http.Header{}
	switch jsonKind(raw) {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, ErrHeadersType
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, ErrHeadersType
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, ErrHeadersType
			}
			var s string
			if jsonKind(v) != '"' || json.Unmarshal(v, &s) != nil {
				return nil, invalid("headers contains '%s' with wrong type", k)
			}
			h.Add(k.(string), s)
		}
		return h, nil
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil, ErrHeadersType
		}
		for _, el := range list {
			var pair []json.RawMessage
			if jsonKind(el) != '[' || json.Unmarshal(el, &pair) != nil {
				return nil, invalid("headers contains element with wrong type")
			}
			if len(pair) != 2 {
				return nil, invalid("headers contains list with wrong number of elements")
			}
			var name, val string
			if jsonKind(pair[0]) != '"' || json.Unmarshal(pair[0], &name) != nil {
				return nil, invalid("header contains name element with wrong type")
			}
			if jsonKind(pair[1]) != '"' || json.Unmarshal(pair[1], &val) != nil {
				return nil, invalid("header contains value element with wrong type")
			}
			h.Add(name, val)
		}
		return h, nil
	}
	return nil, ErrHeadersType
}
