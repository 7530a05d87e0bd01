package fanout_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/fanout"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

func codecItems() []publish.Item {
	return []publish.Item{
		{Channel: "a"},
		{Channel: "a", ID: "1", PrevID: "0", NoSeq: true, Size: 42, Meta: map[string]string{"sender": "s", "skip_users": "u1,u2"}},
		{
			Channel: "ch", ID: "2",
			HTTPResponse: &publish.HTTPResponse{
				Action: publish.Send, Code: 201, Reason: "Created",
				Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
				Body:   []byte(`{"ok":true}`), ContentFilters: []string{"skip-self"},
			},
		},
		{
			Channel: "ch", ID: "3",
			HTTPResponse: &publish.HTTPResponse{
				Action:    publish.Send,
				BodyPatch: json.RawMessage(`[{"op":"replace","path":"/x","value":1}]`),
			},
		},
		{Channel: "ch", HTTPStream: &publish.HTTPStream{Action: publish.Close}},
		{Channel: "ch", HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte{0, 1, 2, 0xff, '\n'}, ContentFilters: []string{"build-id"}}},
		{Channel: "ch", WSMessage: &publish.WSMessage{Action: publish.Send, Type: "binary", Content: []byte{0xde, 0xad}}},
		{Channel: "ch", WSMessage: &publish.WSMessage{Action: publish.Close, Code: 1001, Reason: "bye"}},
		{
			Channel:      "all",
			HTTPResponse: &publish.HTTPResponse{Action: publish.Hint},
			HTTPStream:   &publish.HTTPStream{Action: publish.Hint},
			WSMessage:    &publish.WSMessage{Action: publish.Refresh},
		},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, it := range codecItems() {
		b, err := fanout.Encode(&it)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", it, err)
		}
		got, err := fanout.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(*got, it) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, *got, it)
		}
		// A response without a body patch must come back without one (a nil patch is
		// encoded as null, which json.RawMessage used to keep as "null").
		if it.HTTPResponse != nil && it.HTTPResponse.BodyPatch == nil && got.HTTPResponse.BodyPatch != nil {
			t.Errorf("body patch %q appeared in the round trip of %s", got.HTTPResponse.BodyPatch, b)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{"", "null", "{}", `{"Channel":""}`, `{"Channel":"a"} x`, "[]", `"a"`, `{"Channel":["a"]}`} {
		if it, err := fanout.Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", in, it)
		}
	}
	// Fields added by a later version are ignored.
	it, err := fanout.Decode([]byte(`{"Channel":"a","ID":"1","Future":{"x":1}}`))
	if err != nil || it.Channel != "a" || it.ID != "1" {
		t.Fatalf("Decode with an unknown field = %+v, %v", it, err)
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts encodes and decodes back to the
// same item (after one pass, which normalises the input's JSON spelling).
func FuzzDecode(f *testing.F) {
	for _, it := range codecItems() {
		b, err := fanout.Encode(&it)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Channel":"a","HTTPResponse":{"BodyPatch":null}}`))
	f.Add([]byte(`{"Channel":"caf\u00e9","Meta":{"":""}}`))
	f.Add([]byte("{\"Channel\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := fanout.Decode(data)
		if err != nil {
			return
		}
		if it.Channel == "" {
			t.Fatal("decoded an item without a channel")
		}
		b1, err := fanout.Encode(it)
		if err != nil {
			t.Fatalf("Encode of a decoded item: %v", err)
		}
		it2, err := fanout.Decode(b1)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))): %v\n%s", err, b1)
		}
		b2, err := fanout.Encode(it2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b1, b2)
		}
		if it2.Channel != it.Channel || it2.ID != it.ID || it2.PrevID != it.PrevID || it2.NoSeq != it.NoSeq {
			t.Fatalf("round trip changed the envelope: %+v -> %+v", it, it2)
		}
	})
}
