package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestH1CancelMidResponse(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	h1 := newTestH1(t, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	req := proxied("GET", srv.URL+"/", nil).WithContext(ctx)
	resp, err := h1.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, _ := resp.Body.Read(buf)
	if string(buf[:n]) != "first part" {
		t.Fatalf("read %q", buf[:n])
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	began := time.Now()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) || time.Since(began) > time.Second {
		t.Errorf("error %v after %s; want context.Canceled at once", err, time.Since(began))
	}
	if n := h1.idleCount(srv.Listener.Addr().String()); n != 0 {
		t.Errorf("a cancelled connection went back to the pool")
	}
}

func TestH1ResponseTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	h1 := newTestH1(t, 100*time.Millisecond)
	for _, body := range []io.Reader{nil, strings.NewReader(strings.Repeat("b", 1<<20))} {
		began := time.Now()
		_, err := h1.RoundTrip(proxied("PUT", srv.URL+"/", body))
		if !IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v; want the response timeout", err)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("took %s", took)
		}
	}
	// The request's deadline reads as such.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	h1 = newTestH1(t, time.Minute)
	if _, err := h1.RoundTrip(proxied("GET", srv.URL+"/", nil).WithContext(ctx)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v; want context.DeadlineExceeded", err)
	}
}

func TestH1Errors(t *testing.T) {
	h1 := newTestH1(t, time.Second)
	_, err := h1.RoundTrip(proxied("GET", deadURL(t)+"/", nil))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !retriableErr("POST", err) {
		t.Errorf("refused: %v; want a dial error", err)
	}

	// A request body that fails (the client's MaxBytesReader) surfaces as itself.
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	tooBig := &http.MaxBytesError{Limit: 10}
	for _, n := range []int64{100, 1 << 20, -1} {
		req := proxied("POST", srv.URL+"/", io.MultiReader(strings.NewReader("0123456789"), errReader{tooBig}))
		req.ContentLength = n
		_, err := h1.RoundTrip(req)
		if !errors.Is(err, tooBig) {
			t.Errorf("length %d: error %v; want the body's", n, err)
		}
	}
	// A body shorter than announced.
	req := proxied("POST", srv.URL+"/", strings.NewReader("short"))
	req.ContentLength = 10
	if _, err := h1.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "ContentLength=10 with Body length 5") {
		t.Errorf("error %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestH1EarlyResponse: an upstream that refuses a large upload before reading it.
func TestH1EarlyResponse(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	h1 := newTestH1(t, 5*time.Second)
	for _, n := range []int64{32 << 20, -1} {
		req := proxied("POST", srv.URL+"/", io.LimitReader(zeros{}, 32<<20))
		req.ContentLength = n
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Logf("length %d: %v (the upstream reset before its answer was read)", n, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("length %d: %d; want 413", n, resp.StatusCode)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestH1Fallback(t *testing.T) {
	srv, _ := countingServer(t, echo("o"))
	h1 := newTestH1(t, time.Second)
	addr := srv.Listener.Addr().String()
	for name, req := range map[string]*http.Request{
		"expect": func() *http.Request {
			r := proxied("PUT", srv.URL+"/", strings.NewReader("x"))
			r.Header.Set("Expect", "100-continue")
			return r
		}(),
		"trailer": func() *http.Request {
			r := proxied("GET", srv.URL+"/", nil)
			r.Trailer = http.Header{"X": nil}
			return r
		}(),
		"zone": func() *http.Request { r := proxied("GET", srv.URL+"/", nil); r.Host = "[fe80::1%25eth0]"; return r }(),
		"get body": func() *http.Request {
			r := proxied("GET", srv.URL+"/", strings.NewReader(""))
			r.ContentLength = -1
			return r
		}(),
	} {
		resp, _ := roundTrip(t, h1, req)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
		if n := h1.idleCount(addr); n != 0 {
			t.Errorf("%s: went the lean way", name)
		}
	}
	// Invalid header values get http.Transport's error.
	req := proxied("GET", srv.URL+"/", nil)
	req.Header.Set("X-Bad", "a\x00b")
	if _, err := h1.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid header field value") {
		t.Errorf("error %v", err)
	}
}

func TestH1Concurrent(t *testing.T) {
	srv, conns := countingServer(t, echo("o"))
	h1 := newTestH1(t, 5*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				path := fmt.Sprintf("/%d/%d", g, i)
				var body io.Reader
				if i%5 == 0 {
					body = strings.NewReader(path)
				}
				resp, err := h1.RoundTrip(proxied("POST", srv.URL+path, body))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("%s: %q, %v", path, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > 64 {
		t.Errorf("%d connections for 64 concurrent clients", n)
	}
}

// TestH1Streaming moves 100 MiB each way and checks that memory does not grow with it.
func TestH1Streaming(t *testing.T) {
	const size = 100 << 20
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.Copy(w, io.LimitReader(zeros{}, size))
	}))
	h1 := newTestH1(t, 5*time.Second)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	resp, err := h1.RoundTrip(proxied("GET", srv.URL+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("downloaded %d, %v", n, err)
	}
	for _, length := range []int64{size, -1} {
		req := proxied("PUT", srv.URL+"/", io.LimitReader(zeros{}, size))
		req.ContentLength = length
		if resp, body := roundTrip(t, h1, req); resp.StatusCode != 200 || body != fmt.Sprint(size) {
			t.Fatalf("upload (length %d): %d %q", length, resp.StatusCode, body)
		}
	}
	runtime.ReadMemStats(&after)
	// The server side copies allocate too; a buffered body would be 100 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MiB to move 300 MiB", grew>>20)
	}
}

func BenchmarkTransportRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		rt   func() http.RoundTripper
	}{
		{"lean", func() http.RoundTripper {
			return newH1Transport(newTransport(nil, time.Second, time.Minute), time.Second, time.Minute)
		}},
		{"http.Transport", func() http.RoundTripper { return newTransport(nil, time.Second, time.Minute) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := tc.rt()
			defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			req := proxied("GET", srv.URL+"/", nil)
			req.Header.Set("X-Forwarded-For", "127.0.0.1")
			req.Header.Set("Accept", "*/*")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestH1CancelWaitingForHead: with no response timeout, the cancellation hook (armed
// only once the read of the head would wait) is what ends a request to a silent upstream,
// whether the context ends before that wait begins or during it.
func TestH1CancelWaitingForHead(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/now" {
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	h1 := newTestH1(t, 0)
	for _, after := range []time.Duration{0, 30 * time.Millisecond} {
		// A pooled connection, so that the context's end cannot land in a dial.
		resp, err := h1.RoundTrip(proxied("GET", srv.URL+"/now", nil))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			// Cancelled between the check at the start and the first wait: the hook
			// must fire at once when armed on an ended context.
			req := proxied("GET", srv.URL+"/", nil).WithContext(&lateDone{Context: ctx, cancel: cancel})
			began := time.Now()
			_, err = h1.RoundTrip(req)
			if !errors.Is(err, context.Canceled) || time.Since(began) > time.Second {
				t.Errorf("cancelled before the wait: error %v after %s", err, time.Since(began))
			}
			continue
		}
		time.AfterFunc(after, cancel)
		began := time.Now()
		_, err = h1.RoundTrip(proxied("GET", srv.URL+"/", nil).WithContext(ctx))
		if !errors.Is(err, context.Canceled) || time.Since(began) > time.Second {
			t.Errorf("cancelled during the wait: error %v after %s", err, time.Since(began))
		}
		if n := h1.idleCount(srv.Listener.Addr().String()); n != 0 {
			t.Errorf("a cancelled connection went back to the pool")
		}
	}
}

// lateDone is a context whose cancellation happens the first time anyone asks for its
// Done channel after its Err was checked: after RoundTrip's start-of-request check.
type lateDone struct {
	context.Context
	cancel context.CancelFunc
	errs   atomic.Int32
}

func (c *lateDone) Err() error {
	c.errs.Add(1)
	return c.Context.Err()
}

func (c *lateDone) Done() <-chan struct{} {
	if c.errs.Load() > 0 {
		c.cancel()
	}
	return c.Context.Done()
}
