package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/quota"
)

// TestQuotaUsage: /v1/analytics/quota lists each app's quota use, filters by app, and the
// portal's AppUsage only ever shows the developer's own app.
func TestQuotaUsage(t *testing.T) {
	tr := quota.NewTracker()
	reset := time.Now().Add(time.Hour)
	tr.Report("plan:gold", "orders", "alpha", "gold", "day", 90, 100, reset)
	tr.Report("plan:gold", "orders", "beta", "gold", "day", 10, 100, reset)
	e := newEnv(t, envOptions{tune: func(a *API) { a.quotas = func(app string) []quota.Usage { return tr.Snapshot(app, time.Now()) } }})

	var all QuotaAnswer
	e.getJSON("/v1/analytics/quota", &all)
	if len(all.Items) != 2 || all.Items[0].App != "alpha" || all.Items[0].Used != 90 || all.Items[0].Limit != 100 {
		t.Fatalf("all: %+v", all.Items)
	}
	var beta QuotaAnswer
	e.getJSON("/v1/analytics/quota?app=beta", &beta)
	if len(beta.Items) != 1 || beta.Items[0].App != "beta" || beta.Items[0].Period != "day" {
		t.Fatalf("beta: %+v", beta.Items)
	}
	if r := e.get("/v1/analytics/quota?bogus=1"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown parameter: %d", r.StatusCode)
	}

	rec := httptest.NewRecorder()
	e.api.AppUsage(rec, httptest.NewRequest("GET", "/portal/usage/quota", nil), "alpha")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"app":"alpha"`) || strings.Contains(rec.Body.String(), "beta") {
		t.Fatalf("portal usage: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	e.api.AppUsage(rec, httptest.NewRequest("GET", "/portal/usage/quota?app=beta", nil), "alpha")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("portal asking for another app: %d", rec.Code)
	}
}
