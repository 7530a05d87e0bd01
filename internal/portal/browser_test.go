package portal_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/webtest"
)

// TestCatalogueInBrowser: the catalogue of two published APIs, in Chromium, at a phone's
// width and a desktop's. Both APIs are shown, nothing spills sideways, the page logs no
// errors and passes the accessibility checks. Screenshots go to GATEHOUSE_SCREENSHOTS.
func TestCatalogueInBrowser(t *testing.T) {
	webtest.Chromium(t) // skip before opening anything when there is no browser
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "portal.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	target := gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}
	apis := []*gatehouse.API{
		{Name: "payments", Version: "2.1", Path: "/payments", Description: "Charge cards, refund and list payouts."},
		{Name: "weather-forecasts", Version: "1", Path: "/weather/v1", Description: "Hourly and daily forecasts for any place on Earth, by coordinates or city name."},
	}
	for _, a := range apis {
		a.State, a.Upstream = gatehouse.StatePublished, target
		if _, err := st.CreateAPI(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	h, err := portal.New(portal.Options{Store: st, GatewayURL: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	b := webtest.New(t)
	if status := b.Go(srv.URL + "/"); status != 200 {
		t.Fatalf("GET /: status %d", status)
	}
	for _, width := range []int{360, 1440} {
		b.SetViewport(width, 900)
		// The whole page's visible text, not one card's markup: the portal's templates
		// change, what a developer must be able to read does not.
		text := b.Text("body")
		for _, a := range apis {
			for _, want := range []string{a.Name, a.Description, "https://api.example.com" + a.Path} {
				if !strings.Contains(text, want) {
					t.Errorf("width %d: the page does not show %q", width, want)
				}
			}
		}
		var overflow int
		b.Eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("width %d: the page is %d px wider than the viewport", width, overflow)
		}
		b.Screenshot(fmt.Sprintf("catalogue-%d", width))
	}
	if v := b.A11y(); len(v) != 0 {
		t.Errorf("accessibility: %q", v)
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}
