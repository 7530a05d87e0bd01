// Package gripdiff is the compatibility evidence for Gatehouse's realtime (GRIP) mode: a
// differential suite that runs the same origin and the same publishes against Debian's
// Pushpin 1.36 and against Gatehouse, and compares what clients (and the origin) receive.
//
// Run it with the path of a pushpin binary (the suite skips without it):
//
//	GATEHOUSE_TEST_PUSHPIN=/usr/bin/pushpin go test -count=1 ./test/gripdiff/
//
// -short skips the 25-second WebSocket keep-alive scenario. TestGripLibrary also
// needs node and npm (it runs `npm ci` of test/gripdiff/node, which pins @fanoutio/grip
// 4.3.0, in a temporary directory) and skips when they are missing or the install fails.
// GRIPDIFF_LOGS=1 prints both peers' logs even when everything passes.
//
// Each scenario (one per family of the recorded Pushpin transcripts) yields three
// subtests: "pushpin" (the transcript's expectations hold against Pushpin, i.e. the
// harness reproduces the recording), "gatehouse" (the same expectations against
// Gatehouse) and "same" (the two normalised transcripts, client and origin side, are
// equal; a failure prints a line diff, Pushpin "-", Gatehouse "+"). What is normalised
// away, and why, is listed above droppedResponseHeaders in diff_test.go.
//
// Both peers run as child processes on 127.0.0.1 ports: pushpin (runner, condure, zurl,
// pushpin-proxy, pushpin-handler) in its own process group, killed as a group at the end,
// and `gatehouse serve` built with -race from this module.
package gripdiff

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pushpinBin is the pushpin runner from GATEHOUSE_TEST_PUSHPIN; the suite skips without it.
func pushpinBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GATEHOUSE_TEST_PUSHPIN")
	if p == "" {
		t.Skip("GATEHOUSE_TEST_PUSHPIN is not set: set it to a pushpin 1.36 binary (e.g. /usr/bin/pushpin) to run the Pushpin differential suite")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("GATEHOUSE_TEST_PUSHPIN=%s: %v", p, err)
	}
	return p
}

// freePort returns a loopback port that was free a moment ago (for Pushpin, which cannot
// bind :0 and report it).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// peer is one GRIP proxy under test, as the scenarios see it.
type peer interface {
	name() string
	// clientAddr is host:port of the listener clients connect to.
	clientAddr() string
	// control sends a raw HTTP/1.1 request to the publish API (path "/publish/" etc.);
	// auth adds the credentials the peer needs (Gatehouse's bearer token).
	control(method, path string, body []byte, auth bool, hdr ...string) (*rawResponse, error)
	// recoverPath is the path of Pushpin's POST /recover on the control listener.
	recoverPath() string
}

// ---------------------------------------------------------------------------------------
// Pushpin

type pushpin struct {
	httpAddr    string
	controlAddr string
	out         *logtest.Buffer
}

func (p *pushpin) name() string        { return "pushpin" }
func (p *pushpin) clientAddr() string  { return p.httpAddr }
func (p *pushpin) recoverPath() string { return "/recover" }
func (p *pushpin) control(method, path string, body []byte, auth bool, hdr ...string) (*rawResponse, error) {
	return rawDo(p.controlAddr, method, path, body, hdr...)
}

