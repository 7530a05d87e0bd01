// Package problem writes RFC 9457 problem documents (application/problem+json), the one
// error format every Gatehouse listener speaks, so clients can switch on a stable `code`.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
)

// TypeBase prefixes a code to form the problem's `type` URI.
const TypeBase = "https://gatehouse.dev/problems/"

// Document is an RFC 9457 problem document with Gatehouse's `code` and `errors` extensions.
type Document struct {
	Type     string                 `json:"type"`
	Title    string                 `json:"title"`
	Status   int                    `json:"status"`
	Detail   string                 `json:"detail,omitempty"`
	Code     string                 `json:"code"`
	Instance string                 `json:"instance,omitempty"`
	Errors   []gatehouse.FieldError `json:"errors,omitempty"`
}

// Write sends a problem document with the given status, stable code and detail.
func Write(w http.ResponseWriter, status int, code, detail string) {
	WriteDoc(w, Document{Status: status, Code: code, Detail: detail})
}

// WriteDoc sends d, filling Type and Title from Code and Status when empty.
func WriteDoc(w http.ResponseWriter, d Document) {
	if d.Type == "" {
		d.Type = TypeBase + d.Code
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	b, err := json.Marshal(d)
	if err != nil { // cannot happen for this type; keep the response well-formed anyway
		b = []byte(`{"code":"internal","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Status)
	_, _ = w.Write(b)
}

// WriteAuthError answers a request whose credentials an authenticator refused: 403 when
// the error's code is forbidden (valid credentials without the right), otherwise 401 with
// a Bearer challenge, as the admin API does.
func WriteAuthError(w http.ResponseWriter, err error) {
	if gatehouse.ErrorCode(err) == gatehouse.EForbidden {
		Write(w, http.StatusForbidden, gatehouse.EForbidden, gatehouse.ErrorMessage(err))
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	Write(w, http.StatusUnauthorized, gatehouse.EUnauthorized, gatehouse.ErrorMessage(err))
}

// Status is the HTTP status of a domain error code (gatehouse.E*); unknown codes, and
// EInternal, are 500. Every listener answers the same code with the same status.
func Status(code string) int {
	switch code {
	case gatehouse.EInvalid:
		return http.StatusBadRequest
	case gatehouse.ENotFound:
		return http.StatusNotFound
	case gatehouse.EConflict:
		return http.StatusConflict
	case gatehouse.EUnauthorized:
		return http.StatusUnauthorized
	case gatehouse.EForbidden:
		return http.StatusForbidden
	case gatehouse.EPreconditionFailed:
		return http.StatusPreconditionFailed
	case gatehouse.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case gatehouse.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
