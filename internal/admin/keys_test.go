package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func TestKeys(t *testing.T) {
	e := newEnv(t)
	e.seedApp("mobile")
	e.seedApp("web")

	// Create: the secret is in this answer only, and the store holds its hash.
	r := e.want(e.post("/v1/apps/mobile/keys", `{"name":"ci","expires_in":"720h"}`), http.StatusCreated)
	k := r.json(t)
	secret, id := k["key"].(string), k["id"].(string)
	if !strings.HasPrefix(secret, gatehouse.KeySecretPrefix) || !strings.HasPrefix(secret, k["prefix"].(string)+"_") {
		t.Fatalf("secret %q with prefix %v", secret, k["prefix"])
	}
	if loc := r.header.Get("Location"); loc != "/v1/apps/mobile/keys/"+id {
		t.Errorf("Location = %q", loc)
	}
	exp, err := time.Parse(time.RFC3339, k["expires_at"].(string))
	if err != nil || exp.Sub(time.Now().Add(720*time.Hour)).Abs() > time.Minute {
		t.Errorf("expires_at = %v, want about 720h from now", k["expires_at"])
	}
	stored, err := e.sqlite.KeyByHash(context.Background(), gatehouse.HashSecret(secret))
	if err != nil || stored.ID != id || stored.App != "mobile" {
		t.Fatalf("KeyByHash: %+v, %v", stored, err)
	}

	// A body is optional.
	e.want(e.do(req{method: "POST", path: "/v1/apps/mobile/keys"}), http.StatusCreated)
	e.want(e.do(req{method: "POST", path: "/v1/apps/web/keys", header: map[string]string{"Content-Type": "application/json"}}), http.StatusCreated)
	e.want(e.post("/v1/apps/mobile/keys", `{"expires_at":"2099-01-01T00:00:00Z","id":"mine","prefix":"gh_mine"}`), http.StatusCreated)

	// Never again: get, list and audit do not show it.
	for _, path := range []string{"/v1/apps/mobile/keys/" + id, "/v1/apps/mobile/keys", "/v1/audit?resource=key"} {
		body := string(e.want(e.get(path), http.StatusOK).body)
		if strings.Contains(body, secret) || strings.Contains(body, `"key":`) {
			t.Errorf("%s shows the secret: %s", path, body)
		}
	}
	if n := len(e.want(e.get("/v1/apps/mobile/keys"), http.StatusOK).json(t)["items"].([]any)); n != 3 {
		t.Errorf("mobile has %d keys, want 3", n)
	}
	e.want(e.get("/v1/apps/nope/keys"), http.StatusNotFound)
	pg := e.want(e.get("/v1/apps/mobile/keys?limit=2"), http.StatusOK)
	if pg.json(t)["next"] == nil || pg.header.Get("Link") == "" {
		t.Errorf("2 of 3 keys without a next page: %s", pg.body)
	}

	// A key id under the wrong app is not found, whatever the verb.
	before := e.snapshot()
	e.want(e.get("/v1/apps/web/keys/"+id), http.StatusNotFound)
	e.want(e.del("/v1/apps/web/keys/"+id), http.StatusNotFound)
	e.want(e.post("/v1/apps/web/keys/"+id+"/revoke", `{}`), http.StatusNotFound)
	e.unchanged(before)

	// Bad creations write nothing.
	for _, c := range []struct{ body, field string }{
		{`{"expires_in":"1h","expires_at":"2099-01-01T00:00:00Z"}`, "expires_in"},
		{`{"expires_in":"-1h"}`, "expires_in"},
		{`{"expires_in":"soon"}`, "expires_in"},
		{`{"expires_at":"2001-01-01T00:00:00Z"}`, "expires_at"},
		{`{"name":"has space"}`, "name"},
		{`{"app":"web"}`, "app"},
		{`{"secret":"mine"}`, "secret"},
	} {
		p := e.want(e.post("/v1/apps/mobile/keys", c.body), http.StatusBadRequest).problem(t)
		if p.field(c.field) == "" {
			t.Errorf("%s: problem does not name %s: %+v", c.body, c.field, p)
		}
	}
	e.want(e.post("/v1/apps/nope/keys", `{}`), http.StatusNotFound)
	e.unchanged(before)

	// Revoke is idempotent and keeps the key.
	r = e.want(e.post("/v1/apps/mobile/keys/"+id+"/revoke", ""), http.StatusOK)
	revokedAt := r.json(t)["revoked_at"]
	if revokedAt == nil {
		t.Fatalf("revoke: %s", r.body)
	}
	r = e.want(e.do(req{method: "POST", path: "/v1/apps/mobile/keys/" + id + "/revoke"}), http.StatusOK)
	if r.json(t)["revoked_at"] != revokedAt {
		t.Errorf("second revoke moved revoked_at: %v -> %v", revokedAt, r.json(t)["revoked_at"])
	}
	e.want(e.post("/v1/apps/mobile/keys/"+id+"/revoke", `{"why":"leaked"}`), http.StatusBadRequest)

	// Delete.
	e.want(e.do(req{method: "DELETE", path: "/v1/apps/mobile/keys/" + id, header: map[string]string{"If-Match": `"7"`}}), http.StatusPreconditionFailed)
	e.want(e.do(req{method: "DELETE", path: "/v1/apps/mobile/keys/" + id, header: map[string]string{"If-Match": "*"}}), http.StatusNoContent)
	e.want(e.get("/v1/apps/mobile/keys/"+id), http.StatusNotFound)

	// Every change is attributed.
	for _, it := range e.want(e.get("/v1/audit?resource=key"), http.StatusOK).json(t)["items"].([]any) {
		if a := it.(map[string]any)["actor"]; a != "token:root" {
			t.Errorf("key audit entry by %v", a)
		}
	}
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	e.seedApp("mobile")
	e.want(e.post("/v1/apis", apiBody), http.StatusCreated)
	e.want(e.post("/v1/plans", `{"name":"free","apis":["orders"]}`), http.StatusCreated)
	e.want(e.post("/v1/plans", `{"name":"gold","apis":["orders"],"approval":"manual"}`), http.StatusCreated)

	// The plan's approval mode sets the initial status.
	r := e.want(e.post("/v1/subscriptions", `{"app":"mobile","plan":"free"}`), http.StatusCreated)
	free := r.json(t)
	if free["status"] != "active" || r.header.Get("Location") != "/v1/subscriptions/"+free["id"].(string) {
		t.Errorf("auto-approved subscription: %s, Location %q", r.body, r.header.Get("Location"))
	}
	gold := e.want(e.post("/v1/subscriptions", `{"app":"mobile","plan":"gold","id":"mine"}`), http.StatusCreated).json(t)
	if gold["status"] != "pending" || gold["id"] == "mine" {
		t.Errorf("manual subscription: %v", gold)
	}
	one := "/v1/subscriptions/" + gold["id"].(string)

	before := e.snapshot()
	e.want(e.post("/v1/subscriptions", `{"app":"mobile","plan":"gold"}`), http.StatusConflict)
	e.want(e.post("/v1/subscriptions", `{"app":"mobile","plan":"nope"}`), http.StatusBadRequest)
	e.want(e.post("/v1/subscriptions", `{"app":"mobile","plan":"gold","status":"maybe"}`), http.StatusBadRequest)
	for _, c := range []struct{ patch, field string }{
		{`{"status":"approved"}`, "status"},
		{`{"status":null}`, "status"},
		{`{"plan":"free"}`, "plan"},
		{`{"app":"other","status":"active"}`, "app"},
	} {
		p := e.want(e.patch(one, c.patch), http.StatusBadRequest).problem(t)
		if p.field(c.field) == "" {
			t.Errorf("PATCH %s: problem does not name %s: %+v", c.patch, c.field, p)
		}
	}
	e.want(e.do(req{method: "PATCH", path: one, body: `{"status":"active"}`, header: map[string]string{"If-Match": `"1"`}}), http.StatusPreconditionFailed)
	e.unchanged(before)

	// The GET answer may be PATCHed back with a new status: app and plan are unchanged.
	cur := e.want(e.get(one), http.StatusOK)
	body := strings.Replace(string(cur.body), `"pending"`, `"active"`, 1)
	r = e.want(e.do(req{method: "PATCH", path: one, body: body, header: map[string]string{"If-Match": cur.header.Get("ETag")}}), http.StatusOK)
	if st := r.json(t)["status"]; st != "active" {
		t.Errorf("approved status = %v", st)
	}
	e.want(e.patch(one, `{"status":"revoked"}`), http.StatusOK)

	// Filters.
	for q, want := range map[string]int{"": 2, "?app=mobile": 2, "?plan=gold": 1, "?status=revoked": 1, "?status=pending": 0, "?app=web": 0} {
		if n := len(e.want(e.get("/v1/subscriptions"+q), http.StatusOK).json(t)["items"].([]any)); n != want {
			t.Errorf("subscriptions%s: %d, want %d", q, n, want)
		}
	}

	// References: a plan with subscriptions, an app with subscriptions and an API in a plan
	// cannot be deleted.
	e.want(e.del("/v1/plans/gold"), http.StatusConflict)
	e.want(e.del("/v1/apps/mobile"), http.StatusConflict)
	e.want(e.del("/v1/apis/orders"), http.StatusConflict)
	e.want(e.del("/v1/developers/ada@example.com"), http.StatusConflict)

	e.want(e.del(one), http.StatusNoContent)
	e.want(e.get(one), http.StatusNotFound)
	e.want(e.del("/v1/plans/gold"), http.StatusNoContent)
}

