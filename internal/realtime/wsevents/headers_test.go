package wsevents

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestKeepAliveInterval(t *testing.T) {
	tests := []struct {
		v  string
		d  time.Duration
		ok bool
	}{
		{"", 0, false},
		{"20", 20 * time.Second, true}, // [T:W]: empty POST after ~20 s
		{"5", 20 * time.Second, true},
		{"60", time.Minute, true},
		{"0", 0, false},
		{"-3", 0, false},
		{"x", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set(HeaderKeepAliveInterval, tt.v)
		}
		if d, ok := KeepAliveInterval(h); d != tt.d || ok != tt.ok {
			t.Errorf("KeepAliveInterval(%q) = %v %v, want %v %v", tt.v, d, ok, tt.d, tt.ok)
		}
	}
}

func TestMeta(t *testing.T) {
	meta := map[string]string{"Old": "x"}
	ApplySetMeta(meta, http.Header{"Set-Meta-User": {"alice"}, "Set-Meta-Old": {""}, "Set-Meta-": {"no name"}})
	if !reflect.DeepEqual(meta, map[string]string{"User": "alice"}) {
		t.Fatalf("meta = %v", meta)
	}
	// The origin saw Meta-User: alice on the next request; a client's own
	// Meta-* is dropped.
	h := http.Header{"Meta-User": {"mallory"}, "Meta-Admin": {"1"}, "Host": {"h"}}
	MetaHeaders(h, meta)
	if want := (http.Header{"Meta-User": {"alice"}, "Host": {"h"}}); !reflect.DeepEqual(h, want) {
		t.Errorf("MetaHeaders = %v", h)
	}
}

func TestUpgradeHeadersAndAccepted(t *testing.T) {
	origin := http.Header{
		"Content-Type": {ContentType}, "Content-Length": {"6"}, "Keep-Alive-Interval": {"20"},
		"Set-Meta-User": {"alice"}, "Sec-Websocket-Extensions": {"grip"}, "Server": {"BaseHTTP"}, "Date": {"d"},
	}
	if got, want := UpgradeHeaders(origin), (http.Header{"Server": {"BaseHTTP"}, "Date": {"d"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("UpgradeHeaders = %v", got)
	}
	if !Accepted(200, origin) {
		t.Error("OPEN accept refused")
	}
	// [T:Y]: 403 passes through; a parameter on the type is a rejection too.
	if Accepted(403, origin) || Accepted(200, http.Header{"Content-Type": {ContentType + "; charset=utf-8"}}) {
		t.Error("rejection accepted")
	}
}
