package cli_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/client/clienttest"
)

const shopDoc = `developers:
  - email: ann@example.com
    name: Ann
apis:
  - name: orders
    path: /orders
    state: published
    upstream:
      targets: [{url: "http://orders.internal:8080"}]
plans:
  - name: gold
    apis: [orders]
    approval: manual
apps:
  - name: shop
    developer: ann@example.com
subscriptions:
  - app: shop
    plan: gold
    status: active
`

// writes lists the requests that changed something.
func writes(reqs []string) []string {
	return slices.DeleteFunc(slices.Clone(reqs), func(r string) bool { return strings.HasPrefix(r, "GET ") })
}

func TestApplyDiffExport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := h.writeFile("shop.yaml", shopDoc)

	r := h.run("diff", "-f", doc, "--exit-code")
	diff(t, "diff", `+ developer ann@example.com
+ api orders
+ plan gold
+ app shop
+ subscription shop/gold

5 to create, 0 to update, 0 to delete
`, r.stdout)
	if r.code != 2 || r.stderr != "" {
		t.Errorf("diff --exit-code with changes: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := h.run("diff", "-f", doc); r.code != 0 {
		t.Errorf("diff without --exit-code: exit %d", r.code)
	}

	out := h.ok("apply", "-f", doc, "--dry-run")
	if !strings.HasSuffix(out, "5 to create, 0 to update, 0 to delete\ndry run: 5 changes not applied\n") {
		t.Errorf("dry run:\n%s", out)
	}
	if w := writes(h.srv.Requests()); len(w) != 0 {
		t.Fatalf("dry run wrote: %v", w)
	}

	out = h.ok("apply", "-f", doc)
	if !strings.HasSuffix(out, `
✓ created developer ann@example.com
✓ created api orders
✓ created plan gold
✓ created app shop
✓ created subscription shop/gold
applied 5 changes
`) {
		t.Errorf("apply:\n%s", out)
	}
	subs, err := h.c.AllSubscriptions(context.Background(), gatehouse.SubscriptionFilter{})
	if err != nil || len(subs) != 1 || subs[0].Status != gatehouse.SubActive {
		t.Errorf("subscriptions after apply: %v %v", subs, err)
	}

	// Applying again, or applying what export writes, changes nothing.
	diff(t, "second apply", "no changes\n", h.ok("apply", "-f", doc))
	exported := h.ok("export")
	if !strings.Contains(exported, "name: orders") || strings.Contains(exported, "revision") {
		t.Errorf("export:\n%s", exported)
	}
	before := len(h.srv.Requests())
	r = h.runStdin(exported, "apply", "-f", "-")
	if r.code != 0 || r.stdout != "no changes\n" || len(writes(h.srv.Requests()[before:])) != 0 {
		t.Errorf("apply of export: %+v", r)
	}
	if r := h.runStdin(exported, "diff", "--exit-code", "-f", "-"); r.code != 0 || r.stdout != "no changes\n" {
		t.Errorf("diff --exit-code of export: %+v", r)
	}

	file := filepath.Join(t.TempDir(), "out.yaml")
	r = h.run("export", "-f", file)
	b, err := os.ReadFile(file)
	if r.code != 0 || string(b) != exported ||
		r.stderr != "exported 1 apis, 1 plans, 1 developers, 1 apps and 1 subscriptions to "+file+"\n" {
		t.Errorf("export -f: %+v, file %q", r, b)
	}
}

func TestApplyUpdatesAndPrunes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ok("apply", "-f", h.writeFile("shop.yaml", shopDoc))
	h.ok("app", "create", "extra", "--developer", "ann@example.com")

	// Updates carry the revision diff read as If-Match.
	var mu sync.Mutex
	var ifMatch []string
	h.srv.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			mu.Lock()
			ifMatch = append(ifMatch, r.Method+" "+r.URL.Path+" "+r.Header.Get("If-Match"))
			mu.Unlock()
		}
		return false
	}
	edited := strings.Replace(shopDoc, "status: active", "status: revoked", 1)
	edited = strings.Replace(edited, "approval: manual", "approval: auto\n    description: The gold plan", 1)
	out := h.ok("apply", "--prune", "-f", h.writeFile("edited.yaml", edited))
	if !strings.HasPrefix(out, "~ plan gold (description, approval)\n") ||
		!strings.Contains(out, "- app extra\n") ||
		!strings.HasSuffix(out, "✓ updated plan gold\n✓ updated subscription shop/gold\n✓ deleted app extra\napplied 3 changes\n") {
		t.Errorf("apply --prune:\n%s", out)
	}
	mu.Lock()
	diff(t, "writes", strings.Join([]string{
		`PUT /v1/plans/gold "3"`,
		`PATCH /v1/subscriptions/sub_0005 "5"`,
		`DELETE /v1/apps/extra "6"`,
	}, "\n"), strings.Join(ifMatch, "\n"))
	mu.Unlock()
	sub, err := h.c.AllSubscriptions(context.Background(), gatehouse.SubscriptionFilter{})
	if err != nil || sub[0].Status != gatehouse.SubRevoked {
		t.Errorf("subscription: %v %v", sub, err)
	}
}

func TestApplyStopsAtFirstError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Someone else wins the race for the plan after the plan was made.
	h.srv.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/plans" {
			clienttest.WriteProblem(w, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid plan",
				Fields: []gatehouse.FieldError{{Field: "apis[0]", Message: `api "orders" is being deleted`}}})
			return true
		}
		return false
	}
	r := h.run("apply", "-f", h.writeFile("shop.yaml", shopDoc))
	if r.code != 1 || !strings.HasSuffix(r.stdout, "✓ created developer ann@example.com\n✓ created api orders\n") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	diff(t, "stderr", `error: apply stopped at change 3 of 5 (create plan gold); 2 applied, 3 not: invalid plan
  apis[0]: api "orders" is being deleted
`, r.stderr)
	if w := writes(h.srv.Requests()); len(w) != 3 {
		t.Errorf("writes after the failure: %v", w)
	}
}

func TestApplyBadDocuments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bad := h.writeFile("bad.yaml", "apis:\n  - name: orders\n    pathh: /orders\n")
	r := h.run("apply", "-f", bad)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: invalid document\n  "+bad+":3:5: apis[0]") {
		t.Errorf("bad document: %+v", r)
	}

	dangling := h.writeFile("dangling.yaml", "plans:\n  - name: gold\n    apis: [nope]\n")
	r = h.run("diff", "-f", dangling)
	diff(t, "dangling", `error: the document refers to what neither it nor the server has
  plans[0].apis[0]: no api "nope" in the document or on the server
`, r.stderr)
	if r.code != 1 {
		t.Errorf("exit %d", r.code)
	}
	if r := h.run("apply"); r.code != 2 {
		t.Errorf("apply without -f: %+v", r)
	}
	if w := writes(h.srv.Requests()); len(w) != 0 {
		t.Errorf("bad documents wrote: %v", w)
	}
}