func TestStatusAndHealth(t *testing.T) {
	e, hs := newHookedEnv(t, func(o *Options) {})
	m := e.want(e.get("/v1/status"), http.StatusOK).json(t)
	rev, _ := e.sqlite.Revision(context.Background())
	if m["version"] != "test-1.2.3" || m["revision"] != float64(rev) {
		t.Errorf("status = %v, want version test-1.2.3 revision %d", m, rev)
	}
	e.want(e.do(req{method: "GET", path: "/healthz", noAuth: true}), http.StatusOK)
	e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusOK)

	hs.set(func(h *hooks) { h.pingErr = gatehouse.Errorf(gatehouse.EUnavailable, "store unavailable") })
	p := e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusServiceUnavailable).problem(t)
	if p.Code != "unavailable" || p.field("store") == "" || !strings.Contains(p.Detail, "store") {
		t.Errorf("readyz with a failing store: %+v", p)
	}
	e.want(e.do(req{method: "GET", path: "/healthz", noAuth: true}), http.StatusOK)
}

func TestReadyz(t *testing.T) {
	var mu sync.Mutex
	var ready error
	setReady := func(err error) { mu.Lock(); ready = err; mu.Unlock() }
	e := newEnv(t, func(o *Options) {
		o.Ready = func(context.Context) error { mu.Lock(); defer mu.Unlock(); return ready }
	})
	e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusOK)

	setReady(gatehouse.Errorf(gatehouse.EUnavailable, "no gateway snapshot yet"))
	p := e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusServiceUnavailable).problem(t)
	if p.field("ready") != "no gateway snapshot yet" {
		t.Errorf("readyz with a failing extra check: %+v", p)
	}
	setReady(errors.New("dial tcp 10.1.2.3:5432: connection refused"))
	r := e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusServiceUnavailable)
	if p := r.problem(t); strings.Contains(string(r.body), "10.1.2.3") || p.field("ready") == "" {
		t.Errorf("readyz shows a plain error's cause, or no check: %s", r.body)
	}
	if !strings.Contains(e.logs.String(), "10.1.2.3") {
		t.Error("readyz did not log the cause")
	}
	setReady(nil)

	// A closed store fails the store check.
	if err := e.sqlite.Close(); err != nil {
		t.Fatal(err)
	}
	p = e.want(e.do(req{method: "GET", path: "/readyz", noAuth: true}), http.StatusServiceUnavailable).problem(t)
	if p.Code != "unavailable" || p.field("store") == "" {
		t.Errorf("readyz with a closed store: %+v", p)
	}
	e.want(e.do(req{method: "GET", path: "/healthz", noAuth: true}), http.StatusOK)
}

