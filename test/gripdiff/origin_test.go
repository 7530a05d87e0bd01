package gripdiff

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The origin reproduces, path by path, what the origin behind Pushpin did when the
// transcripts in /work/shared/reference/pushpin-transcripts were recorded. Each peer gets
// its own origin instance, so the request logs do not mix. A "/debug" path prefix is
// stripped (the peers route it to the same origin with their debug option on).

// gripFeature is the exact Grip-Feature string Pushpin 1.36 sends.
const gripFeature = "status, session, link:next, filter:skip-self, filter:skip-users, filter:require-sub, filter:build-id, filter:var-subst"

// originRequest is one request the origin received.
type originRequest struct {
	at     time.Time
	method string
	uri    string
	ch     string // the "ch" query parameter, which names the scenario's channel
	header http.Header
	body   []byte
}

type origin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []originRequest
	// latest is the newest message id the origin "stored" per channel (/longpoll-prev).
	latest map[string]int
	// libHold are the hold headers @fanoutio/grip's GripInstruct built (/libhold).
	libHold map[string]string
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{latest: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) addr() string { return strings.TrimPrefix(o.srv.URL, "http://") }

// requests returns the requests whose "ch" parameter is ch (all when ch is "").
func (o *origin) requests(ch string) []originRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []originRequest
	for _, r := range o.reqs {
		if ch == "" || r.ch == ch {
			out = append(out, r)
		}
	}
	return out
}

func (o *origin) setLatest(ch string, id int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.latest[ch] = id
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ch := r.URL.Query().Get("ch")
	o.mu.Lock()
	o.reqs = append(o.reqs, originRequest{at: time.Now(), method: r.Method, uri: r.RequestURI, ch: ch, header: r.Header.Clone(), body: body})
	latest := o.latest[ch]
	libHold := o.libHold
	o.mu.Unlock()

	path := strings.TrimPrefix(r.URL.Path, "/debug")
	h := w.Header()
	switch path {
	case "/plain": // [T:A]
		h.Set("Content-Type", "text/plain")
		io.WriteString(w, "plain\n")
	case "/stream": // [T:B]
		h.Set("Content-Type", "text/plain")
		h.Set("X-Origin", "yes")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch)
		io.WriteString(w, "stream open\n")
	case "/stream-ka": // [T:C], [T:D]
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch)
		ka := `\n; format=cstring; timeout=2`
		if m := r.URL.Query().Get("mode"); m != "" {
			ka += "; mode=" + m
		}
		h.Set("Grip-Keep-Alive", ka)
		io.WriteString(w, "stream open\n")
	case "/sse": // [T:E]
		h.Set("Content-Type", "text/event-stream")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch)
		h.Set("Grip-Keep-Alive", `:\n\n; format=cstring; timeout=3`)
		io.WriteString(w, "event: hello\ndata: {}\n\n")
	case "/longpoll": // [T:F], [T:G], [T:R], [T:S], [T:T]
		h.Set("Content-Type", "text/plain")
		h.Set("X-Timeout-Hdr", "kept")
		h.Set("Grip-Hold", "response")
		h.Set("Grip-Channel", ch)
		h.Set("Grip-Timeout", "5")
		io.WriteString(w, "timeout body\n")
	case "/instruct": // [T:H]
		h.Set("Content-Type", "application/grip-instruct")
		h.Set("X-Not-Seen", "origin header")
		js, _ := json.Marshal(map[string]any{
			"hold":     map[string]any{"mode": "response", "channels": []map[string]any{{"name": ch}}, "timeout": 5},
			"response": map[string]any{"headers": map[string]string{"Content-Type": "text/plain"}, "body": "instruct timeout\n"},
		})
		w.Write(js)
	case "/status": // [T:I]
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch)
		h.Set("Grip-Status", "299 Custom Reason")
		io.WriteString(w, "status\n")
	case "/badhold": // [T:K]
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "forever")
		h.Set("Grip-Channel", "bad")
		io.WriteString(w, "bad hold\n")
	case "/longpoll-prev": // [T:L]
		// The origin knows messages up to latest; a proxy that says it has seen less
		// (Grip-Last) gets the newer one at once, otherwise the request is held.
		if last, ok := gripLast(r.Header, ch); ok {
			if n, _ := strconv.Atoi(last); n < latest {
				h.Set("Content-Type", "text/plain")
				fmt.Fprintf(w, "[%d]\n", latest)
				return
			}
		}
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "response")
		h.Set("Grip-Channel", fmt.Sprintf("%s; prev-id=%d", ch, latest))
		h.Set("Grip-Timeout", "20")
		io.WriteString(w, "[none]\n")
	case "/link": // [T:M]
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch+"; prev-id=a1")
		h.Set("Grip-Link", "</link-next?ch="+ch+"&after=a1>; rel=next; timeout=30")
		io.WriteString(w, "link start\n")
	case "/link-next": // [T:M]
		last, ok := gripLast(r.Header, ch)
		if !ok {
			last = r.URL.Query().Get("after")
		}
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch+"; prev-id="+last)
		h.Set("Grip-Link", "</link-next?ch="+ch+"&after="+last+">; rel=next; timeout=30")
		io.WriteString(w, "recovered "+last+"\n")
	case "/expose": // [T:N]
		h.Set("Content-Type", "text/plain")
		h.Set("X-A", "a")
		h.Set("X-B", "b")
		h.Set("X-C", "c")
		h.Set("Grip-Hold", "response")
		h.Set("Grip-Channel", ch)
		h.Set("Grip-Timeout", "5")
		h.Set("Grip-Expose-Headers", "Content-Type, X-A, X-C")
		io.WriteString(w, "not exposed\n")
	case "/multi": // [T:X]
		h.Set("Content-Type", "text/plain")
		h.Set("Grip-Hold", "stream")
		h.Set("Grip-Channel", ch+"-1, "+ch+"-2")
		io.WriteString(w, "multi\n")
	case "/ws": // [T:P], [T:Q], [T:U], [T:V], [T:W], [T:Z]
		o.websocketEvents(w, r, ch, body)
	case "/libhold": // TestGripLibrary: headers from GripInstruct
		h.Set("Content-Type", "text/plain")
		for k, v := range libHold {
			h.Set(k, v)
		}
		io.WriteString(w, "lib open\n")
	case "/ws-reject": // [T:Y]
		h.Set("Content-Type", "text/plain")
		h.Set("X-Why", "nope")
		w.WriteHeader(403)
		io.WriteString(w, "go away\n")
	default:
		http.NotFound(w, r)
	}
}

