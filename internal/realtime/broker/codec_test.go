package broker

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"minimal", Message{Channel: "c"}},
		{"full", Message{Channel: "news/éç", ID: "2", PrevID: "1", Format: FormatHTTPStream, Payload: []byte("data: x\n\n")}},
		{"binary payload", Message{Channel: "c", Format: FormatWSMessage, Payload: []byte{0, 1, 2, 255}}},
		{"long channel", Message{Channel: strings.Repeat("a", MaxChannelLen)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Message
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !equalMessage(got, tt.m) {
				t.Fatalf("got %+v, want %+v", got, tt.m)
			}
		})
	}
}

func TestCodecRejects(t *testing.T) {
	valid, _ := Message{Channel: "c", ID: "1", Payload: []byte("p")}.MarshalBinary()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{codecVersion}},
		{"bad version", append([]byte{9}, valid[1:]...)},
		{"empty channel", []byte{codecVersion, 0, 0, 0, 0}},
		{"truncated channel", []byte{codecVersion, 0, 5, 'a'}},
		{"huge length", []byte{codecVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"missing prev-id", valid[:5]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			if err := m.UnmarshalBinary(tt.data); err == nil {
				t.Fatalf("decoded %+v from %q", m, tt.data)
			}
		})
	}
	if _, err := (Message{}).MarshalBinary(); !errors.Is(err, ErrInvalidChannel) {
		t.Fatalf("empty channel: err = %v", err)
	}
	if _, err := (Message{Channel: "c", ID: strings.Repeat("x", MaxIDLen+1)}).MarshalBinary(); err == nil {
		t.Fatal("long id accepted")
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	for _, m := range []Message{
		{Channel: "c"},
		{Channel: "chat:room/1", ID: "a", PrevID: "b", Format: FormatHTTPResponse, Payload: []byte(`{"code":200}`)},
	} {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{codecVersion, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes to the same message.
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		var again Message
		if err := again.UnmarshalBinary(b); err != nil || !equalMessage(again, m) {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, again, err)
		}
	})
}

func equalMessage(a, b Message) bool {
	return a.Channel == b.Channel && a.ID == b.ID && a.PrevID == b.PrevID &&
		a.Format == b.Format && bytes.Equal(a.Payload, b.Payload)
}
