package router

import (
	"fmt"
	"strings"
	"testing"
)

func TestBuildErrors(t *testing.T) {
	route := func(path string, methods ...string) Route { return Route{Methods: methods, Path: path} }
	tests := []struct {
		name    string
		entries []Entry[int]
		want    []string // substrings of the error
	}{
		{"same host and prefix", []Entry[int]{
			{Name: "a", Hosts: []string{"x.com"}, Prefix: "/p"},
			{Name: "b", Hosts: []string{"y.com", "X.COM"}, Prefix: "/p"},
		}, []string{`entries "a" and "b" both claim prefix "/p" on host "X.COM"`}},
		{"same prefix, no hosts", []Entry[int]{
			{Name: "a", Prefix: "/"}, {Prefix: ""},
		}, []string{`entries "a" and "entries[1]" both claim prefix "/" on any host`}},
		{"same wildcard", []Entry[int]{
			{Name: "a", Hosts: []string{"*.x.com"}}, {Name: "b", Hosts: []string{"*.X.com."}},
		}, []string{`entries "a" and "b" both claim prefix "/" on host "*.X.com."`}},
		{"same ipv6 host", []Entry[int]{
			{Name: "a", Hosts: []string{"::1"}}, {Name: "b", Hosts: []string{"[::1]"}},
		}, []string{`entries "a" and "b"`}},
		{"equivalent templates", []Entry[int]{{Name: "shop", Routes: []Route{
			{Name: "one", Methods: []string{"GET"}, Path: "/a/{x}"},
			{Name: "two", Methods: []string{"POST", "get"}, Path: "/a/{y}"},
		}}}, []string{`entry "shop": route "one" and route "two" both serve GET /a/{y}`}},
		{"two any-method routes", []Entry[int]{{Name: "shop", Routes: []Route{
			route("/f/{p...}"), route("/f/{q...}"),
		}}}, []string{`entry "shop": routes[0] (/f/{p...}) and routes[1] (/f/{q...}) both serve any method on /f/{q...}`}},
		{"invalid templates", []Entry[int]{{Name: "t", Routes: []Route{
			route("a"), route("/a//b"), route("/{x"), route("/{}"), route("/{x...}/b"), route("/{x}/{x}"),
			route("/x{y}"), route("/./a"), route("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"), route("/{...}"),
		}}}, []string{
			`template "a" must start with /`,
			`template "/a//b" has an empty segment`,
			`segment "{x": a parameter fills a whole segment`,
			`segment "{}": a parameter needs a name`,
			`"{x...}" must be the last segment`,
			`parameter "x" appears twice`,
			`segment "x{y}"`,
			`"." segment`,
			`more than 8 parameters`,
			`segment "{...}": a parameter needs a name`,
		}},
		{"invalid method", []Entry[int]{{Name: "m", Routes: []Route{route("/", "GE T")}}},
			[]string{`entry "m": routes[0] (/): "GE T" is not an HTTP method`}},
		{"invalid prefixes", []Entry[int]{
			{Name: "a", Prefix: "orders"}, {Name: "b", Prefix: "/orders/"}, {Name: "c", Prefix: "/a//b"},
			{Name: "d", Prefix: "/{x}"}, {Name: "e", Prefix: "/a/.."},
		}, []string{`entry "a": prefix "orders" must start with /`, `entry "b": prefix "/orders/" must not end with /`,
			`entry "c": prefix "/a//b" must not contain empty segments`, `entry "d": prefix "/{x}" must not contain templates`,
			`entry "e": prefix "/a/.." must not contain . or ..`}},
		{"invalid hosts", []Entry[int]{{Name: "h", Hosts: []string{
			"a.com:80", "*", "a.*.com", "[::1", "", "*.", "a b", "*.[::1]", "*.::1", strings.Repeat("a", 256),
			"]", "[a.com]", "a..com", "ä.com",
		}}}, []string{`host "a.com:80" must not carry a port`, `host "*" is not a host name`, `host "a.*.com" is not a host name`,
			`host "[::1" is not an IPv6 address`, `host "" is not a host name`, `host "*." is not a host name`,
			`host "a b" is not a host name`, `host "*.[::1]" is not a host name`, `host "*.::1" is not a host name`,
			`is longer than 255 characters`, `host "]" is not an IPv6 address`, `host "[a.com]" is not an IPv6 address`,
			`host "a..com" is not a host name`, `host "ä.com" is not a host name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Build(tt.entries)
			if err == nil {
				t.Fatalf("Build succeeded, want errors %q", tt.want)
			}
			if tbl != nil {
				t.Errorf("Build returned a table with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%v", n, len(tt.want), err)
			}
		})
	}
}

func TestBuildAccepts(t *testing.T) {
	entries := []Entry[int]{
		{Name: "same host twice", Hosts: []string{"a.com", "A.com", "a.com."}, Prefix: "/x"},
		{Name: "same prefix, other host", Hosts: []string{"b.com"}, Prefix: "/x"},
		{Name: "wildcard of the same name", Hosts: []string{"*.a.com"}, Prefix: "/x"},
		{Name: "any host", Prefix: "/x"},
		{Name: "method repeated in one route", Routes: []Route{{Methods: []string{"GET", "get"}, Path: "/a"}}},
		{Name: "same template, other methods", Prefix: "/y", Routes: []Route{
			{Methods: []string{"GET"}, Path: "/a/{x}"}, {Methods: []string{"POST"}, Path: "/a/{y}"}, {Path: "/a/{z}"},
			{Methods: []string{"HEAD"}, Path: "/a/{w}"},
		}},
		{Name: "parameter names beyond identifiers", Prefix: "/z", Routes: []Route{{Path: "/{user-id}/{x.y}"}}},
	}
	if _, err := Build(entries); err != nil {
		t.Fatal(err)
	}
}

func TestBuildErrorLimit(t *testing.T) {
	var entries []Entry[int]
	for i := range 50 {
		entries = append(entries, Entry[int]{Name: fmt.Sprint(i), Hosts: []string{"x.com"}})
	}
	_, err := Build(entries)
	if err == nil || strings.Count(err.Error(), "\n") != maxErrors || !strings.HasSuffix(err.Error(), "and 29 more problems") {
		t.Errorf("error = %v", err)
	}
}

// TestAllowUnions checks the Allow lists of leaves that one path matches together, and that
// they were precomputed rather than built per request.
func TestAllowUnions(t *testing.T) {
	es := []Entry[string]{{Routes: []Route{
		{Methods: []string{"GET"}, Path: "/u/me"},
		{Methods: []string{"DELETE"}, Path: "/u/{id}"},
		{Methods: []string{"PUT"}, Path: "/u/{id}/x"},
		{Methods: []string{"PATCH"}, Path: "/u/{rest...}"},
		{Methods: []string{"POST"}, Path: "/{a}/me"},
		{Methods: []string{"OPTIONS"}, Path: "/{a}/{b}/x"},
	}}}
	tbl, err := Build(es)
	if err != nil {
		t.Fatal(err)
	}
	if en := &tbl.c.entries[0]; en.partial || len(en.unions) == 0 {
		t.Fatalf("unions not precomputed: partial %v, %d unions", en.partial, len(en.unions))
	}
	for path, want := range map[string]string{
		"/u/me":   "DELETE, GET, HEAD, PATCH, POST",
		"/u/7":    "DELETE, PATCH",
		"/u/7/x":  "OPTIONS, PATCH, PUT",
		"/u/7/y":  "PATCH",
		"/u/":     "PATCH",
		"/v/me":   "POST",
		"/v/w/x":  "OPTIONS",
		"/u/me/x": "OPTIONS, PATCH, PUT",
	} {
		var m Match[string]
		if res := tbl.Lookup("", path, "TRACE", &m); res != MethodNotAllowed || m.Allow != want {
			t.Errorf("TRACE %s: %v %q, want %q", path, res, m.Allow, want)
		}
		if ref := refLookup(es, "", path, "TRACE"); ref.allow != want {
			t.Errorf("reference TRACE %s: %q, want %q", path, ref.allow, want)
		}
		if n := testing.AllocsPerRun(10, func() { tbl.Lookup("", path, "TRACE", &m) }); n != 0 {
			t.Errorf("TRACE %s: %v allocations", path, n)
		}
	}
}

// TestAllowUnionsPartial builds an entry whose overlaps exceed what Build enumerates and
// checks that the Allow lists stay right, built at lookup time.
func TestAllowUnionsPartial(t *testing.T) {
	var routes []Route
	// Every segment is a parameter or a static, with a method per template, so that the
	// leaves one path matches come in many combinations.
	for i := range 64 {
		var b strings.Builder
		for d := range 6 {
			if i>>d&1 == 1 {
				fmt.Fprintf(&b, "/{p%d}", d)
			} else {
				fmt.Fprintf(&b, "/s%d", d%2)
			}
		}
		routes = append(routes, Route{Methods: []string{fmt.Sprintf("M%02d", i)}, Path: b.String()})
	}
	es := []Entry[int]{{Routes: routes}}
	tbl, err := build(es, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !tbl.c.entries[0].partial {
		t.Fatal("the enumeration was not cut short")
	}
	var m Match[int]
	for _, path := range []string{"/s0/s1/s0/s1/s0/s1", "/s0/x/s0/y/s0/z", "/x/s1/y/s1/z/s1", "/a/b/c/d/e/f"} {
		res := tbl.Lookup("", path, "NOPE", &m)
		ref := refLookup(es, "", path, "NOPE")
		if res != ref.res || m.Allow != ref.allow {
			t.Errorf("%s: %v %q, want %v %q", path, res, m.Allow, ref.res, ref.allow)
		}
	}
}