// websocketEvents is the WebSocket-over-HTTP origin of the WS scenarios. To the OPEN it
// accepts GRIP, sets meta user=alice and subscribes the connection to ch; client text
// messages are commands: "hello" → "m:echo hello", "unprefixed" → an unprefixed message
// (Pushpin drops it), "ka" → a keep-alive control message, "detach" → detach; a CLOSE is
// echoed. kai=N in the query sets Keep-Alive-Interval.
func (o *origin) websocketEvents(w http.ResponseWriter, r *http.Request, ch string, body []byte) {
	evs, err := parseEvents(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/websocket-events")
	var out []wsEvent
	for _, ev := range evs {
		switch ev.typ {
		case "OPEN":
			h.Set("Sec-WebSocket-Extensions", "grip")
			h.Set("Set-Meta-User", "alice")
			if kai := r.URL.Query().Get("kai"); kai != "" {
				h.Set("Keep-Alive-Interval", kai)
			}
			sub, _ := json.Marshal(map[string]string{"type": "subscribe", "channel": ch})
			out = append(out, wsEvent{typ: "OPEN"}, wsEvent{typ: "TEXT", content: append([]byte("c:"), sub...)})
		case "TEXT":
			switch string(ev.content) {
			case "hello":
				out = append(out, wsEvent{typ: "TEXT", content: []byte("m:echo hello")})
			case "unprefixed":
				out = append(out, wsEvent{typ: "TEXT", content: []byte("unprefixed")})
			case "ka":
				out = append(out, wsEvent{typ: "TEXT", content: []byte(`c:{"type":"keep-alive","content":"ka!","timeout":2}`)})
			case "detach":
				out = append(out, wsEvent{typ: "TEXT", content: []byte(`c:{"type":"detach"}`)})
			}
		case "CLOSE":
			out = append(out, wsEvent{typ: "CLOSE", content: ev.content})
		}
	}
	w.Write(encodeEvents(out))
}

type wsEvent struct {
	typ     string
	content []byte
}

// parseEvents decodes application/websocket-events: "TYPE\r\n" or "TYPE <hex>\r\n<bytes>\r\n".
func parseEvents(b []byte) ([]wsEvent, error) {
	var evs []wsEvent
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return nil, fmt.Errorf("event without CRLF: %q", b)
		}
		line := string(b[:i])
		b = b[i+2:]
		typ, size, hasSize := strings.Cut(line, " ")
		ev := wsEvent{typ: typ}
		if hasSize {
			n, err := strconv.ParseInt(size, 16, 32)
			if err != nil || int(n)+2 > len(b) {
				return nil, fmt.Errorf("bad event size in %q", line)
			}
			ev.content = b[:n]
			b = b[n+2:]
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func encodeEvents(evs []wsEvent) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		if ev.content == nil {
			fmt.Fprintf(&b, "%s\r\n", ev.typ)
			continue
		}
		fmt.Fprintf(&b, "%s %x\r\n%s\r\n", ev.typ, len(ev.content), ev.content)
	}
	return b.Bytes()
}

