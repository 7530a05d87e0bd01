package portal

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// FuzzAPIPage: whatever the attached document holds, the API page answers 200 with a
// reference or a notice, and nothing active gets into it.
func FuzzAPIPage(f *testing.F) {
	for _, name := range []string{"testdata/petstore-3.1.yaml", "testdata/cycles-3.0.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(hostileDoc())
	f.Add(genDocument(10))
	f.Add("openapi: 3.0.0\ninfo: {title: a, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              example: &a [*a]\n")
	f.Add(`{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"description":"d","content":{"a/b":{"schema":{"$ref":"#/components/schemas/A"}}}}}}}},"components":{"schemas":{"A":{"allOf":[{"$ref":"#/components/schemas/A"}]}}}}`)
	f.Add("openapi: 3.1.0\npaths: {}")
	f.Add("")
	api := &gatehouse.API{Name: "fuzz", State: gatehouse.StatePublished, Path: "/fuzz"}
	h, err := New(Options{Store: &fakeStore{apis: []*gatehouse.API{api}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		api.OpenAPI = doc
		req := httptest.NewRequest("GET", "/apis/fuzz", nil)
		req.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		if page := strings.ToLower(w.Body.String()); strings.Contains(page, "<script") || strings.Contains(page, "<img") {
			t.Fatalf("active content in the page")
		}
	})
}
