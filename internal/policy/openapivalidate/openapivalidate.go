// Package openapivalidate is the openapi-validate policy: it checks each request's path,
// query, headers and body against the API's attached OpenAPI 3.0 or 3.1 document, and can
// report (never reject) responses that stray from it.
//
// The document is parsed, indexed and its schemas compiled once, in New, with
// libopenapi and libopenapi-validator; a request only looks its operation up and runs the
// compiled schemas. Like the gateway's router, the policy reads the document's paths as
// relative to the API's path prefix and ignores `servers`: an API at "/shop" whose
// document has "/orders/{id}" serves "/shop/orders/42".
package openapivalidate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/cache"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/parameters"
	"github.com/pb33f/libopenapi-validator/radix"
	"github.com/pb33f/libopenapi-validator/requests"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/router"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Values of Config.Response and Config.UnknownOperation.
const (
	ResponseOff    = "off"
	ResponseReport = "report"
	UnknownReject  = "reject"
	UnknownAllow   = "allow"
)

// DefaultMaxBody is the default Config.MaxBody: 1 MiB.
const DefaultMaxBody = 1 << 20

// Config configures openapi-validate.
type Config struct {
	// Body validates JSON request bodies (application/json, application/*+json) against the
	// operation's requestBody schema, and rejects content types the operation does not
	// declare. Default true.
	Body *bool `json:"body,omitempty"`
	// Query validates query parameters. Default true.
	Query *bool `json:"query,omitempty"`
	// Headers validates header and cookie parameters. Default true.
	Headers *bool `json:"headers,omitempty"`
	// Path validates path parameters. Default true.
	Path *bool `json:"path,omitempty"`
	// Response is "off" or "report": validate responses and log (at warn) and count those
	// that do not match the document, never altering them. Default "off".
	Response string `json:"response,omitempty"`
	// MaxBody is the most bytes of a request body (and, in report mode, of a response body)
	// read into memory to validate. Default 1048576 (1 MiB).
	MaxBody int64 `json:"max_body,omitempty"`
	// SkipLargeBodies lets a request whose body is over MaxBody through without validating
	// its body, instead of rejecting it with 413. Default false.
	SkipLargeBodies bool `json:"skip_large_bodies,omitempty"`
	// UnknownOperation is what happens to a request the document has no operation for:
	// "reject" (400) or "allow" (passed on unvalidated). Default "reject".
	UnknownOperation string `json:"unknown_operation,omitempty"`
}

// maxMaxBody bounds MaxBody: the body is held in memory for the length of the request.
const maxMaxBody = 64 << 20

// Validate checks the enumerations and the body limit.
func (c *Config) Validate() error {
	var errs []error
	switch c.Response {
	case "", ResponseOff, ResponseReport:
	default:
		errs = append(errs, fmt.Errorf("response: must be %q or %q, not %q", ResponseOff, ResponseReport, c.Response))
	}
	switch c.UnknownOperation {
	case "", UnknownReject, UnknownAllow:
	default:
		errs = append(errs, fmt.Errorf("unknown_operation: must be %q or %q, not %q", UnknownReject, UnknownAllow, c.UnknownOperation))
	}
	if c.MaxBody < 0 || c.MaxBody > maxMaxBody {
		errs = append(errs, fmt.Errorf("max_body: must be between 0 (the default, 1 MiB) and %d", maxMaxBody))
	}
	return errors.Join(errs...)
}

// Type registers openapi-validate.
var Type = policy.Define("openapi-validate", policy.Validation, "validate requests (and report on responses) against the API's OpenAPI document", New)

// Validator is an openapi-validate handler. Its methods are safe for concurrent use.
type Validator struct {
	next policy.Handler
	name string
	api  string
	log  *slog.Logger

	body, query, headers, path bool
	report                     bool
	maxBody                    int64
	skipLarge                  bool
	allowUnknown               bool

	router    router.Router
	params    parameters.ParameterValidator
	bodies    requests.RequestBodyValidator
	responses responses.ResponseBodyValidator
	// prefix is the API's path prefix, "" for "/": the document's paths are under it.
	prefix string

	tooLarge *policy.Error
	// ops caches the unsupported-media-type rejection of each operation, built once.
	ops sync.Map // *v3.Operation → *policy.Error

	responseFailures atomic.Int64
}

var _ policy.Handler = (*Validator)(nil)

