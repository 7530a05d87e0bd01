package router

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ms(methods ...string) []string { return methods }

// testEntries exercise every rule of the package doc; their values are their names.
func testEntries() []Entry[string] {
	es := []Entry[string]{
		{Name: "exact-orders", Hosts: []string{"api.example.com"}, Prefix: "/orders"},
		{Name: "wild", Hosts: []string{"*.example.com"}, Prefix: "/"},
		{Name: "wild-eu", Hosts: []string{"*.eu.example.com"}, Prefix: "/"},
		{Name: "any", Prefix: "/"},
		{Name: "any-billing", Prefix: "/billing"},
		{Name: "any-deep", Prefix: "/billing/v2/internal"},
		{Name: "ipv6", Hosts: []string{"::1"}, Prefix: "/v6"},
		{Name: "ipv6-bracketed", Hosts: []string{"[fe80::1]"}, Prefix: "/"},
		{Name: "ipv4", Hosts: []string{"10.0.0.1"}, Prefix: "/"},
		{Name: "two-hosts", Hosts: []string{"A.test", "b.test", "a.test"}, Prefix: "/two"},
		{Name: "shop", Hosts: []string{"shop.test"}, Prefix: "/api", Routes: []Route{
			{Name: "list", Methods: ms("GET"), Path: "/orders"},
			{Name: "get", Methods: ms("GET"), Path: "/orders/{id}"},
			{Name: "del", Methods: ms("delete"), Path: "/orders/{order}"},
			{Name: "me", Methods: ms("GET"), Path: "/users/me"},
			{Name: "deluser", Methods: ms("DELETE"), Path: "/users/{id}"},
			{Name: "axc", Methods: ms("GET"), Path: "/a/{x}/c"},
			{Name: "aby", Methods: ms("GET"), Path: "/a/b/{y}"},
			{Name: "files", Methods: ms("GET"), Path: "/files/{path...}"},
			{Name: "root", Methods: ms("GET"), Path: "/"},
			{Name: "head", Methods: ms("HEAD"), Path: "/h"},
			{Name: "hget", Methods: ms("GET"), Path: "/h"},
			{Name: "anyop", Path: "/any"},
			{Name: "anyget", Methods: ms("GET"), Path: "/any"},
			{Name: "slash", Methods: ms("GET"), Path: "/orders/"},
			{Name: "putaxc", Methods: ms("PUT"), Path: "/a/{x}/c"},
			{Name: "c-one", Methods: ms("GET"), Path: "/c/{x}"},
			{Name: "c-rest", Methods: ms("GET"), Path: "/c/{rest...}"},
			{Name: "s-new", Methods: ms("GET"), Path: "/s/new"},
			{Name: "s-id", Methods: ms("GET", "POST"), Path: "/s/{id}"},
			{Name: "deep", Methods: ms("GET"), Path: "/o/{org}/r/{repo}/i/{n}"},
			{Name: "all", Methods: ms("GET"), Path: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h...}"},
		}},
		{Name: "shop-fallback", Hosts: []string{"shop.test"}, Prefix: "/"},
		{Name: "catchall-root", Hosts: []string{"static.test"}, Prefix: "/static", Routes: []Route{
			{Methods: ms("GET"), Path: "/{path...}"},
		}},
	}
	for i := range es {
		es[i].Value = es[i].Name
	}
	return es
}

type lookupCase struct {
	host, path, method string
	res                Result
	entry              string // the owner's name, "" for none
	route              string // the route's name, "" for none
	params             map[string]string
	allow              string
	rest               string
}