// startPushpin writes pushpin.conf and routes into a temporary directory and runs
// `pushpin --config FILE --merge-output` in its own process group. originAddr is the
// route target; "/debug" requests go to the same origin with the route's debug option.
// Debian gotcha (grip.md §4.4): its internal.conf points the proxy at a system zurl, so
// zurl runs as one of our services with its sockets in our rundir.
func startPushpin(t *testing.T, bin, originAddr string) *pushpin {
	t.Helper()
	dir := t.TempDir()
	rundir := filepath.Join(dir, "run")
	logdir := filepath.Join(dir, "log")
	for _, d := range []string{rundir, logdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	httpPort, ctlPort := freePort(t), freePort(t)
	pullPort, subPort, cmdPort := freePort(t), freePort(t), freePort(t)
	conf := fmt.Sprintf(`[global]
include={libdir}/internal.conf
rundir=%s
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:%d
logdir=%s
log_level=2
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
updates_check=off
organization_name=
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out

[handler]
push_in_spec=tcp://127.0.0.1:%d
push_in_sub_specs=tcp://127.0.0.1:%d
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=%d
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:%d
message_rate=2500
message_hwm=25000
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
`, rundir, httpPort, logdir, pullPort, subPort, ctlPort, cmdPort)
	routes := fmt.Sprintf("*,path_beg=/debug/,debug %s,over_http\n* %s,over_http\n", originAddr, originAddr)
	confFile := filepath.Join(dir, "pushpin.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "routes"), []byte(routes), 0o644); err != nil {
		t.Fatal(err)
	}

	p := &pushpin{httpAddr: fmt.Sprintf("127.0.0.1:%d", httpPort), controlAddr: fmt.Sprintf("127.0.0.1:%d", ctlPort), out: &logtest.Buffer{}}
	cmd := exec.Command(bin, "--config", confFile, "--merge-output")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pushpin: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pgid := cmd.Process.Pid // Setpgid: the group id is the runner's pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		// The runner stops its children on SIGTERM; make sure none outlives it.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() || os.Getenv("GRIPDIFF_LOGS") != "" {
			t.Logf("pushpin output:\n%s", p.out)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := rawDo(p.controlAddr, "GET", "/", nil)
		if err == nil && r.status == 200 && string(r.body) == "Pushpin API\n" {
			// condure must be up too.
			if c, err := net.DialTimeout("tcp", p.httpAddr, time.Second); err == nil {
				c.Close()
				return p
			}
		}
		select {
		case <-done:
			t.Fatalf("pushpin exited early:\n%s", p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushpin did not become ready (GET / on %s: %v)\n%s", p.controlAddr, err, p.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------
// Gatehouse

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// gatehouseBinary builds ./cmd/gatehouse with -race once per run (as test/e2e does).
func gatehouseBinary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-gripdiff-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "gatehouse")
		cmd := exec.Command("go", "build", "-race", "-o", buildBin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building gatehouse: %v\n%s", err, out)
		}
	})
	return buildBin, buildErr
}

type gatehouse struct {
	addrs map[string]string
	token string
	out   *logtest.Buffer
}

func (g *gatehouse) name() string        { return "gatehouse" }
func (g *gatehouse) clientAddr() string  { return g.addrs["proxy"] }
func (g *gatehouse) recoverPath() string { return "/recover" }
func (g *gatehouse) control(method, path string, body []byte, auth bool, hdr ...string) (*rawResponse, error) {
	if auth {
		hdr = append(hdr, "Authorization", "Bearer "+g.token)
	}
	return rawDo(g.addrs["admin"], method, path, body, hdr...)
}