// New parses the API's OpenAPI document and compiles its validators.
func New(env *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if env.API == nil || strings.TrimSpace(env.API.OpenAPI) == "" {
		return nil, errors.New("openapi-validate needs the API's openapi document")
	}
	model, err := parse([]byte(env.API.OpenAPI))
	if err != nil {
		return nil, err
	}
	v := &Validator{
		next:         next,
		name:         name,
		api:          env.API.Name,
		log:          env.Log(),
		body:         enabled(cfg.Body),
		query:        enabled(cfg.Query),
		headers:      enabled(cfg.Headers),
		path:         enabled(cfg.Path),
		report:       cfg.Response == ResponseReport,
		maxBody:      cfg.MaxBody,
		skipLarge:    cfg.SkipLargeBodies,
		allowUnknown: cfg.UnknownOperation == UnknownAllow,
		prefix:       strings.TrimSuffix(env.API.Path, "/"),
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBody
	}
	v.tooLarge = policy.Reject(name, http.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("the request body is over the %d bytes this API validates", v.maxBody))

	// One path tree and regex cache, shared by our router and the validator's, so that a
	// request's path is matched without compiling anything.
	tree := radix.BuildPathTree(model)
	regexes := new(sync.Map)
	schemas := cache.NewDefaultCache()
	v.router = router.NewRouter(model, router.WithPathLookup(tree), router.WithRegexCache(regexes), router.WithPathOnlyMatching())
	opts := []config.Option{
		config.WithPathTree(tree),
		config.WithRegexCache(regexes),
		config.WithSchemaCache(schemas),
		// Authentication is the authentication phase's business, with the node's keys.
		config.WithoutSecurityValidation(),
	}
	lib := validator.NewValidatorFromV3Model(model, opts...)
	if err := checkSchemas(model, schemas, config.NewValidationOptions(opts...), v.report); err != nil {
		return nil, err
	}
	v.params = lib.GetParameterValidator()
	v.bodies = lib.GetRequestBodyValidator()
	v.responses = lib.GetResponseBodyValidator()
	return v, nil
}

func enabled(b *bool) bool { return b == nil || *b }

// ResponseFailures is how many responses failed validation in report mode.
func (v *Validator) ResponseFailures() int64 { return v.responseFailures.Load() }

// Serve validates c.R and calls the next handler.
func (v *Validator) Serve(c *policy.Context) error {
	r := c.R
	rel, ok := v.relative(r.URL.Path)
	if !ok {
		return v.unknown(c)
	}
	// The validator sees a shallow copy whose path is relative to the API's prefix, so
	// that the document's paths match; c.R itself goes upstream unchanged.
	vr := new(http.Request)
	*vr = *r
	u := *r.URL
	u.Path, u.RawPath = rel, ""
	if r.URL.RawPath != "" {
		if rp, ok := v.relative(r.URL.RawPath); ok {
			u.RawPath = rp
		}
	}
	vr.URL = &u
	vr.Body = http.NoBody

	route, err := v.router.FindRoute(vr)
	if err != nil || route == nil || route.Operation == nil {
		return v.unknown(c)
	}
	if vr.Method == http.MethodHead && route.PathItem.Head == nil {
		// The GET operation serves HEAD (as the gateway's router has it); the library
		// would look for HEAD's parameters and find none.
		vr.Method = http.MethodGet
	}
	if err := v.request(c, vr, route); err != nil {
		return err
	}
	if !v.report || isUpgrade(r) {
		return v.next.Serve(c)
	}
	return v.serveReporting(c, vr, route)
}

