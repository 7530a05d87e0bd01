package e2e

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// putAPI creates or replaces an API through the admin API.
func (n *node) putAPI(api map[string]any) {
	n.t.Helper()
	name := api["name"].(string)
	if resp := n.call("GET", "/v1/apis/"+name, nil, nil); resp.StatusCode == 404 {
		if resp := n.call("POST", "/v1/apis", api, nil); resp.StatusCode != 201 {
			b, _ := io.ReadAll(resp.Body)
			n.t.Fatalf("creating api %s: %d %s", name, resp.StatusCode, b)
		}
		return
	}
	if resp := n.call("PUT", "/v1/apis/"+name, api, nil); resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		n.t.Fatalf("replacing api %s: %d %s", name, resp.StatusCode, b)
	}
}

func targets(urls ...string) []map[string]any {
	var out []map[string]any
	for _, u := range urls {
		out = append(out, map[string]any{"url": u})
	}
	return out
}

// waitServed waits until GET url answers want.
func waitServed(t *testing.T, url string, want int) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		code, body, err := get(url)
		if err != nil || code != want {
			return fmt.Errorf("GET %s: %d %v %s", url, code, err, body)
		}
		return nil
	})
}

// TestHotReloadUnderLoad: a configuration change is served within a second while a
// request stream runs, and no request fails across the swap.
func TestHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "blue") }))
	green := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "green") }))
	t.Cleanup(blue.Close)
	t.Cleanup(green.Close)
	n := start(t, t.TempDir(), testToken)
	api := map[string]any{"name": "colour", "state": "published", "path": "/colour", "upstream": map[string]any{"targets": targets(blue.URL)}}
	n.putAPI(api)
	waitServed(t, n.proxy()+"/colour", 200)

	var failures, total atomic.Int64
	var sawGreen atomic.Int64 // unix nanos of the first green answer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(n.proxy() + "/colour")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				if string(b) == "green" {
					sawGreen.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	changed := time.Now()
	api["upstream"] = map[string]any{"targets": targets(green.URL)}
	n.putAPI(api)
	eventually(t, 2*time.Second, func() error {
		if sawGreen.Load() == 0 {
			return fmt.Errorf("still blue")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if lag := time.Duration(sawGreen.Load() - changed.UnixNano()); lag > time.Second {
		t.Errorf("the change took %s to be served; want under 1s", lag)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed across the reload", failures.Load(), total.Load())
	}
	t.Logf("%d requests, change served after %s", total.Load(), time.Duration(sawGreen.Load()-changed.UnixNano()))
}

// TestTargetKilledRetries: with two targets and retries, killing one mid-run loses no
// idempotent request.
func TestTargetKilledRetries(t *testing.T) {
	t.Parallel()
	ok := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	a := httptest.NewServer(ok("a"))
	b := httptest.NewServer(ok("b"))
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "pair", "state": "published", "path": "/pair",
		"upstream": map[string]any{"targets": targets(a.URL, b.URL), "retries": 2, "retry_budget": 100}})
	waitServed(t, n.proxy()+"/pair", 200)

	var failures, total atomic.Int64
	seen := map[string]int{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(n.proxy() + "/pair")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
					continue
				}
				mu.Lock()
				seen[string(body)]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	a.CloseClientConnections()
	a.Close() // target a is gone: refused connections from now on
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed after a target died", failures.Load(), total.Load())
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("both targets should have served before the kill: %v", seen)
	}
}

// TestUpstreamNeverAnswers: the configured response timeout turns into a 504 on time.
func TestUpstreamNeverAnswers(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "hang", "state": "published", "path": "/hang",
		"upstream": map[string]any{"targets": targets("http://" + l.Addr().String()), "response_timeout": "500ms"}})
	eventually(t, 5*time.Second, func() error {
		began := time.Now()
		resp, err := http.Get(n.proxy() + "/hang")
		if err != nil {
			return err
		}
		var p struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != 504 || p.Code != "upstream_timeout" {
			return fmt.Errorf("got %d %q", resp.StatusCode, p.Code)
		}
		if took < 400*time.Millisecond || took > 3*time.Second {
			t.Errorf("504 after %s; configured 500ms", took)
		}
		return nil
	})
}

