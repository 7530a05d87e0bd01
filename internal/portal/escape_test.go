package portal

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-dev/gatehouse"
)

// hostile strings: markup, attribute break-outs, script URLs, template delimiters and
// unicode that must come out as text.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`javascript:alert(1)`,
	`[click](javascript:alert(1)) <a href="javascript:alert(1)">x</a>`,
	`{{.}} {{template "layout"}} {{`,
	"</code></pre></textarea><iframe src=//evil>",
	"Ünïcødé ✓ \u202egnp.exe \U0001F600",
}

func hostileText() string { return strings.Join(hostile, " ") }

// hostileDoc puts the hostile strings everywhere a document has text: descriptions,
// summaries, names of parameters, properties, schemas, tags, media types, examples, enum
// values and an externalValue.
func hostileDoc() string {
	h := strings.ReplaceAll(hostileText(), `'`, `''`) // for single-quoted YAML scalars
	return `openapi: 3.1.0
info:
  title: '` + h + `'
  version: '` + h + `'
  description: '` + h + `'
tags:
  - name: '` + h + `'
    description: '` + h + `'
paths:
  '/x/{id}':
    get:
      tags: ['` + h + `']
      operationId: '` + h + `'
      summary: '` + h + `'
      description: '` + h + `'
      parameters:
        - name: '` + h + `'
          in: query
          description: '` + h + `'
          example: '` + h + `'
          schema:
            type: string
            enum: ['` + h + `']
            pattern: '` + h + `'
            default: '` + h + `'
        - name: id
          in: path
          required: true
          schema: {type: string, format: '` + h + `'}
      requestBody:
        description: '` + h + `'
        content:
          '` + h + `':
            schema:
              $ref: '#/components/schemas/Evil'
            examples:
              '` + h + `':
                summary: '` + h + `'
                description: '` + h + `'
                value: {'` + h + `': ['` + h + `']}
                externalValue: 'javascript:alert(1)'
      responses:
        '200':
          description: '` + h + `'
          content:
            application/json:
              schema:
                type: object
                properties:
                  '` + h + `': {type: string, description: '` + h + `'}
              example: '` + h + `'
components:
  schemas:
    Evil:
      type: object
      description: '` + h + `'
      required: ['` + h + `']
      properties:
        '` + h + `':
          type: string
          description: '` + h + `'
          example: '` + h + `'
`
}

// assertInert parses page as a browser would and fails on anything active that the
// hostile strings could have introduced: a script element, an element or attribute the
// templates never write (img, svg, iframe, on* handlers), a javascript: URL, or raw
// hostile markup outside an attribute.
func assertInert(t *testing.T, page string) {
	t.Helper()
	lower := strings.ToLower(page)
	for _, bad := range []string{"<iframe", `href="javascript:`, "href='javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		switch string(name) {
		case "iframe", "object", "embed", "base", "style", "foreignobject":
			t.Errorf("page contains a <%s> element", name)
		case "script":
			// Only the portal's own, external scripts; their src is checked below.
			if !hasAttr {
				t.Errorf("page contains an inline <script>")
			}
		}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			key, val := string(k), strings.ToLower(strings.TrimSpace(string(v)))
			if strings.HasPrefix(key, "on") {
				t.Errorf("<%s> has an event handler %s=%q", name, key, v)
			}
			if (key == "href" || key == "src" || key == "action") && (strings.HasPrefix(val, "javascript:") || strings.HasPrefix(val, "//") || strings.HasPrefix(val, "http")) {
				t.Errorf("<%s %s=%q>: not a local URL", name, key, v)
			}
			if string(name) == "link" && key == "href" && !slices.Contains([]string{"/static/portal.css", "/static/chart/chart.css", "/brand/theme.css"}, val) {
				t.Errorf("unexpected <link href=%q>", v)
			}
			if string(name) == "script" && (key != "src" || !slices.Contains([]string{"/static/portal.js", "/static/chart/live.js"}, val)) && key != "defer" {
				t.Errorf("unexpected <script %s=%q>", key, v)
			}
			if string(name) == "img" && key == "src" && val != "/brand/logo" {
				t.Errorf("unexpected <img src=%q>", v)
			}
		}
	}
}

