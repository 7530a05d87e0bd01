package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// crudCase drives one named resource through create, get, list, put, patch and delete.
type crudCase struct {
	coll   string
	key    string                 // the JSON field that names one
	setup  func(e *env)           // creates what the resource depends on
	body   func(id string) string // a valid creation body
	ids    []string               // identifiers to create; the first is the one updated
	put    string                 // a replacement body without the identifier
	putHas map[string]any         // fields the replacement sets
	patch  string                 // a merge patch
	after  map[string]any         // fields after the patch (others kept from put)
	kept   string                 // a field the patch must not touch
	filter string                 // a list query that matches every created item
	kind   string                 // audit resource kind
}

func crudCases() []crudCase {
	return []crudCase{
		{
			coll: "apis", key: "name", kind: "api",
			body: func(id string) string {
				return `{"name":"` + id + `","path":"/` + id + `","tags":["shop"],"upstream":{"targets":[{"url":"http://` + id + `.internal"}]}}`
			},
			ids:    []string{"orders", "billing", "catalog"},
			put:    `{"state":"published","path":"/v2/orders","upstream":{"targets":[{"url":"http://new.internal","weight":5}]},"tags":["shop"]}`,
			putHas: map[string]any{"state": "published", "path": "/v2/orders"},
			patch:  `{"description":"Orders of the shop","strip_path":true}`,
			after:  map[string]any{"description": "Orders of the shop", "strip_path": true, "state": "published"},
			kept:   "upstream",
			filter: "tag=shop",
		},
		{
			coll: "plans", key: "name", kind: "plan",
			setup: func(e *env) { e.want(e.post("/v1/apis", apiBody), http.StatusCreated) },
			body: func(id string) string {
				return `{"name":"` + id + `","apis":["orders"],"rate_limit":{"limit":10,"window":"1s"}}`
			},
			ids:    []string{"gold", "silver", "bronze"},
			put:    `{"apis":["orders"],"approval":"manual","quota":{"limit":1000,"period":"day"}}`,
			putHas: map[string]any{"approval": "manual"},
			patch:  `{"description":"For partners","quota":null}`,
			after:  map[string]any{"description": "For partners", "approval": "manual"},
			kept:   "apis",
			filter: "api=orders",
		},
		{
			coll: "developers", key: "email", kind: "developer",
			body: func(id string) string {
				return `{"email":"` + strings.ToUpper(id[:1]) + id[1:] + `","name":"Someone"}` // upper case: normalized
			},
			ids:    []string{"ada@example.com", "bob@example.com", "cy@example.com"},
			put:    `{"name":"Ada Lovelace","status":"blocked"}`,
			putHas: map[string]any{"name": "Ada Lovelace", "status": "blocked"},
			patch:  `{"status":"active"}`,
			after:  map[string]any{"status": "active", "name": "Ada Lovelace"},
			kept:   "name",
			filter: "",
		},
		{
			coll: "apps", key: "name", kind: "app",
			setup: func(e *env) {
				e.want(e.post("/v1/developers", devBody), http.StatusCreated)
			},
			body: func(id string) string {
				return `{"name":"` + id + `","developer":"ADA@example.com"}`
			},
			ids:    []string{"mobile", "web", "cli"},
			put:    `{"developer":"ada@example.com","description":"The iOS app"}`,
			putHas: map[string]any{"description": "The iOS app"},
			patch:  `{"description":null}`,
			after:  map[string]any{"developer": "ada@example.com"},
			kept:   "developer",
			filter: "developer=ada@example.com",
		},
	}
}

