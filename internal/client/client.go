// Package client is the Go client of the Gatehouse admin API. Every method is one HTTP call
// (All* methods follow the list cursor to the end); problem documents come back as
// *gatehouse.Error so callers can switch on gatehouse.ErrorCode(err).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// DefaultBaseURL is where `gatehouse serve` listens for the admin API by default.
const DefaultBaseURL = "http://127.0.0.1:8001"

// mergePatchType is the media type of RFC 7396 JSON merge patches, which PATCH bodies are.
const mergePatchType = "application/merge-patch+json"

// maxErrorBody bounds how much of an error response is read: a problem document is small,
// and anything longer is not one.
const maxErrorBody = 64 << 10

// Client calls the admin API. It is safe for concurrent use.
type Client struct {
	base  string // without a trailing slash
	token string
	hc    *http.Client
}

// New returns a client of the admin API at baseURL (DefaultBaseURL if empty) that
// authenticates with token. A nil hc means http.DefaultClient.
func New(baseURL, token string, hc *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// BaseURL returns the admin API address the client talks to.
func (c *Client) BaseURL() string { return c.base }

// path joins escaped segments under /v1/, so that names and emails cannot change the route.
func path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// request describes one call; zero fields are left out.
type request struct {
	method      string
	path        string // already escaped
	query       url.Values
	body        any
	contentType string // application/json unless set
	ifRevision  int64  // sent as If-Match when positive
}

// do performs r and decodes a 2xx JSON body into out (when out is non-nil). Non-2xx answers
// become *gatehouse.Error.
func (c *Client) do(ctx context.Context, r request, out any) error {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("encoding %s %s request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("building %s %s request: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.ifRevision > 0 {
		req.Header.Set("If-Match", strconv.Quote(strconv.FormatInt(r.ifRevision, 10)))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeProblem(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding answer to %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// transportError turns a failure to get any answer into something a person can act on.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &gatehouse.Error{
			Code:    gatehouse.EUnavailable,
			Message: fmt.Sprintf("cannot reach the admin API at %s: is `gatehouse serve` running?", c.base),
			Err:     op,
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return &gatehouse.Error{
			Code:    gatehouse.EUnavailable,
			Message: fmt.Sprintf("cannot reach the admin API at %s: unknown host", c.base),
			Err:     dns,
		}
	}
	return &gatehouse.Error{
		Code:    gatehouse.EUnavailable,
		Message: fmt.Sprintf("calling the admin API at %s", c.base),
		Err:     err,
	}
}

// problem is an RFC 9457 problem document with Gatehouse's extensions.
type problem struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail"`
	Code   string                 `json:"code"`
	Errors []gatehouse.FieldError `json:"errors"`
}

// decodeProblem reads a non-2xx answer. Servers in front of Gatehouse (proxies, load
// balancers) answer in other shapes, so anything that is not a problem document still gives
// an error with a code derived from the status.
func decodeProblem(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var p problem
	if json.Unmarshal(data, &p) == nil && (p.Code != "" || p.Detail != "" || p.Title != "") {
		e := &gatehouse.Error{Code: p.Code, Message: p.Detail, Fields: p.Errors}
		if e.Code == "" {
			e.Code = codeForStatus(resp.StatusCode)
		}
		if e.Message == "" {
			e.Message = p.Title
		}
		return e
	}
	msg := fmt.Sprintf("admin API answered %s", resp.Status)
	if text := firstLine(data); text != "" {
		msg += ": " + text
	}
	return &gatehouse.Error{Code: codeForStatus(resp.StatusCode), Message: msg}
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return gatehouse.EInvalid
	case http.StatusUnauthorized:
		return gatehouse.EUnauthorized
	case http.StatusForbidden:
		return gatehouse.EForbidden
	case http.StatusNotFound:
		return gatehouse.ENotFound
	case http.StatusConflict:
		return gatehouse.EConflict
	case http.StatusPreconditionFailed:
		return gatehouse.EPreconditionFailed
	case http.StatusRequestEntityTooLarge:
		return gatehouse.ETooLarge
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return gatehouse.EUnavailable
	}
	return gatehouse.EInternal
}

// The generic helpers below keep every resource method to a line or two. They are
// functions, not methods, because Go methods cannot have type parameters.

func get[T any](ctx context.Context, c *Client, p string) (T, error) {
	var out T
	err := c.do(ctx, request{method: http.MethodGet, path: p}, &out)
	return out, err
}

func send[T any](ctx context.Context, c *Client, method, p string, body any, ifRevision int64) (T, error) {
	var out T
	r := request{method: method, path: p, body: body, ifRevision: ifRevision}
	if method == http.MethodPatch {
		r.contentType = mergePatchType
	}
	err := c.do(ctx, r, &out)
	return out, err
}

func del(ctx context.Context, c *Client, p string, ifRevision int64) error {
	return c.do(ctx, request{method: http.MethodDelete, path: p, ifRevision: ifRevision}, nil)
}

func list[T any](ctx context.Context, c *Client, p string, q url.Values) (gatehouse.Page[T], error) {
	var out gatehouse.Page[T]
	err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &out)
	if out.Items == nil {
		out.Items = []T{}
	}
	return out, err
}

// all follows the next cursor from q's "after" to the last page.
func all[T any](ctx context.Context, c *Client, p string, q url.Values) ([]T, error) {
	items := []T{}
	seen := map[string]bool{}
	for {
		page, err := list[T](ctx, c, p, q)
		if err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
		if page.Next == "" {
			return items, nil
		}
		// A server that hands out the same cursor twice would keep us here forever.
		if seen[page.Next] {
			return nil, fmt.Errorf("listing %s: the admin API returned cursor %q twice", p, page.Next)
		}
		seen[page.Next] = true
		q.Set("after", page.Next)
	}
}

// listQuery encodes the paging options and the non-empty filters given as name, value pairs.
func listQuery(o gatehouse.ListOptions, filters ...string) url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	for i := 0; i+1 < len(filters); i += 2 {
		if filters[i+1] != "" {
			q.Set(filters[i], filters[i+1])
		}
	}
	return q
}
