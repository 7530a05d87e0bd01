package hold

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/meter"
	"github.com/gatehouse-dev/gatehouse/internal/realtime/publish"
)

func streamUp(ch string, extra ...string) func(*http.Request) *Upstream {
	return func(*http.Request) *Upstream {
		h := hdr("Content-Type", "text/plain", "Grip-Hold", "stream", "Grip-Channel", ch)
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return &Upstream{Status: 200, Header: h, Body: []byte("stream open\n")}
	}
}

const streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Origin: yes\r\nX-Request-Id: rid-1\r\n" +
	"Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\nc\r\nstream open\n\r\n"

// [T:B] stream + publish (text, binary) + close.
func TestStreamPublishClose(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = streamUp("test", "X-Origin", "yes")
	c := e.dial("/stream")
	c.waitBytes(streamHead)
	e.waitSubscribers("test", 1)
	if st := e.h.Stats(); st.HeldStream != 1 || st.Opened != 1 {
		t.Fatalf("stats %+v", st)
	}
	e.publish(streamItem("test", "hello\n"))
	c.waitBytes("6\r\nhello\n\r\n")
	e.publish(streamItem("test", "\x00\x01\x02\xff"))
	c.waitBytes("4\r\n\x00\x01\x02\xff\r\n")
	e.publish(publish.Item{Channel: "test", HTTPStream: &publish.HTTPStream{Action: publish.Close}})
	c.waitEOF()
	want := streamHead + "6\r\nhello\n\r\n" + "4\r\n\x00\x01\x02\xff\r\n" + "0\r\n\r\n"
	if got := c.bytes(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	e.waitIdle()
	e.waitSubscribers("test", 0)
	st := e.h.Stats()
	if st.Ended != 1 || st.Messages != 2 || st.Bytes != 10 {
		t.Fatalf("stats %+v", st)
	}
}

// [T:I] Grip-Status on a stream: the custom reason reaches the client (hijacked path).
func TestStreamStatus(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "Grip-Hold", "stream", "Grip-Channel", "st", "Grip-Status", "299 Custom Reason"), Body: []byte("status\n")}
	}
	c := e.dial("/status")
	c.waitBytes("HTTP/1.1 299 Custom Reason\r\nContent-Type: text/plain\r\nX-Request-Id: rid-1\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nstatus\n\r\n")
}

// [T:C, T:D] idle keep-alives restart on every write, interval ones do not.
func TestStreamKeepAliveModes(t *testing.T) {
	for _, mode := range []string{"idle", "interval"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.up = streamUp("ka", "Grip-Keep-Alive", `\n; format=cstring; timeout=4; mode=`+mode)
			c := e.dial("/stream-ka")
			c.waitBytes("stream open\n\r\n")
			e.waitSubscribers("ka", 1)
			time.Sleep(1500 * time.Millisecond)
			e.publish(streamItem("ka", "tick\n"))
			pub := c.waitBytes("5\r\ntick\n\r\n")
			ka := c.waitBytes("5\r\ntick\n\r\n1\r\n\n\r\n")
			gap := ka.Sub(pub)
			t.Logf("%s: keep-alive %v after the publish", mode, gap)
			// Timer 4 s minus up to 1 s: idle fires 3-4 s after the publish; interval
			// 3-4 s after the start, i.e. about 1.5-2.5 s after the publish.
			if mode == "idle" && gap < 2900*time.Millisecond {
				t.Fatalf("idle keep-alive came %v after a write", gap)
			}
			if mode == "interval" && gap >= 2900*time.Millisecond {
				t.Fatalf("interval keep-alive was reset by a write (%v)", gap)
			}
		})
	}
}

// [T:E] SSE is a stream hold with text/event-stream and a cstring keep-alive.
func TestSSE(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/event-stream", "Grip-Hold", "stream", "Grip-Channel", "sse",
			"Grip-Keep-Alive", `:\n\n; format=cstring; timeout=1`), Body: []byte("event: hello\ndata: {}\n\n")}
	}
	c := e.dial("/sse")
	c.waitBytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Request-Id: rid-1\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n17\r\nevent: hello\ndata: {}\n\n\r\n")
	e.waitSubscribers("sse", 1)
	e.publish(streamItem("sse", "event: message\nid: e1\ndata: {\"x\":1}\n\n"))
	c.waitBytes("25\r\nevent: message\nid: e1\ndata: {\"x\":1}\n\n\r\n")
	c.waitBytes("3\r\n:\n\n\r\n")
}

// [T:X] two channels on one stream, items published together.
func TestStreamMultiChannel(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "Grip-Hold", "stream", "Grip-Channel", "m1, m2"), Body: []byte("multi\n")}
	}
	c := e.dial("/multi")
	c.waitBytes("6\r\nmulti\n\r\n")
	e.waitSubscribers("m1", 1)
	e.waitSubscribers("m2", 1)
	e.publish(streamItem("m2", "to m2\n"), streamItem("m1", "to m1\n"), streamItem("other", "no\n"))
	head := "Transfer-Encoding: chunked\r\n\r\n"
	waitFor(t, "both items", func() bool {
		b := c.bytes()
		return strings.Contains(dechunk(b[strings.Index(b, head)+len(head):]), "to m1\n")
	})
	b := c.bytes()
	if got := dechunk(b[strings.Index(b, head)+len(head):]); got != "multi\nto m2\nto m1\n" {
		t.Fatalf("body %q", got)
	}
}

// Channel prefix and the 20-channel cap.
func TestStreamPrefixAndMaxChannels(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.cfg.ChannelPrefix = "p-"
	var names []string
	for i := range 25 {
		names = append(names, "c"+string(rune('a'+i)))
	}
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Grip-Hold", "stream", "Grip-Channel", strings.Join(names, ", ")), Body: []byte("x")}
	}
	c := e.dial("/")
	c.waitBytes("1\r\nx\r\n")
	e.waitSubscribers("p-ct", 1)
	if e.subscribers("p-cu") != 0 || e.subscribers("ca") != 0 {
		t.Fatal("prefix or channel cap not applied")
	}
	e.publish(streamItem("p-ca", "y"))
	c.waitBytes("1\r\ny\r\n")
}

// Next link: hint fetches it; a prev-id gap fetches it with Grip-Last; the link
// response's instructions replace the session's; no further link ends the stream [T:M].
func TestStreamNextLink(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain", "Grip-Hold", "stream",
			"Grip-Channel", "ln; prev-id=a1", "Grip-Link", "</link-next?after=a1>; rel=next"), Body: []byte("link start\n")}
	}
	e.origin.link = func(n int, u *url.URL, extra http.Header) (*Upstream, error) {
		if n == 1 {
			return &Upstream{Status: 200, Header: hdr("Grip-Hold", "stream", "Grip-Channel", "ln; prev-id=a2",
				"Grip-Link", "</link-next?after=a2>; rel=next"), Body: []byte("recovered a2\n")}, nil
		}
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/plain"), Body: []byte("bye\n")}, nil
	}
	c := e.dial("/link")
	c.waitBytes("b\r\nlink start\n\r\n")
	e.waitSubscribers("ln", 1)
	e.publish(publish.Item{Channel: "ln", ID: "a2", PrevID: "a1", HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("a2\n")}})
	c.waitBytes("3\r\na2\n\r\n")
	e.publish(publish.Item{Channel: "ln", HTTPStream: &publish.HTTPStream{Action: publish.Hint}})
	c.waitBytes("d\r\nrecovered a2\n\r\n")
	// A gap: a4 follows a3, which this session never saw.
	e.publish(publish.Item{Channel: "ln", ID: "a4", PrevID: "a3", NoSeq: true, HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte("a4\n")}})
	c.waitBytes("4\r\nbye\n\r\n0\r\n\r\n")
	c.waitEOF()
	base := e.srv.URL
	want := []string{base + "/link-next?after=a1 | ln; last-id=a2", base + "/link-next?after=a2 | ln; last-id=a2"}
	if got := e.origin.linkList(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("links\n%v\nwant\n%v", got, want)
	}
	if strings.Contains(c.bytes(), "a4") {
		t.Fatal("the gapped item was delivered")
	}
	e.waitIdle()
}

// A stream hold with a prev-id but no next link is an error: the stream ends.
func TestStreamPrevIDWithoutLink(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.cfg.Debug = true
	e.up = streamUp("pl; prev-id=1")
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	c.waitEOF()
	if !strings.HasSuffix(c.bytes(), "channel 'pl' specifies prev-id, but no next link found\n\r\n0\r\n\r\n") {
		t.Fatalf("got %q", c.bytes())
	}
	e.waitIdle()
}

// A recover makes streams with a next link fetch it.
func TestStreamRecover(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = streamUp("rs", "Grip-Link", "</next>; rel=next")
	e.origin.link = func(int, *url.URL, http.Header) (*Upstream, error) {
		return &Upstream{Status: 200, Header: hdr("Grip-Hold", "stream", "Grip-Channel", "rs", "Grip-Link", "</next>; rel=next"), Body: []byte("caught up\n")}, nil
	}
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	e.waitSubscribers("rs", 1)
	e.f.Recover()
	c.waitBytes("a\r\ncaught up\n\r\n")
	if got := e.origin.linkList(); len(got) != 1 || got[0] != e.srv.URL+"/next | " {
		t.Fatalf("links %v", got)
	}
}

