// Package clienttest is an in-memory fake of the Gatehouse admin API for tests of the client
// and the CLI. It mimics the shapes the real server answers with (cursor pages, problem
// documents with stable codes, ETags and If-Match, 201/204, secrets shown once) and applies
// the domain's own Normalize and Validate, so tests do not wait on the real server. Only
// tests import it; the end-to-end tests run against the real one.
package clienttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Version is what the fake reports on /v1/status.
const Version = "v0.0.0-test"

// Server is a fake admin API. Set its exported fields before the first request.
type Server struct {
	*httptest.Server

	// Token is the bearer token callers must send; empty accepts any.
	Token string
	// PageSize is the page size when a list call gives no limit. It is small by default so
	// that tests cross page boundaries.
	PageSize int
	// Hook, when set, sees every request first and answers it by returning true; tests
	// use it to inject failures.
	Hook       func(w http.ResponseWriter, r *http.Request) bool
	mu         sync.Mutex
	now        time.Time // stamps server-managed times
	rev        int64
	seq        int
	requests   []string
	apis       *collection[*gatehouse.API]
	plans      *collection[*gatehouse.Plan]
	developers *collection[*gatehouse.Developer]
	apps       *collection[*gatehouse.App]
	keys       *collection[*gatehouse.Key]
	subs       *collection[*gatehouse.Subscription]
	tokens     *collection[*gatehouse.AdminToken]
	audit      []*gatehouse.AuditEntry
}

// NewServer starts a fake that t closes at its end.
func NewServer(t testing.TB) *Server {
	s := &Server{
		PageSize:   2,
		now:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		apis:       newCollection(gatehouse.KindAPI, func(a *gatehouse.API) string { return a.Name }, func(a *gatehouse.API) *gatehouse.Meta { return &a.Meta }),
		plans:      newCollection(gatehouse.KindPlan, func(p *gatehouse.Plan) string { return p.Name }, func(p *gatehouse.Plan) *gatehouse.Meta { return &p.Meta }),
		developers: newCollection(gatehouse.KindDeveloper, func(d *gatehouse.Developer) string { return d.Email }, func(d *gatehouse.Developer) *gatehouse.Meta { return &d.Meta }),
		apps:       newCollection(gatehouse.KindApp, func(a *gatehouse.App) string { return a.Name }, func(a *gatehouse.App) *gatehouse.Meta { return &a.Meta }),
		keys:       newCollection(gatehouse.KindKey, func(k *gatehouse.Key) string { return k.ID }, nil),
		subs:       newCollection(gatehouse.KindSubscription, func(s *gatehouse.Subscription) string { return s.ID }, func(s *gatehouse.Subscription) *gatehouse.Meta { return &s.Meta }),
		tokens:     newCollection(gatehouse.KindAdminToken, func(t *gatehouse.AdminToken) string { return t.ID }, nil),
	}
	// Keys, subscriptions and tokens list in creation order, like the real store.
	s.keys.byCreation, s.subs.byCreation, s.tokens.byCreation = true, true, true
	s.Server = httptest.NewServer(s.routes())
	t.Cleanup(s.Close)
	return s
}

// Requests returns "METHOD /path?query" for every request so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Now returns the time the fake stamps on what it writes; by default a fixed one, so
// that outputs are stable.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// SetNow sets the time the fake stamps on what it writes from now on.
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t
}

