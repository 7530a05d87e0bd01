package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
)

// kind describes a revisioned resource (API, plan, developer, app, subscription) to the generic
// handlers below, which implement create, read, replace, merge-patch and delete once.
type kind[E any] struct {
	collection string // URL segment under /v1/: "apis"
	key        string // path wildcard and JSON field that names one: "name", "email"
	canonical  func(string) string
	ident      func(*E) string
	setIdent   func(*E, string)
	revision   func(*E) int64
	check      func(*E) error           // Normalize and Validate, plus rules of the HTTP layer
	frozen     func(cur, next *E) error // optional: what a PATCH may not change besides the identifier
	get        func(ctx context.Context, id string) (*E, error)
	create     func(ctx context.Context, v *E) (*E, error)
	update     func(ctx context.Context, v *E, ifRevision int64) (*E, error)
	remove     func(ctx context.Context, id string, ifRevision int64) error
}

// pathIdent is the canonical identifier named by the request path.
func (k *kind[E]) pathIdent(r *http.Request) string {
	id := r.PathValue(k.key)
	if k.canonical != nil {
		id = k.canonical(id)
	}
	return id
}

func (k *kind[E]) same(a, b string) bool {
	if k.canonical != nil {
		a, b = k.canonical(a), k.canonical(b)
	}
	return a == b
}

func getOne[E any](s *server, w http.ResponseWriter, r *http.Request, k *kind[E]) error {
	v, err := k.get(r.Context(), k.pathIdent(r))
	if err != nil {
		return err
	}
	s.writeGet(w, r, k.revision(v), v)
	return nil
}

func createOne[E any](s *server, w http.ResponseWriter, r *http.Request, k *kind[E]) error {
	doc, err := s.readBody(w, r, false, mediaJSON)
	if err != nil {
		return err
	}
	v := new(E)
	if err := decodeInto(doc, v, serverFields()...); err != nil {
		return err
	}
	if err := k.check(v); err != nil {
		return err
	}
	out, err := k.create(r.Context(), v)
	if err != nil {
		return err
	}
	s.writeCreated(w, r, pathOf(k.collection, k.ident(out)), k.revision(out), out)
	return nil
}

// putOne replaces a resource. The identifier in the body may be left out (the path names
// the resource) but may not differ: names are immutable.
func putOne[E any](s *server, w http.ResponseWriter, r *http.Request, k *kind[E]) error {
	ifRev, err := ifMatch(r)
	if err != nil {
		return err
	}
	doc, err := s.readBody(w, r, false, mediaJSON)
	if err != nil {
		return err
	}
	v := new(E)
	if err := decodeInto(doc, v, serverFields()...); err != nil {
		return err
	}
	id := k.pathIdent(r)
	switch body := k.ident(v); {
	case body == "":
		k.setIdent(v, id)
	case !k.same(body, id):
		return identChanged(k.key, body, id)
	}
	if err := k.check(v); err != nil {
		return err
	}
	out, err := k.update(r.Context(), v, ifRev)
	if err != nil {
		return err
	}
	s.writeResource(w, r, http.StatusOK, k.revision(out), out)
	return nil
}

// maxPatchAttempts bounds the retries of a PATCH without If-Match that lost a race with
// another write. With If-Match the client asked for exactly one revision, so it never
// retries.
const maxPatchAttempts = 3

// patchOne applies a JSON merge patch to the stored resource, then validates and stores the
// result conditionally on the revision it was computed from, so that a concurrent write is
// never silently overwritten.
func patchOne[E any](s *server, w http.ResponseWriter, r *http.Request, k *kind[E]) error {
	ifRev, err := ifMatch(r)
	if err != nil {
		return err
	}
	patch, err := s.readBody(w, r, false, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	for _, f := range serverFields() {
		delete(patch, f)
	}
	id := k.pathIdent(r)
	for attempt := 1; ; attempt++ {
		cur, err := k.get(r.Context(), id)
		if err != nil {
			return err
		}
		rev := k.revision(cur)
		if ifRev != 0 && rev != ifRev {
			return staleRevision(ifRev, rev)
		}
		v, err := applyPatch(cur, patch)
		if err != nil {
			return err
		}
		if body := k.ident(v); !k.same(body, k.ident(cur)) {
			return identChanged(k.key, body, k.ident(cur))
		}
		if k.frozen != nil {
			if err := k.frozen(cur, v); err != nil {
				return err
			}
		}
		if err := k.check(v); err != nil {
			return err
		}
		out, err := k.update(r.Context(), v, rev)
		if gatehouse.ErrorCode(err) == gatehouse.EPreconditionFailed && ifRev == 0 && attempt < maxPatchAttempts {
			continue // someone wrote in between; patch their version
		}
		if err != nil {
			return err
		}
		s.writeResource(w, r, http.StatusOK, k.revision(out), out)
		return nil
	}
}

// applyPatch returns a new value: cur with patch merged in, decoded as strictly as a body.
// The caller has dropped server fields from patch, so those in the result (the id of a
// subscription, revisions, timestamps) are the stored ones.
func applyPatch[E any](cur *E, patch map[string]any) (*E, error) {
	base, err := toDoc(cur)
	if err != nil {
		return nil, err
	}
	merged, _ := mergePatch(base, patch).(map[string]any)
	v := new(E)
	if err := decodeInto(merged, v); err != nil {
		return nil, err
	}
	return v, nil
}

func deleteOne[E any](s *server, w http.ResponseWriter, r *http.Request, k *kind[E]) error {
	ifRev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := k.remove(r.Context(), k.pathIdent(r), ifRev); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func identChanged(field, body, path string) error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid request body",
		Fields: []gatehouse.FieldError{{Field: field,
			Message: fmt.Sprintf("is %q but the path names %q; a resource cannot be renamed", body, path)}}}
}

func staleRevision(want, have int64) error {
	return gatehouse.Errorf(gatehouse.EPreconditionFailed,
		"If-Match %s does not match the current revision %s", etag(want), etag(have))
}

// listOptions reads limit and after, and refuses query parameters other than those and
// filters: a misspelt filter would otherwise silently list everything.
func listOptions(q url.Values, filters ...string) (gatehouse.ListOptions, error) {
	var p gatehouse.Problems
	for name := range q {
		if name != "limit" && name != "after" && !slices.Contains(filters, name) {
			if len(filters) == 0 {
				p.Addf(name, "unknown query parameter; this list takes limit and after")
			} else {
				p.Addf(name, "unknown query parameter; this list takes limit, after and %v", filters)
			}
		}
	}
	for name, vs := range q {
		if len(vs) > 1 {
			p.Addf(name, "given %d times; give it once", len(vs))
		}
	}
	var o gatehouse.ListOptions
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > gatehouse.MaxPageSize {
			p.Addf("limit", "must be an integer between 1 and %d", gatehouse.MaxPageSize)
		}
		o.Limit = n
	}
	o.After = q.Get("after")
	if err := p.Err("query"); err != nil {
		return o, sortedProblems(err)
	}
	return o, nil
}

// sortedProblems orders field errors by name, because they come from a map iteration.
func sortedProblems(err error) error {
	if e, ok := asError(err); ok {
		slices.SortStableFunc(e.Fields, func(a, b gatehouse.FieldError) int {
			switch {
			case a.Field < b.Field:
				return -1
			case a.Field > b.Field:
				return 1
			}
			return 0
		})
	}
	return err
}

// items makes an empty list encode as [] rather than null.
func items[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
