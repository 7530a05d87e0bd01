package gripdiff

import (
	"bufio"
	"net"
	"strings"
	"time"
)

// Scenario helpers -------------------------------------------------------------------

func (s *sc) open(path string) *stream {
	st, err := openStream(s.p.clientAddr(), path)
	if err != nil {
		s.fatal("GET %s: %v", path, err)
	}
	return st
}

// head waits for a stream's response head and records it.
func (s *sc) head(st *stream, d time.Duration) (*rawResponse, time.Duration) {
	r, at, err := st.waitHead(d)
	if err != nil {
		s.add("client: no response (%v)", err)
		s.fatal("client: %v", err)
	}
	s.response("client", r, nil, false)
	return r, at
}

// get makes a plain client request and records the response.
func (s *sc) get(path string, hdr ...string) *rawResponse {
	r, err := rawDo(s.p.clientAddr(), "GET", path, nil, append([]string{"User-Agent", "rawclient", "Accept", "*/*"}, hdr...)...)
	if err != nil {
		s.add("client: GET %s: error", path)
		s.fatal("GET %s: %v", path, err)
	}
	s.response("client", r, r.body, false)
	return r
}

func (s *sc) dial(path string) *wsClient {
	c, err := dialWS(s.ctx, s.p.clientAddr(), path)
	if err != nil {
		s.add("client: dial %s: failed", path)
		s.fatal("dial %s: %v", path, err)
	}
	s.add("client: 101")
	for _, h := range normHeaders(c.headers, false) {
		if strings.EqualFold(h[0], "Sec-WebSocket-Accept") {
			h[1] = "<valid>" // gobwas checked it
		}
		s.add("  %s: %s", h[0], h[1])
	}
	return c
}

// wsMessages records a WebSocket client's messages, collapsing runs of ka.
func (s *sc) wsMessages(c *wsClient, ka string) []string {
	var out []string
	for _, m := range c.messages() {
		if m.desc == ka && len(out) > 0 && out[len(out)-1] == "[ka] "+ka {
			continue
		}
		if m.desc == ka {
			out = append(out, "[ka] "+ka)
			continue
		}
		out = append(out, m.desc)
	}
	for _, m := range out {
		s.add("client msg: %s", m)
	}
	return out
}

func streamItem(ch, id, prev string, format map[string]any) map[string]any {
	it := map[string]any{"channel": ch, "formats": map[string]any{"http-stream": format}}
	if id != "" {
		it["id"] = id
	}
	if prev != "" {
		it["prev-id"] = prev
	}
	return it
}

func responseItem(ch, id, prev string, format map[string]any) map[string]any {
	it := map[string]any{"channel": ch, "formats": map[string]any{"http-response": format}}
	if id != "" {
		it["id"] = id
	}
	if prev != "" {
		it["prev-id"] = prev
	}
	return it
}

func wsItem(ch string, format map[string]any) map[string]any {
	return map[string]any{"channel": ch, "formats": map[string]any{"ws-message": format}}
}