// TestWebSocketThroughGateway: an upgrade passes through and a frame sent right after the
// handshake arrives (the case where buffered bytes get lost in naive proxies).
func TestWebSocketThroughGateway(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(http.HandlerFunc(wsEcho))
	t.Cleanup(echo.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "ws", "state": "published", "path": "/ws", "strip_path": true,
		"upstream": map[string]any{"targets": targets(echo.URL)}})
	waitServed(t, n.proxy()+"/ws/plain", 200)

	conn, err := net.Dial("tcp", n.addrs["proxy"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	// The handshake and the first frame in one write.
	req := "GET /ws/socket HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	frame := wsFrame("hello through the gateway", true)
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	msg, err := wsRead(br)
	if err != nil || msg != "hello through the gateway" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	conn.Write(wsFrame("second", true))
	if msg, err := wsRead(br); err != nil || msg != "second" {
		t.Fatalf("second echo: %q %v", msg, err)
	}
}

// TestLargeBodiesStreamInFlatMemory: 200 MB up and 200 MB down through the gateway, while
// the gateway's resident memory stays flat.
func TestLargeBodiesStreamInFlatMemory(t *testing.T) {
	t.Parallel()
	const size = 200 << 20
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		buf := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	t.Cleanup(sink.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "big", "state": "published", "path": "/big",
		"upstream": map[string]any{"targets": targets(sink.URL)}})
	waitServed(t, n.proxy()+"/big/x", 200)
	before := rssKB(t, n.cmd.Process.Pid)

	resp, err := http.Post(n.proxy()+"/big/up", "application/octet-stream", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != fmt.Sprintf("%d <nil>", size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get(n.proxy() + "/big/down")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || got != size {
		t.Fatalf("download: %d bytes, %v", got, err)
	}
	after := rssKB(t, n.cmd.Process.Pid)
	t.Logf("gateway RSS %d KiB before, %d KiB after 2×200 MB", before, after)
	if after-before > 64<<10 {
		t.Errorf("gateway RSS grew by %d KiB streaming 200 MB each way; bodies must stream", after-before)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// A minimal RFC 6455 peer: enough for text frames under 64 KiB, which is all these tests send.

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func wsFrame(msg string, mask bool) []byte {
	b := []byte{0x81} // FIN + text
	n := len(msg)
	m := byte(0)
	if mask {
		m = 0x80
	}
	if n < 126 {
		b = append(b, m|byte(n))
	} else {
		b = append(b, m|126, byte(n>>8), byte(n))
	}
	payload := []byte(msg)
	if mask {
		key := []byte{1, 2, 3, 4}
		b = append(b, key...)
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return append(b, payload...)
}

func wsRead(r *bufio.Reader) (string, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", err
		}
		n = int(l[0])<<8 | int(l[1])
	}
	var key []byte
	if h[1]&0x80 != 0 {
		key = make([]byte, 4)
		if _, err := io.ReadFull(r, key); err != nil {
			return "", err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return "", err
	}
	for i := range p {
		if key != nil {
			p[i] ^= key[i%4]
		}
	}
	return string(p), nil
}

func wsEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		io.WriteString(w, "plain")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
	brw.Flush()
	for {
		msg, err := wsRead(brw.Reader)
		if err != nil {
			return
		}
		conn.Write(wsFrame(msg, false))
	}
}

// TestBadConfigKeepsServing: a configuration that cannot compile (two APIs claiming one
// host and path) leaves the previous route table serving, and /readyz and /v1/gateway say
// why; fixing it makes the node ready again.
func TestBadConfigKeepsServing(t *testing.T) {
	t.Parallel()
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "first") }))
	t.Cleanup(o.Close)
	n := start(t, t.TempDir(), testToken)
	n.putAPI(map[string]any{"name": "first", "state": "published", "path": "/same", "upstream": map[string]any{"targets": targets(o.URL)}})
	waitServed(t, n.proxy()+"/same", 200)
	n.putAPI(map[string]any{"name": "second", "state": "published", "path": "/same", "upstream": map[string]any{"targets": targets(o.URL)}})

	eventually(t, 3*time.Second, func() error {
		code, body, err := get(n.admin() + "/readyz")
		if err != nil || code != 503 || !strings.Contains(body, `both`) && !strings.Contains(body, "second") {
			return fmt.Errorf("/readyz: %d %s %v", code, body, err)
		}
		return nil
	})
	var st struct {
		Revision int64
		Error    string
		APIs     []struct{ Name string }
	}
	n.call("GET", "/v1/gateway", nil, &st)
	if st.Error == "" || len(st.APIs) != 1 || st.APIs[0].Name != "first" {
		t.Errorf("/v1/gateway after a bad change: %+v", st)
	}
	if code, body, _ := get(n.proxy() + "/same"); code != 200 || body != "first" {
		t.Errorf("the previous table stopped serving: %d %q", code, body)
	}
	n.call("DELETE", "/v1/apis/second", nil, nil)
	eventually(t, 3*time.Second, func() error {
		if code, body, _ := get(n.admin() + "/readyz"); code != 200 {
			return fmt.Errorf("/readyz after the fix: %d %s", code, body)
		}
		return nil
	})
}