// Revision returns the revision of the latest write.
func (s *Server) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	named(s, mux, "/v1/apis", s.apis, s.checkAPI, s.apiInUse, func(a *gatehouse.API, q url.Values) bool {
		return match(q, "state", string(a.State)) && (q.Get("tag") == "" || slices.Contains(a.Tags, q.Get("tag")))
	})
	named(s, mux, "/v1/plans", s.plans, s.checkPlan, s.planInUse, func(p *gatehouse.Plan, q url.Values) bool {
		return q.Get("api") == "" || slices.Contains(p.APIs, q.Get("api"))
	})
	named(s, mux, "/v1/developers", s.developers, s.checkDeveloper, s.developerInUse, func(d *gatehouse.Developer, q url.Values) bool {
		return match(q, "status", d.Status)
	})
	named(s, mux, "/v1/apps", s.apps, s.checkApp, s.appInUse, func(a *gatehouse.App, q url.Values) bool {
		return match(q, "developer", a.Developer)
	})
	named(s, mux, "/v1/subscriptions", s.subs, s.checkSubscription, nil, func(sub *gatehouse.Subscription, q url.Values) bool {
		return match(q, "app", sub.App) && match(q, "plan", sub.Plan) && match(q, "status", string(sub.Status))
	})
	s.keyRoutes(mux)
	s.tokenRoutes(mux)
	s.userRoutes(mux)
	mux.HandleFunc("GET /v1/audit", s.listAudit)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": Version, "revision": s.rev})
	})
	ok := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, gatehouse.Errorf(gatehouse.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock() // one request at a time keeps the fake simple and race-free
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		if s.Hook != nil && s.Hook(w, r) {
			return
		}
		if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
			writeProblem(w, gatehouse.Errorf(gatehouse.EUnauthorized, "missing or bad admin token"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func match(q url.Values, name, value string) bool { return q.Get(name) == "" || q.Get(name) == value }

// collection holds one kind of resource by id.
type collection[T any] struct {
	kind       string
	id         func(T) string
	meta       func(T) *gatehouse.Meta // nil for kinds without revisions
	byCreation bool
	items      map[string]T
	seqs       map[string]int
}

func newCollection[T any](kind string, id func(T) string, meta func(T) *gatehouse.Meta) *collection[T] {
	return &collection[T]{kind: kind, id: id, meta: meta, items: map[string]T{}, seqs: map[string]int{}}
}

func (c *collection[T]) sorted() []T {
	ids := make([]string, 0, len(c.items))
	for id := range c.items {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c.byCreation {
			return c.seqs[a] - c.seqs[b]
		}
		return strings.Compare(a, b)
	})
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = c.items[id]
	}
	return out
}

func (c *collection[T]) notFound(id string) error {
	return gatehouse.Errorf(gatehouse.ENotFound, "%s %q not found", strings.ReplaceAll(c.kind, "_", " "), id)
}

// paginate cuts a page after the cursor, which is the id of the last item handed out.
func paginate[T any](items []T, id func(T) string, q url.Values, defaultSize int) (gatehouse.Page[T], error) {
	limit := defaultSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > gatehouse.MaxPageSize {
			return gatehouse.Page[T]{}, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "bad query",
				Fields: []gatehouse.FieldError{{Field: "limit", Message: "must be between 1 and 500"}}}
		}
		limit = n
	}
	start := 0
	if after := q.Get("after"); after != "" {
		i := slices.IndexFunc(items, func(v T) bool { return id(v) == after })
		if i < 0 {
			return gatehouse.Page[T]{}, gatehouse.Errorf(gatehouse.EInvalid, "bad cursor %q", after)
		}
		start = i + 1
	}
	page := gatehouse.Page[T]{Items: items[start:min(start+limit, len(items))]}
	if start+limit < len(items) {
		page.Next = id(page.Items[len(page.Items)-1])
	}
	return page, nil
}

// named serves the seven calls of a named resource under prefix. check normalizes,
// validates and checks references of a value about to be written; inUse says why a
// value cannot be deleted.
func named[T any](s *Server, mux *http.ServeMux, prefix string, c *collection[T],
	check func(T) error, inUse func(T) error, keep func(T, url.Values) bool) {

	mux.HandleFunc("GET "+prefix, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		items := slices.DeleteFunc(c.sorted(), func(v T) bool { return !keep(v, q) })
		page, err := paginate(items, c.id, q, s.PageSize)
		if err != nil {
			writeProblem(w, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST "+prefix, func(w http.ResponseWriter, r *http.Request) {
		var v T
		if err := decode(r, &v); err != nil {
			writeProblem(w, err)
			return
		}
		if c.kind == gatehouse.KindSubscription {
			sub := any(v).(*gatehouse.Subscription)
			sub.ID = s.nextID("sub")
		}
		if err := check(v); err != nil {
			writeProblem(w, err)
			return
		}
		id := c.id(v)
		if _, ok := c.items[id]; ok {
			writeProblem(w, gatehouse.Errorf(gatehouse.EConflict, "%s %q already exists", c.kind, id))
			return
		}
		store(s, c, v, gatehouse.ActionCreate)
		writeJSON(w, http.StatusCreated, v)
	})
	mux.HandleFunc("GET "+prefix+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := c.items[r.PathValue("id")]
		if !ok {
			writeProblem(w, c.notFound(r.PathValue("id")))
			return
		}
		w.Header().Set("ETag", etag(c.meta(v).Revision))
		writeJSON(w, http.StatusOK, v)
	})
	// current finds the value the route names and checks If-Match against its revision.
	current := func(r *http.Request) (id string, old T, err error) {
		id = r.PathValue("id")
		old, ok := c.items[id]
		if !ok {
			return id, old, c.notFound(id)
		}
		return id, old, ifMatch(r, c.meta(old).Revision)
	}
	update := func(w http.ResponseWriter, r *http.Request) {
		id, old, err := current(r)
		if err != nil {
			writeProblem(w, err)
			return
		}
		var v T
		if r.Method == http.MethodPatch {
			v, err = mergePatch(r, old)
		} else {
			err = decode(r, &v)
		}
		if err != nil {
			writeProblem(w, err)
			return
		}
		if got := c.id(v); got != id && got != "" {
			writeProblem(w, gatehouse.Errorf(gatehouse.EInvalid, "the body names %q but the URL %q; names cannot change", got, id))
			return
		}
		setID(v, id)
		if err := check(v); err != nil {
			writeProblem(w, err)
			return
		}
		store(s, c, v, gatehouse.ActionUpdate)
		writeJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("PUT "+prefix+"/{id}", update)
	mux.HandleFunc("PATCH "+prefix+"/{id}", update)
	mux.HandleFunc("DELETE "+prefix+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, old, err := current(r)
		if err != nil {
			writeProblem(w, err)
			return
		}
		if inUse != nil {
			if err := inUse(old); err != nil {
				writeProblem(w, err)
				return
			}
		}
		remove(s, c, id)
		w.WriteHeader(http.StatusNoContent)
	})
}

// setID fills the identifying field of a PUT body that left it out.
func setID(v any, id string) {
	switch v := v.(type) {
	case *gatehouse.API:
		v.Name = id
	case *gatehouse.Plan:
		v.Name = id
	case *gatehouse.Developer:
		v.Email = id
	case *gatehouse.App:
		v.Name = id
	case *gatehouse.Subscription:
		v.ID = id
	}
}

// nextID returns a fresh id that sorts in creation order.
func (s *Server) nextID(kind string) string {
	s.seq++
	return fmt.Sprintf("%s_%04d", kind, s.seq)
}

// store writes v (replacing the value with its id, if any), stamps the server fields and
// audits the write.
func store[T any](s *Server, c *collection[T], v T, action string) {
	s.rev++
	s.seq++
	id := c.id(v)
	old, hasOld := c.items[id]
	if c.meta != nil {
		m := c.meta(v)
		m.Revision, m.CreatedAt, m.UpdatedAt = s.rev, s.now, s.now
		if hasOld {
			m.CreatedAt = c.meta(old).CreatedAt
		}
	}
	if !hasOld {
		c.seqs[id] = s.seq
	}
	c.items[id] = v
	s.record(c.kind, id, action)
}

func remove[T any](s *Server, c *collection[T], id string) {
	s.rev++
	delete(c.items, id)
	delete(c.seqs, id)
	s.record(c.kind, id, gatehouse.ActionDelete)
	if c.kind == gatehouse.KindApp { // an app's keys go with it
		for kid, k := range s.keys.items {
			if k.App == id {
				delete(s.keys.items, kid)
			}
		}
	}
}

func (s *Server) record(kind, name, action string) {
	s.audit = append(s.audit, &gatehouse.AuditEntry{
		ID: int64(len(s.audit) + 1), At: s.now, Actor: "admin", Action: action,
		Resource: kind, Name: name, Revision: s.rev,
	})
}

func ifMatch(r *http.Request, current int64) error {
	h := r.Header.Get("If-Match")
	if h == "" || h == "*" {
		return nil
	}
	if h != etag(current) {
		return gatehouse.Errorf(gatehouse.EPreconditionFailed, "the resource changed: it is at revision %d, not %s", current, h)
	}
	return nil
}

func etag(rev int64) string { return strconv.Quote(strconv.FormatInt(rev, 10)) }

// decode reads a JSON body strictly, as the real server does.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return gatehouse.Errorf(gatehouse.EInvalid, "bad JSON body: %v", err)
	}
	return nil
}

// mergePatch applies an RFC 7396 merge patch to old and returns the patched copy.
func mergePatch[T any](r *http.Request, old T) (T, error) {
	var zero T
	var patch any
	if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
		return zero, gatehouse.Errorf(gatehouse.EInvalid, "bad JSON merge patch: %v", err)
	}
	b, _ := json.Marshal(old)
	var doc any
	_ = json.Unmarshal(b, &doc)
	b, _ = json.Marshal(applyPatch(doc, patch))
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return zero, gatehouse.Errorf(gatehouse.EInvalid, "patched resource: %v", err)
	}
	return v, nil
}

func applyPatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
		} else {
			d[k] = applyPatch(d[k], v)
		}
	}
	return d
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var statusOf = map[string]int{
	gatehouse.EInvalid:            http.StatusBadRequest,
	gatehouse.ENotFound:           http.StatusNotFound,
	gatehouse.EConflict:           http.StatusConflict,
	gatehouse.EUnauthorized:       http.StatusUnauthorized,
	gatehouse.EForbidden:          http.StatusForbidden,
	gatehouse.EPreconditionFailed: http.StatusPreconditionFailed,
	gatehouse.ETooLarge:           http.StatusRequestEntityTooLarge,
	gatehouse.EUnavailable:        http.StatusServiceUnavailable,
}

// WriteProblem answers with err as a problem document, as the real server does. Hooks use
// it to inject failures.
func WriteProblem(w http.ResponseWriter, err error) { writeProblem(w, err) }

func writeProblem(w http.ResponseWriter, err error) {
	var e *gatehouse.Error
	if !errors.As(err, &e) {
		e = &gatehouse.Error{Code: gatehouse.EInternal, Message: "internal error"}
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := map[string]any{
		"type": "https://gatehouse.dev/problems/" + e.Code, "title": http.StatusText(status),
		"status": status, "detail": e.Message, "code": e.Code,
	}
	if len(e.Fields) > 0 {
		p["errors"] = e.Fields
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
