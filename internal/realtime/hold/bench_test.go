package hold

import (
	"bytes"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// streamClients opens n held streams on channel ch over loopback and returns the
// connections once every session is subscribed. The head is read with a small buffer
// so the test side stays cheap too.
func streamClients(tb testing.TB, e *env, ch string, n int) []net.Conn {
	tb.Helper()
	addr := e.srv.Listener.Addr().String()
	req := []byte("GET /s HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	conns := make([]net.Conn, 0, n)
	var buf [512]byte
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			tb.Fatal(err)
		}
		// Read up to the end of the first chunk ("x\r\n") so the hold is established.
		var got []byte
		for !bytes.HasSuffix(got, []byte("1\r\n#\r\n")) {
			k, err := c.Read(buf[:])
			if err != nil {
				tb.Fatal(err)
			}
			got = append(got, buf[:k]...)
		}
		conns = append(conns, c)
	}
	waitFor(e.t, "subscribers", func() bool { return e.subscribers(ch) == n })
	return conns
}

func benchUp(ch string) func(*http.Request) *Upstream {
	return func(*http.Request) *Upstream {
		return &Upstream{Status: 200, Header: hdr("Content-Type", "text/event-stream", "Grip-Hold", "stream", "Grip-Channel", ch), Body: []byte("#")}
	}
}

// TestHeapPerSession measures what a held SSE stream costs this process: heap and
// goroutine stacks, server side plus the (cheap) client socket in the same process.
func TestHeapPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of sockets")
	}
	n := 2000
	if raceEnabled {
		n = 200 // the race detector multiplies memory; the figure is meaningless there
	}
	e := newEnv(t, envOpts{})
	e.up = benchUp("mem")
	// Warm up (pool goroutines, listener, maps) before the baseline.
	for _, c := range streamClients(t, e, "mem", 10) {
		c.Close()
	}
	e.waitIdle()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := streamClients(t, e, "mem", n)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	t.Logf("%d held SSE sessions: %.0f B heap + %.0f B stacks per session (incl. the in-process client socket); goroutines %d",
		n, heap/float64(n), stack/float64(n), runtime.NumGoroutine())
	if st := e.h.Stats(); st.HeldStream != int64(n) {
		t.Fatalf("held %d", st.HeldStream)
	}
	for _, c := range conns {
		c.Close()
	}
	e.waitIdle()
	runtime.KeepAlive(conns)
}

// BenchmarkDeliver fans one publish out to 1000 held streams over loopback and waits
// until every client has read it.
func BenchmarkDeliver(b *testing.B) {
	const n = 1000
	e := newEnv(b, envOpts{})
	e.up = benchUp("bench")
	conns := streamClients(b, e, "bench", n)
	var got, target atomic.Int64
	done := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for {
				k, err := c.Read(buf)
				if m := int64(bytes.Count(buf[:k], []byte("@"))); m > 0 && got.Add(m) == target.Load() {
					done <- struct{}{}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	item := streamItem("bench", "data: @\n\n")
	for i := 0; b.Loop(); i++ {
		target.Store(int64(i+1) * n)
		e.publish(item)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("only %d of %d deliveries", got.Load(), target.Load())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/delivery")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
