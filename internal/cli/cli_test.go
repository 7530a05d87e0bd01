package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/client/clienttest"
)

// result is what one run of the gatehouse command did.
type result struct {
	code           int
	stdout, stderr string
}

// harness runs the CLI in-process against a fake admin API.
type harness struct {
	t   *testing.T
	srv *clienttest.Server
	env map[string]string
	c   *client.Client // to seed and inspect the fake directly
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := clienttest.NewServer(t)
	srv.Token = "test-token"
	return &harness{t: t, srv: srv,
		env: map[string]string{"GATEHOUSE_ADMIN_URL": srv.URL, "GATEHOUSE_TOKEN": srv.Token},
		c:   client.New(srv.URL, srv.Token, srv.Client())}
}

func (h *harness) run(args ...string) result { return h.runStdin("", args...) }

func (h *harness) runStdin(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, func(k string) string { return h.env[k] },
		strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok runs args and fails the test unless they succeed.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("gatehouse %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (h *harness) seedAPIs(names ...string) {
	h.t.Helper()
	for _, n := range names {
		a := &gatehouse.API{Name: n, Version: "v1", Path: "/" + n, Hosts: []string{n + ".example.com"},
			Upstream: gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://10.0.0.1:8080"}, {URL: "http://10.0.0.2:8080"}}}}
		if _, err := h.c.CreateAPI(context.Background(), a); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) writeFile(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func diff(t *testing.T, what, want, got string) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func TestAPIList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.seedAPIs("orders", "billing", "users") // three APIs cross the fake's two-item pages

	diff(t, "table", `NAME      VERSION   STATE   PATH       HOSTS                 TARGETS
billing   v1        draft   /billing   billing.example.com   http://10.0.0.1:8080,http://10.0.0.2:8080
orders    v1        draft   /orders    orders.example.com    http://10.0.0.1:8080,http://10.0.0.2:8080
users     v1        draft   /users     users.example.com     http://10.0.0.1:8080,http://10.0.0.2:8080
`, h.ok("api", "list"))

	var apis []gatehouse.API
	if err := json.Unmarshal([]byte(h.ok("api", "list", "-o", "json")), &apis); err != nil {
		t.Fatal(err)
	}
	if len(apis) != 3 || apis[2].Name != "users" || apis[2].Upstream.Targets[1].URL != "http://10.0.0.2:8080" {
		t.Errorf("json list = %+v", apis)
	}

	out := h.ok("api", "list", "--output=yaml")
	var docs []map[string]any
	if err := yaml.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("yaml list does not parse: %v\n%s", err, out)
	}
	if len(docs) != 3 || docs[0]["name"] != "billing" || !strings.HasPrefix(out, "- name: billing\n  version: v1\n") {
		t.Errorf("yaml list, fields in struct order:\n%s", out)
	}

	// --limit fetches one page and says how to get the next.
	r := h.run("api", "list", "--limit", "2")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3 || r.stderr != "more apis: add --after orders\n" {
		t.Errorf("--limit 2: %+v", r)
	}
	if got := h.ok("api", "list", "--after", "orders", "-o", "json"); !strings.Contains(got, `"users"`) || strings.Contains(got, `"orders"`) {
		t.Errorf("--after orders: %s", got)
	}
	if got := h.ok("api", "list", "--state", "published"); got != "NAME   VERSION   STATE   PATH   HOSTS   TARGETS\n" {
		t.Errorf("filtered to nothing: %q", got)
	}
}

func TestAPIGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.seedAPIs("orders")

	diff(t, "table", `NAME     VERSION   STATE   PATH      HOSTS                TARGETS
orders   v1        draft   /orders   orders.example.com   http://10.0.0.1:8080,http://10.0.0.2:8080
`, h.ok("api", "get", "orders"))

	var a gatehouse.API
	if err := json.Unmarshal([]byte(h.ok("api", "get", "orders", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.Name != "orders" || a.Revision != 1 {
		t.Errorf("json = %+v", a)
	}

	diff(t, "yaml", `name: orders
version: v1
state: draft
hosts:
  - orders.example.com
path: /orders
strip_path: false
upstream:
  targets:
    - url: http://10.0.0.1:8080
      weight: 100
    - url: http://10.0.0.2:8080
      weight: 100
  balancing: round_robin
revision: 1
created_at: "2026-01-02T03:04:05Z"
updated_at: "2026-01-02T03:04:05Z"
`, h.ok("api", "get", "orders", "-o", "yaml"))

	r := h.run("api", "get", "nope")
	if r.code != 1 || r.stderr != "error: api \"nope\" not found\n" || r.stdout != "" {
		t.Errorf("missing api: %+v", r)
	}
}

const ordersYAML = `# an API as a file
name: orders
description: Orders of the shop
path: /orders
hosts: [shop.example.com]
upstream:
  targets:
    - url: http://orders.internal:8080
      weight: 50
  response_timeout: 30s
policies:
  - type: key-auth
    config: {header: X-Api-Key}
`

func TestCreateAndUpdateFromFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	file := h.writeFile("orders.yaml", ordersYAML)

	diff(t, "create", "created api orders (revision 1)\n", h.ok("api", "create", "-f", file))
	a, err := h.c.API(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if a.Upstream.ResponseTimeout.String() != "30s" || *a.Upstream.Targets[0].Weight != 50 ||
		string(a.Policies[0].Config) != `{"header":"X-Api-Key"}` {
		t.Errorf("stored api = %+v", a)
	}

	// What get -o yaml prints is a valid update file; its revision guards the update.
	edited := strings.Replace(h.ok("api", "get", "orders", "-o", "yaml"), "Orders of the shop", "All orders", 1)
	diff(t, "update", "updated api orders (revision 2)\n", h.ok("api", "update", "-f", h.writeFile("a.yaml", edited)))
	r := h.run("api", "update", "-f", h.writeFile("b.yaml", edited))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: api orders changed since revision 1 in ") ||
		!strings.Contains(r.stderr, "get it again, or use --force") {
		t.Errorf("stale update: %+v", r)
	}
	if out := h.ok("api", "update", "--force", "-f", h.writeFile("c.yaml", edited)); out != "updated api orders (revision 3)\n" {
		t.Errorf("forced update: %q", out)
	}

	// JSON on standard input is YAML too.
	r = h.runStdin(`{"name": "billing", "path": "/billing"}`, "plan", "create", "-f", "-", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown field \"path\"") {
		t.Errorf("plan from an api document: %+v", r)
	}
	r = h.runStdin(`{"name": "gold", "apis": ["orders"], "rate_limit": {"limit": 10, "window": "1s"}}`, "plan", "create", "-f", "-")
	if r.code != 0 || r.stdout != "created plan gold (revision 4)\n" {
		t.Errorf("plan from stdin: %+v", r)
	}
	diff(t, "plan list", `NAME   APIS     RATE LIMIT   QUOTA   APPROVAL
gold   orders   10/1s        -       auto
`, h.ok("plan", "ls"))

	typo := h.writeFile("typo.yaml", "name: x\nupstrem: {}\n")
	r = h.run("api", "create", "-f", typo)
	diff(t, "unknown field", "error: reading "+typo+": unknown field \"upstrem\"\n", r.stderr)
	if r.code != 1 {
		t.Errorf("exit %d", r.code)
	}
}

func TestProblemWithFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	file := h.writeFile("bad.yaml", "name: -bad\npath: orders\nstate: published\n")
	r := h.run("api", "create", "-f", file)
	diff(t, "stderr", `error: invalid api
  name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit
  path: must start with /
  upstream.targets: a published or deprecated API needs at least one target
`, r.stderr)
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	r := h.run("--admin-url", dead.URL, "api", "list")
	want := "error: listing apis: cannot reach the admin API at " + dead.URL + ": is `gatehouse serve` running? (dial tcp "
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("got %+v, want stderr starting %q", r, want)
	}
}

func TestGlobalFlagsAndEnv(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.seedAPIs("orders")
	h.env["GATEHOUSE_ADMIN_URL"] = "http://127.0.0.1:1" // the flag must win
	if out := h.ok("--admin-url", h.srv.URL, "api", "list", "-o", "json"); !strings.Contains(out, `"orders"`) {
		t.Errorf("flag over env: %s", out)
	}
	h.env["GATEHOUSE_ADMIN_URL"] = h.srv.URL
	r := h.run("--token", "wrong", "api", "list")
	if r.code != 1 || r.stderr != "error: listing apis: missing or bad admin token\n" {
		t.Errorf("bad token: %+v", r)
	}
	delete(h.env, "GATEHOUSE_TOKEN")
	r = h.run("status")
	if r.code != 1 || !strings.Contains(r.stderr, "hint: pass --token or set GATEHOUSE_TOKEN") {
		t.Errorf("no token: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		args []string
		want string // first line of stderr
	}{
		{[]string{"apis", "lsit"}, `error: unknown command "lsit" for "gatehouse api"; did you mean list?`},
		{[]string{"bogus"}, `error: unknown command "bogus" for "gatehouse"`},
		{[]string{"api"}, "error: gatehouse api needs a command: create, delete, deprecate, get, list, publish, retire, update"},
		{[]string{"api", "get"}, "error: missing NAME"},
		{[]string{"api", "get", "a", "b"}, `error: unexpected argument "b"`},
		{[]string{"api", "list", "--colour"}, "error: unknown flag: --colour"},
		{[]string{"api", "list", "--limit", "many"}, `error: invalid argument "many" for "--limit" flag: strconv.ParseInt: parsing "many": invalid syntax`},
		{[]string{"api", "create"}, "error: missing required flag --file"},
		{[]string{"key", "list"}, "error: missing required flag --app"},
		{[]string{"subscription", "create", "--app", "x"}, "error: missing required flag --plan"},
		{[]string{"-o", "xml", "api", "list"}, `error: --output must be table, json or yaml, not "xml"`},
		{[]string{"key", "create", "--app", "a", "--expires-in", "soon"}, `error: invalid argument "soon" for "--expires-in" flag: bad duration "soon": want a value such as "30s" or "1m30s"`},
		{[]string{"audit", "--since", "yesterday"}, `error: --since: "yesterday" is not a time: want 2027-01-31, 2027-01-31T12:00:00Z or a duration such as 720h`},
	} {
		r := h.run(tc.args...)
		first, rest, _ := strings.Cut(r.stderr, "\n")
		if r.code != 2 || first != tc.want || !strings.Contains(rest, "--help' for usage.") {
			t.Errorf("gatehouse %s: exit %d, stderr:\n%s\nwant exit 2 and first line %q",
				strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if r := h.run("api", "--help"); r.code != 0 || !strings.Contains(r.stdout, "publish") {
		t.Errorf("help: %+v", r)
	}
	if got := h.srv.Requests(); len(got) != 0 {
		t.Errorf("usage errors made requests: %v", got)
	}
}

func TestAPILifecycleVerbs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.seedAPIs("orders")
	diff(t, "publish", "api orders is now published (revision 2)\n", h.ok("api", "publish", "orders"))
	diff(t, "deprecate", "api orders is now deprecated (revision 3)\n", h.ok("api", "deprecate", "orders", "--sunset", "2027-01-31"))
	a, _ := h.c.API(context.Background(), "orders")
	if a.Sunset == nil || a.Sunset.Format("2006-01-02") != "2027-01-31" {
		t.Errorf("sunset = %v", a.Sunset)
	}
	if out := h.ok("api", "retire", "orders", "-o", "json"); !strings.Contains(out, `"state": "retired"`) {
		t.Errorf("retire -o json: %s", out)
	}
	r := h.run("api", "publish", "nope")
	if r.code != 1 || r.stderr != "error: publishing api nope: api \"nope\" not found\n" {
		t.Errorf("publish missing: %+v", r)
	}
	if out := h.ok("api", "delete", "orders", "-o", "json"); out != "" {
		t.Errorf("delete -o json printed %q; want nothing", out)
	}
	if r := h.run("api", "rm", "orders"); r.code != 1 || r.stderr != "error: api \"orders\" not found\n" {
		t.Errorf("second delete: %+v", r)
	}
	h.seedAPIs("orders")
	diff(t, "delete", "deleted api orders\n", h.ok("api", "delete", "orders"))
}

// TestPeopleKeysAndSubscriptions walks the path of onboarding a developer.
func TestPeopleKeysAndSubscriptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.seedAPIs("orders")
	h.runStdin("name: gold\napis: [orders]\napproval: manual\n", "plan", "create", "-f", "-")

	diff(t, "developer create", "created developer ann@example.com\n", h.ok("developer", "create", "--email", "Ann@Example.com", "--name", "Ann Lee"))
	diff(t, "developer list", `EMAIL             NAME      STATUS   CREATED
ann@example.com   Ann Lee   active   2026-01-02T03:04:05Z
`, h.ok("dev", "list"))
	diff(t, "app create", "created app shop for developer ann@example.com\n",
		h.ok("app", "create", "shop", "--developer", "ann@example.com", "--description", "The shop"))
	diff(t, "app list", `NAME   DEVELOPER         DESCRIPTION   CREATED
shop   ann@example.com   The shop      2026-01-02T03:04:05Z
`, h.ok("app", "list", "--developer", "ann@example.com"))

	// Key status is computed against the real clock, so keys are made at real times.
	now := time.Now().UTC().Truncate(time.Second)
	h.srv.SetNow(now)
	expires := now.Add(720 * time.Hour).Format(time.RFC3339)
	out := h.ok("key", "create", "--app", "shop", "--name", "ci", "--expires-in", "720h")
	secret := regexp.MustCompile(`(?m)^    (gh_[a-z2-7]{8}_[a-z2-7]+)$`).FindStringSubmatch(out)
	if secret == nil || !strings.HasPrefix(out, "created key key_") ||
		!strings.Contains(out, "expires "+expires) || !strings.Contains(out, "only time the key is shown") {
		t.Fatalf("key create:\n%s", out)
	}
	r := h.run("key", "create", "--app", "shop", "-o", "json")
	var created client.CreatedKey
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || !strings.HasPrefix(created.Secret, created.Prefix+"_") {
		t.Errorf("key create -o json: %v %+v", err, r)
	}
	if !strings.Contains(r.stderr, "shown only this once") {
		t.Errorf("no note on stderr: %q", r.stderr)
	}
	keys := h.ok("key", "list", "--app", "shop")
	if !strings.HasPrefix(keys, "ID         NAME   PREFIX        APP    STATUS   EXPIRES                LAST USED\n") ||
		strings.Count(keys, "active") != 2 || strings.Contains(keys, secret[1]) {
		t.Errorf("key list:\n%s", keys)
	}
	id := strings.Fields(strings.Split(keys, "\n")[1])[0]
	other := strings.Fields(strings.Split(keys, "\n")[2])[0]
	out = h.ok("key", "rotate", "--app", "shop", other, "--overlap", "1h")
	if !strings.HasPrefix(out, "rotated key "+other+" of app shop: the old key stops working in 1h; the new key is key_") ||
		!regexp.MustCompile(`(?m)^    gh_[a-z2-7]{8}_[a-z2-7]+$`).MatchString(out) {
		t.Errorf("key rotate:\n%s", out)
	}
	if r := h.run("key", "rotate", "--app", "shop", "key_nope"); r.code == 0 {
		t.Errorf("rotating a missing key succeeded: %+v", r)
	}
	diff(t, "revoke", "revoked key "+id+" of app shop\n", h.ok("key", "revoke", "--app", "shop", id))
	if got := h.ok("key", "get", id, "--app", "shop"); !strings.Contains(got, "revoked") {
		t.Errorf("key get after revoke:\n%s", got)
	}
	diff(t, "key delete", "deleted key "+id+" of app shop\n", h.ok("key", "delete", "--app", "shop", id))

	out = h.ok("subscription", "create", "--app", "shop", "--plan", "gold")
	m := regexp.MustCompile(`^created subscription (sub_\d+): app shop to plan gold \(pending\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("subscription create: %q", out)
	}
	diff(t, "approve", "subscription "+m[1]+" (app shop, plan gold) is now active\n", h.ok("sub", "approve", m[1]))
	diff(t, "list", "ID         APP    PLAN   STATUS   CREATED\n"+m[1]+"   shop   gold   active   "+now.Format(time.RFC3339)+"\n",
		h.ok("subscription", "list", "--status", "active", "--app", "shop"))
	h.ok("sub", "revoke", m[1])

	// Deleting a developer who owns apps is a conflict, explained.
	r = h.run("developer", "delete", "ann@example.com")
	if r.code != 1 || r.stderr != "error: developer \"ann@example.com\" owns app \"shop\"\n" {
		t.Errorf("delete owner: %+v", r)
	}
	h.ok("subscription", "delete", m[1])
	h.ok("app", "delete", "shop")
	h.ok("developer", "delete", "ann@example.com")
}

func TestTokensAuditStatusVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	out := h.ok("token", "create", "--name", "ci", "--role", "read_only")
	if !regexp.MustCompile(`(?m)^    gha_[a-z2-7]{8}_[a-z2-7]+$`).MatchString(out) || !strings.Contains(out, "role read_only") {
		t.Errorf("token create:\n%s", out)
	}
	list := h.ok("token", "list")
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	diff(t, "token delete", "deleted admin token "+id+"\n", h.ok("token", "delete", id))

	h.seedAPIs("orders")
	diff(t, "audit", `ID   AT                     ACTOR   ACTION   RESOURCE   NAME     REVISION
3    2026-01-02T03:04:05Z   admin   create   api        orders   3
`, h.ok("audit", "--resource", "api", "--since", "2026-01-01"))
	if out := h.ok("audit", "--limit", "1", "-o", "json"); !strings.Contains(out, `"resource": "api"`) || strings.Contains(out, "admin_token") {
		t.Errorf("audit --limit 1: %s", out)
	}

	status := strings.Split(h.ok("status"), "\n")
	diff(t, "status header", "ADMIN URL VERSION REVISION READY", strings.Join(strings.Fields(status[0]), " "))
	diff(t, "status", h.srv.URL+" v0.0.0-test 3 yes", strings.Join(strings.Fields(status[1]), " "))
	if out := h.ok("version"); !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("version: %q", out)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(h.ok("version", "-o", "json")), &v); err != nil || v["version"] == "" || v["go"] == "" {
		t.Errorf("version -o json: %v %v", v, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.writeFile("good.yaml", "admin_addr: 127.0.0.1:9001\nlog:\n  level: debug\n")
	diff(t, "good", good+": ok\n", h.ok("config", "validate", good))

	bad := h.writeFile("bad.yaml", "admin_addr: 127.0.0.1:9001\nlog:\n  level: loud\n")
	r := h.run("config", "validate", "--config", bad)
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, bad+":3:10: log.level: ") {
		t.Errorf("bad file: %+v", r)
	}
	h.env["GATEHOUSE_CONFIG"] = good
	diff(t, "from env", good+": ok\n", h.ok("config", "validate"))
	if r := h.runStdin("log: {format: xml}\n", "config", "validate", "-"); r.code != 1 || !strings.HasPrefix(r.stderr, "standard input:1:") {
		t.Errorf("stdin: %+v", r)
	}
}

func TestUsersAndResetLinks(t *testing.T) {
	h := newHarness(t)
	r := h.runStdin("correct horse battery\n", "user", "create", "--name", "carol", "--role", "editor", "--password-stdin")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "created admin user carol (editor)") {
		t.Fatalf("user create: %+v", r)
	}
	if r := h.run("user", "create", "--name", "dan", "--role", "viewer"); r.code == 0 || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("a password on no stdin: %+v", r)
	}
	if r := h.runStdin("", "user", "create", "--name", "dan", "--role", "viewer", "--password-stdin"); r.code == 0 || !strings.Contains(r.stderr, "no password on stdin") {
		t.Errorf("empty stdin: %+v", r)
	}
	if r := h.runStdin("short\n", "user", "create", "--name", "dan", "--role", "viewer", "--password-stdin"); r.code == 0 || !strings.Contains(r.stderr, "password") {
		t.Errorf("short password: %+v", r)
	}
	list := h.ok("user", "list")
	if !strings.HasPrefix(list, "NAME ") || !strings.Contains(list, "carol") || !strings.Contains(list, "editor") {
		t.Errorf("user list:\n%s", list)
	}
	if out := h.ok("user", "set", "carol", "--role", "viewer"); !strings.Contains(out, "changed admin user carol (viewer)") {
		t.Errorf("user set:\n%s", out)
	}
	if r := h.run("user", "set", "carol"); r.code == 0 {
		t.Errorf("user set with nothing to change: %+v", r)
	}
	diff(t, "user delete", "deleted admin user carol\n", h.ok("user", "delete", "carol"))

	h.ok("developer", "create", "--email", "ann@example.com")
	out := h.ok("developer", "reset-link", "ann@example.com")
	if !regexp.MustCompile(`(?m)^    http://portal\.test/reset\?token=\S+$`).MatchString(out) || !strings.Contains(out, "works once") {
		t.Errorf("reset-link:\n%s", out)
	}
	if r := h.run("developer", "reset-link", "nobody@example.com"); r.code == 0 {
		t.Errorf("reset link for a missing developer: %+v", r)
	}
}
