package e2e

// Helpers of policies_test.go: a recording origin, proxy requests that decode problem
// documents, consumer setup through the admin API, node settings files, a TCP proxy that
// can "kill" Redis, a tiny RESP client, and RS256 tokens with a JWKS server.

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is an upstream that counts requests per path and remembers the last request's
// headers. It answers 200 "<path> #<count of that path>".
type origin struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
	last http.Header
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{hits: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path]++
		n := o.hits[r.URL.Path]
		o.last = r.Header.Clone()
		o.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	t.Cleanup(o.Close)
	return o
}

// count is how many requests reached path.
func (o *origin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[path]
}

// total is how many requests reached the origin.
func (o *origin) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.hits {
		n += c
	}
	return n
}

// lastHeader is the header of the last request that reached the origin.
func (o *origin) lastHeader() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last.Clone()
}

// answer is a gateway response, with the problem document's code when there is one.
type answer struct {
	status int
	code   string
	header http.Header
	body   string
}

func (a answer) String() string {
	return fmt.Sprintf("%d %q %s", a.status, a.code, strings.TrimSpace(a.body))
}

// is returns nil when the answer has the status and (problem) code.
func (a answer) is(status int, code string) error {
	if a.status != status || a.code != code {
		return fmt.Errorf("got %s, want %d %q", a, status, code)
	}
	return nil
}

// proxyClient keeps connections short-lived enough not to hide a node's restart.
var proxyClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// send makes a request and returns what came back; hdr is name, value pairs. A transport
// error is an answer with status 0 and the error as body.
func send(method, url string, hdr ...string) answer {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return answer{body: err.Error()}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := proxyClient.Do(req)
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var doc struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &doc)
		a.code = doc.Code
	}
	return a
}

// expect sends a request and fails the test unless it answers status and code.
func expect(t *testing.T, status int, code, method, url string, hdr ...string) answer {
	t.Helper()
	a := send(method, url, hdr...)
	if err := a.is(status, code); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

// bind returns n with t as the test its helpers fail (for subtests).
func (n *node) bind(t *testing.T) *node {
	c := *n
	c.t = t
	return &c
}

// mustCall makes an admin call, fails the test unless it answers want, and decodes the
// answer into out (if non-nil). It returns the raw body.
func (n *node) mustCall(method, path string, body any, want int, out any) string {
	n.t.Helper()
	resp := n.call(method, path, body, out)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		n.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return string(b)
}

// create POSTs a resource and returns its revision.
func (n *node) create(path string, body any) int64 {
	n.t.Helper()
	var out struct {
		Revision int64 `json:"revision"`
	}
	n.mustCall("POST", path, body, 201, &out)
	return out.Revision
}

// newKey makes a key for app (body may be nil) and returns its id and secret.
func (n *node) newKey(app string, body any) (id, secret string) {
	n.t.Helper()
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.mustCall("POST", "/v1/apps/"+app+"/keys", body, 201, &k)
	if k.ID == "" || !strings.HasPrefix(k.Key, "gh_") {
		n.t.Fatalf("key creation answered id %q, key %q", k.ID, k.Key)
	}
	return k.ID, k.Key
}

// subscribedApp creates developer dev (when missing), app, an active subscription of app
// to plan, and a key; it returns the key's id and secret.
func (n *node) subscribedApp(dev, app, plan string) (keyID, secret string) {
	n.t.Helper()
	if resp := n.call("GET", "/v1/developers/"+dev, nil, nil); resp.StatusCode == 404 {
		n.create("/v1/developers", map[string]any{"email": dev})
	}
	n.create("/v1/apps", map[string]any{"name": app, "developer": dev})
	if plan != "" {
		var sub struct{ Status string }
		n.mustCall("POST", "/v1/subscriptions", map[string]any{"app": app, "plan": plan}, 201, &sub)
		if sub.Status != "active" {
			n.t.Fatalf("subscription of %s to %s is %q, want active", app, plan, sub.Status)
		}
	}
	return n.newKey(app, nil)
}

// waitTable waits until the node's route table is at revision rev or later (written APIs
// and plans are served; keys, apps and subscriptions follow through the directory).
func (n *node) waitTable(rev int64) {
	n.t.Helper()
	eventually(n.t, 10*time.Second, func() error {
		var st struct {
			Revision int64  `json:"revision"`
			Error    string `json:"error"`
		}
		n.call("GET", "/v1/gateway", nil, &st)
		if st.Revision < rev {
			return fmt.Errorf("route table at revision %d (error %q), want %d", st.Revision, st.Error, rev)
		}
		return nil
	})
}

// readyz is the node's /readyz answer: status code, "status" and warnings.
type readiness struct {
	code     int
	Status   string   `json:"status"`
	Warnings []string `json:"warnings"`
	Code     string   `json:"code"`
	Errors   []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
	raw string
}

func (n *node) readyz() readiness {
	code, body, err := get(n.admin() + "/readyz")
	r := readiness{code: code, raw: body}
	if err != nil {
		r.raw = err.Error()
		return r
	}
	_ = json.Unmarshal([]byte(body), &r)
	return r
}

// settingsFile writes node settings (YAML) to a fresh file and returns the --config flags.
func settingsFile(t *testing.T, yaml string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--config", p}
}

// testRedis is the Redis of GATEHOUSE_TEST_REDIS; the test is skipped without it.
func testRedis(t *testing.T) *url.URL {
	t.Helper()
	raw := os.Getenv("GATEHOUSE_TEST_REDIS")
	if raw == "" {
		t.Skip("GATEHOUSE_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis end-to-end test")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis") || u.Host == "" {
		t.Fatalf("GATEHOUSE_TEST_REDIS=%q: want redis://[:password@]host:port[/db]", raw)
	}
	return u
}

// redisVia is u with its host replaced by addr (a proxy in front of it).
func redisVia(u *url.URL, addr string) string {
	c := *u
	c.Host = addr
	return c.String()
}

// redisPrefix is a key prefix unique to this test run; the keys under it are deleted when
// the test ends.
func redisPrefix(t *testing.T, u *url.URL) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	p := "gh-e2e-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, err := redisCmd(u, "KEYS", p+"*")
		if err != nil {
			t.Logf("cleaning redis keys %s*: %v", p, err)
			return
		}
		if ks, _ := keys.([]any); len(ks) > 0 {
			args := []string{"DEL"}
			for _, k := range ks {
				args = append(args, fmt.Sprint(k))
			}
			if _, err := redisCmd(u, args...); err != nil {
				t.Logf("cleaning redis keys %s*: %v", p, err)
			}
		}
	})
	return p
}