// TestHostileStringsAreEscaped feeds hostile text through every field a page shows, in
// the catalogue, search results, the API page with its reference, and the 404 page.
func TestHostileStringsAreEscaped(t *testing.T) {
	st := openStore(t)
	createAPI(t, st, &gatehouse.API{Name: "evil", Version: `"><img src=x onerror=alert(1)>`, Description: hostileText(),
		Tags: []string{"evil-tag"}, OpenAPI: hostileDoc()})
	srv := newServer(t, st)

	status, page := getPage(t, srv.URL+"/apis/evil")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if strings.Contains(page, "cannot be shown") {
		t.Fatalf("the hostile document did not parse:\n%s", page)
	}
	assertInert(t, page)
	// The text is all there, escaped.
	mustContain(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		"{{.}} {{template &#34;layout&#34;}} {{", "Ünïcødé ✓", "javascript:alert(1)")
	// An anchor made from a hostile name is reduced to letters, digits, '-' and '_'.
	for _, id := range findAll(page, `id="`, `"`) {
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Errorf("id %q", id)
		}
	}

	for _, path := range []string{"/", "/?q=" + urlQuery(hostile[1]), "/?tag=" + urlQuery(hostile[0]), "/?q=" + urlQuery(hostile[3]),
		"/apis/" + urlQuery(hostile[0])} {
		_, page := getPage(t, srv.URL+path)
		assertInert(t, page)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "+", "%2B", " ", "+", "?", "%3F", "/", "%2F")
	return r.Replace(s)
}

// fakeStore serves APIs that the real store's validation would refuse (hostile names
// and tags), or fails, to test the pages alone. Only the methods the portal calls are
// implemented; anything else panics through the nil embedded interface.
type fakeStore struct {
	gatehouse.Store
	apis []*gatehouse.API
	err  error
}

func (f *fakeStore) APIs(_ context.Context, flt gatehouse.APIFilter) (gatehouse.Page[*gatehouse.API], error) {
	var out []*gatehouse.API
	for _, a := range f.apis {
		if a.State == flt.State {
			out = append(out, a)
		}
	}
	return gatehouse.Page[*gatehouse.API]{Items: out}, f.err
}

func (f *fakeStore) AuditEntries(context.Context, gatehouse.AuditFilter) (gatehouse.Page[*gatehouse.AuditEntry], error) {
	return gatehouse.Page[*gatehouse.AuditEntry]{}, f.err
}

func (f *fakeStore) API(_ context.Context, name string) (*gatehouse.API, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, a := range f.apis {
		if a.Name == name {
			return a, nil
		}
	}
	return nil, gatehouse.Errorf(gatehouse.ENotFound, "no api %q", name)
}

// TestHostileNamesAndTags: names and tags are validated by the store today, but the
// pages must not depend on that.
func TestHostileNamesAndTags(t *testing.T) {
	var apis []*gatehouse.API
	for _, h := range hostile {
		apis = append(apis, &gatehouse.API{Name: h, Version: h, Description: h, State: gatehouse.StateDeprecated,
			Path: "/" + h, Hosts: []string{h}, Tags: []string{h, "ok"}, OpenAPI: hostileDoc(),
		})
	}
	h, err := New(Options{Store: &fakeStore{apis: apis}, GatewayURL: "http://gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, page := getPage(t, srv.URL+"/")
	assertInert(t, page)
	mustContain(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;</a></h2>", // the name is visible text
		`href="/apis/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`, `href="/?tag=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`)
	for _, name := range hostile {
		_, page := getPage(t, srv.URL+apiURL(name))
		assertInert(t, page)
		_, page = getPage(t, srv.URL+"/?tag="+urlQuery(name)+"&q="+urlQuery(name))
		assertInert(t, page)
	}
}

// TestStoreFailure: a store that cannot be read gives 503, as a page or a problem.
func TestStoreFailure(t *testing.T) {
	h, err := New(Options{Store: &fakeStore{err: errors.New("disk on fire")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/", "/apis/x"} {
		status, page := getPage(t, srv.URL+path)
		if status != 503 {
			t.Errorf("%s: %d", path, status)
		}
		mustContain(t, page, "The portal is unavailable right now")
		mustNotContain(t, page, "disk on fire")
	}
}