// relative returns p without the API's prefix, "/" when nothing is left.
func (v *Validator) relative(p string) (string, bool) {
	if v.prefix == "" {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, v.prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

func (v *Validator) unknown(c *policy.Context) error {
	if v.allowUnknown {
		return v.next.Serve(c)
	}
	return policy.Reject(v.name, http.StatusBadRequest, "invalid_request",
		clip(fmt.Sprintf("the API's OpenAPI document has no operation for %s %s", c.R.Method, c.R.URL.Path)))
}

// request validates the parts of vr that the configuration asks for, in the order a
// reader of the URL meets them, and returns the first failure.
func (v *Validator) request(c *policy.Context, vr *http.Request, route *router.Route) error {
	if v.path {
		if ok, errs := v.params.ValidatePathParamsWithPathItem(vr, route.PathItem, route.Path); !ok {
			return v.invalid(errs)
		}
	}
	if v.query {
		if ok, errs := v.params.ValidateQueryParamsWithPathItem(vr, route.PathItem, route.Path); !ok {
			return v.invalid(errs)
		}
	}
	if v.headers {
		if ok, errs := v.params.ValidateHeaderParamsWithPathItem(vr, route.PathItem, route.Path); !ok {
			return v.invalid(errs)
		}
		if ok, errs := v.params.ValidateCookieParamsWithPathItem(vr, route.PathItem, route.Path); !ok {
			return v.invalid(errs)
		}
	}
	if v.body && route.Operation.RequestBody != nil {
		return v.requestBody(c, vr, route)
	}
	return nil
}

// requestBody checks the content type, then reads the body (up to maxBody) and validates
// it. c.R.Body is replaced by a reader over what was read, so the proxy still sends it.
func (v *Validator) requestBody(c *policy.Context, vr *http.Request, route *router.Route) error {
	op := route.Operation
	if op.RequestBody.Content == nil || op.RequestBody.Content.Len() == 0 {
		return nil // the document names no media types: any will do
	}
	r := c.R
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if !hasBody(r) {
			if op.RequestBody.Required != nil && *op.RequestBody.Required {
				return policy.Reject(v.name, http.StatusBadRequest, "invalid_request", "body: a request body is required")
			}
			return nil
		}
		return v.unsupported(op)
	}
	mt, ok := helpers.FindMediaType(op.RequestBody.Content, ct)
	if !ok {
		return v.unsupported(op)
	}
	// Only JSON bodies are decoded and checked against a schema; buffering other bodies
	// would cost memory and check nothing.
	if mt == nil || mt.Schema == nil || !isJSON(ct) {
		return nil
	}
	if r.ContentLength > v.maxBody {
		if v.skipLarge {
			return nil
		}
		return v.tooLarge
	}
	buf, over, err := readUpTo(r.Body, r.ContentLength, v.maxBody)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) { // the API's own limit, applied by the gateway as it streams
			return policy.Reject(v.name, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit))
		}
		return policy.Reject(v.name, http.StatusBadRequest, "invalid_request", "body: could not be read")
	}
	if over {
		if !v.skipLarge {
			return v.tooLarge
		}
		// Pass the whole body on: what was read, then the rest, unvalidated.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil
	}
	setBody(r, buf)
	vr.Body = io.NopCloser(bytes.NewReader(buf))
	vr.ContentLength = int64(len(buf))
	if ok, errs := v.bodies.ValidateRequestBodyWithPathItem(vr, route.PathItem, route.Path); !ok {
		return v.invalid(errs)
	}
	return nil
}

// hasBody reports whether r may carry a body: a length, or chunked.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.Contains(strings.ToLower(mt), "json")
}

// unsupported is the 415 for op, naming the media types it accepts.
func (v *Validator) unsupported(op *v3.Operation) error {
	if e, ok := v.ops.Load(op); ok {
		return e.(*policy.Error)
	}
	var types []string
	if op.RequestBody.Content != nil {
		for p := op.RequestBody.Content.First(); p != nil; p = p.Next() {
			types = append(types, p.Key())
		}
	}
	e := policy.Reject(v.name, http.StatusUnsupportedMediaType, "unsupported_media_type",
		clip("the request's Content-Type is not one this operation accepts: "+strings.Join(types, ", ")))
	v.ops.Store(op, e)
	return e
}

// readUpTo reads at most limit bytes of r; over reports that there was more. size is the
// declared length (-1 unknown): a body that has one is read into one allocation.
func readUpTo(r io.Reader, size, limit int64) (buf []byte, over bool, err error) {
	if r == nil || r == http.NoBody {
		return nil, false, nil
	}
	lr := io.LimitReader(r, limit+1)
	if size > 0 && size <= limit {
		buf = make([]byte, 0, size+1) // the extra byte lets the EOF be read without growing
	} else {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, int64(len(buf)) > limit, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// setBody makes buf r's body: it is all in memory now, so it goes with a length (and can
// be replayed, for a retry).
func setBody(r *http.Request, buf []byte) {
	r.ContentLength = int64(len(buf))
	r.TransferEncoding = nil
	if len(buf) == 0 {
		r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
}

// readCloser reads from one reader and closes another: the original body, behind what
// was already read of it.
type readCloser struct {
	io.Reader
	io.Closer
}

func isUpgrade(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }
