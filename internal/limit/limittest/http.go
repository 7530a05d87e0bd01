package limittest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Response is what Get saw: Code is the problem document's code for errors.
type Response struct {
	Status int
	Code   string
	Header http.Header
	Err    error // the request failed (the server dropped it)
}

// Get sends GET / to srv with headers written "Name: value".
func Get(srv *httptest.Server, headers ...string) Response {
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	if err != nil {
		return Response{Err: err}
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode >= 400 {
		var doc struct{ Code string }
		if err := json.Unmarshal(body, &doc); err != nil {
			r.Code = "(not a problem document: " + string(body) + ")"
		} else {
			r.Code = doc.Code
		}
	}
	return r
}

// Is reports whether r has status and code.
func (r Response) Is(status int, code string) bool { return r.Status == status && r.Code == code }
