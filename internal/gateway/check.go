package gateway

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/router"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/upstream"
)

// CheckAPI reports whether a would compile into a route table: its routes (or those of its
// OpenAPI document) must be valid and unambiguous, and its upstream's TLS files must load.
// The admin API calls it before writing. Without it, a bad document would be stored and
// then fail every later configuration swap until someone fixed it.
func CheckAPI(a *gatehouse.API) error {
	if a.State == gatehouse.StateDraft {
		return nil // drafts are not compiled; they are checked when they are published
	}
	var p gatehouse.Problems
	routes, err := apiRoutes(a)
	if err != nil {
		p.Addf("openapi", "%s", strings.TrimPrefix(err.Error(), "openapi: "))
		return p.Err("api")
	}
	if _, err := router.Build([]router.Entry[struct{}]{{Name: "api " + a.Name, Hosts: a.Hosts, Prefix: a.Path, Routes: routes}}); err != nil {
		field := "routes"
		if len(a.Routes) == 0 {
			field = "openapi"
		}
		p.Addf(field, "%s", err.Error())
	}
	if a.State != gatehouse.StateRetired {
		if err := upstream.Check(a.Upstream); err != nil {
			p.Addf("upstream", "%s", err.Error())
		}
	}
	return p.Err("api")
}