// TestExtraRoutes checks the server can mount more routes on the same mux.
func TestExtraRoutes(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Extra = func(mux *http.ServeMux, _ func(*http.Request) error) {
			mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
		}
	})
	r := e.want(e.do(req{method: "GET", path: "/metrics", noAuth: true}), http.StatusOK)
	if string(r.body) != "up 1\n" {
		t.Errorf("extra route answered %q", r.body)
	}
}

func TestRotateKey(t *testing.T) {
	e := newEnv(t)
	e.seedApp("mobile")
	e.seedApp("web")
	old := e.want(e.post("/v1/apps/mobile/keys", `{"name":"ci","expires_in":"720h"}`), http.StatusCreated).json(t)
	oldID := old["id"].(string)

	r := e.want(e.post("/v1/apps/mobile/keys/"+oldID+"/rotate", `{"overlap":"24h"}`), http.StatusCreated)
	k := r.json(t)
	secret := k["key"].(string)
	if k["id"] == oldID || k["name"] != "ci" || k["expires_at"] != old["expires_at"] || !strings.HasPrefix(secret, gatehouse.KeySecretPrefix) {
		t.Fatalf("rotated key = %v (old %v)", k, old)
	}
	got := e.want(e.get("/v1/apps/mobile/keys/"+oldID), http.StatusOK).json(t)
	exp, err := time.Parse(time.RFC3339, got["expires_at"].(string))
	if err != nil || exp.Sub(time.Now().Add(24*time.Hour)).Abs() > time.Minute {
		t.Errorf("old key expires_at = %v, want about 24h from now", got["expires_at"])
	}
	if _, err := e.sqlite.KeyByHash(context.Background(), gatehouse.HashSecret(secret)); err != nil {
		t.Errorf("new key not stored: %v", err)
	}

	// No overlap: the old key stops at once, and cannot be rotated again.
	r = e.want(e.post("/v1/apps/mobile/keys/"+k["id"].(string)+"/rotate", ""), http.StatusCreated)
	e.want(e.post("/v1/apps/mobile/keys/"+k["id"].(string)+"/rotate", ""), http.StatusConflict)
	e.want(e.post("/v1/apps/web/keys/"+r.json(t)["id"].(string)+"/rotate", ""), http.StatusNotFound)
	e.want(e.post("/v1/apps/mobile/keys/"+r.json(t)["id"].(string)+"/rotate", `{"overlap":"9999h"}`), http.StatusBadRequest)
	e.want(e.post("/v1/apps/mobile/keys/"+r.json(t)["id"].(string)+"/rotate", `{"overlap":"1h","x":1}`), http.StatusBadRequest)
	e.want(e.do(req{method: "POST", path: "/v1/apps/mobile/keys/" + r.json(t)["id"].(string) + "/rotate", as: e.viewer}), http.StatusForbidden)
}
