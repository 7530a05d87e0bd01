package problem

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{
		gatehouse.EInvalid: 400, gatehouse.EUnauthorized: 401, gatehouse.EForbidden: 403, gatehouse.ENotFound: 404,
		gatehouse.EConflict: 409, gatehouse.EPreconditionFailed: 412, gatehouse.ETooLarge: 413,
		gatehouse.EUnavailable: 503, gatehouse.EInternal: 500, "no_such_code": http.StatusInternalServerError,
	} {
		if got := Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}
