package portal

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// TestCatalogueSearch: q matches name, description and tags case-insensitively; tag
// matches whole tags; both together narrow; the empty state says what happened.
func TestCatalogueSearch(t *testing.T) {
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "payments", Version: "2.1", Description: "Charge cards and refund them.\n\nSecond paragraph.", Tags: []string{"finance", "Cards"}})
	createAPI(t, st, &gatehouse.API{Name: "ledger", Description: "Double-entry book-keeping", Tags: []string{"finance"}})
	createAPI(t, st, &gatehouse.API{Name: "weather", Description: "Forecasts by city", Tags: []string{"geo"}})
	createAPI(t, st, &gatehouse.API{Name: "maps-beta", State: gatehouse.StateDraft, Tags: []string{"geo"}})
	srv := newServer(t, st)

	all := []string{"payments", "ledger", "weather"}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", all},
		{"q=PAY", []string{"payments"}},
		{"q=refund", []string{"payments"}},        // description
		{"q=cards", []string{"payments"}},         // description and tag, once
		{"q=fin", []string{"payments", "ledger"}}, // tag substring
		{"tag=finance", []string{"payments", "ledger"}},
		{"tag=cards", []string{"payments"}}, // tags compare case-insensitively
		{"tag=finance&q=book", []string{"ledger"}},
		{"tag=geo", []string{"weather"}}, // the draft tagged geo stays hidden
		{"q=nothing-like-this", nil},
		{"tag=nope", nil},
		{"q=%20%20weather%20", []string{"weather"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, page := getPage(t, srv.URL+"/?"+tc.query)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			for _, name := range all {
				has := strings.Contains(page, `href="/apis/`+name+`"`)
				if want := contains(tc.want, name); has != want {
					t.Errorf("card %s shown = %v, want %v", name, has, want)
				}
			}
			mustNotContain(t, page, "maps-beta")
			if tc.want == nil {
				mustContain(t, page, "No APIs match your search")
			}
			if tc.query != "" {
				mustContain(t, page, `role="status"`, `<a href="/">Show all APIs</a>`)
			}
		})
	}

	// The form is labelled and keeps what was searched; tag chips link to ?tag=.
	_, page := getPage(t, srv.URL+"/?q=pay&tag=finance")
	mustContain(t, page,
		`<label for="q">Search APIs</label>`, `id="q" name="q" type="search" value="pay"`,
		`<label for="tag">Tag</label>`, `<option value="finance" selected>finance</option>`,
		`<a class="tag" href="/?tag=finance" aria-current="true">finance</a>`,
		`<a class="tag" href="/?tag=Cards">Cards</a>`,
		"Charge cards and refund them.", "v2.1",
	)
	mustNotContain(t, page, "Second paragraph.") // cards show the first paragraph only
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCatalogueEmpty(t *testing.T) {
	srv := newServer(t, openStore(t))
	_, page := getPage(t, srv.URL+"/")
	mustContain(t, page, "No APIs are published yet.")
}

// TestLayout: every page has the landmarks, the skip link and the stylesheet, which is
// served from the binary with a script-free CSP.
func TestLayout(t *testing.T) {
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "orders"})
	srv := newServer(t, st)
	for _, path := range []string{"/", "/apis/orders", "/no-such-page"} {
		_, page := getPage(t, srv.URL+path)
		mustContain(t, page, `<html lang="en">`, `name="viewport"`,
			`<a class="skip-link" href="#main">`, `<header class="site-header">`, `<main id="main"`,
			`<footer class="site-footer">`, `<nav aria-label="Portal">`, "Gatehouse developer portal",
			`<link rel="stylesheet" href="/static/portal.css">`)
		mustNotContain(t, page, "<script", `href="http`, `src="http`, "<img")
	}
	resp, err := http.Get(srv.URL + "/static/portal.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") ||
		strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP = %q", csp)
	}
}

// TestDeprecatedNotices: a deprecated API is flagged on its card and its page, with the
// sunset date when one is set.
func TestDeprecatedNotices(t *testing.T) {
	st := openStore(t)
	sunset := time.Date(2027, 3, 31, 12, 0, 0, 0, time.UTC)
	createAPI(t, st, &gatehouse.API{Name: "old-orders", State: gatehouse.StateDeprecated, Sunset: &sunset})
	createAPI(t, st, &gatehouse.API{Name: "old-users", State: gatehouse.StateDeprecated})
	createAPI(t, st, &gatehouse.API{Name: "orders"})
	srv := newServer(t, st)

	_, page := getPage(t, srv.URL+"/")
	mustContain(t, page,
		`This API will be retired on <time datetime="2027-03-31T12:00:00Z">31 March 2027</time>.`,
		"This API is deprecated and may be retired",
		`<span class="badge badge-deprecated">Deprecated</span>`,
		`<span class="badge badge-published">Published</span>`,
	)
	_, page = getPage(t, srv.URL+"/apis/old-orders")
	mustContain(t, page, "<strong>Deprecated.</strong>", "This API will be retired on", "31 March 2027")
	_, page = getPage(t, srv.URL+"/apis/old-users")
	mustContain(t, page, "<strong>Deprecated.</strong>", "This API is deprecated and may be retired")
	_, page = getPage(t, srv.URL+"/apis/orders")
	mustNotContain(t, page, "Deprecated", "retired")
}