// gripLast returns the last-id a Grip-Last header gives for ch.
func gripLast(h http.Header, ch string) (string, bool) {
	for _, v := range h.Values("Grip-Last") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			if strings.TrimSpace(name) != ch {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if k == "last-id" {
					return strings.Trim(val, `"`), true
				}
			}
		}
	}
	return "", false
}

// checkSig validates a Grip-Sig (HS256 with key "changeme", unexpired) and returns a
// short description: "ok iss=pushpin" or what is wrong.
func checkSig(tok string) string {
	if tok == "" {
		return "MISSING"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "MALFORMED"
	}
	mac := hmac.New(sha256.New, []byte("changeme"))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return "BAD-SIGNATURE"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &hdr)
	var claims map[string]any
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil {
		return "BAD-CLAIMS"
	}
	exp, _ := claims["exp"].(float64)
	left := time.Until(time.Unix(int64(exp), 0))
	if left <= 0 {
		return "EXPIRED"
	}
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// exp is now+3600 in Pushpin; accept anything from 10 minutes to 2 hours.
	expNote := "exp~1h"
	if left < 10*time.Minute || left > 2*time.Hour {
		expNote = fmt.Sprintf("exp=+%s", left.Round(time.Second))
	}
	return fmt.Sprintf("ok alg=%s iss=%v claims=%s %s", hdr.Alg, claims["iss"], strings.Join(keys, ","), expNote)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// ignoredOriginHeaders are request headers left out of the comparison of what the origin
// saw: Host (the peer's address), Accept-Encoding (zurl/libcurl adds "deflate, gzip, br,
// zstd"), Content-Length (framing), and Gatehouse's X-Request-Id, Via, forwarding and
// trace headers (intended: an API gateway tells upstreams who called, RFC 7239 and the
// X-Forwarded-* family, and continues the W3C trace; Pushpin sends none by default).
var ignoredOriginHeaders = map[string]bool{
	"Host": true, "Accept-Encoding": true, "Content-Length": true, "X-Request-Id": true, "Via": true,
	"Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
	"Traceparent": true, "Tracestate": true,
}

// describe renders an origin request for the transcript; cids maps Connection-Ids to
// stable labels.
func (r originRequest) describe(cids map[string]string) []string {
	var names []string
	for k := range r.header {
		if !ignoredOriginHeaders[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	lines := []string{fmt.Sprintf("origin: %s %s", r.method, r.uri)}
	for _, k := range names {
		for _, v := range r.header.Values(k) {
			switch k {
			case "Grip-Sig":
				v = checkSig(v)
			case "Grip-Feature":
				if v == gripFeature {
					v = "<pushpin 1.36 list>"
				}
			case "Connection-Id":
				label, ok := cids[v]
				if !ok {
					label = fmt.Sprintf("C%d", len(cids)+1)
					if !uuidRE.MatchString(v) {
						label += "(not a uuid v4: " + v + ")"
					}
					cids[v] = label
				}
				v = label
			case "Sec-Websocket-Key":
				v = "<key>"
			}
			lines = append(lines, fmt.Sprintf("  %s: %s", k, v))
		}
	}
	if len(r.body) > 0 || r.method == "POST" {
		lines = append(lines, fmt.Sprintf("  body: %q", r.body))
	}
	return lines
}
