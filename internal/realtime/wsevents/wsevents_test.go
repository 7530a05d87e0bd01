package wsevents

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Bodies Pushpin 1.36 sent to the origin (origin-requests.jsonl, scenarios
// P, Q, U, V, W).
func TestPushpinRequestBodies(t *testing.T) {
	tests := []struct {
		name string
		wire string
		ev   []Event
	}{
		{"open [T:P]", "OPEN\r\n", []Event{{Type: Open}}},
		{"text [T:P]", "TEXT 5\r\nhello\r\n", []Event{TextEvent("hello")}},
		{"hex length [T:P]", "TEXT a\r\nunprefixed\r\n", []Event{TextEvent("unprefixed")}},
		{"close 4000 bye [T:P]", "CLOSE 5\r\n\x0f\xa0bye\r\n", []Event{CloseEvent(4000, "bye")}},
		{"close 1000 [T:V]", "CLOSE 2\r\n\x03\xe8\r\n", []Event{CloseEvent(1000, "")}},
		{"close without code [T:W]", "CLOSE\r\n", []Event{CloseEvent(0, "")}},
		{"disconnect [T:U]", "DISCONNECT\r\n", []Event{{Type: Disconnect}}},
		{"keep-alive is an empty body [T:W]", "", nil},
		{"batch", "TEXT 2\r\nka\r\nBINARY 3\r\n\x00\x01\xff\r\nPING\r\nPONG 1\r\nx\r\n",
			[]Event{TextEvent("ka"), BinaryEvent([]byte{0, 1, 0xff}), {Type: Ping}, {Type: Pong, Content: []byte("x")}}},
		{"empty text keeps its length", "TEXT 0\r\n\r\n", []Event{TextEvent("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Encode(tt.ev...)); got != tt.wire {
				t.Errorf("Encode = %q, want %q", got, tt.wire)
			}
			got, err := Decode([]byte(tt.wire))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.ev) {
				t.Errorf("Decode = %#v, want %#v", got, tt.ev)
			}
		})
	}
}

