package h1server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveBoth starts h on this server and on net/http's, returns both addresses.
func serveBoth(t *testing.T, h http.Handler, cfg func(*Server, *http.Server)) (ours, std string) {
	t.Helper()
	s := &Server{Handler: h}
	hs := &http.Server{Handler: h}
	if cfg != nil {
		cfg(s, hs)
	}
	ours = start(t, s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return ours, l.Addr().String()
}

// TestUnreadLargeBodyResponseSurvives: a handler refuses a large upload without
// reading it; the client, still sending, must be able to read the answer.
func TestUnreadLargeBodyResponseSurvives(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	})
	ours, std := serveBoth(t, h, nil)
	for _, tc := range []struct{ name, addr string }{{"net/http", std}, {"ours", ours}} {
		fails := 0
		for i := 0; i < 6; i++ {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			go func() {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n")
				buf := make([]byte, 64<<10)
				for j := 0; j < 150; j++ {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			time.Sleep(200 * time.Millisecond)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				fails++
			} else {
				resp.Body.Close()
			}
			c.Close()
		}
		t.Logf("%s: %d/6 responses lost", tc.name, fails)
		if tc.name == "ours" && fails > 0 {
			t.Errorf("ours lost %d/6 responses (net/http closes with closeWriteAndWait)", fails)
		}
	}
}

// TestShutdownMix: idle, active and never-speaking connections during Shutdown.
func TestShutdownMix(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Write([]byte("ok"))
	})
	s := &Server{Handler: h, ReadHeaderTimeout: 2 * time.Second, IdleTimeout: time.Minute}
	addr := start(t, s)
	idle, ibr := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResp(t, ibr, "GET")
	active, abr := dial(t, addr)
	io.WriteString(active, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	silent, _ := dial(t, addr)
	_ = silent
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- s.Shutdown(context.Background()) }()
	// the idle one closes promptly
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Errorf("idle conn: %v, want EOF", err)
	}
	t.Logf("idle closed after %v", time.Since(t0))
	// a new connection is refused
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Errorf("accepting after Shutdown")
	}
	close(release)
	resp, _ := readResp(t, abr, "GET")
	if !resp.Close {
		t.Errorf("active conn response without Connection: close")
	}
	select {
	case err := <-done:
		t.Logf("Shutdown returned %v after %v", err, time.Since(t0))
	case <-time.After(5 * time.Second):
		t.Errorf("Shutdown hung")
	}
}

// TestNoDrainWhenClosing: a request that closes the connection anyway
// (Connection: close) and whose body the handler leaves unread gets its response at
// once; net/http skips the drain when closeAfterReply is set.
func TestNoDrainWhenClosing(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
	ours, std := serveBoth(t, h, func(s *Server, hs *http.Server) {
		s.ReadHeaderTimeout = 3 * time.Second
		hs.ReadHeaderTimeout = 3 * time.Second
	})
	for _, tc := range []struct{ name, addr string }{{"net/http", std}, {"ours", ours}} {
		for _, req := range []string{
			"POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n0123456789",
			"POST / HTTP/1.0\r\nContent-Length: 1000\r\n\r\n0123456789",
		} {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			t0 := time.Now()
			io.WriteString(c, req) // the rest of the body never comes (a slow upload)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			d := time.Since(t0)
			c.Close()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			t.Logf("%s %q: %d after %v", tc.name, req[:16], resp.StatusCode, d)
			if d > time.Second {
				t.Errorf("%s: response held %v by a pointless drain", tc.name, d)
			}
		}
	}
}

// TestInformationalWithoutFraming: a 1xx carries no Content-Length or
// Transfer-Encoding (RFC 9110 8.6, 6.1; net/http writes 1xx heads with
// excludedHeadersNoBody). httputil.ReverseProxy copies an upstream 1xx's fields into
// the handler's map before WriteHeader(1xx).
func TestInformationalWithoutFraming(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a>; rel=preload")
		w.Header().Set("Content-Length", "7")
		w.Header().Set("Transfer-Encoding", "chunked")
		w.WriteHeader(http.StatusEarlyHints)
		clear(w.Header())
		w.Write([]byte("x"))
	})
	addr := start(t, &Server{Handler: h})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	var head []string
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			break
		}
		head = append(head, strings.TrimSpace(line))
	}
	t.Logf("103 head: %q", head)
	for _, l := range head {
		if strings.HasPrefix(l, "Content-Length") || strings.HasPrefix(l, "Transfer-Encoding") {
			t.Errorf("1xx carries %q", l)
		}
	}
}

