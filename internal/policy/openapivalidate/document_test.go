package openapivalidate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestDocumentNeverFetches builds documents whose schemas name resources on a local
// server: New must refuse (or neutralize) each without a single request reaching it, and
// so must the requests validated afterwards.
func TestDocumentNeverFetches(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"type": "object"}`))
	}))
	t.Cleanup(srv.Close)
	u := srv.URL
	tests := []struct {
		name, schema string
		want         string // "" when the document is accepted
	}{
		{"remote $schema", `{"$schema": "` + u + `/meta", "type": "object"}`, `$schema "` + u + `/meta": only the JSON Schema drafts`},
		{"file $schema", `{"$schema": "file:///etc/passwd", "type": "object"}`, `$schema "file:///etc/passwd"`},
		{"remote $ref", `{"type": "object", "properties": {"a": {"$ref": "` + u + `/x.json"}}}`, "only references within the document"},
		{"relative $ref", `{"type": "object", "properties": {"a": {"$ref": "other.json#/A"}}}`, `$ref "other.json#/A"`},
		{"remote $dynamicRef", `{"type": "object", "properties": {"a": {"$dynamicRef": "` + u + `/d#x"}}}`, "$dynamicRef"},
		{"schema that cannot compile", `{"$id": "` + u + `/base", "$ref": "#/components/schemas/Node"}`, "POST /a: request body application/json"},
		{"bad pattern", `{"type": "string", "pattern": "(["}`, "POST /a: request body application/json"},
		{"OpenAPI's dialect is dropped", `{"$schema": "https://spec.openapis.org/oas/3.1/dialect/base", "type": "object"}`, ""},
		{"a JSON Schema draft", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}`, ""},
		{"a property named $ref", `{"type": "object", "properties": {"$ref": {"type": "string"}}}`, ""},
		{"URLs in examples are data", `{"type": "object", "example": {"$schema": "` + u + `/x", "$ref": "` + u + `/y"}}`, ""},
		{"local references", `{"$ref": "#/components/schemas/Node"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
				"components": {"schemas": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}}}},
				"paths": {"/a": {"post": {"requestBody": {"content": {"application/json": {"schema": ` + tt.schema + `}}},
					"responses": {"200": {"description": "ok"}}}}}}`
			before := hits.Load()
			env := &policy.Env{API: shopAPI(doc)}
			env.API.Path = "/"
			h, err := New(env, policy.HandlerFunc(func(*policy.Context) error { return nil }), &Config{}, "openapi-validate")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: error %v, want one containing %q", err, tt.want)
			}
			if err == nil {
				r := httptest.NewRequest("POST", "/a", strings.NewReader(`{"next": {}}`))
				r.Header.Set("Content-Type", "application/json")
				c := policy.Acquire(httptest.NewRecorder(), r)
				if err := h.Serve(c); err != nil {
					t.Errorf("Serve: %v", err)
				}
				policy.Release(c)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the server", n)
			}
		})
	}
}

func TestSanitizeKeepsDocumentsWithoutChanges(t *testing.T) {
	doc := []byte(readDoc(t, "testdata/shop-3.0.yaml"))
	out, err := sanitize(doc)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &doc[0] {
		t.Error("sanitize rewrote a document it had nothing to remove from")
	}
}