func TestCRUD(t *testing.T) {
	for _, c := range crudCases() {
		t.Run(c.coll, func(t *testing.T) {
			e := newEnv(t)
			if c.setup != nil {
				c.setup(e)
			}
			id := c.ids[0]
			one := "/v1/" + c.coll + "/" + url.PathEscape(id)

			// Create: 201, Location, ETag, the stored resource.
			r := e.want(e.post("/v1/"+c.coll, c.body(id)), http.StatusCreated)
			if loc := r.header.Get("Location"); loc != one {
				t.Errorf("Location = %q, want %q", loc, one)
			}
			created := r.json(t)
			if created[c.key] != id {
				t.Errorf("%s = %v, want %q (normalized)", c.key, created[c.key], id)
			}
			rev := created["revision"].(float64)
			if tag := r.header.Get("ETag"); tag != fmt.Sprintf(`"%d"`, int64(rev)) {
				t.Errorf("ETag = %q, want revision %v", tag, rev)
			}
			e.want(e.post("/v1/"+c.coll, c.body(id)), http.StatusConflict)

			// Read, and 304 for a matching If-None-Match.
			r = e.want(e.get(one), http.StatusOK)
			etag := r.header.Get("ETag")
			if got := r.json(t); got["revision"] != rev {
				t.Errorf("GET revision = %v, want %v", got["revision"], rev)
			}
			r = e.want(e.do(req{method: "GET", path: one, header: map[string]string{"If-None-Match": etag}}), http.StatusNotModified)
			if len(r.body) != 0 || r.header.Get("ETag") != etag {
				t.Errorf("304 answer: body %q, ETag %q", r.body, r.header.Get("ETag"))
			}
			e.want(e.do(req{method: "GET", path: one, header: map[string]string{"If-None-Match": `"1"`}}), http.StatusOK)

			// List in pages of two, following next and Link.
			for _, other := range c.ids[1:] {
				e.want(e.post("/v1/"+c.coll, c.body(other)), http.StatusCreated)
			}
			var seen []string
			path := "/v1/" + c.coll + "?limit=2"
			if c.filter != "" {
				path += "&" + c.filter
			}
			for pages := 0; path != ""; pages++ {
				if pages > 3 {
					t.Fatal("pagination does not end")
				}
				r = e.want(e.get(path), http.StatusOK)
				m := r.json(t)
				for _, it := range m["items"].([]any) {
					seen = append(seen, it.(map[string]any)[c.key].(string))
				}
				next, _ := m["next"].(string)
				link := r.header.Get("Link")
				if (next == "") != (link == "") {
					t.Fatalf("next %q but Link %q", next, link)
				}
				path = ""
				if next != "" {
					path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
					u, err := url.Parse(path)
					want, _ := url.ParseQuery(c.filter)
					if err != nil || u.Query().Get("after") != next || u.Query().Get("limit") != "2" ||
						!strings.HasSuffix(link, `>; rel="next"`) {
						t.Errorf("Link = %q does not carry the cursor and limit", link)
					}
					for k := range want {
						if u.Query().Get(k) != want.Get(k) {
							t.Errorf("Link = %q lost filter %s", link, k)
						}
					}
				}
			}
			if len(seen) != len(c.ids) {
				t.Errorf("listed %v, want all of %v", seen, c.ids)
			}

			// Replace: stale If-Match fails, current succeeds.
			e.want(e.do(req{method: "PUT", path: one, body: c.put, header: map[string]string{"If-Match": `"1"`}}), http.StatusPreconditionFailed)
			r = e.want(e.do(req{method: "PUT", path: one, body: c.put, header: map[string]string{"If-Match": etag}}), http.StatusOK)
			put := r.json(t)
			for k, v := range c.putHas {
				if put[k] != v {
					t.Errorf("after PUT %s = %v, want %v", k, put[k], v)
				}
			}
			if put["revision"].(float64) <= rev || put["created_at"] != created["created_at"] {
				t.Errorf("PUT revision %v (was %v), created_at %v (was %v)", put["revision"], rev, put["created_at"], created["created_at"])
			}
			if r.header.Get("ETag") != `"`+strconv.FormatInt(int64(put["revision"].(float64)), 10)+`"` {
				t.Errorf("PUT ETag = %q", r.header.Get("ETag"))
			}

			// Merge patch: named fields change, the rest is kept.
			r = e.want(e.patch(one, c.patch), http.StatusOK)
			patched := r.json(t)
			for k, v := range c.after {
				if patched[k] != v {
					t.Errorf("after PATCH %s = %v, want %v", k, patched[k], v)
				}
			}
			if fmt.Sprint(patched[c.kept]) != fmt.Sprint(put[c.kept]) {
				t.Errorf("PATCH changed %s: %v -> %v", c.kept, put[c.kept], patched[c.kept])
			}
			// application/json is accepted for PATCH too.
			e.want(e.do(req{method: "PATCH", path: one, body: c.patch}), http.StatusOK)

			// Delete: stale If-Match fails, then it is gone.
			e.want(e.do(req{method: "DELETE", path: one, header: map[string]string{"If-Match": etag}}), http.StatusPreconditionFailed)
			e.want(e.do(req{method: "DELETE", path: one, header: map[string]string{"If-Match": "*"}}), http.StatusNoContent)
			e.want(e.get(one), http.StatusNotFound)
			e.want(e.del(one), http.StatusNotFound)
			e.want(e.put(one, c.put), http.StatusNotFound)

			// The audit log names the token that did it.
			r = e.want(e.get("/v1/audit?resource="+c.kind+"&name="+url.QueryEscape(id)), http.StatusOK)
			var actions []string
			for _, it := range r.json(t)["items"].([]any) {
				entry := it.(map[string]any)
				actions = append(actions, entry["action"].(string))
				if entry["actor"] != "token:root" {
					t.Errorf("audit entry by %v, want token:root", entry["actor"])
				}
			}
			if want := "delete update update update create"; strings.Join(actions, " ") != want {
				t.Errorf("audit actions (newest first) = %v, want %s", actions, want)
			}
		})
	}
}

// TestPutIdentifier checks that the identifier in a PUT body may be omitted or repeated,
// not changed.
func TestPutIdentifier(t *testing.T) {
	e := newEnv(t)
	e.want(e.post("/v1/developers", devBody), http.StatusCreated)
	e.want(e.put("/v1/developers/ada@example.com", `{"email":"ADA@example.com","name":"A"}`), http.StatusOK)
	e.want(e.put("/v1/developers/Ada@Example.com", `{"name":"B"}`), http.StatusOK)
	before := e.snapshot()
	p := e.want(e.put("/v1/developers/ada@example.com", `{"email":"eve@example.com"}`), http.StatusBadRequest).problem(t)
	if p.Code != "invalid" || p.field("email") == "" {
		t.Errorf("rename by PUT: %+v", p)
	}
	p = e.want(e.patch("/v1/developers/ada@example.com", `{"email":"eve@example.com"}`), http.StatusBadRequest).problem(t)
	if p.field("email") == "" {
		t.Errorf("rename by PATCH: %+v", p)
	}
	e.unchanged(before)
}

// TestServerFieldsIgnored checks that server-managed fields are dropped, whatever their
// type, rather than rejected or stored.
func TestServerFieldsIgnored(t *testing.T) {
	e := newEnv(t)
	r := e.want(e.post("/v1/developers", `{"email":"ada@example.com","revision":"x","created_at":5,"updated_at":null,"id":[],"prefix":{}}`), http.StatusCreated)
	m := r.json(t)
	if m["revision"] == "x" || m["created_at"] == float64(5) {
		t.Errorf("server fields taken from the body: %s", r.body)
	}
	r = e.want(e.patch("/v1/developers/ada@example.com", `{"revision":1,"name":"Ada"}`), http.StatusOK)
	if r.json(t)["revision"].(float64) <= m["revision"].(float64) {
		t.Errorf("revision from the patch body: %s", r.body)
	}
}

// TestPatchRetriesConcurrentWrite checks that a PATCH without If-Match re-applies itself to
// a version written between its read and its write, instead of overwriting it.
func TestPatchRetriesConcurrentWrite(t *testing.T) {
	e, hs := newHookedEnv(t)
	e.want(e.post("/v1/developers", devBody), http.StatusCreated)
	hs.set(func(h *hooks) {
		h.afterDeveloperRead = func() {
			d, err := hs.Store.Developer(context.Background(), "ada@example.com")
			if err != nil {
				t.Error(err)
				return
			}
			d.Status = "blocked"
			if _, err := hs.Store.UpdateDeveloper(context.Background(), d, 0); err != nil {
				t.Error(err)
			}
		}
	})
	r := e.want(e.patch("/v1/developers/ada@example.com", `{"name":"Ada L."}`), http.StatusOK)
	m := r.json(t)
	if m["name"] != "Ada L." || m["status"] != "blocked" {
		t.Errorf("after a raced PATCH: %s (want both the patch and the concurrent write)", r.body)
	}
	if n := hs.count("Developer"); n != 2 {
		t.Errorf("PATCH read the developer %d times, want 2 (one retry)", n)
	}

	// With If-Match the client named one revision: no retry, 412.
	cur := e.want(e.get("/v1/developers/ada@example.com"), http.StatusOK).header.Get("ETag")
	hs.set(func(h *hooks) {
		h.afterDeveloperRead = func() {
			d, _ := hs.Store.Developer(context.Background(), "ada@example.com")
			d.Name = "Someone else"
			if _, err := hs.Store.UpdateDeveloper(context.Background(), d, 0); err != nil {
				t.Error(err)
			}
		}
	})
	e.want(e.do(req{method: "PATCH", path: "/v1/developers/ada@example.com", body: `{"name":"Mine"}`,
		header: map[string]string{"If-Match": cur}}), http.StatusPreconditionFailed)
}

func TestPurgeCache(t *testing.T) {
	var purged []string
	e := newEnv(t, func(o *Options) {
		o.PurgeCache = func(_ context.Context, api string) error { purged = append(purged, api); return nil }
	})
	e.want(e.post("/v1/apis", apiBody), http.StatusCreated)
	before := e.snapshot()
	e.want(e.del("/v1/apis/nope/cache"), http.StatusNotFound)
	e.want(e.del("/v1/apis/orders/cache"), http.StatusNoContent)
	if len(purged) != 1 || purged[0] != "orders" {
		t.Errorf("purged %v", purged)
	}
	e.unchanged(before) // purging is not a configuration change
}