func TestCloseCode(t *testing.T) {
	// [T:Q]: a publish closes the client with 4001 "kicked".
	code, reason, ok := CloseEvent(4001, "kicked").CloseCode()
	if !ok || code != 4001 || reason != "kicked" {
		t.Errorf("CloseCode = %d %q %v", code, reason, ok)
	}
	if _, _, ok := CloseEvent(0, "").CloseCode(); ok {
		t.Error("CLOSE without content has a code")
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{
		"OPEN", "TEXT zz\r\n", "TEXT \r\n", "TEXT +1\r\nx\r\n", "TEXT ffffffffff\r\n", "TEXT -1\r\n",
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

// TestDecodeLikePushpin: Pushpin skips the two bytes after content without
// looking at them and takes short content as is.
func TestDecodeLikePushpin(t *testing.T) {
	for in, want := range map[string][]Event{
		"TEXT 5\r\nhelloXXPING\r\n": {TextEvent("hello"), {Type: Ping}},
		"TEXT 5\r\nhel":             {TextEvent("hel")},
		"TEXT 5\r\nhello":           {TextEvent("hello")},
		"TEXT 5\r\nhello\r":         {TextEvent("hello")},
		"\r\n":                      {{Type: ""}},
	} {
		got, err := Decode([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
}

func TestExtensionAndClassify(t *testing.T) {
	x := ParseExtension(http.Header{"Sec-Websocket-Extensions": {"permessage-deflate, grip"}})
	if x != (Extension{Enabled: true, Prefix: "m:"}) {
		t.Fatalf("ParseExtension = %+v", x)
	}
	if x := ParseExtension(http.Header{"Sec-Websocket-Extensions": {`grip; message-prefix=""`}}); x.Prefix != "" || !x.Enabled {
		t.Errorf("empty prefix = %+v", x)
	}
	if x := ParseExtension(http.Header{}); x.Enabled {
		t.Error("grip without extension")
	}

	// [T:P]: echo via m:, control via c:, unprefixed dropped, binary with prefix.
	tests := []struct {
		ev      Event
		kind    Kind
		payload string
	}{
		{TextEvent("m:echo hello"), KindMessage, "echo hello"},
		{TextEvent(`c:{"type":"subscribe","channel":"w"}`), KindControl, `{"type":"subscribe","channel":"w"}`},
		{TextEvent("unprefixed"), KindDrop, ""},
		{BinaryEvent([]byte("m:\x00\x01")), KindMessage, "\x00\x01"},
		{BinaryEvent([]byte("c:{}")), KindDrop, ""},
		{Event{Type: Ping}, KindOther, ""},
	}
	for _, tt := range tests {
		kind, payload := x.Classify(tt.ev)
		if kind != tt.kind || string(payload) != tt.payload {
			t.Errorf("Classify(%q) = %v %q, want %v %q", tt.ev.Content, kind, payload, tt.kind, tt.payload)
		}
	}
	if kind, p := (Extension{}).Classify(TextEvent("c:x")); kind != KindMessage || string(p) != "c:x" {
		t.Error("non-GRIP connection interpreted prefixes")
	}
}

func TestParseControl(t *testing.T) {
	tests := []struct {
		in   string
		want Control
	}{
		{`{"type":"subscribe","channel":"w","filters":["skip-self"]}`, Control{Type: CtlSubscribe, Channel: "w", Filters: []string{"skip-self"}}},
		{`{"type":"unsubscribe","channel":"w"}`, Control{Type: CtlUnsubscribe, Channel: "w"}},
		{`{"type":"detach"}`, Control{Type: CtlDetach}}, // [T:V]
		// [T:P]: "ka!" every ~1.2–1.6 s with timeout 2.
		{`{"type":"keep-alive","content":"ka!","timeout":2}`, Control{Type: CtlKeepAlive, Content: []byte("ka!"), MessageType: "text", Timeout: 2, Mode: "idle"}},
		{`{"type":"keep-alive","content-bin":"AAE=","message-type":"ping","mode":"interval"}`, Control{Type: CtlKeepAlive, Content: []byte{0, 1}, MessageType: "ping", Timeout: 55, Mode: "interval"}},
		{`{"type":"keep-alive"}`, Control{Type: CtlKeepAlive, MessageType: "text", Timeout: 55, Mode: "idle"}},
		{`{"type":"set-meta","name":"user","value":"alice"}`, Control{Type: CtlSetMeta, Name: "user", Value: "alice", HasValue: true}},
		{`{"type":"set-meta","name":"user"}`, Control{Type: CtlSetMeta, Name: "user"}},
		{`{"type":"send-delayed","content":"x"}`, Control{Type: CtlSendDelayed, Content: []byte("x"), MessageType: "text", Timeout: 1, Mode: "idle"}},
		{`{"type":"session","id":"s1"}`, Control{Type: CtlSession, ID: "s1"}},
		{`{"type":"keep-alive","content":"x","timeout":0,"mode":"whatever"}`, Control{Type: CtlKeepAlive, Content: []byte("x"), MessageType: "text", Timeout: 55, Mode: "idle"}},
		{`{"type":"flush-delayed"}`, Control{Type: CtlFlushDelayed}},
	}
	for _, tt := range tests {
		got, err := ParseControl([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseControl(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseControl(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		`x`:                                   "grip control message is not valid json",
		`[]`:                                  "grip control packet is not an object",
		`{}`:                                  "grip control object does not contain 'type'",
		`{"type":1}`:                          "grip control object contains 'type' with wrong type",
		`{"type":"shout"}`:                    "'type' contains unknown value: shout",
		`{"type":"subscribe"}`:                "grip control object does not contain 'channel'",
		`{"type":"unsubscribe","channel":""}`: "grip control object contains 'channel' with invalid value",
		`{"type":"subscribe","channel":"a","filters":[1]}`: "grip control object contains 'filters' with wrong type",
		`{"type":"set-meta"}`:                              "grip control object does not contain 'name'",
		`{"type":"set-meta","name":""}`:                    "grip control object contains 'name' with invalid value",
		`{"type":"keep-alive","message-type":"frame"}`:     "grip control object contains 'message-type' with unknown value",
		`{"type":"keep-alive","content":"x","timeout":-1}`: "grip control object contains 'timeout' with invalid value",
	} {
		_, err := ParseControl([]byte(in))
		if !errors.Is(err, ErrControl) || !strings.HasSuffix(err.Error(), ": "+want) {
			t.Errorf("ParseControl(%s) = %v, want %q", in, err, want)
		}
	}
	ev, err := ControlEvent(map[string]any{"type": "subscribe", "channel": "w"})
	if err != nil || !bytes.Equal(ev.Content, []byte(`c:{"channel":"w","type":"subscribe"}`)) {
		t.Errorf("ControlEvent = %q, %v", ev.Content, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"OPEN\r\n", "TEXT 5\r\nhello\r\n", "CLOSE 5\r\n\x0f\xa0bye\r\n", "DISCONNECT\r\n", "", "TEXT 0\r\n\r\nPING\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := Decode(body)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes: the framing has
		// one spelling per event (lowercase hex, no leading zeros aside).
		again, err := Decode(Encode(evs...))
		if err != nil || !reflect.DeepEqual(again, evs) {
			t.Fatalf("round trip: %v %#v vs %#v", err, again, evs)
		}
	})
}

func FuzzParseControl(f *testing.F) {
	f.Add([]byte(`{"type":"keep-alive","content":"ka!","timeout":2}`))
	f.Add([]byte(`{"type":"subscribe","channel":"w","filters":["a"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseControl(b)
		if err == nil && c.Timeout < 0 {
			t.Fatal("negative timeout")
		}
	})
}
