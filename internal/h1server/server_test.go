package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// start serves h on a loopback port and returns its address; the server stops with the test.
func start(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

func dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// echo answers with what it saw of the request.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Host", r.Host)
	w.Header().Set("X-Remote-Set", fmt.Sprint(r.RemoteAddr != ""))
	fmt.Fprintf(w, "%s %s %s len=%d body=%q", r.Method, r.RequestURI, r.Proto, r.ContentLength, body)
})

func TestKeepAliveAndFraming(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || body != `GET /a?x=1 HTTP/1.1 len=0 body=""` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.ContentLength != int64(len(body)) || resp.Close || resp.Header.Get("Date") == "" || resp.Header.Get("X-Host") != "example.com" {
		t.Fatalf("framing: cl=%d close=%v header=%v", resp.ContentLength, resp.Close, resp.Header)
	}
	// Same connection, a body with Content-Length, then a chunked one.
	io.WriteString(c, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
	if _, body = readResp(t, br, "POST"); body != `POST /b HTTP/1.1 len=5 body="hello"` {
		t.Fatalf("got %q", body)
	}
	io.WriteString(c, "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if _, body = readResp(t, br, "POST"); body != `POST /c HTTP/1.1 len=-1 body="abcde"` {
		t.Fatalf("got %q", body)
	}
	// HEAD: the length of what GET would send, no body.
	io.WriteString(c, "HEAD /d HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body = readResp(t, br, "HEAD")
	if body != "" || resp.ContentLength != int64(len(`HEAD /d HTTP/1.1 len=0 body=""`)) {
		t.Fatalf("HEAD: cl=%d body=%q", resp.ContentLength, body)
	}
	// Connection: close is honoured and announced.
	io.WriteString(c, "GET /e HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp, _ = readResp(t, br, "GET"); !resp.Close {
		t.Fatal("Connection: close not announced")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestHTTP10(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, _ := readResp(t, br, "GET")
	if resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: close=%v %v", resp.Close, resp.Header)
	}
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	if resp, _ = readResp(t, br, "GET"); !resp.Close {
		t.Fatal("HTTP/1.0 without keep-alive should close")
	}
	// A streamed body of unknown length to an HTTP/1.0 client ends with the connection.
	addr = start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		w.Write([]byte(strings.Repeat("b", 5000)))
	})})
	c, br = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if !resp.Close || len(body) != 5001 || resp.TransferEncoding != nil {
		t.Fatalf("close=%v len=%d te=%v", resp.Close, len(body), resp.TransferEncoding)
	}
}

func TestChunkedStreamAndTrailers(t *testing.T) {
	release := make(chan struct{})
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte(strings.Repeat("x", 3000)))
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("not chunked: %v", resp.TransferEncoding)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("flushed part not received before the handler finished: %q %v", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != 3000 {
		t.Fatalf("rest: %d %v", len(rest), err)
	}
	if resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("trailers: %v", resp.Trailer)
	}
}

func TestNoBodyStatuses(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(204)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				panic("write after 204: " + fmt.Sprint(err))
			}
		case "/304":
			w.WriteHeader(304)
		case "/103":
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(103)
			w.Header().Del("Link")
			w.Write([]byte("final"))
		case "/cl":
			w.Header().Set("Content-Length", "3")
			if _, err := w.Write([]byte("toolong")); err != http.ErrContentLength {
				panic("over-long body: " + fmt.Sprint(err))
			}
		}
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\nGET /103 HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 204 || body != "" || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("204: %v %q", resp.Header, body)
	}
	if resp, _ = readResp(t, br, "GET"); resp.StatusCode != 304 {
		t.Fatalf("304: %d", resp.StatusCode)
	}
	// The 103 arrives first, with its Link; the final response follows.
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 103") {
		t.Fatalf("103: %q", line)
	}
	hdr, _ := br.ReadString('\n')
	for !strings.HasPrefix(hdr, "Link:") && hdr != "\r\n" {
		hdr, _ = br.ReadString('\n')
	}
	if !strings.HasPrefix(hdr, "Link:") {
		t.Fatal("103 without its Link header")
	}
	for hdr != "\r\n" {
		hdr, _ = br.ReadString('\n')
	}
	if resp, body = readResp(t, br, "GET"); resp.StatusCode != 200 || body != "final" || resp.Header.Get("Link") != "" {
		t.Fatalf("after 103: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// A body shorter than its declared length can only end by closing.
	io.WriteString(c, "GET /cl HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("short body read without error: %q", b)
	}
}

func TestBadRequests(t *testing.T) {
	addr := start(t, &Server{Handler: echo, MaxHeaderBytes: 4096})
	for _, tc := range []struct {
		name, req string
		status    int
		code      string
	}{
		{"garbage", "HELLO\r\n\r\n", 400, "bad_request"},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, "bad_request"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request"},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_request"},
		{"bad header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, "bad_request"},
		{"http2 line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "bad_request"},
		{"huge head", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 10000) + "\r\n\r\n", 431, "header_too_large"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "bad_request"},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding"},
		{"expect", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: magic\r\n\r\nx", 417, "expectation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			io.WriteString(c, tc.req)
			resp, body := readResp(t, br, "GET")
			if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) || resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close {
				t.Fatalf("got %d %v %s", resp.StatusCode, resp.Header, body)
			}
		})
	}
}

