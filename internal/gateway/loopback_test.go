package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/h1server"
)

// rawOrigin answers every request on every connection with the same small response, as
// the benchmark's nginx `return 200` does, without a Go HTTP server's own cost.
func rawOrigin(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nServer: raw\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Heads only: the benchmark's requests carry no body.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// h1Gateway serves, on a loopback port behind h1server (the proxy listener's default
// server), a gateway with one published API at / whose target is origin; its address.
func h1Gateway(tb testing.TB, origin string) string {
	tb.Helper()
	g := New(Options{Recorder: nopRecorder{}})
	tb.Cleanup(func() { g.Close() })
	if err := g.Swap(1, []*gatehouse.API{api("up", "/", nil, gatehouse.StatePublished, origin)}); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &h1server.Server{Handler: g}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// BenchmarkLoopbackH1 is the whole proxy path in one process, over real loopback sockets:
// a keep-alive client, h1server, the gateway with its real upstream pool, and a raw
// origin. Its allocations per request are the proxy's own (the client and origin
// allocate nothing per request); with -cpuprofile it shows where user time goes.
//
//	go test -run '^$' -bench LoopbackH1 -benchmem ./internal/gateway/
func BenchmarkLoopbackH1(b *testing.B) {
	addr := h1Gateway(b, "http://"+rawOrigin(b))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /items/1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	// The first response tells the length of every response (they are all the same but
	// for the Date and X-Request-Id values, which have fixed widths).
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(first.Body)
	if first.StatusCode != 200 || !bytes.Equal(body, []byte("hello\n")) {
		b.Fatalf("first response: %d %q", first.StatusCode, body)
	}
	var head bytes.Buffer
	first.Header.Write(&head)
	size := len("HTTP/1.1 200 OK\r\n") + head.Len() + 2 + len(body)
	buf := make([]byte, size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			b.Fatal(err)
		}
		if !bytes.HasSuffix(buf, body) {
			b.Fatalf("response %q", buf)
		}
	}
}
