package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func TestRequestRewriting(t *testing.T) {
	srv := origin(t, "o")
	tests := []struct {
		name     string
		base     string // appended to the server URL
		path     string // the outgoing request's path (as ReverseProxy left it)
		preserve bool
		wantURI  string
		wantRaw  string
		wantHost string // "" means the target's host
	}{
		{"no base path", "", "/x?q=1", false, "/x?q=1", "", ""},
		{"root base path", "/", "/x", false, "/x", "", ""},
		{"base path", "/base", "/x/y?q=1&r=2", false, "/base/x/y?q=1&r=2", "", ""},
		{"base path with slash", "/base/", "/x", false, "/base/x", "", ""},
		{"encoded slash kept", "", "/a%2Fb", false, "/a%2Fb", "/a%2Fb", ""},
		{"base path and encoded slash", "/base", "/a%2Fb/c", false, "/base/a%2Fb/c", "/base/a%2Fb/c", ""},
		{"encoded base path", "/b%2Fc", "/x", false, "/b%2Fc/x", "/b%2Fc/x", ""},
		{"preserve host", "/base", "/x", true, "/base/x", "", "client.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamOf("", srv.URL+tt.base)
			u.PreserveHost = tt.preserve
			p := newTestPool(t, u, Options{})
			req := outReq(context.Background(), "GET", tt.path)
			orig := *req.URL
			resp, err := p.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.wantURI {
				t.Errorf("upstream saw %q; want %q", b, tt.wantURI)
			}
			if got := resp.Header.Get("X-Raw-Path"); got != tt.wantRaw {
				t.Errorf("upstream RawPath %q; want %q", got, tt.wantRaw)
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = strings.TrimPrefix(srv.URL, "http://")
			}
			if got := resp.Header.Get("X-Host"); got != wantHost {
				t.Errorf("Host %q; want %q", got, wantHost)
			}
			if *req.URL != orig || req.Host != "client.example" {
				t.Errorf("RoundTrip modified its request: %v %q", req.URL, req.Host)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	var okHits, failHits atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		okHits.Add(1)
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "ok "+string(b))
	}))
	t.Cleanup(ok.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "try later")
	}))
	t.Cleanup(unavailable.Close)

	body := func(s string) func(*http.Request) {
		return func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(s))
			r.ContentLength = int64(len(s))
		}
	}
	replayableBody := func(s string) func(*http.Request) {
		return func(r *http.Request) {
			body(s)(r)
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
		}
	}
	dead := deadURL(t)
	tests := []struct {
		name    string
		first   string // the target tried first
		second  string
		retries int
		method  string
		setup   func(*http.Request)
		want    int    // status; 0 means an error
		wantOK  int64  // requests that reached ok
		wantErr string // in the error
	}{
		{"refused GET goes to the other target", dead, ok.URL, 1, "GET", nil, 200, 1, ""},
		{"refused DELETE retried", dead, ok.URL, 1, "DELETE", nil, 200, 1, ""},
		{"503 GET retried elsewhere", unavailable.URL, ok.URL, 1, "GET", nil, 200, 1, ""},
		{"PUT with replayable body retried", dead, ok.URL, 1, "PUT", replayableBody("data"), 200, 1, ""},
		{"no retries configured", dead, ok.URL, 0, "GET", nil, 0, 0, "connect"},
		{"POST never retried", dead, ok.URL, 3, "POST", nil, 0, 0, "connect"},
		{"PATCH never retried", unavailable.URL, ok.URL, 3, "PATCH", nil, 503, 0, ""},
		{"PUT with one-shot body not retried", dead, ok.URL, 1, "PUT", body("data"), 0, 0, "connect"},
		{"retries used up: last response returned", unavailable.URL, unavailable.URL + "/", 2, "GET", nil, 503, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			okHits.Store(0)
			u := upstreamOf("", tt.first, tt.second)
			u.Retries = tt.retries
			p := newTestPool(t, u, Options{})
			req := outReq(context.Background(), tt.method, "/r")
			if tt.setup != nil {
				tt.setup(req)
			}
			code, b, err := get(p, req)
			if code != tt.want {
				t.Fatalf("status %d (%q, %v); want %d", code, b, err, tt.want)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v; want one mentioning %q", err, tt.wantErr)
			}
			if err != nil && IsTimeout(err) {
				t.Errorf("refused classified as timeout: %v", err)
			}
			if okHits.Load() != tt.wantOK {
				t.Errorf("ok target got %d requests; want %d", okHits.Load(), tt.wantOK)
			}
			if code == 200 && tt.setup != nil && b != "ok data" {
				t.Errorf("replayed body %q; want %q", b, "ok data")
			}
			if code == 503 && b != "try later" {
				t.Errorf("last response body %q; want it intact", b)
			}
		})
	}
}

func TestNoRetryAfterContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fn := newFakeNet()
	fn.set("a", func(r *http.Request) (*http.Response, error) {
		cancel() // the client goes away while the first attempt fails
		return nil, refused()
	})
	fn.set("b", status(200))
	u := upstreamOf("", "http://a", "http://b")
	u.Retries = 2
	p := newTestPool(t, u, Options{Transport: fn})
	if _, _, err := get(p, outReq(ctx, "GET", "/")); err == nil {
		t.Fatal("want the first attempt's error")
	}
	if n := fn.hitsOf("b"); n != 0 {
		t.Errorf("retried %d times after the context ended", n)
	}
	// A client that went away says nothing about the target.
	if n := p.targets[0].failures.Load(); n != 0 {
		t.Errorf("client cancellation counted as %d failures", n)
	}
}

func TestTimeouts(t *testing.T) {
	hang := make(chan struct{})
	var hits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hang) })

	for _, tc := range []struct {
		method string
		want   int64 // attempts
	}{{"GET", 2}, {"DELETE", 1}} {
		t.Run(tc.method, func(t *testing.T) {
			hits.Store(0)
			u := upstreamOf("", slow.URL, slow.URL+"/")
			u.ResponseTimeout = gatehouse.Duration(100 * time.Millisecond)
			u.Retries = 1
			p := newTestPool(t, u, Options{})
			began := time.Now()
			_, _, err := get(p, outReq(context.Background(), tc.method, "/"))
			if !IsTimeout(err) {
				t.Fatalf("error %v; want a timeout", err)
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("took %s", took)
			}
			if hits.Load() != tc.want {
				t.Errorf("%d attempts; want %d (timeouts are retried for GET and HEAD only)", hits.Load(), tc.want)
			}
			if p.targets[0].failures.Load() != 1 {
				t.Errorf("a timeout must count for passive health")
			}
		})
	}

	// The request's own deadline is a timeout too.
	p := newTestPool(t, upstreamOf("", slow.URL), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := get(p, outReq(ctx, "GET", "/")); !IsTimeout(err) {
		t.Errorf("deadline: error %v; want a timeout", err)
	}
}

func TestIsTimeout(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.DeadlineExceeded, true},
		{errors.Join(errors.New("x"), context.DeadlineExceeded), true},
		{ErrNoHealthyUpstream, false},
		{refused(), false},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := IsTimeout(tt.err); got != tt.want {
			t.Errorf("IsTimeout(%v) = %t; want %t", tt.err, got, tt.want)
		}
	}
}

