package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// TestAlertsFireAndResolve: an upstream fails for a while; an error-rate rule fires and,
// once it recovers, resolves. Both transitions are seen exactly once on the realtime
// channel (through a realtime API, as any subscriber would), at a webhook receiver that
// checks the HMAC signature, and in the alert log.
func TestAlertsFireAndResolve(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/watch/alerts":
			// A Pushpin-style origin holding an SSE stream on the alerts channel.
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Grip-Hold", "stream")
			w.Header().Set("Grip-Channel", "gatehouse.alerts")
			io.WriteString(w, ": watching\n\n")
		case failing.Load():
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			io.WriteString(w, "ok\n")
		}
	}))
	t.Cleanup(up.Close)

	const secret = "webhook-secret-0123456789"
	var hookMu sync.Mutex
	var hookStates []string
	var badSig atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := alerts.VerifySignature(secret, r.Header.Get("X-Gatehouse-Timestamp"), body, r.Header.Get("X-Gatehouse-Signature")); err != nil {
			badSig.Add(1)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev struct{ State string }
		_ = json.Unmarshal(body, &ev)
		hookMu.Lock()
		hookStates = append(hookStates, ev.State)
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "flaky", "state": "published", "path": "/flaky",
		"upstream": map[string]any{"targets": targets(up.URL)}})
	rev := n.create("/v1/apis", map[string]any{"name": "watch", "state": "published", "path": "/watch",
		"upstream": map[string]any{"targets": targets(up.URL)},
		"realtime": map[string]any{"enabled": true, "sig_key": "e2e-alerts-key"}})
	n.waitTable(rev)
	var wh struct{ ID string }
	n.mustCall("POST", "/v1/webhooks", map[string]any{"name": "ops", "url": hook.URL, "secret": secret, "enabled": true}, 201, &wh)
	n.mustCall("POST", "/v1/alerts/rules", map[string]any{"id": "flaky-errors", "kind": "error_rate", "api": "flaky",
		"window": "3s", "threshold": 0.5, "resolve_threshold": 0.1, "for": "1s", "resolve_for": "1s", "min_requests": 5,
		"severity": "critical", "enabled": true, "webhooks": []string{wh.ID}}, 201, nil)

	// Watch the alerts channel through the realtime API.
	resp, err := http.Get(n.proxy() + "/watch/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				var ev struct{ State, Subject string }
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					events <- ev.State + " " + ev.Subject
				}
			}
		}
		close(events)
	}()
	n.waitSubscribers("gatehouse.alerts", 1)

	// Traffic until the rule has fired, then healthy traffic until it has resolved.
	drive := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case got, ok := <-events:
				if !ok {
					t.Fatal("the alerts stream ended")
				}
				if got != want {
					t.Fatalf("alerts channel: %q, want %q", got, want)
				}
				return
			case <-tick.C:
				send("GET", n.proxy()+"/flaky/x")
			case <-deadline:
				t.Fatalf("no %q on the alerts channel within 30s", want)
			}
		}
	}
	failing.Store(true)
	drive("firing flaky")
	failing.Store(false)
	drive("resolved flaky")

	eventually(t, 15*time.Second, func() error {
		hookMu.Lock()
		defer hookMu.Unlock()
		if fmt.Sprint(hookStates) != "[firing resolved]" {
			return fmt.Errorf("webhook received %v, want [firing resolved]", hookStates)
		}
		return nil
	})
	if badSig.Load() != 0 {
		t.Fatalf("%d webhook deliveries had a bad signature", badSig.Load())
	}
	var log struct {
		Items []struct {
			Rule, State, Subject string
		}
	}
	n.mustCall("GET", "/v1/alerts?rule=flaky-errors", nil, 200, &log)
	var states []string
	for _, e := range log.Items {
		states = append(states, e.State)
	}
	if fmt.Sprint(states) != "[resolved firing]" { // newest first
		t.Fatalf("alert log %+v, want resolved then firing", log.Items)
	}
	select {
	case extra, ok := <-events:
		if ok {
			t.Fatalf("extra alert on the channel: %q", extra)
		}
	case <-time.After(2 * time.Second):
	}
}
