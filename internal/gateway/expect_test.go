package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestExpectContinueUploadRefusedUpstream: curl sends Expect: 100-continue with uploads
// over 1 MiB. The gateway answers the expectation itself (100 once the body is read) and
// does not forward it; an upstream that refuses the upload part-way (413, then a reset,
// as net/http's server does) must reach the client as that 413, every time, not a 502.
func TestExpectContinueUploadRefusedUpstream(t *testing.T) {
	sawExpect := make(chan string, 16)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawExpect <- r.Header.Get("Expect")
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	t.Cleanup(origin.Close)
	addr := h1Gateway(t, origin.URL)

	const size = 20 << 20
	for i := 0; i < 6; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		io.WriteString(c, "PUT /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 20971520\r\nExpect: 100-continue\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusContinue {
			t.Fatalf("upload %d: want 100 Continue first, got %v %v", i, resp, err)
		}
		go func() { // the client sends on while the answer comes, as curl does
			chunk := []byte(strings.Repeat("x", 64<<10))
			for n := 0; n < size; n += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("upload %d: %d %s; want the upstream's 413", i, resp.StatusCode, body)
		}
		if e := <-sawExpect; e != "" {
			t.Errorf("upload %d: the upstream saw Expect: %q", i, e)
		}
	}
}
