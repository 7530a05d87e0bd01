package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testToken = "gha_e2etoken_0123456789abcdefghijklmnopqrstuv"

// demoCurl finds the demo key and URL in the banner's curl line.
var demoCurl = regexp.MustCompile(`curl -i -H 'X-Api-Key: (gh_[a-z0-9]+_[a-z0-9]+)' (http://\S+)`)

// demoStream finds the banner's realtime curl line.
var demoStream = regexp.MustCompile(`curl -N -H 'X-Api-Key: (gh_[a-z0-9]+_[a-z0-9]+)' (http://\S+)`)

// getWithKey GETs url with an X-Api-Key and returns the status.
func getWithKey(url, key string) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDemo: `serve --demo` prints a curl line that works, serves the portal, and keeps its
// data across a restart.
func TestDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, dir, testToken, "--demo", "--demo-upstream-addr", "127.0.0.1:0")

	curl := demoCurl.FindStringSubmatch(n.stdout.String())
	if curl == nil {
		t.Fatalf("no curl line in the banner:\n%s", n.stdout)
	}
	req, _ := http.NewRequest("GET", curl[2], nil)
	req.Header.Set("X-Api-Key", curl[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Method, Path string
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil || resp.StatusCode != 200 || echo.Path != "/hello" {
		t.Fatalf("the demo curl: %d %+v %v", resp.StatusCode, echo, err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-Id"); id == "" {
		t.Error("no X-Request-Id on a proxied response")
	}

	// The realtime lines: a held stream, and `gatehouse publish demo` feeding it.
	stream := demoStream.FindStringSubmatch(n.stdout.String())
	if stream == nil || !strings.Contains(n.stdout.String(), `gatehouse publish demo "hello"`) {
		t.Fatalf("no realtime lines in the banner:\n%s", n.stdout)
	}
	sreq, _ := http.NewRequest("GET", stream[2], nil)
	sreq.Header.Set("X-Api-Key", stream[1])
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	br := bufio.NewReader(sresp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "stream open\n" {
		t.Fatalf("demo stream: %q %v", line, err)
	}
	n.waitSubscribers("demo", 1)
	n.mustCLI("", "publish", "demo", "hello")
	if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("demo stream after publishing: %q %v", line, err)
	}
	sresp.Body.Close()

	code, body, err := get(n.portal() + "/")
	if err != nil || code != 200 || !strings.Contains(body, "demo") {
		t.Errorf("portal: %d %v\n%s", code, err, body)
	}
	// The banner's portal password signs the demo developer in, and their app is there.
	pw := regexp.MustCompile(`sign in as demo@example\.com with password (\S+)`).FindStringSubmatch(n.stdout.String())
	if pw == nil {
		t.Fatalf("no portal password in the banner:\n%s", n.stdout)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	sresp, err = browser.PostForm(n.portal()+"/signin", url.Values{"email": {"demo@example.com"}, "password": {pw[1]}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if sresp.StatusCode != 200 || !strings.Contains(string(page), `href="/apps/demo-app"`) {
		t.Errorf("demo sign-in: %d\n%s", sresp.StatusCode, page)
	}

	firstKey := curl[1]
	if err := n.stop(); err != nil {
		t.Fatalf("clean stop: %v\n%s", err, n.stderr)
	}

	n2 := start(t, dir, testToken, "--demo", "--demo-upstream-addr", "127.0.0.1:0")
	// The demo API requires a key: the first run's is revoked, the new banner has a new one.
	if code, _, err := get(n2.proxy() + "/demo/again"); err != nil || code != 401 {
		t.Errorf("demo without a key: %d %v, want 401", code, err)
	}
	if code, err := getWithKey(n2.proxy()+"/demo/again", firstKey); err != nil || code != 401 {
		t.Errorf("the first run's demo key after restart: %d %v, want 401 (revoked)", code, err)
	}
	curl2 := demoCurl.FindStringSubmatch(n2.stdout.String())
	if curl2 == nil {
		t.Fatalf("no curl line in the second banner:\n%s", n2.stdout)
	}
	if code, err := getWithKey(n2.proxy()+"/demo/again", curl2[1]); err != nil || code != 200 {
		t.Fatalf("demo after restart: %d %v\n%s", code, err, n2.stderr)
	}
	var apps struct {
		Items []json.RawMessage `json:"items"`
	}
	n2.call("GET", "/v1/apps", nil, &apps)
	if len(apps.Items) != 1 {
		t.Errorf("restart duplicated demo apps: %d", len(apps.Items))
	}
	var keys struct {
		Items []struct {
			Prefix    string     `json:"prefix"`
			RevokedAt *time.Time `json:"revoked_at"`
		} `json:"items"`
	}
	n2.call("GET", "/v1/apps/demo-app/keys", nil, &keys)
	revoked := 0
	for _, k := range keys.Items {
		if k.RevokedAt != nil {
			revoked++
			if !strings.HasPrefix(firstKey, k.Prefix+"_") {
				t.Errorf("revoked key %s is not the first run's key", k.Prefix)
			}
		}
	}
	if len(keys.Items) != 2 || revoked != 1 {
		t.Errorf("after restart: %d keys, %d revoked; want 2 and 1", len(keys.Items), revoked)
	}
}

// TestDeclarativeRoundTrip drives apply, diff and export through the CLI and checks that
// the gateway follows each change without a restart.
func TestDeclarativeRoundTrip(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders:%s", r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	n := start(t, t.TempDir(), testToken)

	doc := fmt.Sprintf(`
apis:
  - name: orders
    version: "2"
    state: published
    path: /orders
    strip_path: true
    upstream:
      targets:
        - url: %s
    tags: [shop]
plans:
  - name: gold
    apis: [orders]
    rate_limit: {limit: 100, window: 1m}
    quota: {limit: 10000, period: month}
    approval: manual
developers:
  - email: Ada@Example.com
    name: Ada
apps:
  - name: ada-app
    developer: ada@example.com
  - name: spare
    developer: ada@example.com
subscriptions:
  - app: ada-app
    plan: gold
    status: active
`, upstream.URL)
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}

	plan := n.mustCLI("", "diff", "-f", file)
	for _, want := range []string{"api orders", "plan gold", "developer ada@example.com", "app ada-app", "subscription ada-app/gold", "6 to create"} {
		if !strings.Contains(plan, want) {
			t.Errorf("diff output lacks %q:\n%s", want, plan)
		}
	}
	before := n.revision()
	n.mustCLI("", "apply", "-f", file, "--dry-run")
	if n.revision() != before {
		t.Fatal("apply --dry-run wrote to the store")
	}
	n.mustCLI("", "apply", "-f", file)
	eventually(t, time.Second, func() error {
		code, body, err := get(n.proxy() + "/orders/42")
		if err != nil || code != 200 || body != "orders:/42" {
			return fmt.Errorf("GET /orders/42: %d %q %v", code, body, err)
		}
		return nil
	})

	if out := n.mustCLI("", "diff", "-f", file); !strings.Contains(out, "no changes") {
		t.Errorf("diff after apply:\n%s", out)
	}
	exported := n.mustCLI("", "export")
	if out := n.mustCLI(exported, "apply", "-f", "-"); !strings.Contains(out, "no changes") {
		t.Errorf("export | apply is not a no-op:\n%s\nexport was:\n%s", out, exported)
	}
	if !strings.Contains(exported, "ada@example.com") || strings.Contains(exported, "revision") {
		t.Errorf("export content:\n%s", exported)
	}

	// Change the plan, drop the spare app, retire the API: one apply --prune.
	changed := strings.Replace(doc, "limit: 100,", "limit: 200,", 1)
	changed = strings.Replace(changed, "  - name: spare\n    developer: ada@example.com\n", "", 1)
	changed = strings.Replace(changed, "state: published", "state: retired", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	out := n.mustCLI("", "diff", "-f", file, "--prune")
	if !strings.Contains(out, "plan gold") || !strings.Contains(out, "- app spare") {
		t.Errorf("diff --prune:\n%s", out)
	}
	n.mustCLI("", "apply", "-f", file, "--prune")
	var p struct {
		RateLimit struct{ Limit int } `json:"rate_limit"`
	}
	n.call("GET", "/v1/plans/gold", nil, &p)
	if p.RateLimit.Limit != 200 {
		t.Errorf("plan rate limit = %d after apply", p.RateLimit.Limit)
	}
	if resp := n.call("GET", "/v1/apps/spare", nil, nil); resp.StatusCode != 404 {
		t.Errorf("pruned app still there: %d", resp.StatusCode)
	}
	eventually(t, time.Second, func() error {
		if code, _, _ := get(n.proxy() + "/orders/1"); code != 410 {
			return fmt.Errorf("retired api answered %d", code)
		}
		return nil
	})

	// Resource verbs.
	var apis []struct{ Name string }
	if err := json.Unmarshal([]byte(n.mustCLI("", "api", "list", "-o", "json")), &apis); err != nil || len(apis) != 1 || apis[0].Name != "orders" {
		t.Errorf("api list -o json: %v %+v", err, apis)
	}
	if out := n.mustCLI("", "api", "list"); !strings.Contains(out, "NAME") || !strings.Contains(out, "orders") {
		t.Errorf("api list table:\n%s", out)
	}
	keyOut := n.mustCLI("", "key", "create", "--app", "ada-app", "--name", "ci")
	secret := regexp.MustCompile(`gh_[a-z0-9]{8}_[a-z0-9]+`).FindString(keyOut)
	if secret == "" {
		t.Fatalf("key create printed no secret:\n%s", keyOut)
	}
	listed := n.mustCLI("", "key", "list", "--app", "ada-app", "-o", "json")
	if strings.Contains(listed, secret) || !strings.Contains(listed, secret[:len("gh_")+8]) {
		t.Errorf("key list shows the secret or lacks the prefix:\n%s", listed)
	}

	// Subscription status changes go through PATCH by id.
	var subs []struct{ ID, Status string }
	if err := json.Unmarshal([]byte(n.mustCLI("", "subscription", "list", "--app", "ada-app", "-o", "json")), &subs); err != nil || len(subs) != 1 {
		t.Fatalf("subscription list: %v %+v", err, subs)
	}
	n.mustCLI("", "subscription", "revoke", subs[0].ID)
	var sub struct{ Status string }
	n.call("GET", "/v1/subscriptions/"+subs[0].ID, nil, &sub)
	if sub.Status != "revoked" {
		t.Errorf("subscription after revoke: %q", sub.Status)
	}

	// Every change above is in the audit log, attributed to the token.
	var audit struct {
		Items []struct{ Actor, Action, Resource, Name string } `json:"items"`
	}
	n.call("GET", "/v1/audit?resource=app&name=spare", nil, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "delete" || audit.Items[1].Action != "create" || !strings.HasPrefix(audit.Items[0].Actor, "token:") {
		t.Errorf("audit for app spare: %+v", audit.Items)
	}
}

// TestBadRequestsChangeNothing: every malformed admin request gets a problem document with
// a stable code, and the store's revision and audit log stay as they were.
func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), testToken)
	n.call("POST", "/v1/developers", `{"email":"a@b.co","name":"A"}`, nil)
	rev := n.revision()
	var audit struct {
		Items []json.RawMessage `json:"items"`
	}
	n.call("GET", "/v1/audit", nil, &audit)
	auditLen := len(audit.Items)

	huge := `{"name":"x","path":"/x","description":"` + strings.Repeat("a", 9<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
		mention                  string
	}{
		{"malformed json", "POST", "/v1/apis", `{"name": "x",`, nil, 400, "invalid", ""},
		{"unknown field", "POST", "/v1/apis", `{"name":"x","path":"/x","colour":"red"}`, nil, 400, "invalid", "colour"},
		{"wrong type", "POST", "/v1/apis", `{"name":"x","path":"/x","strip_path":"yes"}`, nil, 400, "invalid", "strip_path"},
		{"nested wrong type", "POST", "/v1/apis", `{"name":"x","path":"/x","upstream":{"targets":[{"url":1}]}}`, nil, 400, "invalid", "url"},
		{"validation", "POST", "/v1/apis", `{"name":"x","state":"published","path":"x"}`, nil, 400, "invalid", "path"},
		{"openapi that cannot route", "POST", "/v1/apis", `{"name":"x","state":"published","path":"/x","upstream":{"targets":[{"url":"http://127.0.0.1:1"}]},"openapi":"openapi: 3.1.0\npaths:\n  /r.{fmt}:\n    get: {}\n"}`, nil, 400, "invalid", "openapi"},
		{"oversized", "POST", "/v1/apis", huge, nil, 413, "too_large", ""},
		{"duplicate", "POST", "/v1/developers", `{"email":"A@b.co"}`, nil, 409, "conflict", ""},
		{"missing reference", "POST", "/v1/apps", `{"name":"a","developer":"nobody@b.co"}`, nil, 400, "invalid", "developer"},
		{"not found", "GET", "/v1/apis/nope", "", nil, 404, "not_found", ""},
		{"stale if-match", "PATCH", "/v1/developers/a@b.co", `{"name":"B"}`, []string{"If-Match", `"1"`}, 412, "precondition_failed", ""},
		{"no token", "GET", "/v1/apis", "", []string{"Authorization", ""}, 401, "unauthorized", ""},
		{"bad token", "POST", "/v1/apis", `{}`, []string{"Authorization", "Bearer gha_nope_nope"}, 401, "unauthorized", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			var p struct {
				Code   string `json:"code"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []struct{ Field, Message string }
			}
			resp := n.call(tt.method, tt.path, body, &p, tt.headers...)
			if resp.StatusCode != tt.status || p.Code != tt.code || p.Status != tt.status {
				t.Fatalf("got %d code %q, want %d %q", resp.StatusCode, p.Code, tt.status, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			all, _ := json.Marshal(p)
			if tt.mention != "" && !strings.Contains(string(all), tt.mention) {
				t.Errorf("the problem does not name %q: %s", tt.mention, all)
			}
		})
	}
	if got := n.revision(); got != rev {
		t.Errorf("revision moved from %d to %d after bad requests", rev, got)
	}
	n.call("GET", "/v1/audit", nil, &audit)
	if len(audit.Items) != auditLen {
		t.Errorf("audit grew from %d to %d entries after bad requests", auditLen, len(audit.Items))
	}
}

// TestBootstrapToken: with no GATEHOUSE_ADMIN_TOKEN the first start prints a token once.
func TestBootstrapToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, dir, "")
	tok := regexp.MustCompile(`gha_[a-z0-9]{8}_[a-z0-9]+`).FindString(n.stdout.String())
	if tok == "" {
		t.Fatalf("no admin token printed:\n%s", n.stdout)
	}
	n.token = tok
	if resp := n.call("GET", "/v1/apis", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("printed token does not work: %d", resp.StatusCode)
	}
	if strings.Contains(n.stderr.String(), tok) {
		t.Error("the admin token was logged")
	}
	n.stop()
	n2 := start(t, dir, "")
	if strings.Contains(n2.stdout.String(), "gha_") {
		t.Errorf("second start printed a token again:\n%s", n2.stdout)
	}
	n2.token = tok
	if resp := n2.call("GET", "/v1/apis", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("token lost across restart: %d", resp.StatusCode)
	}
}

// TestGracefulShutdown: SIGTERM lets an in-flight request finish, then the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), testToken, "--demo", "--demo-upstream-addr", "127.0.0.1:0")
	var wg sync.WaitGroup
	var code int
	var reqErr error
	curl := demoCurl.FindStringSubmatch(n.stdout.String())
	if curl == nil {
		t.Fatalf("no curl line in the banner:\n%s", n.stdout)
	}
	wg.Go(func() {
		req, _ := http.NewRequest("GET", n.proxy()+"/demo/delay/1500", nil)
		req.Header.Set("X-Api-Key", curl[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			reqErr = err
			return
		}
		defer resp.Body.Close()
		var body []byte
		body, reqErr = io.ReadAll(resp.Body)
		code = resp.StatusCode
		if reqErr == nil && !strings.Contains(string(body), `"path": "/delay/1500"`) {
			reqErr = fmt.Errorf("the drained request's body is not the upstream's answer: %q", body)
		}
	})
	time.Sleep(400 * time.Millisecond)
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if reqErr != nil || code != 200 {
		t.Errorf("in-flight request during shutdown: %d %v", code, reqErr)
	}
	// One signal is enough: a second would (by design) cut the drain short.
	if err := n.wait(15 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, n.stderr)
	}
	if _, _, err := get(n.admin() + "/healthz"); err == nil {
		t.Error("admin listener still answering after shutdown")
	}
}

// TestConfigValidate: the validator points at file, line and column.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("proxy_addr: \":9000\"\nlog:\n  level: debug\n"), 0o644)
	os.WriteFile(bad, []byte("proxy_addr: \":9000\"\nlog:\n  levle: debug\nshutdown_timeout: soon\n"), 0o644)
	n := &node{t: t}
	if out, errOut, code := n.cli("", "config", "validate", good); code != 0 {
		t.Errorf("good config: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := n.cli("", "config", "validate", bad)
	all := out + errOut
	if code != 1 || !strings.Contains(all, "bad.yaml:3:3") || !strings.Contains(all, "levle") || !strings.Contains(all, "bad.yaml:4:") {
		t.Errorf("bad config: exit %d\n%s", code, all)
	}
}