func lookupCases() []lookupCase {
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []lookupCase{
		// Hosts: exact, case, port, trailing dot, fall through, wildcards, IP literals.
		{"api.example.com", "/orders/1", "GET", Found, "exact-orders", "", nil, "", "/1"},
		{"API.Example.COM:8443", "/orders", "GET", Found, "exact-orders", "", nil, "", "/"},
		{"api.example.com.", "/orders/", "GET", Found, "exact-orders", "", nil, "", "/"},
		{"api.example.com", "/ordersx", "GET", Found, "wild", "", nil, "", "/ordersx"},
		{"api.example.com", "/billing", "GET", Found, "wild", "", nil, "", "/billing"},
		{"a.example.com", "/", "GET", Found, "wild", "", nil, "", "/"},
		{"a.b.c.example.com", "/x", "GET", Found, "wild", "", nil, "", "/x"},
		{"x.eu.example.com", "/x", "GET", Found, "wild-eu", "", nil, "", "/x"},
		{"y.x.EU.example.com:80", "/x", "GET", Found, "wild-eu", "", nil, "", "/x"},
		{"eu.example.com", "/x", "GET", Found, "wild", "", nil, "", "/x"},
		{"example.com", "/x", "GET", Found, "any", "", nil, "", "/x"},
		{".example.com", "/x", "GET", Found, "any", "", nil, "", "/x"},
		{"notexample.com", "/x", "GET", Found, "any", "", nil, "", "/x"},
		{"other.org", "/billing/1", "GET", Found, "any-billing", "", nil, "", "/1"},
		{"", "/billing", "GET", Found, "any-billing", "", nil, "", "/"},
		{"[::1]:8000", "/v6/x", "GET", Found, "ipv6", "", nil, "", "/x"},
		{"[::1]", "/v6", "GET", Found, "ipv6", "", nil, "", "/"},
		{"::1", "/v6", "GET", Found, "ipv6", "", nil, "", "/"},
		{"[::1]:8000", "/other", "GET", Found, "any", "", nil, "", "/other"},
		{"[FE80::1]:443", "/z", "GET", Found, "ipv6-bracketed", "", nil, "", "/z"},
		{"10.0.0.1:8080", "/z", "GET", Found, "ipv4", "", nil, "", "/z"},
		{"10.0.0.2", "/z", "GET", Found, "any", "", nil, "", "/z"},
		{"B.TEST", "/two/x", "GET", Found, "two-hosts", "", nil, "", "/x"},
		{"a.test:1", "/two", "GET", Found, "two-hosts", "", nil, "", "/"},
		{strings.Repeat("a", 300) + ".example.com", "/x", "GET", Found, "any", "", nil, "", "/x"},
		// Prefixes: segment boundaries, longest wins, empty and odd paths.
		{"h", "/billing", "GET", Found, "any-billing", "", nil, "", "/"},
		{"h", "/billing/", "GET", Found, "any-billing", "", nil, "", "/"},
		{"h", "/billingx", "GET", Found, "any", "", nil, "", "/billingx"},
		{"h", "/billing/v2/internal/x", "GET", Found, "any-deep", "", nil, "", "/x"},
		{"h", "/billing/v2/internalx", "GET", Found, "any-billing", "", nil, "", "/v2/internalx"},
		{"h", "/billing/v2", "GET", Found, "any-billing", "", nil, "", "/v2"},
		{"h", "", "GET", Found, "any", "", nil, "", "/"},
		{"h", "*", "OPTIONS", NotFound, "", "", nil, "", ""},
		{"h", "orders", "GET", NotFound, "", "", nil, "", ""},
		// Routes: static, params, methods, HEAD, any method.
		{"shop.test", "/api/orders", "GET", Found, "shop", "list", p(), "", "/orders"},
		{"shop.test", "/api/orders/", "GET", Found, "shop", "slash", p(), "", "/orders/"},
		{"shop.test", "/api/orders/7", "GET", Found, "shop", "get", p("id", "7"), "", "/orders/7"},
		{"shop.test", "/api/orders/7", "HEAD", Found, "shop", "get", p("id", "7"), "", "/orders/7"},
		{"shop.test", "/api/orders/7", "DELETE", Found, "shop", "del", p("order", "7"), "", "/orders/7"},
		{"shop.test", "/api/orders/7", "PUT", MethodNotAllowed, "shop", "", nil, "DELETE, GET, HEAD", "/orders/7"},
		{"shop.test", "/api/orders/7", "get", MethodNotAllowed, "shop", "", nil, "DELETE, GET, HEAD", "/orders/7"},
		{"shop.test", "/api/orders", "POST", MethodNotAllowed, "shop", "", nil, "GET, HEAD", "/orders"},
		{"shop.test", "/api/orders/7/x", "GET", NotFound, "shop", "", nil, "", "/orders/7/x"},
		{"shop.test", "/api/orders//", "GET", NotFound, "shop", "", nil, "", "/orders//"},
		{"shop.test", "/api", "GET", Found, "shop", "root", p(), "", "/"},
		{"shop.test", "/api/", "GET", Found, "shop", "root", p(), "", "/"},
		{"shop.test", "/api", "POST", MethodNotAllowed, "shop", "", nil, "GET, HEAD", "/"},
		{"shop.test", "/api/h", "HEAD", Found, "shop", "head", p(), "", "/h"},
		{"shop.test", "/api/h", "GET", Found, "shop", "hget", p(), "", "/h"},
		{"shop.test", "/api/any", "GET", Found, "shop", "anyget", p(), "", "/any"},
		{"shop.test", "/api/any", "HEAD", Found, "shop", "anyget", p(), "", "/any"},
		{"shop.test", "/api/any", "BREW", Found, "shop", "anyop", p(), "", "/any"},
		// Ownership: the longest prefix owns the path, even when no route matches.
		{"shop.test", "/api/nothing", "GET", NotFound, "shop", "", nil, "", "/nothing"},
		{"shop.test", "/apix", "GET", Found, "shop-fallback", "", nil, "", "/apix"},
		{"SHOP.test:80", "/else", "GET", Found, "shop-fallback", "", nil, "", "/else"},
		// Backtracking: static first, then the next branch when the static one leads nowhere.
		{"shop.test", "/api/a/b/c", "GET", Found, "shop", "aby", p("y", "c"), "", "/a/b/c"},
		{"shop.test", "/api/a/z/c", "GET", Found, "shop", "axc", p("x", "z"), "", "/a/z/c"},
		{"shop.test", "/api/a/b/d", "GET", Found, "shop", "aby", p("y", "d"), "", "/a/b/d"},
		{"shop.test", "/api/a/z/d", "GET", NotFound, "shop", "", nil, "", "/a/z/d"},
		{"shop.test", "/api/a/b/c", "PUT", Found, "shop", "putaxc", p("x", "b"), "", "/a/b/c"},
		{"shop.test", "/api/a/b/c", "POST", MethodNotAllowed, "shop", "", nil, "GET, HEAD, PUT", "/a/b/c"},
		{"shop.test", "/api/a/b/d", "POST", MethodNotAllowed, "shop", "", nil, "GET, HEAD", "/a/b/d"},
		{"shop.test", "/api/users/me", "GET", Found, "shop", "me", p(), "", "/users/me"},
		{"shop.test", "/api/users/me", "DELETE", Found, "shop", "deluser", p("id", "me"), "", "/users/me"},
		{"shop.test", "/api/users/me", "POST", MethodNotAllowed, "shop", "", nil, "DELETE, GET, HEAD", "/users/me"},
		{"shop.test", "/api/users/42", "POST", MethodNotAllowed, "shop", "", nil, "DELETE", "/users/42"},
		{"shop.test", "/api/s/new", "GET", Found, "shop", "s-new", p(), "", "/s/new"},
		{"shop.test", "/api/s/new", "POST", Found, "shop", "s-id", p("id", "new"), "", "/s/new"},
		{"shop.test", "/api/s/old", "GET", Found, "shop", "s-id", p("id", "old"), "", "/s/old"},
		// {name} needs a segment; {name...} takes the rest, possibly empty.
		{"shop.test", "/api/c/a", "GET", Found, "shop", "c-one", p("x", "a"), "", "/c/a"},
		{"shop.test", "/api/c/a/b", "GET", Found, "shop", "c-rest", p("rest", "a/b"), "", "/c/a/b"},
		{"shop.test", "/api/c/", "GET", Found, "shop", "c-rest", p("rest", ""), "", "/c/"},
		{"shop.test", "/api/c", "GET", NotFound, "shop", "", nil, "", "/c"},
		{"shop.test", "/api/files/a/b.txt", "GET", Found, "shop", "files", p("path", "a/b.txt"), "", "/files/a/b.txt"},
		{"shop.test", "/api/files/", "GET", Found, "shop", "files", p("path", ""), "", "/files/"},
		{"shop.test", "/api/files//x", "GET", Found, "shop", "files", p("path", "/x"), "", "/files//x"},
		{"shop.test", "/api/files", "GET", NotFound, "shop", "", nil, "", "/files"},
		{"shop.test", "/api/o/acme/r/gh/i/12", "GET", Found, "shop", "deep", p("org", "acme", "repo", "gh", "n", "12"), "", "/o/acme/r/gh/i/12"},
		{"shop.test", "/api/1/2/3/4/5/6/7/8/9", "GET", Found, "shop", "all",
			p("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8/9"), "", "/1/2/3/4/5/6/7/8/9"},
		{"static.test", "/static", "GET", Found, "catchall-root", "", p("path", ""), "", "/"},
		{"static.test", "/static/", "GET", Found, "catchall-root", "", p("path", ""), "", "/"},
		{"static.test", "/static/css/a.css", "GET", Found, "catchall-root", "", p("path", "css/a.css"), "", "/css/a.css"},
	}
}

