package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/realtime/grip"
)

// gripOrigin is an origin written for Pushpin: it answers with GRIP instructions and
// refuses requests without a valid Grip-Sig.
type gripOrigin struct {
	*httptest.Server
	unsigned atomic.Int32
	hits     atomic.Int32
}

func newGripOrigin(t *testing.T, key string) *gripOrigin {
	t.Helper()
	o := &gripOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		if grip.Verify(r.Header.Get("Grip-Sig"), []byte(key), "", time.Now(), 0) != nil {
			o.unsigned.Add(1)
			http.Error(w, "not behind a GRIP proxy", http.StatusForbidden)
			return
		}
		ch := r.URL.Query().Get("ch")
		switch r.URL.Path {
		case "/rt/lp":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("X-Origin", "yes")
			w.Header().Set("Grip-Hold", "response")
			w.Header().Set("Grip-Channel", ch)
			w.Header().Set("Grip-Timeout", "20")
			io.WriteString(w, "timed out\n")
		case "/rt/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Grip-Hold", "stream")
			w.Header().Set("Grip-Channel", ch)
			io.WriteString(w, "event: open\ndata: {}\n\n")
		default:
			io.WriteString(w, "plain answer\n")
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func randomChannel(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// publishTo POSTs a Pushpin publish body to the node's admin listener.
func (n *node) publishTo(token string, body string) (int, string) {
	n.t.Helper()
	req, _ := http.NewRequest("POST", n.admin()+"/publish/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitSubscribers waits until the node reports n subscribers on channel.
func (n *node) waitSubscribers(channel string, want int) {
	n.t.Helper()
	eventually(n.t, 10*time.Second, func() error {
		var out struct {
			Items []struct {
				Name        string `json:"name"`
				Subscribers int    `json:"subscribers"`
			} `json:"items"`
		}
		n.call("GET", "/v1/realtime/channels?limit=1000", nil, &out)
		for _, c := range out.Items {
			if c.Name == channel {
				if c.Subscribers == want {
					return nil
				}
				return fmt.Errorf("channel %s has %d subscribers, want %d", channel, c.Subscribers, want)
			}
		}
		if want == 0 {
			return nil
		}
		return fmt.Errorf("channel %s not listed", channel)
	})
}

// TestRealtimeThroughGateway: a Pushpin-style origin behind a realtime API guarded by
// key-auth. Policies run when the connection opens; long-polls and SSE streams are held
// and fed by the authenticated publish API and by `gatehouse publish`; the per-app
// connection cap applies; channel statistics and /metrics see the subscribers.
func TestRealtimeThroughGateway(t *testing.T) {
	t.Parallel()
	const key = "e2e-grip-secret"
	o := newGripOrigin(t, key)
	n := start(t, t.TempDir(), testToken)
	n.create("/v1/apis", map[string]any{"name": "rt-feed", "state": "published", "path": "/rt",
		"upstream": map[string]any{"targets": targets(o.URL)},
		"policies": []map[string]any{{"type": "key-auth"}},
		"realtime": map[string]any{"enabled": true, "sig_key": key, "max_connections_per_app": 2}})
	rev := n.create("/v1/plans", map[string]any{"name": "rt-basic", "apis": []string{"rt-feed"}})
	_, secret := n.subscribedApp("rt@example.com", "rt-app", "rt-basic")
	n.waitTable(rev)
	eventually(t, 5*time.Second, func() error {
		return send("GET", n.proxy()+"/rt/plain", "X-API-Key", secret).is(200, "")
	})

	t.Run("PoliciesRunBeforeTheHold", func(t *testing.T) {
		before := o.hits.Load()
		expect(t, 401, "missing_credentials", "GET", n.proxy()+"/rt/lp?ch=x")
		if o.hits.Load() != before {
			t.Fatal("an unauthenticated request reached the origin")
		}
	})

	t.Run("PublishNeedsCredentials", func(t *testing.T) {
		body := `{"items":[{"channel":"nobody","formats":{"http-stream":{"content":"x"}}}]}`
		if code, _ := n.publishTo("", body); code != 401 {
			t.Fatalf("publish without a token: %d, want 401", code)
		}
		if code, _ := n.publishTo("wrong-token-wrong-token", body); code != 401 {
			t.Fatalf("publish with a bad token: %d, want 401", code)
		}
		if code, b := n.publishTo(testToken, body); code != 200 || b != "Published\n" {
			t.Fatalf("publish: %d %q, want 200 Published", code, b)
		}
		if code, b := n.publishTo(testToken, `{"items":[{"formats":{}}]}`); code != 400 || !strings.Contains(b, "Invalid format: publish item object does not contain 'channel'") {
			t.Fatalf("bad publish: %d %q", code, b)
		}
	})

	t.Run("LongPoll", func(t *testing.T) {
		ch := randomChannel("lp")
		got := make(chan answer, 1)
		go func() { got <- send("GET", n.proxy()+"/rt/lp?ch="+ch, "X-API-Key", secret) }()
		n.waitSubscribers(ch, 1)
		code, _ := n.publishTo(testToken, fmt.Sprintf(`{"items":[{"channel":%q,"formats":{"http-response":{"headers":{"X-Pub":"1"},"body":"hello\n"}}}]}`, ch))
		if code != 200 {
			t.Fatalf("publish: %d", code)
		}
		select {
		case a := <-got:
			if a.status != 200 || a.body != "hello\n" || a.header.Get("X-Origin") != "yes" || a.header.Get("X-Pub") != "1" {
				t.Fatalf("long-poll got %s %v", a, a.header)
			}
			for k := range a.header {
				if strings.HasPrefix(strings.ToLower(k), "grip-") {
					t.Fatalf("client saw %s", k)
				}
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the long-poll was not answered by the publish")
		}
		n.waitSubscribers(ch, 0)
	})

	t.Run("SSEWithCLIPublishAndCap", func(t *testing.T) {
		ch := randomChannel("sse")
		req, _ := http.NewRequest("GET", n.proxy()+"/rt/sse?ch="+ch, nil)
		req.Header.Set("X-API-Key", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream answered %d %v", resp.StatusCode, resp.Header)
		}
		r := bufio.NewReader(resp.Body)
		readUntil := func(want string) {
			t.Helper()
			var seen strings.Builder
			deadline := time.AfterFunc(15*time.Second, func() { resp.Body.Close() })
			defer deadline.Stop()
			for !strings.Contains(seen.String(), want) {
				line, err := r.ReadString('\n')
				seen.WriteString(line)
				if err != nil {
					t.Fatalf("stream ended (%v) before %q; got %q", err, want, seen.String())
				}
			}
		}
		readUntil("event: open\ndata: {}\n\n")
		n.waitSubscribers(ch, 1)

		// The app may hold two connections: a second one is fine, a third is refused.
		req2, _ := http.NewRequest("GET", n.proxy()+"/rt/sse?ch="+ch, nil)
		req2.Header.Set("X-API-Key", secret)
		resp2, err := http.DefaultClient.Do(req2)
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		if resp2.StatusCode != 200 {
			t.Fatalf("second stream: %d", resp2.StatusCode)
		}
		n.waitSubscribers(ch, 2)
		expect(t, 429, "realtime_connection_limit", "GET", n.proxy()+"/rt/sse?ch="+ch, "X-API-Key", secret)

		out := n.mustCLI("", "publish", ch, "data: via cli\n")
		if strings.TrimSpace(out) != "Published" {
			t.Fatalf("gatehouse publish printed %q", out)
		}
		readUntil("data: via cli\n\n")

		_, metrics, err := get(n.admin() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("gatehouse_realtime_channel_subscribers{channel=%q} 2", ch); !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
		if !strings.Contains(metrics, `gatehouse_realtime_connections{api="rt-feed",app="rt-app"} 2`) {
			t.Fatalf("/metrics lacks the app's connections:\n%s", grepLines(metrics, "gatehouse_realtime_connections"))
		}

		n.mustCLI("", "publish", ch, "--close")
		rest, _ := io.ReadAll(r)
		if len(rest) != 0 {
			t.Fatalf("after close the stream carried %q", rest)
		}
		resp2.Body.Close()
		n.waitSubscribers(ch, 0)
	})

	if o.unsigned.Load() != 0 {
		t.Fatalf("%d origin requests lacked a valid Grip-Sig", o.unsigned.Load())
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRealtimeAcrossNodes: with the NATS broker, a publish on one node reaches a client
// held on another.
func TestRealtimeAcrossNodes(t *testing.T) {
	natsURL := os.Getenv("GATEHOUSE_TEST_NATS")
	if natsURL == "" {
		t.Skip("GATEHOUSE_TEST_NATS is not set (e.g. nats://127.0.0.1:4222); .ci/run sets it")
	}
	t.Parallel()
	const key = "e2e-grip-secret"
	o := newGripOrigin(t, key)
	prefix := randomChannel("e2e")
	cfg := settingsFile(t, fmt.Sprintf("realtime:\n  broker: nats\n  nats_url: %s\n  nats_prefix: %s\n", natsURL, prefix))
	a := start(t, t.TempDir(), testToken, cfg...)
	b := start(t, t.TempDir(), testToken, cfg...)
	for _, n := range []*node{a, b} {
		rev := n.create("/v1/apis", map[string]any{"name": "rt-x", "state": "published", "path": "/rt",
			"upstream": map[string]any{"targets": targets(o.URL)},
			"realtime": map[string]any{"enabled": true, "sig_key": key}})
		n.waitTable(rev)
	}
	ch := randomChannel("x")
	got := make(chan answer, 1)
	go func() { got <- send("GET", b.proxy()+"/rt/lp?ch="+ch) }()
	b.waitSubscribers(ch, 1)
	if code, body := a.publishTo(testToken, fmt.Sprintf(`{"items":[{"channel":%q,"formats":{"http-response":{"body":"from a\n"}}}]}`, ch)); code != 200 {
		t.Fatalf("publish on a: %d %s", code, body)
	}
	select {
	case r := <-got:
		if r.status != 200 || r.body != "from a\n" {
			t.Fatalf("client on b got %s", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a publish on node a did not reach the client held on node b")
	}
	var st struct {
		Fanout struct {
			Published uint64 `json:"published"`
		} `json:"fanout"`
	}
	a.call("GET", "/v1/realtime", nil, &st)
	if st.Fanout.Published != 1 {
		b, _ := json.Marshal(st)
		t.Fatalf("node a status %s, want 1 published", b)
	}
}