// Filters: skip-self by meta user, var-subst with matching content-filters.
func TestStreamFilters(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Grip-Hold", "stream", "Grip-Set-Meta", "user=alice",
			"Grip-Channel", "f; filter=skip-self; filter=var-subst"), Body: []byte("go\n")}
	}
	c := e.dial("/")
	c.waitBytes("3\r\ngo\n\r\n")
	e.waitSubscribers("f", 1)
	mk := func(sender, content string, cf []string) publish.Item {
		return publish.Item{Channel: "f", Meta: map[string]string{"sender": sender},
			HTTPStream: &publish.HTTPStream{Action: publish.Send, Content: []byte(content), ContentFilters: cf}}
	}
	e.publish(mk("alice", "own\n", nil))
	e.publish(mk("bob", "wrong filters\n", []string{"build-id"}))
	e.publish(mk("bob", "hi %(user)s\n", []string{"var-subst"}))
	c.waitBytes("9\r\nhi alice\n\r\n")
	if b := c.bytes(); strings.Contains(b, "own") || strings.Contains(b, "wrong") {
		t.Fatalf("filtered items delivered: %q", b)
	}
}

// A client that stops reading is disconnected once MaxQueued publishes wait for it.
func TestStreamSlowClientDropped(t *testing.T) {
	e := newEnv(t, envOpts{hold: Options{MaxQueued: 5, WriteTimeout: 30 * time.Second}})
	e.up = streamUp("slow")
	c := e.dial("/") // never reads after the head
	c.waitBytes("stream open\n\r\n")
	c.mu.Lock() // stop the reader from draining the socket
	defer c.mu.Unlock()
	e.waitSubscribers("slow", 1)
	big := strings.Repeat("x", 256<<10)
	for i := 0; i < 400 && e.h.Stats().SlowDropped == 0; i++ {
		e.publish(streamItem("slow", big))
	}
	waitFor(t, "slow drop", func() bool { st := e.h.Stats(); return st.SlowDropped == 1 && st.HeldStream == 0 })
	e.waitSubscribers("slow", 0)
}

// A client that goes away frees its session and subscriptions.
func TestStreamClientDisconnect(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = streamUp("dc")
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	e.waitSubscribers("dc", 1)
	c.conn.Close()
	e.waitIdle()
	e.waitSubscribers("dc", 0)
	if u := e.m.Snapshot(); len(u) != 1 || u[0].Connections != 0 || u[0].ConnectionsTotal != 1 {
		t.Fatalf("meter %+v", u)
	}
}

// The per-app connection cap answers 429 with a problem document.
func TestConnectionCap(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.cfg.Limits = meter.Limits{MaxConnections: 1}
	e.up = streamUp("cap")
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	resp, err := e.get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	var doc map[string]any
	if err := json.Unmarshal([]byte(b), &doc); err != nil {
		t.Fatal(err, b)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		doc["code"] != "realtime_connection_limit" || doc["status"] != float64(429) || resp.Header.Get("X-Request-Id") != "rid-1" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
	}
	if e.h.Stats().Rejected != 1 {
		t.Fatal("rejection not counted")
	}
}

// Without hijacking (HTTP/2, wrapped writers) the stream is written through w.
type noHijack struct{ http.ResponseWriter }

func (n noHijack) Flush() { n.ResponseWriter.(http.Flusher).Flush() }

func TestStreamFallback(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.wrap = func(w http.ResponseWriter) http.ResponseWriter { return noHijack{w} }
	e.up = streamUp("fb", "X-Origin", "yes")
	resp, err := e.get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Origin") != "yes" || resp.Header.Get("X-Request-Id") != "rid-1" || resp.Header.Get("Grip-Hold") != "" || resp.ContentLength != -1 {
		t.Fatalf("headers %v", resp.Header)
	}
	e.waitSubscribers("fb", 1)
	e.publish(streamItem("fb", "one\n"))
	e.publish(publish.Item{Channel: "fb", HTTPStream: &publish.HTTPStream{Action: publish.Close}})
	if b := body(t, resp); b != "stream open\none\n" {
		t.Fatalf("body %q", b)
	}
	e.waitIdle()
}

// Close ends held streams cleanly and later requests get 503.
func TestCloseStreams(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.up = streamUp("cl")
	c := e.dial("/")
	c.waitBytes("stream open\n\r\n")
	e.waitSubscribers("cl", 1)
	e.h.Close()
	c.waitBytes("0\r\n\r\n")
	c.waitEOF()
	e.waitIdle()
	resp, err := e.get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
