package router

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// FuzzLookup checks that Lookup never panics and agrees with the reference implementation:
// a Found match's prefix is a segment prefix of the path, Rest is what follows it, and the
// parameters are substrings of the path (not copies).
func FuzzLookup(f *testing.F) {
	for _, tc := range lookupCases() {
		f.Add(tc.host, tc.path, tc.method)
	}
	f.Add("[::1", "/api/\x00/{x}", "GET")
	f.Add("a:b:c", "//", "")
	f.Add("shop.test", "/api/a/b/c/d/e/f/g/h/i/j/k", "GET")
	es := testEntries()
	tbl, err := Build(es)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, path, method string) {
		var m Match[string]
		res := tbl.Lookup(host, path, method, &m)
		checkMatch(t, es, host, path, method, res, &m)
	})
}

// FuzzTable builds tables from fuzzed entries and routes and checks lookups in them against
// the reference. Each line of spec is "E host prefix" (a new entry; host "-" for none) or
// "R methods path" (a route of the last entry; methods comma-separated, "-" for any).
func FuzzTable(f *testing.F) {
	f.Add("E - /\nR GET /a/{x}/c\nR GET /a/b/{y}\nR PUT /a/{z}/c", "h", "/a/b/c", "POST")
	f.Add("E *.x.com /p\nR - /{r...}\nE a.x.com /\nR GET /", "A.x.com:1", "/p/", "GET")
	f.Add("E - /\nR GET /u/me\nR DELETE /u/{id}\nR PATCH /u/{r...}\nR POST /{a}/me", "", "/u/me", "PUT")
	f.Add("E - /api\nR GET,POST /\nR HEAD /\nE - /\n", "", "/api", "HEAD")
	f.Fuzz(func(t *testing.T, spec, host, path, method string) {
		var es []Entry[string]
		for line := range strings.SplitSeq(spec, "\n") {
			kind, rest, _ := strings.Cut(line, " ")
			a, b, _ := strings.Cut(rest, " ")
			switch {
			case kind == "E":
				e := Entry[string]{Name: line, Prefix: b, Value: line}
				if a != "-" {
					e.Hosts = strings.Split(a, ",")
				}
				es = append(es, e)
			case kind == "R" && len(es) > 0:
				r := Route{Path: b}
				if a != "-" {
					r.Methods = strings.Split(a, ",")
				}
				es[len(es)-1].Routes = append(es[len(es)-1].Routes, r)
			}
		}
		tbl, err := Build(es)
		if err != nil {
			return
		}
		var m Match[string]
		res := tbl.Lookup(host, path, method, &m)
		checkMatch(t, es, host, path, method, res, &m)
	})
}

func checkMatch(t *testing.T, es []Entry[string], host, path, method string, res Result, m *Match[string]) {
	t.Helper()
	ref := refLookup(es, host, path, method)
	if res != ref.res || m.Entry != ref.entry || m.Route != ref.route || m.Allow != ref.allow || m.Rest != ref.rest {
		t.Fatalf("Lookup(%q, %q, %q) = %v entry %d route %d allow %q rest %q; reference %+v",
			host, path, method, res, m.Entry, m.Route, m.Allow, m.Rest, ref)
	}
	if m.Entry < 0 {
		return
	}
	if m.Value != es[m.Entry].Value {
		t.Fatalf("Value %q, want %q", m.Value, es[m.Entry].Value)
	}
	p, full := refPrefix(es[m.Entry].Prefix), path
	if full == "" {
		full = "/"
	}
	if p != "/" && full != p && !strings.HasPrefix(full, p+"/") {
		t.Fatalf("prefix %q is not a segment prefix of %q", p, full)
	}
	if res != Found || m.Route < 0 {
		if m.Params.Len() != 0 {
			t.Fatalf("%d params without a route", m.Params.Len())
		}
		return
	}
	got := map[string]string{}
	for i := range m.Params.Len() {
		name, value := m.Params.At(i)
		got[name] = value
		if !within(value, path) {
			t.Fatalf("param %s=%q is not a substring of the path %q", name, value, path)
		}
	}
	if diff := cmp.Diff(ref.params, got); diff != "" {
		t.Fatalf("Lookup(%q, %q, %q) params (-reference +got):\n%s", host, path, method, diff)
	}
}

// within reports whether s is a substring of path in memory, not merely equal to one.
func within(s, path string) bool {
	if s == "" {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(path)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(path))
}

// FuzzRoutesFromOpenAPI checks that the extraction never panics, and that the routes it
// returns are ones Build accepts.
func FuzzRoutesFromOpenAPI(f *testing.F) {
	for _, tc := range openAPICases() {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		routes, err := RoutesFromOpenAPI(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "openapi: ") {
				t.Fatalf("error without its prefix: %v", err)
			}
			return
		}
		if len(routes) == 0 {
			t.Fatal("no routes and no error")
		}
		for _, r := range routes {
			if len(r.Methods) != 1 {
				t.Fatalf("route %+v has %d methods", r, len(r.Methods))
			}
		}
		if _, err := Build([]Entry[int]{{Routes: routes}}); err != nil {
			t.Fatalf("routes %+v do not build: %v", routes, err)
		}
	})
}
