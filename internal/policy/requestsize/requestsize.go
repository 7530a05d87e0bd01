// Package requestsize is the "request-size" policy: it bounds the request body, the URL,
// the number of query parameters and the total size of the headers, so that oversized
// requests are refused at the edge instead of reaching the upstream.
package requestsize

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Type is the "request-size" policy type.
var Type = policy.Define("request-size", policy.Edge, "limit the size of request bodies, URLs, query strings and headers", New)

// Config configures request-size. Sizes are in bytes.
type Config struct {
	// MaxBody is the largest request body accepted. Required (no default).
	MaxBody int64 `json:"max_body"`
	// MaxHeaders bounds the total size of the request headers, counted as in HTTP/1.1:
	// name, ": ", value and CRLF per line, Host included. Default: 0 (unchecked).
	MaxHeaders int64 `json:"max_headers,omitempty"`
	// MaxURL bounds the request target (path and query) as the client sent it.
	// Default: 0 (unchecked).
	MaxURL int64 `json:"max_url,omitempty"`
	// MaxQueryParams bounds the number of query parameters. Default: 0 (unchecked).
	MaxQueryParams int `json:"max_query_params,omitempty"`
}

// Validate checks the limits.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBody <= 0 {
		errs = append(errs, errors.New("max_body: required, a positive number of bytes"))
	}
	if c.MaxHeaders < 0 {
		errs = append(errs, errors.New("max_headers: must not be negative"))
	}
	if c.MaxURL < 0 {
		errs = append(errs, errors.New("max_url: must not be negative"))
	}
	if c.MaxQueryParams < 0 {
		errs = append(errs, errors.New("max_query_params: must not be negative"))
	}
	return errors.Join(errs...)
}

// Codes of the rejections.
const (
	CodeTooLarge        = gatehouse.ETooLarge // the body, as the gateway's own limit reports it
	CodeURITooLong      = "uri_too_long"
	CodeTooManyParams   = "too_many_query_params"
	CodeHeadersTooLarge = "headers_too_large"
)

type limiter struct {
	next                          policy.Handler
	cfg                           Config
	tooLarge, uriTooLong, headers *policy.Error
	tooManyParams                 *policy.Error
}

// New builds the policy.
func New(_ *policy.Env, next policy.Handler, cfg *Config, name string) (policy.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &limiter{
		next:          next,
		cfg:           *cfg,
		tooLarge:      policy.Reject(name, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the request body exceeds %d bytes", cfg.MaxBody)),
		uriTooLong:    policy.Reject(name, http.StatusRequestURITooLong, CodeURITooLong, fmt.Sprintf("the request URL exceeds %d bytes", cfg.MaxURL)),
		tooManyParams: policy.Reject(name, http.StatusRequestURITooLong, CodeTooManyParams, fmt.Sprintf("the request has more than %d query parameters", cfg.MaxQueryParams)),
		headers:       policy.Reject(name, http.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge, fmt.Sprintf("the request headers exceed %d bytes", cfg.MaxHeaders)),
	}, nil
}

func (l *limiter) Serve(c *policy.Context) error {
	r := c.R
	if l.cfg.MaxURL > 0 && urlLen(r) > l.cfg.MaxURL {
		return l.uriTooLong
	}
	if l.cfg.MaxQueryParams > 0 && countParams(r.URL.RawQuery) > l.cfg.MaxQueryParams {
		return l.tooManyParams
	}
	if l.cfg.MaxHeaders > 0 && headerLen(r) > l.cfg.MaxHeaders {
		return l.headers
	}
	if r.Body != nil && r.Body != http.NoBody {
		switch {
		case r.ContentLength > l.cfg.MaxBody:
			return l.tooLarge
		case r.ContentLength < 0:
			// A body of unknown length (chunked) is cut at the limit while it streams:
			// the reader returns *http.MaxBytesError, which the gateway's proxy answers
			// with 413. A declared length is already enforced by the server, so only
			// this case pays for the wrapper.
			r.Body = http.MaxBytesReader(c.W, r.Body, l.cfg.MaxBody)
		}
	}
	return l.next.Serve(c)
}

// urlLen is the size of the request target as it arrived.
func urlLen(r *http.Request) int64 {
	if r.RequestURI != "" {
		return int64(len(r.RequestURI))
	}
	n := len(r.URL.EscapedPath())
	if r.URL.RawQuery != "" {
		n += 1 + len(r.URL.RawQuery)
	}
	return int64(n)
}

// countParams counts the non-empty &-separated pairs, as url.ParseQuery would see them.
func countParams(q string) int {
	n := 0
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair != "" {
			n++
		}
	}
	return n
}

// headerLen is the headers' size on an HTTP/1.1 wire: "Name: value\r\n" per value, and
// the Host line net/http keeps out of r.Header.
func headerLen(r *http.Request) int64 {
	var n int64
	if r.Host != "" {
		n += int64(len("Host: \r\n") + len(r.Host))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	return n
}
