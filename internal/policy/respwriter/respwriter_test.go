package respwriter

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// hookFunc records each call as an X-Hook response header with the status it saw.
type hookFunc struct{}

func (hookFunc) BeforeHeader(_ *policy.Context, h http.Header, status int) {
	h.Add("X-Hook", strconv.Itoa(status))
}

var wrap = policy.Define("wrap", policy.Transform, "test: wraps the writer",
	func(_ *policy.Env, next policy.Handler, _ *struct{}, _ string) (policy.Handler, error) {
		return policy.HandlerFunc(func(c *policy.Context) error {
			orig := c.W
			w := Wrap(c, hookFunc{})
			if c.W == orig {
				panic("Wrap did not replace c.W")
			}
			err := next.Serve(c)
			w.Finish()
			if c.W != orig {
				panic("Finish did not restore c.W")
			}
			return err
		}), nil
	})

func serve(t *testing.T, up http.Handler) *httptest.Server {
	return policytest.Serve(t, policy.NewRegistry(wrap), &policy.Env{}, []gatehouse.PolicySpec{{Type: "wrap"}}, nil, up)
}

func TestHookRunsOnce(t *testing.T) {
	for _, tt := range []struct {
		name   string
		up     func(w http.ResponseWriter)
		status int
		hook   []string
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(201); w.WriteHeader(202); _, _ = w.Write([]byte("x")) }, 201, []string{"201"}},
		{"Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, 200, []string{"200"}},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush(); _, _ = w.Write([]byte("x")) }, 200, []string{"200"}},
		{"nothing written", func(w http.ResponseWriter) {}, 200, []string{"0"}},
		{"early hints pass through", func(w http.ResponseWriter) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(204)
		}, 204, []string{"204"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tt.up(w) }))
			var mu sync.Mutex
			var informational []int
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
				mu.Lock()
				informational = append(informational, code)
				mu.Unlock()
				return nil
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Values("X-Hook"); !slices.Equal(got, tt.hook) {
				t.Errorf("hook calls %q, want %q", got, tt.hook)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.status == 204 && !slices.Equal(informational, []int{103}) {
				t.Errorf("informational responses %v, want [103]", informational)
			}
		})
	}
}

// TestHijackThroughUnwrap: http.ResponseController finds the server's Hijack behind the
// wrapper, as httputil.ReverseProxy needs for protocol switches.
func TestHijackThroughUnwrap(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nX-Hijacked: yes\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		_ = brw.Flush()
	}))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Hijacked") != "yes" || string(body) != "ok" {
		t.Fatalf("status %d, headers %v, body %q: hijack did not reach the server", resp.StatusCode, resp.Header, body)
	}
}

// TestFlushStreams: bytes flushed through the wrapper reach the client before the
// handler returns.
func TestFlushStreams(t *testing.T) {
	release := make(chan struct{})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			return
		}
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	rest, _ := io.ReadAll(br)
	if !strings.HasPrefix(string(rest), "second") {
		t.Errorf("rest %q", rest)
	}
}

func BenchmarkWrap(b *testing.B) {
	c := &policy.Context{W: httptest.NewRecorder()}
	b.ReportAllocs()
	for b.Loop() {
		w := Wrap(c, nopHook{})
		w.Finish()
	}
}

type nopHook struct{}

func (nopHook) BeforeHeader(*policy.Context, http.Header, int) {}
