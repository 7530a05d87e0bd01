package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestNoLeaks drives many misbehaving connections through the server and checks
// goroutines and file descriptors come back to where they were.
func TestNoLeaks(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(300 * time.Millisecond):
			}
			w.Write([]byte("slow"))
		case "/panic":
			panic("boom")
		case "/abort":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/hijack":
			c, brw, err := w.(http.Hijacker).Hijack()
			if err == nil {
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
				brw.Flush()
				io.Copy(io.Discard, brw)
				c.Close()
			}
		case "/halfread":
			buf := make([]byte, 10)
			r.Body.Read(buf)
			go func() { io.Copy(io.Discard, r.Body) }() // left behind
			w.Write([]byte("x"))
		case "/big":
			w.Write(make([]byte, 1<<20))
		default:
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("ok"))
		}
	})
	s := &Server{Handler: h, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
	addr := start(t, s)
	warm := func() {
		c, _ := net.Dial("tcp", addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
	}
	warm()
	time.Sleep(500 * time.Millisecond)
	g0, f0 := runtime.NumGoroutine(), countFDs()

	scenarios := []func(){
		func() { // connect and close
			c, _ := net.Dial("tcp", addr)
			c.Close()
		},
		func() { // partial head then close
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHo")
			c.Close()
		},
		func() { // partial head then silence (header timeout)
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
			time.Sleep(600 * time.Millisecond)
			c.Close()
		},
		func() { // body cut short
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
			c.Close()
		},
		func() { // client gone during slow handler
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			c.Close()
		},
		func() { // RST during slow handler
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		},
		func() { // panic
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
			io.Copy(io.Discard, c)
			c.Close()
		},
		func() { // abort
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /abort HTTP/1.1\r\nHost: a\r\n\r\n")
			io.Copy(io.Discard, c)
			c.Close()
		},
		func() { // hijack with buffered bytes after
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nhello")
			time.Sleep(20 * time.Millisecond)
			c.Close()
		},
		func() { // left-behind body reader on a stalled body
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "POST /halfread HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789abc")
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			http.ReadResponse(bufio.NewReader(c), nil)
			time.Sleep(50 * time.Millisecond)
			c.Close()
		},
		func() { // big response, client never reads, closes with RST
			c, _ := net.Dial("tcp", addr)
			c.(*net.TCPConn).SetReadBuffer(4096)
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		},
		func() { // pipelined, then close before reading
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 50))
			c.Close()
		},
		func() { // idle keep-alive then idle timeout
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		},
		func() { // expect continue, never send body
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			c.Close()
		},
		func() { // huge chunk size
			c, _ := net.Dial("tcp", addr)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc")
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		},
	}
	var wg sync.WaitGroup
	for round := 0; round < 4; round++ {
		for _, sc := range scenarios {
			wg.Go(sc)
		}
		wg.Wait()
	}
	deadline := time.Now().Add(5 * time.Second)
	var g1, f1 int
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		g1, f1 = runtime.NumGoroutine(), countFDs()
		if g1 <= g0+1 && f1 <= f0 {
			break
		}
	}
	s.mu.Lock()
	nconns := len(s.conns)
	s.mu.Unlock()
	t.Logf("goroutines %d -> %d, fds %d -> %d, tracked conns %d", g0, g1, f0, f1, nconns)
	if g1 > g0+1 || f1 > f0 || nconns != 0 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("leak: goroutines %d -> %d, fds %d -> %d, conns %d\n%s", g0, g1, f0, f1, nconns, buf[:n])
	}
}
