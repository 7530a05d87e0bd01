package limit

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestNewKeysRouteScope: a route's own rate-limit does not share the API's buckets (nor
// another route's); a route that only inherits the API's does.
func TestNewKeysRouteScope(t *testing.T) {
	api := &gatehouse.API{Name: "orders"}
	own := &gatehouse.Route{Name: "create", Policies: []gatehouse.PolicySpec{{Type: "rate-limit"}}}
	inherits := &gatehouse.Route{Name: "list", Policies: []gatehouse.PolicySpec{{Type: "header"}}}
	for _, c := range []struct {
		route *gatehouse.Route
		want  string
	}{
		{nil, "orders:rate-limit:"},
		{inherits, "orders:rate-limit:"},
		{own, "orders:create:rate-limit:"},
	} {
		if got := NewKeys(&policy.Env{API: api, Route: c.route}, "rate-limit", "", By{}).prefix; got != c.want {
			t.Errorf("route %v: prefix %q, want %q", c.route, got, c.want)
		}
	}
}
