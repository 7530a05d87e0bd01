package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStreamsFlushImmediately: SSE events and chunks reach the client as the upstream
// writes them, not when the response ends.
func TestStreamsFlushImmediately(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return // the readiness probe below
		}
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		fmt.Fprintf(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select { // the rest only after the client proved it got the first part
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "data: second\n\n")
	}))
	t.Cleanup(origin.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "sse", "state": "published", "path": "/sse", "strip_path": true,
		"upstream": map[string]any{"targets": targets(origin.URL)}})
	eventually(t, 5*time.Second, func() error {
		resp, err := http.Head(n.proxy() + "/sse/x")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	for _, path := range []string{"/sse/events", "/sse/chunked"} {
		resp, err := http.Get(n.proxy() + path)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if line != "data: first\n" {
				t.Errorf("%s: first line %q", path, line)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the first event did not arrive while the stream stayed open", path)
		}
		release <- struct{}{}
		rest, _ := io.ReadAll(br)
		resp.Body.Close()
		if !strings.Contains(string(rest), "data: second") {
			t.Errorf("%s: rest %q", path, rest)
		}
	}
}

// TestHealthChecksSteerTraffic: a target failing its active health check gets no traffic;
// when every target is out, the gateway answers 503 no_healthy_upstream; /v1/gateway says so.
func TestHealthChecksSteerTraffic(t *testing.T) {
	t.Parallel()
	var sickHealthy atomic.Bool
	sickHealthy.Store(true)
	var sickServed atomic.Int64
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if !sickHealthy.Load() {
				w.WriteHeader(500)
			}
			return
		}
		sickServed.Add(1)
		io.WriteString(w, "sick")
	}))
	well := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "well") }))
	t.Cleanup(sick.Close)
	t.Cleanup(well.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "hc", "state": "published", "path": "/hc",
		"upstream": map[string]any{"targets": targets(sick.URL, well.URL),
			"health_check": map[string]any{"path": "/health", "interval": "100ms", "timeout": "1s", "unhealthy": 2, "healthy": 2}}})
	waitServed(t, n.proxy()+"/hc", 200)

	sickHealthy.Store(false)
	eventually(t, 5*time.Second, func() error {
		var st struct {
			APIs []struct {
				Name    string
				Targets []struct {
					URL     string
					Healthy bool
				}
			}
		}
		n.call("GET", "/v1/gateway", nil, &st)
		for _, a := range st.APIs {
			for _, tg := range a.Targets {
				if tg.URL == sick.URL && !tg.Healthy {
					return nil
				}
			}
		}
		return fmt.Errorf("the sick target is not reported down yet: %+v", st)
	})
	before := sickServed.Load()
	for range 20 {
		if code, body, err := get(n.proxy() + "/hc"); err != nil || code != 200 || body != "well" {
			t.Fatalf("with one target down: %d %q %v", code, body, err)
		}
	}
	if sickServed.Load() != before {
		t.Errorf("a target marked down still got %d requests", sickServed.Load()-before)
	}

	well.Close() // now the only healthy target is gone too: its breaker opens after failures
	eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(n.proxy() + "/hc")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(b), "no_healthy_upstream") {
			return fmt.Errorf("got %d %s", resp.StatusCode, b)
		}
		return nil
	})
}
