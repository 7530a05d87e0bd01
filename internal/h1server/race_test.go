package h1server

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFullDuplexRace: the body is read on another goroutine (with 100 Continue)
// while the handler writes 1xx, flushes and writes; run with -race.
func TestFullDuplexRace(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, r.Body) })
		w.Header().Set("Link", "</x>")
		w.WriteHeader(http.StatusEarlyHints)
		for i := 0; i < 5; i++ {
			w.Write([]byte(strings.Repeat("y", 1000)))
			w.(http.Flusher).Flush()
		}
		wg.Wait()
	})
	addr := start(t, &Server{Handler: h, WriteTimeout: time.Second, ReadTimeout: time.Second})
	for i := 0; i < 50; i++ {
		c, br := dial(t, addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
		go func() {
			time.Sleep(time.Millisecond)
			io.WriteString(c, "3\r\nabc\r\n0\r\n\r\n")
		}()
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode >= 200 {
				break
			}
		}
		c.Close()
	}
}
