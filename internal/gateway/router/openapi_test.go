package router

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type openAPICase struct {
	name string
	doc  string
	want []Route
	err  string // a substring of the error; "" for success
}

func openAPICases() []openAPICase {
	r := func(name, method, path string) Route { return Route{Name: name, Methods: []string{method}, Path: path} }
	return []openAPICase{
		{"openapi 3.0 yaml", `openapi: 3.0.3
info: {title: Shop, version: "1"}
paths:
  /orders:
    parameters: [{name: q, in: query}]
    summary: Orders
    get: {operationId: listOrders}
    post: {operationId: createOrder}
  /orders/{id}:
    get:
      operationId: getOrder
    delete: {}
    x-internal: true
  /empty:
    summary: no operations here
  /null:
  x-extension: {}
`, []Route{r("listOrders", "GET", "/orders"), r("createOrder", "POST", "/orders"),
			r("getOrder", "GET", "/orders/{id}"), r("", "DELETE", "/orders/{id}")}, ""},
		{"openapi 3.1 json", `{
	"openapi": "3.1.0",
	"paths": {
		"/": {"head": {}, "options": {}, "trace": {}},
		"/pets/{petId}/toys/{toy-id}": {"put": {"operationId": "putToy"}, "patch": {}}
	}
}`, []Route{r("", "HEAD", "/"), r("", "OPTIONS", "/"), r("", "TRACE", "/"),
			r("putToy", "PUT", "/pets/{petId}/toys/{toy-id}"), r("", "PATCH", "/pets/{petId}/toys/{toy-id}")}, ""},
		{"swagger 2.0", `{"swagger": "2.0", "basePath": "/v1", "paths": {"/users": {"get": {"operationId": "users"}}}}`,
			[]Route{r("users", "GET", "/users")}, ""},
		{"local ref and alias", `openapi: 3.1.0
components:
  pathItems:
    Health: &health
      get: {operationId: health}
paths:
  /health:
    $ref: '#/components/pathItems/Health'
  /alive: *health
`, nil, `operationId "health" is already used at line 5`},
		{"ref", `openapi: 3.1.0
components:
  pathItems:
    a~b/c: {get: {}}
paths:
  /x: {$ref: '#/components/pathItems/a~0b~1c'}
`, []Route{r("", "GET", "/x")}, ""},
		{"external ref", "openapi: 3.0.0\npaths:\n  /x:\n    $ref: other.yaml#/x\n", nil,
			`line 4: $ref "other.yaml#/x": only references within the document`},
		{"missing ref", "openapi: 3.0.0\npaths:\n  /x: {$ref: '#/nope'}\n", nil, `line 3: $ref "#/nope": "nope" not found`},
		{"ref cycle", "openapi: 3.0.0\npaths:\n  /x: {$ref: '#/paths/~1x'}\n", nil, `$ref chain too long`},
		{"equivalent templates", "openapi: 3.0.0\npaths:\n  /a/{x}:\n    get: {}\n  /a/{y}:\n    get: {}\n", nil,
			`line 6: get /a/{y}: the same operation as line 4`},
		{"partial segment template", "openapi: 3.0.0\npaths:\n  /report.{format}:\n    get: {}\n", nil,
			`line 3: path "/report.{format}": template "/report.{format}": segment "report.{format}": a parameter fills a whole segment`},
		{"relative path", "openapi: 3.0.0\npaths:\n  users:\n    get: {}\n", nil, `line 3: path "users": template "users" must start with /`},
		{"operationId not a string", "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      operationId: [x]\n", nil,
			`line 5: get /a: operationId must be a non-empty string`},
		{"operation not a mapping", "openapi: 3.0.0\npaths:\n  /a:\n    get: yes\n", nil, `line 4: get /a: an operation must be a mapping`},
		{"paths not a mapping", "openapi: 3.0.0\npaths: [a]\n", nil, `line 2: paths must be a mapping`},
		{"path item not a mapping", "openapi: 3.0.0\npaths:\n  /a: 7\n", nil, `line 3: a path item must be a mapping`},
		{"no operations", "openapi: 3.0.0\npaths:\n  /a: {}\n", nil, ErrNoOperations.Error()},
		{"no paths", "openapi: 3.1.0\nwebhooks: {}\n", nil, ErrNoOperations.Error()},
		{"version 2 openapi", "openapi: 2.0\npaths: {}\n", nil, `line 1: openapi version "2.0" is not supported`},
		{"swagger 1.2", "swagger: '1.2'\n", nil, `line 1: swagger version "1.2" is not supported`},
		{"not openapi", "name: shop\n", nil, `line 1: not an OpenAPI document`},
		{"not a mapping", "- a\n", nil, `line 1: the document must be a mapping`},
		{"empty", "", nil, `the document is empty`},
		{"bad yaml", "openapi: 3.0.0\npaths:\n  /a:\n   get: {}\n  bad\n", nil, `line 5: invalid YAML or JSON: could not find expected ':'`},
		{"bad json", "{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {}\n  \"x\": 1\n}\n", nil,
			`line 4: invalid YAML or JSON: did not find expected ',' or '}'`},
		{"unterminated", "openapi: 3.0.0\npaths:\n  /a:\n    get: [\n", nil, `line 5: invalid YAML or JSON: did not find expected node content`},
	}
}

func TestRoutesFromOpenAPI(t *testing.T) {
	for _, tc := range openAPICases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RoutesFromOpenAPI([]byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if _, err := Build([]Entry[int]{{Routes: got}}); err != nil {
				t.Errorf("the routes do not build: %v", err)
			}
		})
	}
}

func TestRoutesFromOpenAPINoOperations(t *testing.T) {
	_, err := RoutesFromOpenAPI([]byte("openapi: 3.0.0\npaths: {}\n"))
	if !errors.Is(err, ErrNoOperations) {
		t.Errorf("error %v, want ErrNoOperations", err)
	}
}