func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// scenarios: one per family of /work/shared/reference/pushpin-transcripts. Each records a
// transcript (compared between the peers) and checks what the Pushpin recording showed.
func scenarios() []scenario {
	return []scenario{
		{id: "A", name: "plain-passthrough", run: func(s *sc) {
			r := s.get("/plain?ch=A")
			s.expect(r.status == 200 && string(r.body) == "plain\n", "want 200 \"plain\\n\", got %d %q", r.status, r.body)
			s.expect(r.get("Content-Length") == "6", "want Content-Length 6, got %q", r.get("Content-Length"))
			s.originLines("A")
		}},
		{id: "B", name: "stream-publish-close", run: scenarioStream},
		{id: "C", name: "stream-keepalive-idle", run: func(s *sc) { scenarioKeepAlive(s, "idle") }},
		{id: "D", name: "stream-keepalive-interval", run: func(s *sc) { scenarioKeepAlive(s, "interval") }},
		{id: "E", name: "sse", run: scenarioSSE},
		{id: "F", name: "longpoll-publish", run: scenarioLongPollPublish},
		{id: "G", name: "longpoll-timeout", run: scenarioLongPollTimeout},
		{id: "H", name: "instruct", run: scenarioInstruct},
		{id: "I", name: "grip-status", run: func(s *sc) {
			st := s.open("/status?ch=I")
			defer st.close()
			r, _ := s.head(st, 5*time.Second)
			s.expect(r.status == 299 && r.reason == "Custom Reason", "want status line 299 Custom Reason, got %d %s", r.status, r.reason)
			st.waitBody("status\n", 2*time.Second)
			ctxSleep(s.ctx, 500*time.Millisecond)
			s.add("  body so far: %q", st.body())
			s.expect(string(st.body()) == "status\n", "want body \"status\\n\", got %q", st.body())
			s.originLines("I")
		}},
		{id: "J", name: "publish-errors", serial: true, run: scenarioPublishErrors},
		{id: "K", name: "bad-hold-502", run: func(s *sc) {
			r := s.get("/badhold?ch=K")
			s.expect(r.status == 502 && string(r.body) == "Error while proxying to origin.\n", "want 502 \"Error while proxying to origin.\\n\", got %d %q", r.status, r.body)
			r = s.get("/debug/badhold?ch=K")
			want := "Failed to parse accept instructions: Grip-Hold must be set to either 'response' or 'stream'\n"
			s.expect(r.status == 502 && string(r.body) == want, "debug route: want 502 %q, got %d %q", want, r.status, r.body)
			s.originLines("K")
		}},
		{id: "L", name: "longpoll-prev-id-gap", run: scenarioPrevID},
		{id: "M", name: "stream-next-link", run: scenarioLink},
		{id: "N", name: "expose-headers", run: scenarioExpose},
		{id: "R", name: "longpoll-first-subscription", run: func(s *sc) {
			st := s.open("/longpoll?ch=R")
			defer st.close()
			r, at := s.head(st, 10*time.Second)
			st.waitDone(2 * time.Second)
			s.add("  body: %q", st.body())
			s.expect(r.status == 200 && string(st.body()) == "timeout body\n", "want the timeout response, got %d %q", r.status, st.body())
			// [T:R]: 6.17 s — the first-subscription update re-requests at ~1 s and the 5 s
			// timer restarts.
			s.expect(near(at, 6*time.Second, 900*time.Millisecond), "timeout response after %s, Pushpin's took ~6.1 s (1 s first-subscription update + 5 s)", at.Round(10*time.Millisecond))
			reqs := s.originLines("R")
			s.expect(len(reqs) == 2, "origin got %d requests, want 2 (original + first-subscription update)", len(reqs))
		}},
		{id: "S", name: "longpoll-hint", run: func(s *sc) {
			st := s.open("/longpoll?ch=S")
			defer st.close()
			if !s.waitOrigin("S", 1, 5*time.Second) {
				s.fatal("origin never got the request")
			}
			s.sleepUntil(st.start, 2*time.Second)
			s.publish(responseItem("S", "", "", map[string]any{"action": "hint"}))
			r, at := s.head(st, 10*time.Second)
			st.waitDone(2 * time.Second)
			s.add("  body: %q", st.body())
			s.expect(r.status == 200 && string(st.body()) == "timeout body\n", "want the timeout response, got %d %q", r.status, st.body())
			s.expect(near(at, 7*time.Second, 900*time.Millisecond), "timeout response after %s, want ~7 s (hint at 2 s re-requests, then 5 s)", at.Round(10*time.Millisecond))
			reqs := s.originLines("S")
			s.expect(len(reqs) == 3, "origin got %d requests, want 3 (original, first-subscription update, hint)", len(reqs))
		}},
		{id: "T", name: "longpoll-recover", serial: true, run: func(s *sc) {
			st := s.open("/longpoll?ch=T")
			defer st.close()
			if !s.waitOrigin("T", 1, 5*time.Second) {
				s.fatal("origin never got the request")
			}
			s.sleepUntil(st.start, 2*time.Second)
			rr, err := s.p.control("POST", s.p.recoverPath(), []byte{}, true)
			if err != nil {
				s.fatal("recover: %v", err)
			}
			s.response("recover", rr, rr.body, true)
			s.expect(rr.status == 200 && string(rr.body) == "Updated\n", "recover: want 200 \"Updated\\n\", got %d %q", rr.status, rr.body)
			r, at := s.head(st, 10*time.Second)
			st.waitDone(2 * time.Second)
			s.add("  body: %q", st.body())
			s.expect(r.status == 200 && string(st.body()) == "timeout body\n", "want the timeout response, got %d %q", r.status, st.body())
			s.expect(near(at, 7*time.Second, 900*time.Millisecond), "timeout response after %s, want ~7 s (recover at 2 s re-requests, then 5 s)", at.Round(10*time.Millisecond))
			reqs := s.originLines("T")
			s.expect(len(reqs) == 3, "origin got %d requests, want 3 (original, first-subscription update, recover)", len(reqs))
		}},
		{id: "X", name: "multi-channel", run: func(s *sc) {
			st := s.open("/multi?ch=X")
			defer st.close()
			s.head(st, 5*time.Second)
			st.waitBody("multi\n", 2*time.Second)
			ctxSleep(s.ctx, 300*time.Millisecond)
			s.publish(streamItem("X-2", "", "", map[string]any{"content": "to m2\n"}), streamItem("X-1", "", "", map[string]any{"content": "to m1\n"}))
			st.waitBody("to m1\n", 3*time.Second)
			ctxSleep(s.ctx, 200*time.Millisecond)
			s.add("  body: %q", st.body())
			s.expect(string(st.body()) == "multi\nto m2\nto m1\n", "want body \"multi\\nto m2\\nto m1\\n\", got %q", st.body())
			s.originLines("X")
		}},
		{id: "P", name: "ws-client", run: scenarioWSClient},
		{id: "Q", name: "ws-publish-close", run: func(s *sc) {
			c := s.dial("/ws?ch=Q")
			defer c.terminate()
			_ = c.sendText("hello")
			s.expect(c.waitMsg(`text "echo hello"`, 3*time.Second), "no echo")
			ctxSleep(s.ctx, 300*time.Millisecond)
			s.publish(wsItem("Q", map[string]any{"action": "close", "code": 4001, "reason": "kicked"}))
			s.expect(c.waitClosed(5*time.Second), "connection not closed after a close action")
			ctxSleep(s.ctx, 500*time.Millisecond)
			msgs := s.wsMessages(c, "")
			s.expect(len(msgs) > 0 && msgs[len(msgs)-1] == `close 4001 "kicked"`, "want close 4001 \"kicked\" last, got %q", msgs)
			s.originLines("Q")
		}},
		{id: "U", name: "ws-terminate", run: func(s *sc) {
			c := s.dial("/ws?ch=U")
			_ = c.sendText("hello")
			s.expect(c.waitMsg(`text "echo hello"`, 3*time.Second), "no echo")
			ctxSleep(s.ctx, 300*time.Millisecond)
			c.terminate()
			s.expect(s.waitOriginBody("U", "DISCONNECT", 5*time.Second), "origin got no DISCONNECT after the client dropped TCP")
			ctxSleep(s.ctx, 300*time.Millisecond)
			s.wsMessages(c, "")
			s.originLines("U")
		}},
		{id: "V", name: "ws-detach", run: func(s *sc) {
			c := s.dial("/ws?ch=V")
			defer c.terminate()
			_ = c.sendText("detach")
			s.expect(s.waitOriginBody("V", "CLOSE", 3*time.Second), "origin got no CLOSE after detach")
			ctxSleep(s.ctx, 300*time.Millisecond)
			s.publish(wsItem("V", map[string]any{"content": "still subscribed after detach"}))
			s.expect(c.waitMsg(`text "still subscribed after detach"`, 3*time.Second), "detached client did not get the publish")
			_ = c.sendText("hello") // discarded: the origin is detached
			ctxSleep(s.ctx, 500*time.Millisecond)
			_ = c.sendClose(1000, "")
			s.expect(c.waitClosed(3*time.Second), "no close answer")
			msgs := s.wsMessages(c, "")
			s.expect(len(msgs) == 2 && msgs[1] == "close 1000 \"\"", "want [publish, close 1000], got %q", msgs)
			s.originLines("V")
		}},
		{id: "W", name: "ws-keepalive-interval", long: true, run: func(s *sc) {
			c := s.dial("/ws?ch=W&kai=20")
			defer c.terminate()
			ok := s.waitOriginBody("W", "OPEN", 3*time.Second)
			s.expect(ok, "no OPEN")
			// [T:W]: an empty POST about 20 s after the OPEN.
			deadline := time.Now().Add(24 * time.Second)
			var at time.Duration
			for at == 0 && time.Now().Before(deadline) {
				for _, r := range s.o.requests("W") {
					if len(r.body) == 0 {
						at = r.at.Sub(c.start)
					}
				}
				ctxSleep(s.ctx, 50*time.Millisecond)
			}
			s.expect(near(at, 20500*time.Millisecond, 1500*time.Millisecond), "empty keep-alive request after %s, Pushpin's came after ~20.4 s", at.Round(10*time.Millisecond))
			_ = c.sendClose(1000, "")
			s.expect(c.waitClosed(3*time.Second), "no close answer")
			s.wsMessages(c, "")
			s.originLines("W")
		}},
		{id: "Y", name: "ws-reject", run: func(s *sc) {
			r, err := rawDo(s.p.clientAddr(), "GET", "/ws-reject?ch=Y", nil, "User-Agent", "rawclient", "Upgrade", "websocket",
				"Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13")
			if err != nil {
				s.fatal("handshake: %v", err)
			}
			s.response("client", r, r.body, false)
			s.expect(r.status == 403 && string(r.body) == "go away\n" && r.get("X-Why") == "nope", "want the origin's 403 with X-Why and \"go away\\n\", got %d %q", r.status, r.body)
			s.originLines("Y")
		}},
		{id: "Z", name: "ws-raw-upgrade", run: func(s *sc) {
			conn, err := net.DialTimeout("tcp", s.p.clientAddr(), 5*time.Second)
			if err != nil {
				s.fatal("dial: %v", err)
			}
			_ = writeRequest(conn, s.p.clientAddr(), "GET", "/ws?ch=Z", nil, "User-Agent", "rawclient", "Upgrade", "websocket",
				"Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13")
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			r, err := readHead(bufio.NewReader(conn))
			if err != nil {
				conn.Close()
				s.fatal("handshake: %v", err)
			}
			s.response("client", r, nil, false)
			s.expect(r.status == 101 && r.get("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "want 101 with Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, got %d %q", r.status, r.get("Sec-WebSocket-Accept"))
			for _, h := range []string{"Sec-WebSocket-Extensions", "Set-Meta-User", "Content-Type", "Content-Length", "Keep-Alive-Interval"} {
				s.expect(r.get(h) == "", "101 response has %s: %s (Pushpin strips it)", h, r.get(h))
			}
			ctxSleep(s.ctx, time.Second)
			conn.Close()
			s.expect(s.waitOriginBody("Z", "DISCONNECT", 5*time.Second), "origin got no DISCONNECT")
			s.originLines("Z")
		}},
	}
}

// B [T:B]: stream hold, three publishes (one a duplicate id), close action.
func scenarioStream(s *sc) {
	st := s.open("/stream?ch=B")
	defer st.close()
	r, _ := s.head(st, 5*time.Second)
	s.expect(r.status == 200 && r.get("X-Origin") == "yes", "want 200 with X-Origin")
	s.expect(r.get("Content-Length") == "" && strings.EqualFold(r.get("Transfer-Encoding"), "chunked"), "want a chunked stream")
	st.waitBody("stream open\n", 2*time.Second)
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.publish(streamItem("B", "b1", "", map[string]any{"content": "hello\n"}))
	st.waitBody("hello\n", 2*time.Second)
	s.publish(streamItem("B", "b2", "", map[string]any{"content-bin": "AAEC/w=="}))
	st.waitBody("\x00\x01\x02\xff", 2*time.Second)
	s.publish(streamItem("B", "b2", "", map[string]any{"content": "duplicate\n"})) // dropped by the id cache
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.publish(streamItem("B", "", "", map[string]any{"action": "close"}))
	end := st.waitDone(3 * time.Second)
	s.add("  body: %q", st.body())
	s.add("  end: %s", end)
	s.expect(string(st.body()) == "stream open\nhello\n\x00\x01\x02\xff", "want body \"stream open\\nhello\\n\\x00\\x01\\x02\\xff\", got %q", st.body())
	s.expect(end == "complete", "want the stream ended by a terminating chunk, got %s", end)
	if end == "complete" {
		s.note("keep-alive after close action: %s", st.reuse())
	}
	s.originLines("B")
}

// C, D [T:C], [T:D]: keep-alive "\n" (cstring) every 2 s in idle or interval mode.
func scenarioKeepAlive(s *sc, mode string) {
	st := s.open("/stream-ka?ch=" + s.id + "&mode=" + mode)
	defer st.close()
	_, headAt := s.head(st, 5*time.Second)
	s.sleepUntil(st.start, headAt+2500*time.Millisecond)
	s.publish(streamItem(s.id, "", "", map[string]any{"content": "tick\n"}))
	s.sleepUntil(st.start, headAt+5*time.Second)
	body := collapse(string(st.body()), "\n", "")
	s.add("  body: %s", strings.Join(body, " "))
	want := `"stream open\n" [ka] "tick\n" [ka]`
	s.expect(strings.Join(body, " ") == want, "want body %s, got %s", want, strings.Join(body, " "))
	// Timing, loosely: keep-alives come 1..2 s apart (timeout 2 s minus up to 1 s of
	// jitter); in idle mode the tick restarts the timer.
	var kas []time.Duration
	var tickAt time.Duration
	for _, p := range st.timedPieces() {
		switch string(p.b) {
		case "\n":
			kas = append(kas, p.at)
		case "tick\n":
			tickAt = p.at
		}
	}
	if len(kas) > 0 {
		first := kas[0] - headAt
		s.expect(first >= 900*time.Millisecond && first <= 2300*time.Millisecond, "first keep-alive %s after the head, want 1..2 s", first.Round(10*time.Millisecond))
	}
	if mode == "idle" && tickAt > 0 {
		for _, k := range kas {
			if k > tickAt && k-tickAt < 900*time.Millisecond {
				s.fail("idle keep-alive %s after the tick: data should restart the timer", (k - tickAt).Round(10*time.Millisecond))
			}
		}
	}
	s.note("keep-alives at %v, tick at %v", kas, tickAt)
	s.originLines(s.id)
}

// E [T:E]: SSE is a stream hold with text/event-stream and a ":\n\n" keep-alive.
func scenarioSSE(s *sc) {
	st := s.open("/sse?ch=E")
	defer st.close()
	r, headAt := s.head(st, 5*time.Second)
	s.expect(r.get("Content-Type") == "text/event-stream", "want text/event-stream")
	st.waitBody("data: {}\n\n", 2*time.Second)
	s.sleepUntil(st.start, headAt+600*time.Millisecond)
	s.publish(streamItem("E", "e1", "", map[string]any{"content": "event: message\nid: e1\ndata: {\"x\":1}\n\n"}))
	s.sleepUntil(st.start, headAt+4400*time.Millisecond)
	body := collapse(string(st.body()), "\n\n", ":")
	s.add("  body: %s", strings.Join(body, " "))
	want := `"event: hello\ndata: {}\n\n" "event: message\nid: e1\ndata: {\"x\":1}\n\n" [ka]`
	s.expect(strings.Join(body, " ") == want, "want body %s, got %s", want, strings.Join(body, " "))
	s.originLines("E")
}

// F [T:F]: a published http-response inherits the held response's headers; code 201.
// F-b: without code/headers the code is 200 and Content-Type is inherited.
func scenarioLongPollPublish(s *sc) {
	for _, c := range []struct {
		ch     string
		format map[string]any
		status int
		body   string
		ctype  string
	}{
		{"F", map[string]any{"code": 201, "reason": "Made", "headers": map[string]string{"Content-Type": "application/json", "X-Pub": "1"}, "body": "{\"v\":1}\n"}, 201, "{\"v\":1}\n", "application/json"},
		{"F-b", map[string]any{"body": "plain pub\n"}, 200, "plain pub\n", "text/plain"},
	} {
		st := s.open("/longpoll?ch=" + c.ch)
		if !s.waitOrigin(c.ch, 1, 5*time.Second) {
			s.fatal("origin never got the request")
		}
		ctxSleep(s.ctx, 300*time.Millisecond)
		s.publish(responseItem(c.ch, "", "", c.format))
		r, _ := s.head(st, 3*time.Second)
		st.waitDone(2 * time.Second)
		s.add("  body: %q", st.body())
		s.expect(r.status == c.status && string(st.body()) == c.body, "want %d %q, got %d %q", c.status, c.body, r.status, st.body())
		s.expect(r.get("X-Timeout-Hdr") == "kept" && r.get("Content-Type") == c.ctype, "want X-Timeout-Hdr inherited and Content-Type %s, got %q %q", c.ctype, r.get("X-Timeout-Hdr"), r.get("Content-Type"))
		st.close()
		s.originLines(c.ch)
	}
}

// G [T:G]: a long-poll on a channel that already has a (lingering) subscription times
// out after Grip-Timeout (5 s) with the original response replayed.
func scenarioLongPollTimeout(s *sc) {
	st := s.open("/longpoll?ch=G")
	if !s.waitOrigin("G", 1, 5*time.Second) {
		s.fatal("origin never got the request")
	}
	ctxSleep(s.ctx, 200*time.Millisecond)
	s.publish(responseItem("G", "", "", map[string]any{"body": "first\n"}))
	s.head(st, 3*time.Second)
	st.waitDone(2 * time.Second)
	s.add("  body: %q", st.body())
	st.close()
	// Past the first-subscription update; the subscription lingers.
	ctxSleep(s.ctx, 1500*time.Millisecond)
	n := len(s.o.requests("G"))
	st = s.open("/longpoll?ch=G")
	defer st.close()
	r, at := s.head(st, 10*time.Second)
	st.waitDone(2 * time.Second)
	s.add("  body: %q", st.body())
	s.expect(r.status == 200 && string(st.body()) == "timeout body\n" && r.get("X-Timeout-Hdr") == "kept", "want the replayed timeout response, got %d %q", r.status, st.body())
	s.expect(r.get("Content-Length") == "13", "want Content-Length 13, got %q", r.get("Content-Length"))
	s.expect(near(at, 5100*time.Millisecond, 600*time.Millisecond), "timeout response after %s, Pushpin's took 5.09 s", at.Round(10*time.Millisecond))
	s.expect(len(s.o.requests("G"))-n == 1, "origin got %d requests for the second poll, want 1 (the subscription lingers)", len(s.o.requests("G"))-n)
	s.originLines("G")
}

// H [T:H]: application/grip-instruct; the client sees only the JSON response headers.
// H-b: the instruct's response is the timeout response.
func scenarioInstruct(s *sc) {
	st := s.open("/instruct?ch=H")
	defer st.close()
	if !s.waitOrigin("H", 1, 5*time.Second) {
		s.fatal("origin never got the request")
	}
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.publish(responseItem("H", "", "", map[string]any{"body": "from instruct publish\n"}))
	r, _ := s.head(st, 3*time.Second)
	st.waitDone(2 * time.Second)
	s.add("  body: %q", st.body())
	s.expect(r.status == 200 && string(st.body()) == "from instruct publish\n", "want 200 \"from instruct publish\\n\", got %d %q", r.status, st.body())
	s.expect(r.get("X-Not-Seen") == "", "want only the instruct's headers (+ Content-Length), got %q", r.headers)
	s.note("Date header present: %v (Pushpin sends none with grip-instruct [T:H])", r.get("Date") != "")
	s.originLines("H")

	st2 := s.open("/instruct?ch=H-b")
	defer st2.close()
	r, at := s.head(st2, 10*time.Second)
	st2.waitDone(2 * time.Second)
	s.add("  body: %q", st2.body())
	s.expect(r.status == 200 && string(st2.body()) == "instruct timeout\n", "want 200 \"instruct timeout\\n\", got %d %q", r.status, st2.body())
	s.note("instruct timeout after %s", at.Round(10*time.Millisecond))
	s.originLines("H-b")
}

// J [T:J]: publish API answers, body by body.
func scenarioPublishErrors(s *sc) {
	valid := `{"items":[{"channel":"J","formats":{"http-stream":{"content":"x"}}}]}`
	cases := []struct {
		label, method, path string
		body                []byte
		hdr                 []string
		status              int
		want                string // body ("" not checked)
	}{
		{"not JSON", "POST", "/publish/", []byte("not json"), nil, 400, "Body is not valid JSON.\n"},
		{"JSON array", "POST", "/publish/", []byte(`[1]`), nil, 400, ""},
		{"no items", "POST", "/publish/", []byte(`{}`), nil, 400, "Invalid format: object does not contain 'items'\n"},
		{"items not list", "POST", "/publish/", []byte(`{"items":"x"}`), nil, 400, "Invalid format: object contains 'items' with wrong type\n"},
		{"empty items", "POST", "/publish/", []byte(`{"items":[]}`), nil, 0, ""},
		{"item without channel", "POST", "/publish/", []byte(`{"items":[{"formats":{"http-stream":{"content":"x"}}}]}`), nil, 400, "Invalid format: publish item object does not contain 'channel'\n"},
		{"http-stream without content", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"http-stream":{}}}]}`), nil, 400, "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'\n"},
		{"Accept: application/json", "POST", "/publish/", []byte(valid), []string{"Accept", "application/json"}, 200, "{\"message\":\"Published\"}\n"},
		{"Accept: text/html", "POST", "/publish/", []byte(valid), []string{"Accept", "text/html"}, 406, "Not Acceptable. Supported formats are text/plain and application/json.\n"},
		{"Accept: text/*", "POST", "/publish/", []byte(valid), []string{"Accept", "text/*"}, 200, "Published\n"},
		{"GET /publish", "GET", "/publish", nil, nil, 405, "Method not allowed: GET.\n"},
		{"POST /publish (no slash)", "POST", "/publish", []byte(valid), nil, 200, "Published\n"},
		{"format at item top level", "POST", "/publish/", []byte(`{"items":[{"channel":"J","http-stream":{"content":"x"}}]}`), nil, 200, "Published\n"},
		{"ws-message bad type", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"ws-message":{"type":"nope","content":"x"}}}]}`), nil, 400, "Invalid format: 'ws-message' contains 'type' with unknown value\n"},
		{"action refresh (1.38+ only)", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"ws-message":{"action":"refresh"}}}]}`), nil, 400, "Invalid format: \n"},
		{"http-response body and body-bin", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"http-response":{"body":"a","body-bin":"Yg=="}}}]}`), nil, 0, ""},
		{"bad content-bin base64", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"http-stream":{"content-bin":"***"}}}]}`), nil, 0, ""},
		{"second item bad (all-or-nothing)", "POST", "/publish/", []byte(`{"items":[{"channel":"J","formats":{"http-stream":{"content":"x"}}},{"formats":{}}]}`), nil, 400, ""},
		{"POST /publish/ without Content-Length", "POST", "/publish/", nil, nil, 411, "Request requires Content-Length.\n"},
		{"POST /recover without Content-Length", "POST", "/recover", nil, nil, 411, "Request requires Content-Length.\n"},
	}
	for _, c := range cases {
		if s.p.name() == "gatehouse" && strings.HasPrefix(c.label, "action refresh") {
			// Intended: Gatehouse accepts refresh as Pushpin 1.38+ does; not compared.
			r, err := s.p.control(c.method, c.path, c.body, true, "Content-Type", "application/json")
			s.expect(err == nil && r.status == 200, "refresh: want 200 Published (1.38+), got %v %v", r, err)
			s.add("--- %s: (differs by version, not compared)", c.label)
			continue
		}
		if s.p.name() == "pushpin" && strings.HasPrefix(c.label, "action refresh") {
			_, _ = s.p.control(c.method, c.path, c.body, true, "Content-Type", "application/json")
			s.add("--- %s: (differs by version, not compared)", c.label)
			continue
		}
		r, err := s.p.control(c.method, c.path, c.body, true, append([]string{"Content-Type", "application/json"}, c.hdr...)...)
		if err != nil {
			s.add("--- %s: error", c.label)
			s.fail("%s: %v", c.label, err)
			continue
		}
		s.response("--- "+c.label, r, r.body, true)
		if c.status != 0 && (r.status != c.status || c.want != "" && string(r.body) != c.want) {
			s.fail("%s: want %d %q, got %d %q", c.label, c.status, c.want, r.status, r.body)
		}
	}
}

// L [T:L]: a response hold with prev-id; an item whose prev-id does not match makes the
// proxy re-request the origin with Grip-Last, and the origin answers the newer message.
func scenarioPrevID(s *sc) {
	s.o.setLatest("L", 1)
	st := s.open("/longpoll-prev?ch=L")
	defer st.close()
	if !s.waitOrigin("L", 1, 5*time.Second) {
		s.fatal("origin never got the request")
	}
	s.sleepUntil(st.start, 2*time.Second) // after the first-subscription update
	s.o.setLatest("L", 2)
	s.publish(responseItem("L", "3", "2", map[string]any{"body": "[3]\n"}))
	r, _ := s.head(st, 8*time.Second)
	st.waitDone(2 * time.Second)
	s.add("  body: %q", st.body())
	s.expect(r.status == 200 && string(st.body()) == "[2]\n", "want 200 \"[2]\\n\" (re-requested with Grip-Last), got %d %q", r.status, st.body())
	reqs := s.originLines("L")
	if n := len(reqs); n > 0 {
		last, _ := gripLast(reqs[n-1].header, "L")
		s.expect(last == "1", "last origin request has Grip-Last last-id %q, want 1", last)
	}
}

// M [T:M]: stream with prev-id and a next link: a matching item is delivered, the first
// subscription fetches the link (Grip-Last), and a gap (after the 5 s sequencer wait)
// fetches it again.
func scenarioLink(s *sc) {
	st := s.open("/link?ch=M")
	defer st.close()
	s.head(st, 5*time.Second)
	st.waitBody("link start\n", 2*time.Second)
	ctxSleep(s.ctx, 200*time.Millisecond)
	s.publish(streamItem("M", "a2", "a1", map[string]any{"content": "a2\n"}))
	s.expect(st.waitBody("a2\n", 2*time.Second), "matching prev-id item not delivered")
	s.expect(st.waitBody("recovered a2\n", 4*time.Second), "no next-link fetch after the first subscription")
	ctxSleep(s.ctx, 300*time.Millisecond)
	pubAt := time.Now()
	s.publish(streamItem("M", "a4", "a3", map[string]any{"content": "a4\n"}))
	ok := st.waitBody("recovered a2\nrecovered a2\n", 9*time.Second)
	s.expect(ok, "no next-link fetch after a prev-id gap")
	if ok {
		d := time.Since(pubAt)
		s.note("gap recovery %s after the publish", d.Round(10*time.Millisecond))
		s.expect(near(d, 5200*time.Millisecond, 1200*time.Millisecond), "gap recovery after %s; Pushpin's sequencer holds the item 5 s (message_wait) first", d.Round(10*time.Millisecond))
	}
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.add("  body: %q", st.body())
	s.expect(string(st.body()) == "link start\na2\nrecovered a2\nrecovered a2\n", "want body \"link start\\na2\\nrecovered a2\\nrecovered a2\\n\", got %q", st.body())
	s.originLines("M")
}

// N [T:N]: Grip-Expose-Headers keeps only the listed headers (not even Server/Date).
func scenarioExpose(s *sc) {
	st := s.open("/expose?ch=N")
	defer st.close()
	if !s.waitOrigin("N", 1, 5*time.Second) {
		s.fatal("origin never got the request")
	}
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.publish(responseItem("N", "", "", map[string]any{"body": "exposed\n"}))
	r, _ := s.head(st, 3*time.Second)
	st.waitDone(2 * time.Second)
	s.add("  body: %q", st.body())
	var names []string
	for _, h := range normHeaders(r.headers, false) {
		names = append(names, h[0])
	}
	s.expect(strings.Join(names, ", ") == "Content-Length, Content-Type, X-A, X-C", "want headers Content-Length, Content-Type, X-A, X-C (as Pushpin), got %s", strings.Join(names, ", "))
	// Pushpin sends no Server or Date with exposed headers [T:N]; those are intended
	// differences, so only noted.
	s.note("Date header present: %v", r.get("Date") != "")
	s.expect(string(st.body()) == "exposed\n", "want body \"exposed\\n\", got %q", st.body())
	s.originLines("N")
}

// P [T:P]: WebSocket-over-HTTP: echo, an unprefixed origin message dropped, publishes
// (text, binary), a keep-alive control message, client close 4000 echoed.
func scenarioWSClient(s *sc) {
	c := s.dial("/ws?ch=P")
	defer c.terminate()
	_ = c.sendText("hello")
	s.expect(c.waitMsg(`text "echo hello"`, 3*time.Second), "no echo")
	_ = c.sendText("unprefixed")
	s.expect(s.waitOriginBody("P", "unprefixed", 3*time.Second), "origin did not get \"unprefixed\"")
	ctxSleep(s.ctx, 300*time.Millisecond)
	s.publish(wsItem("P", map[string]any{"content": "pub text"}))
	s.expect(c.waitMsg(`text "pub text"`, 3*time.Second), "no published text")
	s.publish(wsItem("P", map[string]any{"content-bin": "AAEC/w=="}))
	s.expect(c.waitMsg(`binary 000102ff`, 3*time.Second), "no published binary")
	kaSent := time.Since(c.start)
	_ = c.sendText("ka")
	ctxSleep(s.ctx, 3500*time.Millisecond)
	_ = c.sendClose(4000, "bye")
	s.expect(c.waitClosed(3*time.Second), "no close answer")
	msgs := s.wsMessages(c, `text "ka!"`)
	want := []string{`text "echo hello"`, `text "pub text"`, `binary 000102ff`, `[ka] text "ka!"`, `close 4000 "bye"`}
	s.expect(strings.Join(msgs, "|") == strings.Join(want, "|"), "want messages %q, got %q", want, msgs)
	for _, m := range c.messages() {
		if m.desc == `text "ka!"` {
			d := m.at - kaSent
			s.expect(d >= 800*time.Millisecond && d <= 2500*time.Millisecond, "first keep-alive %s after the keep-alive control message, want 1..2 s", d.Round(10*time.Millisecond))
			break
		}
	}
	s.originLines("P")
}