// redisKeys lists the keys under prefix.
func redisKeys(t *testing.T, u *url.URL, prefix string) []string {
	t.Helper()
	v, err := redisCmd(u, "KEYS", prefix+"*")
	if err != nil {
		t.Fatalf("redis KEYS: %v", err)
	}
	var out []string
	for _, k := range v.([]any) {
		out = append(out, fmt.Sprint(k))
	}
	return out
}

// redisCmd runs one command on a fresh connection to u (AUTH and SELECT as the URL says)
// with a minimal RESP2 client: enough for KEYS and DEL.
func redisCmd(u *url.URL, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	do := func(args ...string) (any, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(c, b.String()); err != nil {
			return nil, err
		}
		return readRESP(br)
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		auth := []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			auth = []string{"AUTH", name, pw}
		}
		if _, err := do(auth...); err != nil {
			return nil, err
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		if _, err := do("SELECT", db); err != nil {
			return nil, err
		}
	}
	return do(args...)
}

func readRESP(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		out := make([]any, 0, max(n, 0))
		for range n {
			v, err := readRESP(br)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}

// tcpProxy forwards connections from a loopback port to target. kill closes the listener
// and every connection, as if the server behind it died; revive listens again on the same
// port.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu       sync.Mutex
	l        net.Listener
	conns    map[net.Conn]struct{}
	accepted atomic.Int64
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.kill)
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil { // killed meanwhile
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// kill stops listening and cuts every connection.
func (p *tcpProxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// revive listens on the same port again.
func (p *tcpProxy) revive() {
	p.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port is ours, but give the kernel a moment if it disagrees
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("relistening on %s: %v", p.addr, err)
	}
	p.serve(l)
}

// rsaSigner signs RS256 tokens under kid.
type rsaSigner struct {
	kid string
	key *rsa.PrivateKey
}

func newRSASigner(t *testing.T, kid string) *rsaSigner {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &rsaSigner{kid: kid, key: k}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public key as a JSON Web Key.
func (s *rsaSigner) jwk() map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": s.kid, "alg": "RS256", "use": "sig",
		"n": b64url(s.key.N.Bytes()),
		"e": b64url(big.NewInt(int64(s.key.E)).Bytes()),
	}
}

// token signs claims with RS256; the header names kid (which may differ from the key's,
// to forge a mismatch).
func (s *rsaSigner) token(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid})
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url(h) + "." + b64url(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(sig)
}

// jwksServer serves a JSON Web Key Set that the test can replace, and counts fetches.
type jwksServer struct {
	*httptest.Server
	body    atomic.Value // []byte
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...*rsaSigner) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(s.body.Load().([]byte))
	}))
	t.Cleanup(s.Close)
	return s
}

// set publishes exactly keys.
func (s *jwksServer) set(keys ...*rsaSigner) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, _ := json.Marshal(set)
	s.body.Store(b)
}
