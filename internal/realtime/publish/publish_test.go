package publish

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestParseItems(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Item
	}{
		{
			name: "http-stream send with id [T:B]",
			body: `{"items": [{"channel": "s", "id": "b2", "prev-id": "b1", "formats": {"http-stream": {"content": "two\n"}}}]}`,
			want: []Item{{Channel: "s", ID: "b2", PrevID: "b1", HTTPStream: &HTTPStream{Action: Send, Content: []byte("two\n")}}},
		},
		{
			name: "http-stream close [T:B]",
			body: `{"items": [{"channel": "s", "formats": {"http-stream": {"action": "close"}}}]}`,
			want: []Item{{Channel: "s", HTTPStream: &HTTPStream{Action: Close}}},
		},
		{
			name: "http-response with headers, code default 200 [T:F]",
			body: `{"items": [{"channel": "lp", "formats": {"http-response": {"headers": {"Content-Type": "text/plain", "X-Pub": "1"}, "body": "published\n"}}}]}`,
			want: []Item{{Channel: "lp", HTTPResponse: &HTTPResponse{Action: Send, Code: 200, Reason: "OK",
				Header: http.Header{"Content-Type": {"text/plain"}, "X-Pub": {"1"}}, Body: []byte("published\n")}}},
		},
		{
			name: "http-response hint [T:S], headers as pairs, body-bin",
			body: `{"items": [{"channel": "h", "http-response": {"action": "hint"}}, {"channel": "b", "http-response": {"code": 299, "headers": [["A", "1"], ["A", "2"]], "body-bin": "AAE="}}]}`,
			want: []Item{
				{Channel: "h", HTTPResponse: &HTTPResponse{Action: Hint}},
				{Channel: "b", HTTPResponse: &HTTPResponse{Action: Send, Code: 299, Header: http.Header{"A": {"1", "2"}}, Body: []byte{0, 1}}},
			},
		},
		{
			name: "format at item top level [T:J]",
			body: `{"items": [{"channel": "t", "http-stream": {"content": "x"}}]}`,
			want: []Item{{Channel: "t", HTTPStream: &HTTPStream{Action: Send, Content: []byte("x")}}},
		},
		{
			name: "ws-message text, binary, close [T:P, T:Q]",
			body: `{"items": [{"channel": "w", "formats": {"ws-message": {"content": "pub text"}}},
				{"channel": "w", "formats": {"ws-message": {"content-bin": "AAEC/w=="}}},
				{"channel": "w", "formats": {"ws-message": {"action": "close", "code": 4001, "reason": "kicked"}}}]}`,
			want: []Item{
				{Channel: "w", WSMessage: &WSMessage{Action: Send, Type: "text", Content: []byte("pub text")}},
				{Channel: "w", WSMessage: &WSMessage{Action: Send, Type: "binary", Content: []byte{0, 1, 2, 0xff}}},
				{Channel: "w", WSMessage: &WSMessage{Action: Close, Code: 4001, Reason: "kicked"}},
			},
		},
		{
			name: "meta, no-seq, size, filters, body-patch, refresh",
			body: `{"items": [{"channel": "m", "meta": {"sender": "alice"}, "no-seq": true, "size": 3,
				"http-response": {"body-patch": [{"op": "add", "path": "/a", "value": 1}], "content-filters": ["build-id"]},
				"ws-message": {"action": "refresh", "type": "ping"}}]}`,
			want: []Item{{Channel: "m", Meta: map[string]string{"sender": "alice"}, NoSeq: true, Size: 3,
				HTTPResponse: &HTTPResponse{Action: Send, Code: 200, Reason: "OK", Header: http.Header{},
					BodyPatch: []byte(`[{"op":"add","path":"/a","value":1}]`), ContentFilters: []string{"build-id"}},
				WSMessage: &WSMessage{Action: Refresh}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestParseErrors reproduces the 400 bodies of [T:J] byte for byte (with the
// Content-Length Pushpin sent) and a few more cases.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		opts    Options
		want    string
		wantLen int // Content-Length in the transcript; 0 when not recorded
	}{
		{"not JSON", `{`, Options{}, "Body is not valid JSON.\n", 24},
		{"no items", `{}`, Options{}, "Invalid format: object does not contain 'items'\n", 48},
		{"items not list", `{"items": {}}`, Options{}, "Invalid format: object contains 'items' with wrong type\n", 56},
		{"item without channel", `{"items": [{"formats": {}}]}`, Options{}, "Invalid format: publish item object does not contain 'channel'\n", 63},
		{"http-stream without content", `{"items": [{"channel": "a", "formats": {"http-stream": {}}}]}`, Options{}, "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'\n", 74},
		{"ws-message bad type", `{"items": [{"channel": "a", "formats": {"ws-message": {"content": "x", "type": "frame"}}}]}`, Options{}, "Invalid format: 'ws-message' contains 'type' with unknown value\n", 64},
		{"refresh as 1.36", `{"items": [{"channel": "a", "formats": {"ws-message": {"action": "refresh"}}}]}`, Options{RejectRefresh: true}, "Invalid format: \n", 17},
		{"top level not object", `[]`, Options{}, "Invalid format.\n", 0},
		{"trailing garbage", `{"items": []} x`, Options{}, "Body is not valid JSON.\n", 0},
		{"channel wrong type", `{"items": [{"channel": 1}]}`, Options{}, "Invalid format: publish item object contains 'channel' with wrong type\n", 0},
		{"item not object", `{"items": [1]}`, Options{}, "Invalid format: publish item object is not an object\n", 0},
		{"all or nothing", `{"items": [{"channel": "a", "http-stream": {"content": "x"}}, {}]}`, Options{}, "Invalid format: publish item object does not contain 'channel'\n", 0},
		{"unknown action", `{"items": [{"channel": "a", "http-stream": {"action": "shout"}}]}`, Options{}, "Invalid format: \n", 0},
		{"content-bin type", `{"items": [{"channel": "a", "ws-message": {"content-bin": 1}}]}`, Options{}, "Invalid format: 'ws-message' contains 'content-bin' with wrong type\n", 0},
		{"no formats", `{"items": [{"channel": "a"}]}`, Options{}, "Invalid format: no formats specified\n", 0},
		{"empty formats", `{"items": [{"channel": "a", "formats": {}}]}`, Options{}, "Invalid format: no formats specified\n", 0},
		{"response without body", `{"items": [{"channel": "a", "http-response": {}}]}`, Options{}, "Invalid format: 'http-response' does not contain 'body', 'body-bin', or 'body-patch'\n", 0},
		{"ws text without content", `{"items": [{"channel": "a", "ws-message": {"type": "text"}}]}`, Options{}, "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'\n", 0},
		{"header pair", `{"items": [{"channel": "a", "http-response": {"body": "", "headers": [["A"]]}}]}`, Options{}, "Invalid format: headers contains list with wrong number of elements\n", 0},
		{"filters element", `{"items": [{"channel": "a", "http-stream": {"content": "", "content-filters": [1]}}]}`, Options{}, "Invalid format: content-filters contains element with wrong type\n", 0},
		{"negative size", `{"items": [{"channel": "a", "http-stream": {"content": ""}, "size": -1}]}`, Options{}, "Invalid format: publish item object contains 'size' with invalid value\n", 0},
		{"no-seq type", `{"items": [{"channel": "a", "http-stream": {"content": ""}, "no-seq": 1}]}`, Options{}, "Invalid format: publish item object contains 'no-seq' with wrong type\n", 0},
		{"refresh on any format as 1.36", `{"items": [{"channel": "a", "http-stream": {"action": "refresh"}}]}`, Options{RejectRefresh: true}, "Invalid format: \n", 0},
		{"headers wrong type", `{"items": [{"channel": "a", "http-response": {"body": "", "headers": 1}}]}`, Options{}, "Invalid format: 'http-response' contains 'headers' with wrong type\n", 0},
		{"code out of range", `{"items": [{"channel": "a", "http-response": {"body": "", "code": 1000}}]}`, Options{}, "Invalid format: 'http-response' contains 'code' with invalid value\n", 0},
		{"meta not strings", `{"items": [{"channel": "a", "http-stream": {"content": ""}, "meta": 1}]}`, Options{}, "Invalid format: publish item object contains 'meta' with wrong type\n", 0},
		{"meta value", `{"items": [{"channel": "a", "http-stream": {"content": ""}, "meta": {"n": 1}}]}`, Options{}, "Invalid format: 'meta' contains 'n' with wrong type\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body), tt.opts)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			if pe.Status != http.StatusBadRequest || pe.Body() != tt.want {
				t.Errorf("got %d %q, want 400 %q", pe.Status, pe.Body(), tt.want)
			}
			if tt.wantLen != 0 && len(pe.Body()) != tt.wantLen {
				t.Errorf("body is %d bytes, transcript says %d", len(pe.Body()), tt.wantLen)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept      string
		json, ok    bool
		description string
	}{
		{"", false, true, "no Accept: text [T:B]"},
		{"application/json, text/plain", false, true, "last match wins"},
		{"text/plain, application/json;q=0.1", true, true, "q ignored"},
		{"*", false, true, ""},
		{"application/json", true, true, "[T:J]"},
		{"text/html", false, false, "406 [T:J]"},
		{"text/html, */*;q=0.1", false, true, "wildcard"},
		{"application/*", true, true, ""},
		{"text/*", false, true, ""},
	}
	for _, tt := range tests {
		var accept []string
		if tt.accept != "" {
			accept = []string{tt.accept}
		}
		j, ok := Negotiate(accept)
		if j != tt.json || ok != tt.ok {
			t.Errorf("Negotiate(%q) = %v %v, want %v %v (%s)", tt.accept, j, ok, tt.json, tt.ok, tt.description)
		}
	}
	// [T:J] byte counts: 10, 24 and 71 bytes.
	if len(PublishedText) != 10 || len(PublishedJSON) != 24 || len(NotAcceptable) != 71 {
		t.Error("reply bodies differ from Pushpin's")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"items": [{"channel": "a", "id": "1", "prev-id": "0", "formats": {"http-stream": {"content": "x"}, "http-response": {"headers": [["A","b"]], "body-bin": "AAE="}, "ws-message": {"action": "close", "code": 1000}}}]}`))
	f.Add([]byte(`{"items": [{"channel": "a", "meta": {"sender": "x"}, "no-seq": true}]}`))
	f.Add([]byte(`{"items": 1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := Parse(body, Options{})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, it := range items {
			if s := it.HTTPStream; s != nil && s.Action == Send && s.Content == nil {
				t.Fatal("send without content")
			}
			if r := it.HTTPResponse; r != nil && (r.Code < 0 || r.Code > 999 || r.Header == nil) {
				t.Fatalf("bad response %+v", r)
			}
		}
	})
}
