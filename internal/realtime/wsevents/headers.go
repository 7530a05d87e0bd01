package wsevents

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the WebSocket-over-HTTP exchange (grip.md §2.1, §2.2).
const (
	HeaderConnectionID      = "Connection-Id"
	HeaderKeepAliveInterval = "Keep-Alive-Interval"
	metaPrefix              = "Meta-"
	setMetaPrefix           = "Set-Meta-"
)

// KeepAliveInterval reads Keep-Alive-Interval from an origin response: the
// time after which an empty request is sent on an idle connection. Values
// below the 20 s floor are raised to it; ok is false when the header is
// absent, unparsable or ≤ 0, all of which turn keep-alives off.
func KeepAliveInterval(h http.Header) (d time.Duration, ok bool) {
	v := h.Get(HeaderKeepAliveInterval)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(max(n, MinKeepAlive)) * time.Second, true
}

// ApplySetMeta updates the connection's meta from the origin's Set-Meta-<Name>
// headers: a value sets Meta-<Name> on every later request, an empty value
// deletes it. Names are kept canonical so they round-trip as header names.
func ApplySetMeta(meta map[string]string, h http.Header) {
	for k, v := range h {
		if len(k) <= len(setMetaPrefix) || !strings.EqualFold(k[:len(setMetaPrefix)], setMetaPrefix) || len(v) == 0 {
			continue
		}
		name := http.CanonicalHeaderKey(k[len(setMetaPrefix):])
		if v[0] == "" {
			delete(meta, name)
		} else {
			meta[name] = v[0]
		}
	}
}

// MetaHeaders sets Meta-<Name> for every stored meta value on an outgoing
// request, after dropping any Meta-* the client sent (clients must not be
// able to forge what the origin stored).
func MetaHeaders(h http.Header, meta map[string]string) {
	for k := range h {
		if len(k) > len(metaPrefix) && strings.EqualFold(k[:len(metaPrefix)], metaPrefix) {
			delete(h, k)
		}
	}
	for name, v := range meta {
		h.Set(metaPrefix+name, v)
	}
}

// UpgradeHeaders returns the origin's response headers as the client's 101
// carries them: without Content-Length, Content-Type, Keep-Alive-Interval,
// Set-Meta-* and every Sec-WebSocket-Extensions [T:Z]; the proxy adds
// Upgrade, Connection and Sec-WebSocket-Accept.
func UpgradeHeaders(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for k := range out {
		switch {
		case strings.EqualFold(k, "Content-Length"), strings.EqualFold(k, "Content-Type"),
			strings.EqualFold(k, HeaderKeepAliveInterval), strings.EqualFold(k, "Sec-WebSocket-Extensions"),
			len(k) > len(setMetaPrefix) && strings.EqualFold(k[:len(setMetaPrefix)], setMetaPrefix):
			delete(out, k)
		}
	}
	return out
}

// Accepted reports whether the origin accepted the OPEN request: status 200
// and a Content-Type of exactly application/websocket-events (compared raw,
// as Pushpin does). Anything else is a rejection passed to the client [T:Y].
func Accepted(status int, h http.Header) bool {
	return status == http.StatusOK && h.Get("Content-Type") == ContentType
}
