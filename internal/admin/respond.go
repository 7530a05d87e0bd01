package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// Codes of the admin API beyond the domain's: they describe the HTTP exchange rather than
// a resource, so they live here. Like the domain codes they are part of the contract.
const (
	codeUnsupportedMediaType = "unsupported_media_type" // 415: the body is not JSON
	codeMethodNotAllowed     = "method_not_allowed"     // 405: the path exists under other methods
)

// statusOf maps a stable code to its HTTP status: the domain codes as every listener
// does, and the admin API's own two.
func statusOf(code string) int {
	switch code {
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return problem.Status(code)
}

// writeError renders err once as a problem document. Internal errors are logged with their
// cause and shown to the caller only as "internal error".
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := gatehouse.ErrorCode(err)
	status := statusOf(code)
	if status == http.StatusInternalServerError {
		code = gatehouse.EInternal
		s.log.ErrorContext(r.Context(), "admin api: internal error",
			"method", r.Method, "path", r.URL.Path, "actor", gatehouse.ActorFrom(r.Context()), "err", err)
	} else if code == gatehouse.EUnavailable {
		// The caller sees the safe message; the operator needs the cause.
		s.log.WarnContext(r.Context(), "admin api: dependency unavailable",
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	doc := problem.Document{Status: status, Code: code, Detail: gatehouse.ErrorMessage(err)}
	if ge, ok := asError(err); ok {
		doc.Errors = ge.Fields
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	}
	problem.WriteDoc(w, doc)
}

// writeJSON sends v as compact JSON with the given status.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encoding response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeResource sends one resource with its ETag (when it has a revision).
func (s *server) writeResource(w http.ResponseWriter, r *http.Request, status int, revision int64, v any) {
	if revision > 0 {
		w.Header().Set("ETag", etag(revision))
	}
	s.writeJSON(w, r, status, v)
}

// writeCreated answers a POST: 201, Location of the new resource, ETag, the stored body.
func (s *server) writeCreated(w http.ResponseWriter, r *http.Request, location string, revision int64, v any) {
	w.Header().Set("Location", location)
	s.writeResource(w, r, http.StatusCreated, revision, v)
}

// writeGet answers a read, or 304 when the client's If-None-Match already names the
// current revision.
func (s *server) writeGet(w http.ResponseWriter, r *http.Request, revision int64, v any) {
	if revision > 0 && noneMatch(r.Header.Get("If-None-Match"), revision) {
		w.Header().Set("ETag", etag(revision))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeResource(w, r, http.StatusOK, revision, v)
}

// writePage answers a list call with {"items", "next"} and a Link header to the next page
// that keeps the caller's filters and limit.
func (s *server) writePage(w http.ResponseWriter, r *http.Request, items any, next string) {
	if next != "" {
		q := r.URL.Query()
		q.Set("after", next)
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
	}
	s.writeJSON(w, r, http.StatusOK, page{Items: items, Next: next})
}

// page is the body of every list answer. Items is never null.
type page struct {
	Items any    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// pathOf builds the URL path of a resource from escaped segments, for Location headers.
func pathOf(segments ...string) string {
	p := "/v1"
	for _, seg := range segments {
		p += "/" + url.PathEscape(seg)
	}
	return p
}
