package h1server

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// FuzzServe sends the same bytes to this server and to net/http's, both running the
// echo handler, and wants the same sequence of status lines back: whatever a client
// sends, this server frames, answers and refuses requests as net/http does (and does
// not panic: a panic outside the handler would crash the fuzzer).
//
//	go test -run '^$' -fuzz FuzzServe ./internal/h1server/
func FuzzServe(f *testing.F) {
	for _, s := range sameAsNetHTTPCases {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + string(bytes.Repeat([]byte("a"), 2000)) + "\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	both := fuzzBoth(f, echo)
	f.Fuzz(func(t *testing.T, in []byte) {
		got, want := both(t, in)
		if g, w := statusSeq(got), statusSeq(want); g != w {
			t.Fatalf("request %q\n ours:     %q\n net/http: %q\n full ours: %q", in, g, w, got)
		}
	})
}

// fuzzBoth serves h on this server and on net/http's, configured alike, and returns a
// function that sends the same raw bytes to both at once and returns both answers.
func fuzzBoth(f *testing.F, h http.Handler) func(t *testing.T, in []byte) (ours, std []byte) {
	oursAddr := fuzzServer(f, func(l net.Listener) func() error {
		s := &Server{Handler: h, MaxHeaderBytes: 4096, ReadTimeout: 5 * time.Second}
		go s.Serve(l)
		return s.Close
	})
	stdAddr := fuzzServer(f, func(l net.Listener) func() error {
		s := &http.Server{Handler: h, MaxHeaderBytes: 4096, ReadTimeout: 5 * time.Second}
		go s.Serve(l)
		return s.Close
	})
	return func(t *testing.T, in []byte) (ours, std []byte) {
		var wg sync.WaitGroup
		wg.Go(func() { ours = roundTripRaw(t, oursAddr, in) })
		wg.Go(func() { std = roundTripRaw(t, stdAddr, in) })
		wg.Wait()
		return ours, std
	}
}

func fuzzServer(f *testing.F, serve func(net.Listener) func() error) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	stop := serve(l)
	f.Cleanup(func() { _ = stop() })
	return l.Addr().String()
}

// roundTripRaw writes in, ends the client's side of the connection and returns all the
// server sent back.
func roundTripRaw(t *testing.T, addr string, in []byte) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = c.Write(in)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	out, _ := io.ReadAll(c)
	return out
}

// statusSeq lists the status lines in a response stream. Bodies cannot fake one: the
// echo handler quotes what it prints, and no line of it begins with "HTTP/".
func statusSeq(b []byte) string {
	var out []byte
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("HTTP/1.")) && len(line) >= 12 {
			out = append(out, line[:12]...)
			out = append(out, '|')
		}
	}
	return string(out)
}