// TestSameAsNetHTTP sends the same bytes to this server and to net/http's, both running
// the echo handler, and expects the same status and body.
func TestSameAsNetHTTP(t *testing.T) {
	ours := start(t, &Server{Handler: echo})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: echo}
	go std.Serve(l)
	t.Cleanup(func() { std.Close() })
	for _, req := range sameAsNetHTTPCases {
		got := exchange(t, ours, req)
		want := exchange(t, l.Addr().String(), req)
		if got != want {
			t.Errorf("request %q:\n ours:     %s\n net/http: %s", req, got, want)
		}
	}
}

var sameAsNetHTTPCases = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://other.example/x HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"get / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX:\x00\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	// Both framings: chunked wins and Content-Length is dropped (RFC 9112 §6.3); the
	// gateway frames the request afresh upstream, so nothing can be smuggled past it.
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}

// exchange sends req on a fresh connection and describes the first response, or the
// connection's end without one.
func exchange(t *testing.T, addr, req string) string {
	c, br := dial(t, addr)
	io.WriteString(c, req)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return "no response"
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		return fmt.Sprint(resp.StatusCode) // error bodies differ: ours are problem documents
	}
	return fmt.Sprintf("%d %s host=%s", resp.StatusCode, body, resp.Header.Get("X-Host"))
}

func TestExpectContinue(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "PUT /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue before the body, got %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "data")
	if resp, body := readResp(t, br, "PUT"); resp.StatusCode != 200 || body != "data" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// A handler that never reads: no 100, and the connection closes after the answer.
	io.WriteString(c, "PUT /reject HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	if resp, _ := readResp(t, br, "PUT"); resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("%d close=%v", resp.StatusCode, resp.Close)
	}
}

func TestUnreadBody(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ignored your body")
	})})
	c, br := dial(t, addr)
	// A small unread body is drained and the connection kept.
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := readResp(t, br, "POST"); resp.Close {
		t.Fatal("small unread body closed the connection")
	}
	if resp, _ := readResp(t, br, "GET"); resp.StatusCode != 200 {
		t.Fatal("the next request was lost")
	}
	// A large one closes it.
	c, br = dial(t, addr)
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", 10<<20)
		c.Write(make([]byte, 1<<20))
	}()
	if resp, _ := readResp(t, br, "POST"); !resp.Close {
		t.Fatal("a large unread body should close the connection")
	}
}

func TestPipelining(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	c, br := dial(t, addr)
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
	}
	io.WriteString(c, b.String())
	for i := range 20 {
		if _, body := readResp(t, br, "GET"); !strings.HasPrefix(body, fmt.Sprintf("GET /%d ", i)) {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}

func TestHeaderTimeout(t *testing.T) {
	addr := start(t, &Server{Handler: echo, ReadHeaderTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost:")
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("want the connection closed, got %v", err)
	}
	if d := time.Since(t0); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
}

func TestIdleTimeout(t *testing.T) {
	addr := start(t, &Server{Handler: echo, ReadHeaderTimeout: time.Second, IdleTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, br, "GET")
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("want the idle connection closed, got %v", err)
	}
	if d := time.Since(t0); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
}

func TestWriteTimeout(t *testing.T) {
	addr := start(t, &Server{WriteTimeout: 200 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held" {
			// A stream clears the write timeout for itself.
			http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		time.Sleep(500 * time.Millisecond)
		w.Write(make([]byte, 8<<20)) // more than the socket buffers take
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err == nil || n >= 8<<20 {
		t.Fatalf("response past write_timeout not cut: %d bytes, %v", n, err)
	}
	c, br = dial(t, addr)
	io.WriteString(c, "GET /held HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := readResp(t, br, "GET"); len(body) != 1+8<<20 {
		t.Fatalf("held stream cut at %d bytes", len(body))
	}
}

func TestClientGoneCancelsContext(t *testing.T) {
	cancelled := make(chan struct{})
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	})})
	c, _ := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the request's context was not cancelled when its client left")
	}
}

// A slow handler is watched for its client leaving; a pipelined request that arrives
// meanwhile must still be served.
func TestWatchKeepsPipelinedByte(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(400 * time.Millisecond)
		}
		io.WriteString(w, r.URL.Path)
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(300 * time.Millisecond) // the watch has started
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := readResp(t, br, "GET"); body != "/slow" {
		t.Fatalf("first: %q", body)
	}
	if _, body := readResp(t, br, "GET"); body != "/next" {
		t.Fatalf("second: %q", body)
	}
}

func TestHijack(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	})})
	c, br := dial(t, addr)
	// The first message rides with the request: it sits in the server's buffer.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "echo hello\n" {
		t.Fatalf("got %q", line)
	}
	io.WriteString(c, "again\n")
	if line, _ := br.ReadString('\n'); line != "echo again\n" {
		t.Fatalf("got %q", line)
	}
}

func TestPanicClosesConnection(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a panicking handler's connection should close without a response")
	}
	c, br = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := readResp(t, br, "GET"); body != "ok" {
		t.Fatalf("server broken after a panic: %q", body)
	}
}

func TestShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inHandler)
			<-release
		}
		io.WriteString(w, "done")
	})}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	addr := l.Addr().String()
	idle, idleBR := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, idleBR, "GET")
	busy, busyBR := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-inHandler

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before the busy request ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, body := readResp(t, busyBR, "GET")
	if body != "done" || !resp.Close {
		t.Fatalf("in-flight request: %q close=%v", body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestH2CHandoff(t *testing.T) {
	var proto atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		io.WriteString(w, "via "+r.Proto)
	})
	h2 := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	addr := start(t, &Server{Handler: h, HTTP2: h2})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "via HTTP/2.0" {
		t.Fatalf("got %q", b)
	}
	// HTTP/1.1 on the same listener stays here.
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "via HTTP/1.1" {
		t.Fatalf("got %q", b)
	}
}

// ReverseProxy in front of an upstream, through this server: the combination the
// gateway runs, including a WebSocket-style upgrade.
func TestReverseProxyThrough(t *testing.T) {
	up := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			w.Header().Set("Upgrade", "echo")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(101)
			conn, brw, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			line, _ := brw.ReadString('\n')
			brw.WriteString("up:" + line)
			brw.Flush()
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	})})
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", up
	}}
	addr := start(t, &Server{Handler: rp})
	resp, err := http.Post("http://"+addr+"/x", "text/plain", strings.NewReader(strings.Repeat("b", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "/x "+strings.Repeat("b", 100000) {
		t.Fatalf("proxied: %d bytes", len(b))
	}
	c, br := dial(t, addr)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "ping\n")
	if line, _ := br.ReadString('\n'); line != "up:ping\n" {
		t.Fatalf("got %q", line)
	}
}

// A pipelined request head already begun must still arrive within ReadHeaderTimeout.
func TestPipelinedHeadDeadline(t *testing.T) {
	addr := start(t, &Server{Handler: echo, ReadHeaderTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHo")
	start := time.Now()
	readResp(t, br, "GET")
	rest, err := io.ReadAll(br) // whatever the server says, it must then close
	if err != nil || time.Since(start) > 3*time.Second {
		t.Fatalf("partial pipelined head: %v after %v (%q), want the connection closed at ~200ms", err, time.Since(start), rest)
	}
	t.Logf("after the timeout: %q", rest)
}

// The request's context ends when ServeHTTP returns, before the response is finished
// (the unread body drained, the buffer flushed).
func TestContextEndsWithHandler(t *testing.T) {
	ctxc := make(chan context.Context, 1)
	addr := start(t, &Server{ReadHeaderTimeout: 2 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxc <- r.Context()
	})})
	c, _ := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc") // the rest never comes
	ctx := <-ctxc
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("context still live a second after the handler returned")
	}
}

// A byte the client-gone watch read before a Hijack reaches the hijacker.
func TestHijackKeepsWatchedByte(t *testing.T) {
	got := make(chan string, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(watchAfter + 300*time.Millisecond) // long enough for the watch to read
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 3)
		_, err = io.ReadFull(brw, b)
		got <- string(b) + fmt.Sprint(err)
	})})
	c, _ := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(watchAfter + 100*time.Millisecond)
	io.WriteString(c, "XYZ")
	if s := <-got; s != "XYZ<nil>" {
		t.Fatalf("hijacker read %q, want XYZ", s)
	}
}

