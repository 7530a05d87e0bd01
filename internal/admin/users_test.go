package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// newUsersEnv is an env whose admin API keeps admin users and reset links in the SQLite
// store, as the node wires it.
func newUsersEnv(t *testing.T) *env {
	return newEnv(t, func(o *Options) {
		o.Sessions = o.Store.(session.Store)
		o.PortalURL = "https://portal.example.com/"
	})
}

func TestAdminUsers(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ss := e.store.(session.Store)

	r := e.want(e.post("/v1/admin-users", `{"name":"carol","role":"editor","password":"long enough pw"}`), http.StatusCreated)
	if m := r.json(t); m["name"] != "carol" || m["role"] != "editor" || strings.Contains(string(r.body), "long enough") || strings.Contains(string(r.body), "argon") {
		t.Fatalf("created: %s", r.body)
	}
	acct, err := ss.Account(ctx, session.KindAdmin, "carol")
	if err != nil || !session.VerifyPassword(acct.PasswordHash, "long enough pw") {
		t.Fatalf("account: %+v, %v", acct, err)
	}
	e.want(e.post("/v1/admin-users", `{"name":"carol","role":"admin","password":"long enough pw"}`), http.StatusConflict)
	e.want(e.post("/v1/admin-users", `{"name":"bad name","role":"boss","password":"short"}`), http.StatusBadRequest)
	e.want(e.do(req{method: "POST", path: "/v1/admin-users", body: `{"name":"x","role":"admin","password":"long enough pw"}`, as: e.editor}), http.StatusForbidden)
	e.want(e.do(req{method: "POST", path: "/v1/admin-users", body: `{"name":"x","role":"admin","password":"long enough pw"}`, as: e.viewer}), http.StatusForbidden)

	list := e.want(e.get("/v1/admin-users"), http.StatusOK).json(t)["items"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "carol" {
		t.Errorf("list: %v", list)
	}

	// A role change ends carol's sessions.
	now := time.Now().UTC()
	if err := ss.CreateSession(ctx, &session.Session{ID: "s1", Kind: session.KindAdmin, Subject: "user:carol", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r = e.want(e.put("/v1/admin-users/carol", `{"role":"viewer"}`), http.StatusOK)
	if r.json(t)["role"] != "viewer" {
		t.Errorf("updated: %s", r.body)
	}
	if _, err := ss.Session(ctx, "s1"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("carol's session survived a role change: %v", err)
	}
	e.want(e.put("/v1/admin-users/nobody", `{"role":"viewer"}`), http.StatusNotFound)
	e.want(e.put("/v1/admin-users/carol", `{"password":"short"}`), http.StatusBadRequest)
	e.want(e.del("/v1/admin-users/carol"), http.StatusNoContent)
	e.want(e.del("/v1/admin-users/carol"), http.StatusNotFound)

	// Without a session store the routes say so.
	plain := newEnv(t)
	e2 := plain.want(plain.get("/v1/admin-users"), http.StatusNotFound)
	if !strings.Contains(string(e2.body), "keeps no accounts") {
		t.Errorf("no sessions: %s", e2.body)
	}
}

func TestResetLinkAndTokenSessions(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ss := e.store.(session.Store)
	e.want(e.post("/v1/developers", `{"email":"ann@example.com"}`), http.StatusCreated)

	r := e.want(e.post("/v1/developers/ANN@example.com/reset-link", ""), http.StatusCreated)
	link := r.json(t)["url"].(string)
	token, ok := strings.CutPrefix(link, "https://portal.example.com/reset?token=")
	if !ok {
		t.Fatalf("link %q", link)
	}
	if email, err := session.PeekReset(ctx, ss, token); err != nil || email != "ann@example.com" {
		t.Errorf("the link's token: %q, %v", email, err)
	}
	e.want(e.post("/v1/developers/nobody@example.com/reset-link", ""), http.StatusNotFound)
	e.want(e.do(req{method: "POST", path: "/v1/developers/ann@example.com/reset-link", as: e.viewer}), http.StatusForbidden)

	// Deleting a token ends the dashboard sessions signed in with it.
	now := time.Now().UTC()
	if err := ss.CreateSession(ctx, &session.Session{ID: "t1", Kind: session.KindAdmin, Subject: "token:editor", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	toks := e.want(e.get("/v1/admin-tokens"), http.StatusOK).json(t)["items"].([]any)
	var id string
	for _, x := range toks {
		if m := x.(map[string]any); m["name"] == "editor" {
			id = m["id"].(string)
		}
	}
	e.want(e.del("/v1/admin-tokens/"+id), http.StatusNoContent)
	if _, err := ss.Session(ctx, "t1"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("a dashboard session outlived its token: %v", err)
	}
}
