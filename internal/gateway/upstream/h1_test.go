package upstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTestH1(t *testing.T, response time.Duration) *h1Transport {
	t.Helper()
	h := newH1Transport(newTransport(nil, 5*time.Second, response), 5*time.Second, response)
	t.Cleanup(h.CloseIdleConnections)
	return h
}

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &n
}

// rawPeer serves each accepted connection with serve, for answers httptest cannot give.
func rawPeer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + l.Addr().String(), &n
}

// readRequest reads one request head and body off a raw connection.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

// proxied is a request as ReverseProxy hands it to the Pool's transport.
func proxied(method, url string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		panic(err)
	}
	req.Header.Set("User-Agent", "")
	return req
}

func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestH1WritesLikeTransport compares the bytes on the wire with http.Transport's.
func TestH1WritesLikeTransport(t *testing.T) {
	got := make(chan []byte, 1)
	url, _ := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			var raw bytes.Buffer
			req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(br, &raw)))
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			got <- raw.Bytes()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	_ = url
	std := newTransport(nil, time.Second, time.Second)
	t.Cleanup(std.CloseIdleConnections)
	h1 := newH1Transport(std, time.Second, time.Second)
	t.Cleanup(h1.CloseIdleConnections)

	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"get", func() *http.Request {
			r := proxied("GET", url+"/a%2Fb/c?q=1&r=%20", nil)
			r.Header.Set("X-Forwarded-For", "10.0.0.1")
			r.Header.Add("Accept", "text/html")
			r.Header.Add("Accept", " */* ")
			r.Header["lower-case"] = []string{"kept as is"}
			r.Header.Set("Connection", "keep-alive")
			return r
		}},
		{"host override and user agent", func() *http.Request {
			r := proxied("GET", url+"/", nil)
			r.Host = "api.example:8443"
			r.Header.Set("User-Agent", "curl/8")
			return r
		}},
		{"post small body", func() *http.Request {
			return proxied("POST", url+"/p", strings.NewReader("hello"))
		}},
		{"post no body", func() *http.Request { return proxied("POST", url+"/p", nil) }},
		{"delete no body", func() *http.Request { return proxied("DELETE", url+"/d", nil) }},
		{"put large body", func() *http.Request {
			return proxied("PUT", url+"/big", strings.NewReader(strings.Repeat("x", 100<<10)))
		}},
		{"post chunked", func() *http.Request {
			r := proxied("POST", url+"/c", io.MultiReader(strings.NewReader("abc"), strings.NewReader("defg")))
			r.ContentLength = -1
			return r
		}},
		{"close", func() *http.Request {
			r := proxied("GET", url+"/close", nil)
			r.Close = true
			return r
		}},
		{"empty path force query", func() *http.Request {
			r := proxied("GET", url, nil)
			r.URL.Path, r.URL.ForceQuery = "", true
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, have []byte
			for i, rt := range []http.RoundTripper{std, h1} {
				resp, body := roundTrip(t, rt, tt.req())
				if resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("got %d %q", resp.StatusCode, body)
				}
				if i == 0 {
					want = <-got
				} else {
					have = <-got
				}
			}
			// http.Transport sends a chunked body in the pieces it read; compare decoded.
			if !bytes.Equal(want, have) && !strings.Contains(tt.name, "chunked") {
				t.Errorf("wire bytes differ\nhttp.Transport: %q\nlean:           %q", want, have)
			}
			if strings.Contains(tt.name, "chunked") {
				w, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader(want)))
				h, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader(have)))
				wb, _ := io.ReadAll(w.Body)
				hb, _ := io.ReadAll(h.Body)
				if string(wb) != string(hb) || fmt.Sprint(w.Header) != fmt.Sprint(h.Header) || !slicesEqual(w.TransferEncoding, h.TransferEncoding) {
					t.Errorf("chunked request differs\nhttp.Transport: %q\nlean:           %q", want, have)
				}
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestH1KeepAlive(t *testing.T) {
	srv, conns := countingServer(t, echo("o"))
	h1 := newTestH1(t, time.Second)
	for i := range 20 {
		method := "GET"
		if i%3 == 1 {
			method = "HEAD"
		}
		resp, body := roundTrip(t, h1, proxied(method, srv.URL+fmt.Sprintf("/%d?x", i), nil))
		if resp.StatusCode != 200 || method == "GET" && body != fmt.Sprintf("/%d?x", i) || method == "HEAD" && body != "" {
			t.Fatalf("%s: %d %q", method, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d connections; want 1", n)
	}
}

func TestH1NoBodyStatuses(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		case "/empty":
			w.Header().Set("Content-Length", "0")
		}
	}))
	h1 := newTestH1(t, time.Second)
	for _, p := range []string{"/204", "/304", "/empty", "/204"} {
		resp, err := h1.RoundTrip(proxied("GET", srv.URL+p, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != http.NoBody {
			t.Errorf("%s: body %T; want http.NoBody", p, resp.Body)
		}
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections; want 1", n)
	}
}

func TestH1ConnectionClose(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bye" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "hi")
	}))
	h1 := newTestH1(t, time.Second)
	addr := srv.Listener.Addr().String()

	req := proxied("GET", srv.URL+"/", nil)
	req.Close = true
	roundTrip(t, h1, req)
	req = proxied("GET", srv.URL+"/", nil)
	req.Header.Set("Connection", "close")
	roundTrip(t, h1, req)
	roundTrip(t, h1, proxied("GET", srv.URL+"/bye", nil))
	if n := h1.idleCount(addr); n != 0 {
		t.Errorf("%d idle connections after Connection: close; want 0", n)
	}
	roundTrip(t, h1, proxied("GET", srv.URL+"/", nil))
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections; want 4", n)
	}
	if n := h1.idleCount(addr); n != 1 {
		t.Errorf("%d idle connections; want 1", n)
	}
}