// lookupResult is one lookup, in the terms of lookupCase.
func lookupResult(es []Entry[string], res Result, m *Match[string]) lookupCase {
	got := lookupCase{res: res, allow: m.Allow, rest: m.Rest}
	if m.Entry >= 0 {
		got.entry = es[m.Entry].Name
		if m.Value != got.entry {
			got.entry += " (value " + m.Value + ")"
		}
		if m.Route >= 0 {
			got.route = es[m.Entry].Routes[m.Route].Name
		}
	}
	if res == Found && len(es[m.Entry].Routes) > 0 {
		got.params = map[string]string{}
		for i := range m.Params.Len() {
			name, value := m.Params.At(i)
			got.params[name] = value
			if v, ok := m.Params.Get(name); !ok || v != value {
				got.params[name] += " (Get disagrees)"
			}
		}
	}
	return got
}

func TestLookup(t *testing.T) {
	es := testEntries()
	tbl, err := Build(es)
	if err != nil {
		t.Fatal(err)
	}
	var m Match[string]
	for _, tc := range lookupCases() {
		want := tc
		want.host, want.path, want.method = "", "", ""
		res := tbl.Lookup(tc.host, tc.path, tc.method, &m)
		if diff := cmp.Diff(want, lookupResult(es, res, &m), cmp.AllowUnexported(lookupCase{})); diff != "" {
			t.Errorf("Lookup(%q, %q, %q) (-want +got):\n%s", tc.host, tc.path, tc.method, diff)
		}
		// The reference implementation must agree, or it is no reference.
		ref := refLookup(es, tc.host, tc.path, tc.method)
		var refName string
		if ref.entry >= 0 {
			refName = es[ref.entry].Name
		}
		if ref.res != tc.res || refName != tc.entry || ref.allow != tc.allow || ref.rest != tc.rest ||
			(ref.route >= 0) != (m.Route >= 0) || ref.route >= 0 && ref.route != m.Route {
			t.Errorf("refLookup(%q, %q, %q) = %+v, disagrees with the test", tc.host, tc.path, tc.method, ref)
		}
	}
}