// TestAPIPagePetstore renders a 3.1 YAML document: operations grouped by tag in the
// document's order, parameters (path-level ones included), bodies, responses, examples
// and $ref'd schemas linked to their section.
func TestAPIPagePetstore(t *testing.T) {
	doc, err := os.ReadFile("testdata/petstore-3.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "petstore", Version: "1", Path: "/pets-api", Hosts: []string{"pets.example.com", "*.pets.example"},
		Description: "Pets.\n\nAll of them.", Tags: []string{"animals"}, OpenAPI: string(doc)})
	srv := newServer(t, st)
	status, page := getPage(t, srv.URL+"/apis/petstore")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	mustContain(t, page,
		"<h1>petstore</h1>", `<p class="prose">Pets.</p><p class="prose">All of them.</p>`,
		"<code>http://gw.test/pets-api</code>", "<code>http://pets.example.com/pets-api</code>", "<code>*.pets.example</code>",
		`<a class="tag" href="/?tag=animals">animals</a>`,
		"Reference: Swagger Petstore", "6 operations", "OpenAPI 3.1.0",
		// contents and groups, in the order of the document's tags
		`<nav class="toc" aria-label="Operations">`, `<a href="#op-listPets">`,
		`<h2 id="tag-pets">pets</h2>`, "Everything about your pets", `<h2 id="tag-store">store</h2>`, "Other operations",
		// an operation
		`<h3 id="op-listPets"><span class="method method-get">GET</span> <span class="path">/pets</span></h3>`,
		"List all pets", "<code>listPets</code>",
		// parameters, with a $ref'd enum and a path-level parameter
		`<td data-label="Name"><div><code>limit</code></div></td>`, `<span class="type">integer (int32)</span>`, "maximum 100",
		`<a class="schema-ref" href="#schema-Status">Status</a>`, "<code>available</code>, <code>pending</code>, <code>adopted</code>",
		`<td data-label="Name"><div><code>petId</code></div></td>`, `<td data-label="Required"><div><span class="required">required</span></div></td>`,
		// request body and its example
		`Request body <span class="required">required</span>`, "The pet to add.", "<code>application/json</code>",
		`<code class="field-name">name</code> <span class="type">string</span> <span class="required">required</span>`,
		"Example <strong>cat</strong>: A cat", "&#34;name&#34;: &#34;Tom&#34;",
		// responses
		`<span class="status status-2">200</span>`, `<span class="status status-x">default</span>`, "unexpected error",
		`<a class="schema-ref" href="#schema-Pets">Pets</a> <span class="type">array of Pet</span>`,
		"Combines all of:", "read-only", `<span class="type">string | null (date-time)</span>`,
		// a deprecated operation
		`<article class="operation operation-deprecated" aria-labelledby="op-deletePet">`,
		// named schemas
		`<h2 id="schemas">Schemas</h2>`, `<h3 id="schema-Pet">Pet</h3>`, `<h3 id="schema-Error">Error</h3>`,
	)
	// The example keeps the document's key order and is pretty-printed.
	if i, j := strings.Index(page, "&#34;id&#34;: 1"), strings.Index(page, "&#34;name&#34;: &#34;Rex&#34;"); i < 0 || j < i {
		t.Errorf("example not in document order")
	}
	// Markdown is shown as text, never rendered.
	mustContain(t, page, "Pets are **adopted**, not sold.")
	// Every in-page link has its target.
	for _, href := range findAll(page, `href="#`, `"`) {
		if !strings.Contains(page, `id="`+href+`"`) {
			t.Errorf("link to #%s has no target", href)
		}
	}
}

func findAll(s, start, end string) []string {
	var out []string
	for {
		i := strings.Index(s, start)
		if i < 0 {
			return out
		}
		s = s[i+len(start):]
		j := strings.Index(s, end)
		if j < 0 {
			return out
		}
		out = append(out, s[:j])
		s = s[j:]
	}
}

// TestAPIPageCycles: a 3.0 JSON document whose schemas refer to themselves and to each
// other renders, each cycle ending at a link.
func TestAPIPageCycles(t *testing.T) {
	doc, err := os.ReadFile("testdata/cycles-3.0.json")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "org", OpenAPI: string(doc)})
	srv := newServer(t, st)
	status, page := getPage(t, srv.URL+"/apis/org")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	mustContain(t, page, "OpenAPI 3.0.3", "3 operations",
		`<code class="field-name">manager</code> <a class="schema-ref" href="#schema-Person">Person</a>`,
		`<span class="type">array of Person</span>`, `<span class="type">array of Node</span>`,
		`<code class="field-name">parent</code> <a class="schema-ref" href="#schema-Node">Node</a>`,
		`<code class="field-name">pong</code> <a class="schema-ref" href="#schema-Pong">Pong</a>`,
		`<code class="field-name">ping</code> <a class="schema-ref" href="#schema-Ping">Ping</a>`,
		`<span class="type">object | null</span>`,
		`<td data-label="Name"><div><code>depth</code></div></td>`, "How deep to expand", // a $ref'd parameter
		`<h3 id="schema-Person">Person</h3>`, `<h3 id="schema-Node">Node</h3>`,
	)
	if len(page) > 200<<10 {
		t.Errorf("page is %d bytes: cycles were expanded", len(page))
	}
}

