package portal

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// openStore opens a SQLite store in t's temporary directory, as the catalogue test does.
func openStore(tb testing.TB) gatehouse.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "p.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

var testUpstream = gatehouse.Upstream{Targets: []gatehouse.Target{{URL: "http://127.0.0.1:1"}}}

func createAPI(tb testing.TB, st gatehouse.Store, a *gatehouse.API) {
	tb.Helper()
	if a.Path == "" {
		a.Path = "/" + a.Name
	}
	if a.State == "" {
		a.State = gatehouse.StatePublished
	}
	if len(a.Upstream.Targets) == 0 {
		a.Upstream = testUpstream
	}
	if _, err := st.CreateAPI(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
}

func newServer(tb testing.TB, st gatehouse.Store) *httptest.Server {
	tb.Helper()
	h, err := New(Options{Store: st, GatewayURL: "http://gw.test"})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// getPage fetches url as a browser would (Accept: text/html) and returns status and body.
func getPage(tb testing.TB, url string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode < 500 && !strings.HasPrefix(ct, "text/html") {
		tb.Errorf("GET %s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, string(b)
}

func mustContain(t *testing.T, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t *testing.T, page string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(page, w) {
			t.Errorf("page contains %q", w)
		}
	}
}

func newServerWith(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}