func TestH1ChunkedBothWays(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
			http.Error(w, "want a chunked request", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		for _, part := range bytes.SplitAfter(b, []byte(" ")) {
			w.Write(part)
			w.(http.Flusher).Flush() // a chunked response
		}
	}))
	h1 := newTestH1(t, time.Second)
	for range 3 {
		pr, pw := io.Pipe()
		go func() {
			for _, s := range []string{"one ", "two ", "three"} {
				pw.Write([]byte(s))
			}
			pw.Close()
		}()
		req := proxied("POST", srv.URL+"/", pr)
		resp, body := roundTrip(t, h1, req)
		if resp.StatusCode != 200 || body != "one two three" || resp.ContentLength != -1 {
			t.Fatalf("got %d %q (length %d)", resp.StatusCode, body, resp.ContentLength)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections; want 1", n)
	}
}

func TestH1CloseDelimited(t *testing.T) {
	url, conns := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
	})
	h1 := newTestH1(t, time.Second)
	for range 2 {
		resp, body := roundTrip(t, h1, proxied("GET", url+"/", nil))
		if body != "until the end" || !resp.Close {
			t.Fatalf("body %q, close %t", body, resp.Close)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2 (a close-delimited body ends its connection)", n)
	}
}

func TestH1Informational(t *testing.T) {
	url, _ := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+
				"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
		}
	})
	h1 := newTestH1(t, time.Second)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprint(code, h.Get("Link")))
		return nil
	}}
	req := proxied("GET", url+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, body := roundTrip(t, h1, req)
	if resp.StatusCode != 200 || body != "done" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if fmt.Sprint(hints) != "[100 103</style.css>; rel=preload]" {
		t.Errorf("1xx relayed: %q", hints)
	}
	// Without a trace as well.
	if resp, body := roundTrip(t, h1, proxied("GET", url+"/", nil)); resp.StatusCode != 200 || body != "done" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestH1UnreadBody(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "small")
	}))
	h1 := newTestH1(t, time.Second)
	addr := srv.Listener.Addr().String()
	for _, path := range []string{"/small", "/small", "/big", "/small"} {
		resp, err := h1.RoundTrip(proxied("GET", srv.URL+path, nil))
		if err != nil {
			t.Fatal(err)
		}
		if path == "/small" {
			time.Sleep(10 * time.Millisecond) // let the whole body arrive
		} else {
			io.ReadFull(resp.Body, make([]byte, 10))
		}
		resp.Body.Close()
		if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("read after close: %d, %v", n, err)
		}
	}
	// The small bodies were drained and their connection kept; the big one was closed.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
	if n := h1.idleCount(addr); n != 1 {
		t.Errorf("%d idle; want 1", n)
	}
}

// TestH1StaleConnection: the peer closes a keep-alive connection after each response, as
// an upstream with a short idle timeout does; the next request must not fail.
func TestH1StaleConnection(t *testing.T) {
	url, conns := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(5 * time.Millisecond) // then close, without saying so
	})
	h1 := newTestH1(t, time.Second)
	for i := range 5 {
		time.Sleep(20 * time.Millisecond)
		resp, body := roundTrip(t, h1, proxied("GET", url+"/", nil))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("%d connections; want 5", n)
	}
	// A small POST is resent only when it is idempotent by its header.
	time.Sleep(20 * time.Millisecond)
	req := proxied("POST", url+"/", strings.NewReader("once"))
	req.Header.Set("Idempotency-Key", "k1")
	if resp, body := roundTrip(t, h1, req); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("idempotent POST: %d %q", resp.StatusCode, body)
	}
}

func TestH1PeerOpen(t *testing.T) {
	url, _ := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		br.ReadByte() // until the client closes
	})
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !peerOpen(nc) {
		t.Error("a fresh connection reads as closed")
	}
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	if peerOpen(nc) {
		t.Error("a connection with unread bytes reads as usable")
	}

	url2, _ := rawPeer(t, func(c net.Conn, br *bufio.Reader) {})
	nc2, err := net.Dial("tcp", strings.TrimPrefix(url2, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	time.Sleep(20 * time.Millisecond)
	if peerOpen(nc2) {
		t.Error("a connection the peer closed reads as open")
	}
}

func TestH1IdleConnectionChecked(t *testing.T) {
	url, conns := rawPeer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h1 := newTestH1(t, time.Second)
	roundTrip(t, h1, proxied("POST", url+"/", nil))
	// Age the idle connection past the check threshold: a POST, which is not resent
	// after a failed read, must still find a working connection.
	h1.mu.Lock()
	for _, h := range h1.hosts {
		for _, c := range h.idle {
			c.idleAt = c.idleAt.Add(-2 * h1CheckIdle)
		}
	}
	h1.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if resp, body := roundTrip(t, h1, proxied("POST", url+"/", nil)); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
}

func TestH1IdleTimeout(t *testing.T) {
	srv, conns := countingServer(t, echo("o"))
	h1 := newTestH1(t, time.Second)
	h1.idleTimeout = 50 * time.Millisecond
	roundTrip(t, h1, proxied("GET", srv.URL+"/", nil))
	addr := srv.Listener.Addr().String()
	deadline := time.Now().Add(2 * time.Second)
	for h1.idleCount(addr) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h1.idleCount(addr); n != 0 {
		t.Errorf("%d idle connections after the idle timeout; want 0", n)
	}
	roundTrip(t, h1, proxied("GET", srv.URL+"/", nil))
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections; want 2", n)
	}
}
