package portal

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// The try-it console sends a developer's request to the gateway from the portal server
// (not from the browser, so no CORS setup is needed on the API) with the key the
// developer pastes. The request can only go to the gateway's URL under the API's base
// path: the console is no open proxy.

var tryMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

const (
	maxTryBody     = 1 << 20   // request body
	maxTryResponse = 256 << 10 // response body shown
)

// tryForm is the console's input, kept on the page after sending.
type tryForm struct {
	Method, Path, Query, Headers, Body, ContentType string
	KeyHeader                                       string // where the key goes
}

// tryResult is what came back.
type tryResult struct {
	URL       string
	Status    int
	StatusTxt string
	Class     string // 2xx.. for colour
	Duration  string
	Headers   []headerLine
	Body      string
	Truncated bool
	Error     string
}

type headerLine struct{ Name, Value string }

// keyHeader is the header the API's key-auth policy reads (X-API-Key by default).
func keyHeader(a *gatehouse.API) string {
	for _, ps := range a.Policies {
		if ps.Type == "key-auth" && !ps.Disabled {
			var c struct {
				Header string `json:"header"`
			}
			if json.Unmarshal(ps.Config, &c) == nil && c.Header != "" {
				return c.Header
			}
		}
	}
	return "X-API-Key"
}

// defaultTry prefills the console from ?try=METHOD+PATH (links on each operation).
func defaultTry(a *gatehouse.API, q url.Values) tryForm {
	f := tryForm{Method: "GET", Path: "/", KeyHeader: keyHeader(a), ContentType: "application/json"}
	if m, path, ok := strings.Cut(q.Get("try"), " "); ok && slices.Contains(tryMethods, m) && strings.HasPrefix(path, "/") {
		f.Method, f.Path = m, path
	}
	return f
}

func (p *portal) tryIt(w http.ResponseWriter, r *http.Request, s *signedIn) {
	a, ok := p.servedAPI(w, r)
	if !ok {
		return
	}
	f := tryForm{Method: r.PostFormValue("method"), Path: r.PostFormValue("path"), Query: r.PostFormValue("query"),
		Headers: r.PostFormValue("headers"), Body: r.PostFormValue("body"), ContentType: r.PostFormValue("content_type"),
		KeyHeader: keyHeader(a)}
	res := p.sendTry(r, a, f, r.PostFormValue("key"))
	d := p.apiPageData(r, a)
	d.Try, d.TryResult = f, res
	p.render(w, http.StatusOK, "api.html", d)
}

func (p *portal) sendTry(r *http.Request, a *gatehouse.API, f tryForm, key string) *tryResult {
	res := &tryResult{}
	if !slices.Contains(tryMethods, f.Method) {
		res.Error = "Choose a method from the list."
		return res
	}
	if !strings.HasPrefix(f.Path, "/") || strings.ContainsAny(f.Path, "?#\\\r\n\t") || strings.Contains(f.Path, "//") || hasDotSegment(f.Path) {
		res.Error = "The path must start with / and hold no ?, #, //, . or .. segments; put the query string in its own field."
		return res
	}
	if len(f.Body) > maxTryBody {
		res.Error = "The body is larger than 1 MB."
		return res
	}
	if q := strings.TrimPrefix(f.Query, "?"); q != "" {
		if _, err := url.ParseQuery(q); err != nil {
			res.Error = "The query string is not valid: " + err.Error()
			return res
		}
		f.Query = q
	}
	target := p.opts.GatewayURL + strings.TrimSuffix(a.Path, "/") + f.Path
	if f.Query != "" {
		target += "?" + strings.TrimPrefix(f.Query, "?")
	}
	res.URL = target
	var body io.Reader
	if f.Body != "" && f.Method != "GET" && f.Method != "HEAD" {
		body = strings.NewReader(f.Body)
	}
	req, err := http.NewRequestWithContext(r.Context(), f.Method, target, body)
	if err != nil {
		res.Error = "The request could not be built: " + err.Error()
		return res
	}
	for line := range strings.SplitSeq(strings.ReplaceAll(f.Headers, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			res.Error = "Write each header as Name: value, one per line."
			return res
		}
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie",
			// The gateway may trust these from the portal's address: a developer must
			// not choose the client address an IP rule sees.
			"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Via":
			res.Error = "The console sets " + name + " itself."
			return res
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	if body != nil && f.ContentType != "" {
		req.Header.Set("Content-Type", f.ContentType)
	}
	if key = strings.TrimSpace(key); key != "" {
		req.Header.Set(f.KeyHeader, key)
	}
	req.Header.Set("User-Agent", "Gatehouse-Portal-TryIt/1")
	// The request is the developer's: say so, as a proxy would, so that the gateway's
	// IP rules and analytics see their address (when it trusts the portal).
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.Header.Set("X-Forwarded-For", host)
	}
	// An API served on its own hosts is routed by Host: use the first that is not a
	// wildcard.
	for _, h := range a.Hosts {
		if !strings.HasPrefix(h, "*.") {
			req.Host = h
			break
		}
	}
	start := time.Now()
	resp, err := p.tryit.Do(req)
	if err != nil {
		res.Error = "The gateway did not answer: " + err.Error()
		return res
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxTryResponse+1))
	res.Duration = time.Since(start).Round(100 * time.Microsecond).String()
	res.Status = resp.StatusCode
	res.StatusTxt = http.StatusText(resp.StatusCode)
	res.Class = strconv.Itoa(resp.StatusCode/100) + "xx"
	if len(b) > maxTryResponse {
		b, res.Truncated = b[:maxTryResponse], true
	}
	names := make([]string, 0, len(resp.Header))
	for n := range resp.Header {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, v := range resp.Header[n] {
			res.Headers = append(res.Headers, headerLine{n, v})
		}
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			b = out.Bytes()
		}
	}
	res.Body = strings.ToValidUTF8(string(b), "\uFFFD")
	return res
}

// hasDotSegment reports whether path has a "." or ".." segment, which a normalising
// proxy could resolve out of the API's base path.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") ||
			strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return true
		}
	}
	return false
}
