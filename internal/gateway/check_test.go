package gateway

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

func TestCheckAPI(t *testing.T) {
	ok := api("ok", "/ok", nil, gatehouse.StatePublished, "http://127.0.0.1:1")
	ok.OpenAPI = "openapi: 3.1.0\npaths:\n  /a/{id}:\n    get: {}\n"
	badDoc := api("bad", "/bad", nil, gatehouse.StatePublished, "http://127.0.0.1:1")
	badDoc.OpenAPI = "openapi: 3.1.0\npaths:\n  /a/x{id}:\n    get: {}\n"
	dupRoutes := api("dup", "/dup", nil, gatehouse.StatePublished, "http://127.0.0.1:1")
	dupRoutes.Routes = []gatehouse.Route{{Path: "/a/{x}", Methods: []string{"GET"}}, {Path: "/a/{y}", Methods: []string{"GET"}}}
	badCA := api("ca", "/ca", nil, gatehouse.StatePublished, "https://127.0.0.1:1")
	badCA.Upstream.TLS = &gatehouse.UpstreamTLS{CAFile: "/nonexistent/ca.pem"}
	draft := api("draft", "/d", nil, gatehouse.StateDraft)
	draft.OpenAPI = "not: [valid"
	tests := []struct {
		api   *gatehouse.API
		field string
	}{
		{ok, ""}, {draft, ""}, {badDoc, "openapi"}, {dupRoutes, "routes"}, {badCA, "upstream"},
	}
	for _, tt := range tests {
		err := New(Options{}).CheckAPI(tt.api)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.api.Name, err)
			}
			continue
		}
		var e *gatehouse.Error
		if !errors.As(err, &e) || e.Code != gatehouse.EInvalid || len(e.Fields) == 0 || e.Fields[0].Field != tt.field {
			t.Errorf("%s: want an invalid %s, got %v", tt.api.Name, tt.field, err)
		}
	}
}