// TestExpectBodyAfterResponseStarted: a client that sent its body without waiting
// for 100 Continue; the handler starts its response, then reads the body (full duplex).
// net/http returns the body; this server fails the read.
func TestExpectBodyAfterResponseStarted(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	})
	ours, std := serveBoth(t, h, nil)
	for _, tc := range []struct{ name, addr string }{{"net/http", std}, {"ours", ours}} {
		c, br := dial(t, tc.addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
		_, body := readResp(t, br, "POST")
		t.Logf("%s: %q", tc.name, body)
		if body != "3 <nil>" {
			t.Errorf("%s: body read failed: %q", tc.name, body)
		}
	}
}

// TestLingerAfterUnreadBody: a connection closed on an unread upload is half-closed and
// drained for a while, so that the client reads the response and then a clean end of
// stream, not a reset, and its further writes still go through meanwhile.
func TestLingerAfterUnreadBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	})
	addr := start(t, &Server{Handler: h})
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n")
	c.Write(make([]byte, 300<<10)) // too much left to drain: the server closes
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("status %d close=%v", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the response: %v, want the server's end of stream", err)
	}
	for i := 0; i < 4; i++ {
		if _, err := c.Write(make([]byte, 64<<10)); err != nil {
			t.Fatalf("write %d after the response: %v; the server reset instead of lingering", i, err)
		}
	}
}

// TestShutdownSilentConnection: a connection that never sends a byte does not hold
// Shutdown for its whole ReadHeaderTimeout; like net/http, Shutdown closes it once it
// is newIdleAfter old.
func TestShutdownSilentConnection(t *testing.T) {
	s := &Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Minute}
	addr := start(t, s)
	silent, _ := dial(t, addr)
	time.Sleep(50 * time.Millisecond)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %s", err, time.Since(began))
	}
	if took := time.Since(began); took < newIdleAfter-time.Second || took > newIdleAfter+3*time.Second {
		t.Errorf("Shutdown took %s; want about %s", took, newIdleAfter)
	}
	silent.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the silent connection: %v, want closed", err)
	}
}

// TestLingerWithBodyReaderLeftBehind: the handler answers while a goroutine of its is
// still reading the upload (as the upstream transport does when the upstream answered
// early). The connection cannot be reused and closes lingering, after that read ends:
// the client gets the answer and then a clean end of stream, within the linger bound.
// The client's further writes are still taken meanwhile: a plain close would answer them
// with a reset.
func TestLingerWithBodyReaderLeftBehind(t *testing.T) {
	reading := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() {
			buf := make([]byte, 32<<10)
			close(reading)
			for {
				if _, err := r.Body.Read(buf); err != nil {
					return
				}
			}
		}()
		<-reading
		time.Sleep(20 * time.Millisecond) // let the read block on the network
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	addr := start(t, &Server{Handler: h})
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n")
	done := make(chan struct{})
	go func() { // the client sends on at its pace, as curl does
		defer close(done)
		chunk := make([]byte, 64<<10)
		for i := 0; i < 4; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 413 || !resp.Close {
		t.Fatalf("status %d close=%v", resp.StatusCode, resp.Close)
	}
	began := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the response: %v, want the server's end of stream", err)
	}
	if took := time.Since(began); took > lingerTime+time.Second {
		t.Errorf("the end of stream came %s after the response", took)
	}
	<-done
	// The server drains what the client still sends instead of answering it with a reset.
	for i := 0; i < 4; i++ {
		if _, err := c.Write(make([]byte, 64<<10)); err != nil {
			t.Fatalf("write %d after the response: %v; the server reset instead of lingering", i, err)
		}
	}
}
