package openapivalidate

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/router"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// invalid is the 400 for a request that fails validation, naming the first failure.
func (v *Validator) invalid(errs []*liberrors.ValidationError) error {
	return policy.Reject(v.name, http.StatusBadRequest, "invalid_request", describe("", errs))
}

// serveReporting passes the request on with c.W wrapped to keep a copy of the response
// (up to maxBody bytes), then validates that copy. It only ever logs and counts: the
// response has gone to the client as the upstream sent it.
func (v *Validator) serveReporting(c *policy.Context, vr *http.Request, route *router.Route) error {
	if c.R.Method == http.MethodHead {
		return v.next.Serve(c) // no body to check, and the document describes GET's
	}
	orig := c.W
	rec := &recorder{ResponseWriter: orig, limit: v.maxBody}
	c.W = rec
	err := v.next.Serve(c)
	c.W = orig
	if err != nil || !rec.wrote {
		return err // a later policy rejected it: the gateway's answer, not the upstream's
	}
	h := orig.Header()
	var errs []*liberrors.ValidationError
	switch {
	case rec.status == http.StatusNotModified:
		return nil // no body by definition; its status mirrors a 200 the document describes
	case rec.over, !identity(h.Get("Content-Encoding")):
		// The body is not all here, or not readable as sent: only the status can be checked.
		if !statusDocumented(route, rec.status) {
			errs = []*liberrors.ValidationError{{ValidationType: helpers.ResponseBodyValidation, ValidationSubType: helpers.ResponseBodyResponseCode}}
		}
	default:
		resp := &http.Response{
			StatusCode:    rec.status,
			Header:        h,
			Body:          io.NopCloser(bytes.NewReader(rec.buf)),
			ContentLength: int64(len(rec.buf)),
			Request:       vr,
		}
		_, errs = v.responses.ValidateResponseBodyWithPathItem(vr, resp, route.PathItem, route.Path)
	}
	if len(errs) == 0 {
		return nil
	}
	v.responseFailures.Add(1)
	v.log.LogAttrs(c.R.Context(), slog.LevelWarn, "openapi-validate: response does not match the OpenAPI document",
		slog.String("api", v.api),
		slog.String("policy", v.name),
		slog.String("operation", operation(route)),
		slog.String("method", c.R.Method),
		slog.String("path", c.R.URL.Path),
		slog.Int("status", rec.status),
		slog.String("content_type", h.Get("Content-Type")),
		slog.String("location", describe("response ", errs)),
		slog.Int("failures", len(errs)))
	return nil
}

// operation names route's operation for logs: its operationId, else method and template.
func operation(route *router.Route) string {
	if route.Operation != nil && route.Operation.OperationId != "" {
		return route.Operation.OperationId
	}
	return route.Method + " " + route.Path
}

func identity(encoding string) bool { return encoding == "" || encoding == "identity" }

// statusDocumented reports whether the operation describes status: itself, its range
// ("4XX") or a default.
func statusDocumented(route *router.Route, status int) bool {
	rs := route.Operation.Responses
	if rs == nil || rs.Codes == nil || rs.Default != nil {
		return true
	}
	code := strconv.Itoa(status)
	if _, ok := rs.Codes.Get(code); ok {
		return true
	}
	for p := rs.Codes.First(); p != nil; p = p.Next() {
		if k := p.Key(); len(k) == 3 && k[0] == code[0] && (k[1:] == "XX" || k[1:] == "xx") {
			return true
		}
	}
	return false
}

// recorder passes a response through and keeps a copy of its status and of its body's
// first limit bytes. Unwrap and Flush keep http.ResponseController (flushes, deadlines)
// and streaming working through it.
type recorder struct {
	http.ResponseWriter
	limit  int64
	status int
	wrote  bool
	over   bool // the body passed limit; buf was dropped
	buf    []byte
}

func (w *recorder) WriteHeader(code int) {
	// 1xx are interim responses; the final status is the one to check.
	if !w.wrote && code >= 200 {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	if !w.over {
		if int64(len(w.buf))+int64(len(p)) > w.limit {
			w.over, w.buf = true, nil
		} else {
			w.buf = append(w.buf, p...)
		}
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written so far, when the writer underneath can.
func (w *recorder) Flush() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
