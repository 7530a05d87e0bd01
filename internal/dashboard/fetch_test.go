package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestFetchRefusesLinkLocal: the OpenAPI import never dials a metadata service.
func TestFetchRefusesLinkLocal(t *testing.T) {
	c := newFetchClient()
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:80/"} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", u, nil)
		_, err := c.Do(req)
		if err == nil || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("%s: %v, want a link-local refusal", u, err)
		}
	}
}
