package admin

import (
	"context"
	"encoding/json"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// env is one admin API over a fresh SQLite store, with three tokens: root (admin), viewer
// (read_only) and old (admin, expired).
type env struct {
	t      *testing.T
	store  gatehouse.Store
	sqlite *sqlite.Store
	srv    *httptest.Server
	logs   *logtest.Buffer
	doc    *oaDoc

	root, viewer, editor, old string // secrets
}

type envOption func(*Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), nil)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newEnvWithStore(t, st, st, opts...)
}

// newEnvWithStore serves store (which may wrap sq to inject failures).
func newEnvWithStore(t *testing.T, store gatehouse.Store, sq *sqlite.Store, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, store: store, sqlite: sq, logs: &logtest.Buffer{}, doc: loadDoc(t)}
	o := Options{
		Store:   store,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version: "test-1.2.3",
	}
	for _, f := range opts {
		f(&o)
	}
	e.srv = httptest.NewServer(New(o))
	t.Cleanup(e.srv.Close)
	e.root = e.token("root", gatehouse.RoleAdmin, nil)
	e.viewer = e.token("viewer", gatehouse.RoleReadOnly, nil)
	e.editor = e.token("editor", gatehouse.RoleEditor, nil)
	past := time.Now().Add(-time.Hour)
	e.old = e.token("old", gatehouse.RoleAdmin, &past)
	return e
}

// token stores an admin token directly and returns its secret.
func (e *env) token(name, role string, expires *time.Time) string {
	e.t.Helper()
	secret, prefix, hash := gatehouse.NewSecret(gatehouse.AdminSecretPrefix)
	_, err := e.sqlite.CreateAdminToken(context.Background(),
		&gatehouse.AdminToken{Name: name, Role: role, Prefix: prefix, Hash: hash, ExpiresAt: expires})
	if err != nil {
		e.t.Fatalf("creating token %s: %v", name, err)
	}
	return secret
}

// resp is an answer, read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r *resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// problem decodes a problem document and checks its invariants.
func (r *resp) problem(t *testing.T) problemDoc {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("bad problem document: %v\n%s", err, r.body)
	}
	if p.Status != r.status || p.Type != "https://gatehouse.dev/problems/"+p.Code || p.Title != http.StatusText(r.status) {
		t.Fatalf("inconsistent problem document for status %d: %s", r.status, r.body)
	}
	return p
}

type problemDoc struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail"`
	Code   string                 `json:"code"`
	Errors []gatehouse.FieldError `json:"errors"`
}

// field returns the message for field, or "".
func (p problemDoc) field(name string) string {
	for _, f := range p.Errors {
		if f.Field == name {
			return f.Message
		}
	}
	return ""
}

// req describes a call. By default it authenticates as root and sends a body as
// application/json.
type req struct {
	method, path string
	body         string
	header       map[string]string // "" value deletes a default header
	as           string            // secret to authenticate with; default root
	noAuth       bool
}

// do performs the call and checks the answer against the OpenAPI document.
func (e *env) do(r req) *resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if !r.noAuth {
		as := r.as
		if as == "" {
			as = e.root
		}
		hr.Header.Set("Authorization", "Bearer "+as)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := &resp{status: res.StatusCode, header: res.Header, body: b}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("%s %s: Cache-Control = %q, want no-store", r.method, r.path, cc)
	}
	e.doc.checkResponse(e.t, r.method, strings.SplitN(r.path, "?", 2)[0], out)
	return out
}

// get, post, put, patch and del are shorthands for do.
func (e *env) get(path string) *resp { e.t.Helper(); return e.do(req{method: "GET", path: path}) }
func (e *env) post(path, body string) *resp {
	e.t.Helper()
	return e.do(req{method: "POST", path: path, body: body})
}
func (e *env) put(path, body string) *resp {
	e.t.Helper()
	return e.do(req{method: "PUT", path: path, body: body})
}
func (e *env) patch(path, body string) *resp {
	e.t.Helper()
	return e.do(req{method: "PATCH", path: path, body: body,
		header: map[string]string{"Content-Type": "application/merge-patch+json"}})
}
func (e *env) del(path string) *resp { e.t.Helper(); return e.do(req{method: "DELETE", path: path}) }