func TestLookupNilTable(t *testing.T) {
	var tbl *Table[int]
	m := Match[int]{Value: 7, Entry: 3, Route: 2, Allow: "x", Rest: "/x"}
	if res := tbl.Lookup("h", "/", "GET", &m); res != NotFound || m.Value != 0 || m.Entry != -1 || m.Route != -1 || m.Allow != "" || m.Rest != "" {
		t.Errorf("nil table: %v %+v", res, m)
	}
}

func TestLookupResetsMatch(t *testing.T) {
	es := testEntries()
	tbl, err := Build(es)
	if err != nil {
		t.Fatal(err)
	}
	var m Match[string]
	tbl.Lookup("shop.test", "/api/orders/7", "GET", &m)
	if res := tbl.Lookup("h", "nope", "GET", &m); res != NotFound || m.Value != "" || m.Entry != -1 || m.Route != -1 || m.Params.Len() != 0 || m.Rest != "" {
		t.Errorf("stale match after NotFound: %+v", m)
	}
}

func TestEmptyTable(t *testing.T) {
	tbl, err := Build[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	var m Match[int]
	if res := tbl.Lookup("h", "/", "GET", &m); res != NotFound || m.Entry != -1 {
		t.Errorf("empty table: %v %+v", res, m)
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[Result]string{Found: "Found", NotFound: "NotFound", MethodNotAllowed: "MethodNotAllowed", 9: "Result(?)"} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", r, got, want)
		}
	}
}

// TestLookupAllocs proves the hot path allocates nothing, on every kind of answer.
func TestLookupAllocs(t *testing.T) {
	tbl, err := Build(testEntries())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, host, path, method string }{
		{"static", "shop.test", "/api/orders", "GET"},
		{"param", "shop.test", "/api/o/acme/r/gh/i/12", "GET"},
		{"catchall", "shop.test", "/api/files/a/b/c.txt", "GET"},
		{"backtrack", "shop.test", "/api/a/z/c", "GET"},
		{"method not allowed union", "shop.test", "/api/users/me", "POST"},
		{"method not allowed", "shop.test", "/api/orders/1", "PATCH"},
		{"not found", "shop.test", "/api/nope", "GET"},
		{"no routes", "api.example.com", "/orders/1", "GET"},
		{"mixed case host and port", "API.Example.COM:8443", "/orders/1", "GET"},
		{"wildcard host", "x.y.eu.example.com", "/a/b", "GET"},
		{"ipv6 host", "[::1]:8000", "/v6/a", "GET"},
		{"no host", "", "/billing/v2/internal/x", "GET"},
		{"long host", strings.Repeat("a", 400), "/x", "GET"},
	}
	var m Match[string]
	for _, tc := range tests {
		if n := testing.AllocsPerRun(200, func() { tbl.Lookup(tc.host, tc.path, tc.method, &m) }); n != 0 {
			t.Errorf("%s: %v allocations per lookup, want 0", tc.name, n)
		}
	}
}
