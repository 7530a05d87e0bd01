package upstream

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// upstreamOf builds an Upstream over urls; a weight of -1 leaves it unset (default 100).
func upstreamOf(balancing string, urls ...string) gatehouse.Upstream {
	u := gatehouse.Upstream{Balancing: balancing}
	for _, s := range urls {
		u.Targets = append(u.Targets, gatehouse.Target{URL: s})
	}
	return u
}

func withWeights(u gatehouse.Upstream, ws ...int) gatehouse.Upstream {
	for i, w := range ws {
		u.Targets[i].Weight = &w
	}
	return u
}

func newTestPool(t *testing.T, cfg gatehouse.Upstream, opts Options) *Pool {
	t.Helper()
	p, err := NewPool("test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// outReq is a request as ReverseProxy hands it to the Transport: a path, no host yet.
func outReq(ctx context.Context, method, path string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, "http://client.example"+path, nil)
	if err != nil {
		panic(err)
	}
	req.URL.Scheme, req.URL.Host = "", ""
	return req
}

// fakeNet is an in-memory network for testing/synctest bubbles, where real sockets are
// not allowed: each host answers through its handler; an unknown host refuses.
type fakeNet struct {
	mu    sync.Mutex
	hosts map[string]fakeHost
	hits  map[string]int
}

type fakeHost func(*http.Request) (*http.Response, error)

func newFakeNet() *fakeNet {
	return &fakeNet{hosts: map[string]fakeHost{}, hits: map[string]int{}}
}

func (f *fakeNet) set(host string, h fakeHost) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = h
}

func (f *fakeNet) hitsOf(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[host]
}

func (f *fakeNet) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.hits)
}

func (f *fakeNet) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	h := f.hosts[req.URL.Host]
	f.hits[req.URL.Host]++
	f.mu.Unlock()
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if h == nil {
		return nil, refused()
	}
	return h(req)
}

func refused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: syscall.ECONNREFUSED.Error()}}
}

// status answers code with the host in the body.
func status(code int) fakeHost {
	return func(req *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode:    code,
			Header:        http.Header{},
			Body:          io.NopCloser(strings.NewReader(req.URL.Host)),
			ContentLength: int64(len(req.URL.Host)),
			Request:       req,
		}, nil
	}
}

// gate answers 200 once release is closed, or fails with the request's context.
func gate(release <-chan struct{}) fakeHost {
	return func(req *http.Request) (*http.Response, error) {
		select {
		case <-release:
			return status(200)(req)
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// origin is a real upstream that echoes the request line, Host and a name.
func origin(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(echo(name))
	t.Cleanup(s.Close)
	return s
}

func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", name)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Raw-Path", r.URL.RawPath)
		_, _ = io.WriteString(w, r.RequestURI)
	})
}

// deadURL is an address nothing listens on: connections are refused at once.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// get sends a GET through p and returns the status and body, or the error.
func get(p *Pool, req *http.Request) (int, string, error) {
	resp, err := p.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