// want fails unless r has status.
func (e *env) want(r *resp, status int) *resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// snapshot is what a rejected request must leave unchanged.
type snapshot struct {
	revision int64
	audit    int
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	rev, err := e.sqlite.Revision(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	f := gatehouse.AuditFilter{ListOptions: gatehouse.ListOptions{Limit: gatehouse.MaxPageSize}}
	for {
		pg, err := e.sqlite.AuditEntries(context.Background(), f)
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(pg.Items)
		if pg.Next == "" {
			break
		}
		f.After = pg.Next
	}
	return snapshot{revision: rev, audit: n}
}

// unchanged fails if anything was written since before.
func (e *env) unchanged(before snapshot) {
	e.t.Helper()
	if after := e.snapshot(); after != before {
		e.t.Fatalf("store changed: before %+v, after %+v", before, after)
	}
}

// Fixtures shared by the tests.
const (
	devBody = `{"email":"ada@example.com","name":"Ada"}`
	apiBody = `{"name":"orders","state":"published","path":"/orders","upstream":{"targets":[{"url":"http://orders.internal:8080"}]}}`
)

// seedApp creates a developer and an app named name.
func (e *env) seedApp(name string) {
	e.t.Helper()
	if r := e.post("/v1/developers", devBody); r.status != http.StatusCreated && r.status != http.StatusConflict {
		e.t.Fatalf("creating developer: %d %s", r.status, r.body)
	}
	e.want(e.post("/v1/apps", `{"name":"`+name+`","developer":"ada@example.com"}`), http.StatusCreated)
}

// hookStore wraps the real store to inject races and failures and to count calls. It is
// not a store of its own: every call reaches SQLite.
type hookStore struct {
	gatehouse.Store
	mu    sync.Mutex
	h     hooks
	calls map[string]int
}

type hooks struct {
	afterDeveloperRead func() // runs once, after the next Developer read
	revisionErr        error  // returned by Revision
	panicOnPlans       bool   // Plans panics
	pingErr            error  // returned by Ping
}

func newHookedEnv(t *testing.T, opts ...envOption) (*env, *hookStore) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), nil)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hs := &hookStore{Store: st, calls: map[string]int{}}
	return newEnvWithStore(t, hs, st, opts...), hs
}

func (s *hookStore) set(f func(*hooks)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.h)
	clear(s.calls)
}

func (s *hookStore) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *hookStore) hit(name string) hooks {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
	return s.h
}

func (s *hookStore) Developer(ctx context.Context, email string) (*gatehouse.Developer, error) {
	s.hit("Developer")
	d, err := s.Store.Developer(ctx, email)
	s.mu.Lock()
	f := s.h.afterDeveloperRead
	s.h.afterDeveloperRead = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return d, err
}

func (s *hookStore) AdminTokenByHash(ctx context.Context, hash string) (*gatehouse.AdminToken, error) {
	s.hit("AdminTokenByHash")
	return s.Store.AdminTokenByHash(ctx, hash)
}

func (s *hookStore) Revision(ctx context.Context) (int64, error) {
	if h := s.hit("Revision"); h.revisionErr != nil {
		return 0, h.revisionErr
	}
	return s.Store.Revision(ctx)
}

func (s *hookStore) Plans(ctx context.Context, f gatehouse.PlanFilter) (gatehouse.Page[*gatehouse.Plan], error) {
	if h := s.hit("Plans"); h.panicOnPlans {
		panic("plans exploded")
	}
	return s.Store.Plans(ctx, f)
}

func (s *hookStore) Ping(ctx context.Context) error {
	if h := s.hit("Ping"); h.pingErr != nil {
		return h.pingErr
	}
	return s.Store.Ping(ctx)
}
