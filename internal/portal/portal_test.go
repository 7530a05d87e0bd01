package portal

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// TestCatalogueShowsOnlyServedAPIs: published and deprecated APIs are listed; drafts and
// retired APIs never reach developers, in the page or its JSON.
func TestCatalogueShowsOnlyServedAPIs(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	target := gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}
	for name, state := range map[string]gatehouse.APIState{
		"live-api": gatehouse.StatePublished, "old-api": gatehouse.StateDeprecated,
		"secret-draft": gatehouse.StateDraft, "gone-api": gatehouse.StateRetired,
	} {
		a := &gatehouse.API{Name: name, State: state, Path: "/" + name, Upstream: target, Description: "about <" + name + ">"}
		if _, err := st.CreateAPI(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(Options{Store: st, GatewayURL: "http://gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"live-api", "old-api", "http://gw.test/live-api", "about &lt;live-api&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, hidden := range []string{"secret-draft", "gone-api"} {
		if strings.Contains(page, hidden) {
			t.Errorf("page shows %q", hidden)
		}
	}

	resp, err = http.Get(srv.URL + "/api/apis")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Items []struct{ Name string } }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	var names []string
	for _, it := range body.Items {
		names = append(names, it.Name)
	}
	if strings.Join(names, ",") != "live-api,old-api" {
		t.Errorf("JSON catalogue = %v", names)
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
}
