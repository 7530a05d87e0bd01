package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// fetchTimeout bounds an OpenAPI import by URL, from dialling to the last byte.
const fetchTimeout = 10 * time.Second

// newFetchClient returns the client of OpenAPI imports: http and https only, on every
// redirect too, and a few redirects at most.
func newFetchClient() *http.Client {
	// Link-local addresses (cloud metadata services at 169.254.169.254 and fe80::/10)
	// are refused at dial time, after DNS, on every redirect: they hold credentials and
	// no API document lives there. Loopback and private addresses stay allowed: specs are
	// often served next to the APIs they describe.
	dialer := &net.Dialer{Timeout: fetchTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip, err := netip.ParseAddr(host); err == nil && (ip.Unmap().IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
			return fmt.Errorf("refusing to fetch from link-local address %s", ip)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil
	return &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirected to a %s URL", req.URL.Scheme)
			}
			return nil
		},
	}
}

// fetchDocument GETs raw (http or https) on the server. Only operators who may change
// APIs reach it.
func (s *server) fetchDocument(r *http.Request, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, invalid("url", "must not carry a user name or password")
	}
	ctx, cancel := context.WithTimeout(r.Context(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, invalid("url", "is not a valid URL")
	}
	req.Header.Set("Accept", "application/json, application/yaml, text/yaml, */*;q=0.5")
	req.Header.Set("User-Agent", "Gatehouse-Dashboard (OpenAPI import)")
	resp, err := s.fetch.Do(req)
	if err != nil {
		msg := "could not be fetched"
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			msg = "did not answer within 10 seconds"
		}
		s.log.Info("dashboard: OpenAPI import fetch failed", "url", u.Redacted(), "err", err)
		return nil, invalid("url", msg)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, invalid("url", fmt.Sprintf("answered %s", resp.Status))
	}
	return readCapped(resp.Body, "url")
}

// docInfo is what an import takes from the document for a new API.
type docInfo struct {
	Version     string
	Description string
}

// openAPIInfo checks that doc (JSON or YAML) is an OpenAPI or Swagger document and
// returns its info. The full parse is the gateway's (CheckAPI).
func openAPIInfo(doc []byte) (docInfo, error) {
	var head struct {
		OpenAPI any `yaml:"openapi"`
		Swagger any `yaml:"swagger"`
		Info    struct {
			Title       string `yaml:"title"`
			Version     string `yaml:"version"`
			Description string `yaml:"description"`
		} `yaml:"info"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return docInfo{}, invalid("openapi", "is neither JSON nor YAML: "+msg)
	}
	if head.OpenAPI == nil && head.Swagger == nil {
		return docInfo{}, invalid("openapi", `is not an OpenAPI document: it has no "openapi" (or "swagger") version`)
	}
	desc := head.Info.Description
	if desc == "" {
		desc = head.Info.Title
	}
	return docInfo{Version: head.Info.Version, Description: strings.TrimSpace(desc)}, nil
}

func pathEscape(s string) string { return url.PathEscape(s) }