// startGatehouse runs `gatehouse serve` on :0 ports and creates the realtime APIs the
// brief's contract describes: "rt" on "/" and "rt-debug" (debug on) on "/debug/".
func startGatehouse(t *testing.T, originAddr string) (*gatehouse, error) {
	t.Helper()
	bin, err := gatehouseBinary()
	if err != nil {
		return nil, err
	}
	dataDir := t.TempDir()
	addrFile := filepath.Join(dataDir, "addrs.json")
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	g := &gatehouse{token: "gripdiff-" + hex.EncodeToString(tok), out: &logtest.Buffer{}}
	cmd := exec.Command(bin, "serve",
		"--data-dir", dataDir,
		"--proxy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--portal-addr", "127.0.0.1:0",
		"--addr-file", addrFile, "--log-format", "json", "--shutdown-timeout", "5s")
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+g.token)
	cmd.Stdout, cmd.Stderr = g.out, g.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() || os.Getenv("GRIPDIFF_LOGS") != "" {
			t.Logf("gatehouse output:\n%s", g.out)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(b, &g.addrs) == nil {
			if r, err := rawDo(g.addrs["admin"], "GET", "/healthz", nil); err == nil && r.status == 200 {
				break
			}
		}
		select {
		case <-done:
			return nil, fmt.Errorf("gatehouse exited early:\n%s", g.out)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gatehouse did not become healthy:\n%s", g.out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var rev int64
	for _, api := range []map[string]any{
		{"name": "rt-debug", "path": "/debug", "debug": true},
		{"name": "rt", "path": "/"},
	} {
		rt := map[string]any{"enabled": true, "sig_key": "changeme", "sig_iss": "pushpin",
			"websocket_over_http": true, "update_on_first_subscription": true}
		if api["debug"] == true {
			rt["debug"] = true
		}
		body, _ := json.Marshal(map[string]any{"name": api["name"], "state": "published", "path": api["path"],
			"upstream": map[string]any{"targets": []map[string]any{{"url": "http://" + originAddr}}},
			"realtime": rt})
		r, err := g.control("POST", "/v1/apis", body, true, "Content-Type", "application/json")
		if err != nil {
			return nil, fmt.Errorf("creating API %s: %v", api["name"], err)
		}
		if r.status != 201 {
			return nil, fmt.Errorf("creating API %s: %d %s", api["name"], r.status, r.body)
		}
		var out struct {
			Revision int64 `json:"revision"`
		}
		_ = json.Unmarshal(r.body, &out)
		rev = max(rev, out.Revision)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		r, err := g.control("GET", "/v1/gateway", nil, true)
		var st struct {
			Revision int64  `json:"revision"`
			Error    string `json:"error"`
		}
		if err == nil {
			_ = json.Unmarshal(r.body, &st)
			if st.Revision >= rev {
				return g, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gatehouse route table did not reach revision %d (at %d, error %q, %v)", rev, st.Revision, st.Error, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1: requests written byte for byte (so a POST can lack Content-Length), and
// responses parsed keeping the header lines in order.

type rawResponse struct {
	proto   string
	status  int
	reason  string
	headers [][2]string // in order, as sent
	body    []byte
}

func (r *rawResponse) get(name string) string {
	for _, h := range r.headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// writeRequest writes a request; hdr is name, value pairs written after Host. A nil body
// sends no Content-Length at all.
func writeRequest(w io.Writer, host, method, path string, body []byte, hdr ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String()+string(body))
	return err
}

// readHead reads a status line and header lines.
func readHead(br *bufio.Reader) (*rawResponse, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	r := &rawResponse{proto: parts[0]}
	if r.status, err = strconv.Atoi(parts[1]); err != nil {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	if len(parts) == 3 {
		r.reason = parts[2]
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return r, nil
		}
		name, value, _ := strings.Cut(line, ":")
		r.headers = append(r.headers, [2]string{name, strings.TrimSpace(value)})
	}
}

// bodyReader returns the body of a response to a non-HEAD request.
func bodyReader(br *bufio.Reader, r *rawResponse) io.Reader {
	if r.status == 101 || r.status == 204 || r.status == 304 || r.status/100 == 1 {
		return bytes.NewReader(nil)
	}
	if strings.EqualFold(r.get("Transfer-Encoding"), "chunked") {
		return newChunkedReader(br)
	}
	if cl := r.get("Content-Length"); cl != "" {
		n, _ := strconv.ParseInt(cl, 10, 64)
		return io.LimitReader(br, n)
	}
	return br
}

// rawDo makes one request on a fresh connection and reads the whole response.
func rawDo(addr, method, path string, body []byte, hdr ...string) (*rawResponse, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := writeRequest(c, addr, method, path, body, hdr...); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	r, err := readHead(br)
	if err != nil {
		return nil, err
	}
	r.body, err = io.ReadAll(bodyReader(br, r))
	return r, err
}

// chunkedReader decodes chunked transfer coding and reports whether the terminating
// chunk arrived (a stream ended by a "close" action) as opposed to a dropped connection.
type chunkedReader struct {
	br       *bufio.Reader
	left     int64
	complete bool
	err      error
}

func newChunkedReader(br *bufio.Reader) *chunkedReader { return &chunkedReader{br: br} }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.err = err
			return 0, err
		}
		sz, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sz, 16, 64)
		if err != nil {
			c.err = fmt.Errorf("bad chunk size line %q", line)
			return 0, c.err
		}
		if n == 0 {
			// trailers until an empty line
			for {
				l, err := c.br.ReadString('\n')
				if err != nil || strings.TrimSpace(l) == "" {
					break
				}
			}
			c.complete = true
			c.err = io.EOF
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if _, err := c.br.Discard(2); err != nil {
			c.err = err
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// ctxSleep sleeps d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}