// Expect: 100-continue through ReverseProxy over http.Transport: the transport's writer
// reads the body (an automatic 100) while its reader relays the upstream's 100 (the
// handler's WriteHeader(100)) on another goroutine. One 100 goes out, and no race.
func TestExpectContinueThroughProxy(t *testing.T) {
	up := start(t, &Server{Handler: echo})
	tr := &http.Transport{ExpectContinueTimeout: time.Second}
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", up
	}}
	addr := start(t, &Server{Handler: rp})
	for range 20 {
		c, br := dial(t, addr)
		io.WriteString(c, "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("first line %q %v", line, err)
		}
		br.ReadString('\n')
		io.WriteString(c, "hello")
		rest, _ := io.ReadAll(br)
		if n := strings.Count(string(rest), "100 Continue"); n != 0 || !strings.Contains(string(rest), `body="hello"`) {
			t.Fatalf("after the first 100: %d more, %q", n, rest)
		}
	}
}

// A body a handler's goroutine reads after the handler returned is over: it cannot read
// the next request's body (or, once the connection is closed, another connection's).
func TestBodyReadAfterHandler(t *testing.T) {
	late := make(chan string, 1)
	second := make(chan string, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1" {
			body := r.Body
			go func() {
				time.Sleep(150 * time.Millisecond)
				b := make([]byte, 64)
				n, err := body.Read(b)
				late <- fmt.Sprintf("%q %v", b[:n], err)
			}()
			return
		}
		b, _ := io.ReadAll(r.Body)
		second <- string(b)
	})})
	c, br := dial(t, addr)
	// Request 1's body is drained by the server; request 2 follows on the connection.
	io.WriteString(c, "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nAAAAA")
	readResp(t, br, "POST")
	io.WriteString(c, "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")
	time.Sleep(300 * time.Millisecond) // the late read happens while request 2 waits for its body
	io.WriteString(c, "BBBBB")
	if got := <-late; !strings.Contains(got, http.ErrBodyReadAfterClose.Error()) {
		t.Fatalf("late read of request 1's body: %s", got)
	}
	select {
	case got := <-second:
		if got != "BBBBB" {
			t.Fatalf("request 2's body: %q", got)
		}
	case <-time.After(2 * time.Second):
		// The connection was closed instead: also fine, nothing was mixed.
	}
}

// Timeouts hold while Shutdown drains: a client that sent half a head is closed at
// ReadHeaderTimeout, not at the end of Shutdown's context.
func TestShutdownKeepsTimeouts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: echo, ReadHeaderTimeout: 200 * time.Millisecond}
	go s.Serve(l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost:")
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := s.Shutdown(ctx); err != nil || time.Since(t0) > 2*time.Second {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(t0))
	}
}

// A Content-Length set after WriteHeader or Write does not reach the head beside the
// framing this server chose, and announced trailers stay out of the head.
func TestLateHeadersDoNotFrame(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "hello")
			w.Header().Set("Content-Length", "100")
		case "/big":
			w.WriteHeader(200)
			w.Write(bytes.Repeat([]byte("x"), 3000))
			w.Header().Set("Content-Length", "3000")
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			w.WriteHeader(200)
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		}
	})})
	for _, path := range []string{"/small", "/big", "/trailer"} {
		c, br := dial(t, addr)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		raw, _ := io.ReadAll(br)
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		if n := strings.Count(head, "Content-Length:") + strings.Count(head, "Transfer-Encoding:"); n != 1 {
			t.Errorf("%s: %d framing headers in\n%s", path, n, head)
		}
		if strings.Contains(head, "X-Sum:") || strings.Contains(head, "Content-Length: 100") {
			t.Errorf("%s: late value in the head\n%s", path, head)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.ReadAll(resp.Body)
		if path == "/trailer" && resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("trailer: %v", resp.Trailer)
		}
	}
}

// A handler that refuses a large upload without reading it is answered at once: the
// rest is too big to drain, so the connection closes instead.
func TestRefuseLargeUploadAtOnce(t *testing.T) {
	addr := start(t, &Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})})
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\nabc")
	t0 := time.Now()
	resp, _ := readResp(t, br, "POST")
	if resp.StatusCode != 401 || !resp.Close || time.Since(t0) > time.Second {
		t.Fatalf("got %d close=%v after %v", resp.StatusCode, resp.Close, time.Since(t0))
	}
}

// A client that pipelined part of its next request and then left still cancels the
// running request's context.
func TestClientGoneWithPipelinedBytes(t *testing.T) {
	done := make(chan error, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			done <- nil
		case <-time.After(3 * time.Second):
			done <- errors.New("context not cancelled")
		}
	})})
	c, _ := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\nG")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