// TestAPIPageBrokenDocument: a document that cannot be read gives a notice, not an
// error page.
func TestAPIPageBrokenDocument(t *testing.T) {
	for name, doc := range map[string]string{
		"not-yaml":   "openapi: 3.1.0\ninfo: [unclosed\n  : :",
		"swagger-2":  `{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}`,
		"no-version": "info:\n  title: x\npaths: {}\n",
		"scalar":     "just a string",
		"openapi-4":  "openapi: 4.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			st := openStore(t)
			createAPI(t, st, &gatehouse.API{Name: "broken", OpenAPI: doc, Routes: []gatehouse.Route{{Path: "/secret-route"}}})
			srv := newServer(t, st)
			status, page := getPage(t, srv.URL+"/apis/broken")
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			mustContain(t, page, "<h1>broken</h1>", `<div class="notice notice-error" role="note">`,
				"The reference for this API cannot be shown.")
			mustNotContain(t, page, "Schemas", "secret-route")
		})
	}
}

// TestAPIPageRoutes: without a document, the API's explicit routes are listed.
func TestAPIPageRoutes(t *testing.T) {
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "orders", Routes: []gatehouse.Route{
		{Name: "list", Methods: []string{"get"}, Path: "/orders"},
		{Path: "/orders/{id}"},
	}})
	createAPI(t, st, &gatehouse.API{Name: "bare"})
	srv := newServer(t, st)
	_, page := getPage(t, srv.URL+"/apis/orders")
	mustContain(t, page, `<h2 id="routes-title">Routes</h2>`,
		`<span class="method method-get">GET</span>`, `<code class="path">/orders</code>`,
		`<span class="method">ANY</span>`, `<code class="path">/orders/{id}</code>`)
	_, page = getPage(t, srv.URL+"/apis/bare")
	mustContain(t, page, "This API has no published reference yet.")
}

// TestAPIPageNotFound: unknown, draft and retired APIs are the same 404: a page for
// browsers, a problem document for everyone else.
func TestAPIPageNotFound(t *testing.T) {
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "draft-api", State: gatehouse.StateDraft, Description: "unreleased plans"})
	createAPI(t, st, &gatehouse.API{Name: "retired-api", State: gatehouse.StateRetired, Description: "long gone"})
	srv := newServer(t, st)
	for _, name := range []string{"nope", "draft-api", "retired-api", url.PathEscape("<script>")} {
		status, page := getPage(t, srv.URL+"/apis/"+name)
		if status != 404 {
			t.Errorf("%s: status %d", name, status)
		}
		mustContain(t, page, "<h1>Page not found</h1>", `<a href="/">Back to the API catalogue</a>`)
		mustNotContain(t, page, "unreleased plans", "long gone", "<script>")

		resp, err := http.Get(srv.URL + "/apis/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Status int
			Code   string
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" || doc.Code != gatehouse.ENotFound {
			t.Errorf("%s as JSON: %d %s %+v", name, resp.StatusCode, resp.Header.Get("Content-Type"), doc)
		}
	}
}

func TestParagraphs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  \n\n ", nil},
		{"one", []string{"one"}},
		{"one\ntwo", []string{"one\ntwo"}},
		{"one\n\ntwo", []string{"one", "two"}},
		{"one\r\n\r\n\r\ntwo  \n three", []string{"one", "two\n three"}},
		{"# Title\n\n- a\n- b\n\n<b>x</b>", []string{"# Title", "- a\n- b", "<b>x</b>"}},
	} {
		got := paragraphs(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("paragraphs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAPIPageConcurrent: documents are parsed per request; parallel renders of the same
// and of different documents must not race (libopenapi keeps some global caches).
func TestAPIPageConcurrent(t *testing.T) {
	pet, err := os.ReadFile("testdata/petstore-3.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	org, err := os.ReadFile("testdata/cycles-3.0.json")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "pets", OpenAPI: string(pet)})
	createAPI(t, st, &gatehouse.API{Name: "org", OpenAPI: string(org)})
	srv := newServer(t, st)
	done := make(chan string)
	for i := range 8 {
		go func() {
			name := []string{"pets", "org"}[i%2]
			resp, err := http.Get(srv.URL + "/apis/" + name) // not getPage: no t.Fatal off the test goroutine
			if err != nil {
				done <- err.Error()
				return
			}
			defer resp.Body.Close()
			var page strings.Builder
			_, err = io.Copy(&page, resp.Body)
			if err != nil || resp.StatusCode != 200 || !strings.Contains(page.String(), `<h2 id="schemas">Schemas</h2>`) {
				done <- fmt.Sprintf("%s: %d %v", name, resp.StatusCode, err)
				return
			}
			done <- ""
		}()
	}
	for range 8 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