func TestNoHealthyUpstream(t *testing.T) {
	tests := []struct {
		name  string
		setup func(p *Pool)
	}{
		{"all weight 0", func(p *Pool) {}},
		{"all marked down", func(p *Pool) {
			for _, t := range p.targets {
				t.down.Store(true)
			}
		}},
		{"all ejected", func(p *Pool) {
			for _, t := range p.targets {
				t.ejectedUntil.Store(p.now().Add(time.Hour).UnixNano())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamOf("", "http://a", "http://b")
			if tt.name == "all weight 0" {
				u = withWeights(u, 0, 0)
			}
			fn := newFakeNet()
			p := newTestPool(t, u, Options{Transport: fn})
			tt.setup(p)
			_, _, err := get(p, outReq(context.Background(), "GET", "/"))
			if !errors.Is(err, ErrNoHealthyUpstream) || IsTimeout(err) {
				t.Fatalf("error %v; want ErrNoHealthyUpstream", err)
			}
			if fn.hitsOf("a")+fn.hitsOf("b") != 0 {
				t.Error("a request reached a target that is out of rotation (no panic mode)")
			}
		})
	}
}

func TestInFlightFollowsBody(t *testing.T) {
	srv := origin(t, "o")
	p := newTestPool(t, upstreamOf(gatehouse.BalanceLeastConn, srv.URL), Options{})
	resp, err := p.RoundTrip(outReq(context.Background(), "GET", "/"))
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Targets()[0].InFlight; n != 1 {
		t.Errorf("in flight while the body is open: %d; want 1", n)
	}
	resp.Body.Close()
	resp.Body.Close()
	if n := p.Targets()[0].InFlight; n != 0 {
		t.Errorf("in flight after close: %d; want 0", n)
	}
}

// rwc is an upgraded connection's body: it records what is written.
type rwc struct{ written bytes.Buffer }

func (*rwc) Read([]byte) (int, error)      { return 0, io.EOF }
func (*rwc) Close() error                  { return nil }
func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }

func TestUpgradeBodyStaysWritable(t *testing.T) {
	conn := &rwc{}
	fn := newFakeNet()
	fn.set("a", func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: http.Header{}, Body: conn}, nil
	})
	p := newTestPool(t, upstreamOf("", "http://a"), Options{Transport: fn})
	resp, err := p.RoundTrip(outReq(context.Background(), "GET", "/ws"))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatal("101 body is not an io.ReadWriteCloser; ReverseProxy could not relay the upgrade")
	}
	io.WriteString(w, "frame")
	w.Close()
	if conn.written.String() != "frame" || p.Targets()[0].InFlight != 0 {
		t.Errorf("wrote %q, in flight %d", conn.written.String(), p.Targets()[0].InFlight)
	}
}

func TestNewPoolErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  gatehouse.Upstream
		want string
	}{
		{"bad url", upstreamOf("", "ftp://x"), `target "ftp://x"`},
		{"relative url", upstreamOf("", "/x"), `target "/x"`},
		{"balancing", upstreamOf("random", "http://a"), `unknown balancing "random"`},
		{"hash_on", gatehouse.Upstream{Balancing: "hash", HashOn: "cookie:x", Targets: []gatehouse.Target{{URL: "http://a"}}}, `hash_on "cookie:x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPool("api", tt.cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	p, err := NewPool("bench", upstreamOf("", srv.URL+"/base", srv.URL+"/base"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := outReq(context.Background(), "GET", "/x")
		for pb.Next() {
			resp, err := p.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestRetryLeavesTheHashedTarget: hashing would send the retry straight back to the
// target that failed; the retry must go elsewhere.
func TestRetryLeavesTheHashedTarget(t *testing.T) {
	fn := newFakeNet()
	fn.set("b", status(200))
	fn.set("c", status(200)) // a refuses
	u := upstreamOf(gatehouse.BalanceHash, "http://a", "http://b", "http://c")
	u.HashOn = "header:X-User"
	u.Retries = 1
	u.RetryBudget = 100
	u.Passive = &gatehouse.PassiveCheck{Failures: 1000}
	p := newTestPool(t, u, Options{Transport: fn})
	for i := range 300 {
		req := outReq(context.Background(), "GET", "/")
		req.Header.Set("X-User", strings.Repeat("u", i%7)+string(rune('a'+i%26)))
		if code, _, err := get(p, req); code != 200 {
			t.Fatalf("key %q: %d %v", req.Header.Get("X-User"), code, err)
		}
	}
	if fn.hitsOf("a") == 0 {
		t.Fatal("no key hashed to a; the test proves nothing")
	}
}
