package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// maxBody bounds request bodies of the alerting API.
const maxBody = 1 << 20

// codeUnsupportedMediaType is the admin API's code for a body that is not JSON.
const codeUnsupportedMediaType = "unsupported_media_type"

// Mount adds the alerting routes to the admin mux. authenticate returns an error for a
// request without valid admin credentials: a gatehouse.EForbidden error answers 403, any
// other 401.
//
//	GET, POST          /v1/alerts/rules
//	GET, PUT, DELETE   /v1/alerts/rules/{id}
//	GET, POST          /v1/webhooks
//	GET, PUT, DELETE   /v1/webhooks/{id}
//	GET                /v1/webhooks/{id}/deliveries   ?event= &limit= &after=
//	POST               /v1/webhooks/{id}/test
//	GET                /v1/alerts                     ?rule= &state= &api= &since= &until= &limit= &after=
//	GET                /v1/alerts/firing
func (e *Engine) Mount(mux *http.ServeMux, authenticate func(*http.Request) error) {
	h := &api{e: e, st: e.opts.Store}
	route := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := authenticate(r); err != nil {
				code := gatehouse.EUnauthorized
				if gatehouse.ErrorCode(err) == gatehouse.EForbidden {
					code = gatehouse.EForbidden
				}
				h.fail(w, r, &gatehouse.Error{Code: code, Message: gatehouse.ErrorMessage(err), Err: err})
				return
			}
			if err := f(w, r); err != nil {
				h.fail(w, r, err)
			}
		})
	}
	route("GET /v1/alerts/rules", h.listRules)
	route("POST /v1/alerts/rules", h.createRule)
	route("GET /v1/alerts/rules/{id}", h.getRule)
	route("PUT /v1/alerts/rules/{id}", h.putRule)
	route("DELETE /v1/alerts/rules/{id}", h.deleteRule)
	route("GET /v1/webhooks", h.listWebhooks)
	route("POST /v1/webhooks", h.createWebhook)
	route("GET /v1/webhooks/{id}", h.getWebhook)
	route("PUT /v1/webhooks/{id}", h.putWebhook)
	route("DELETE /v1/webhooks/{id}", h.deleteWebhook)
	route("GET /v1/webhooks/{id}/deliveries", h.listDeliveries)
	route("POST /v1/webhooks/{id}/test", h.testWebhook)
	route("GET /v1/alerts", h.listEvents)
	route("GET /v1/alerts/firing", h.listFiring)
}

type api struct {
	e  *Engine
	st Store
}

// items is the shape of every list answer.
type items[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func (h *api) listRules(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	rules, err := h.st.AlertRules(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items[*Rule]{Items: nonNil(rules)})
}

func (h *api) getRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := h.st.AlertRule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rule)
}

func (h *api) createRule(w http.ResponseWriter, r *http.Request) error {
	rule := Rule{Enabled: true}
	if err := decodeBody(w, r, &rule, "alert rule", "created_at", "updated_at"); err != nil {
		return err
	}
	if rule.ID == "" {
		rule.ID = gatehouse.NewID("rule")
	}
	if err := h.checkRule(r, &rule); err != nil {
		return err
	}
	now := stamp(h.e.opts.Now())
	rule.CreatedAt, rule.UpdatedAt = now, now
	out, err := h.st.CreateAlertRule(r.Context(), &rule)
	if err != nil {
		return err
	}
	h.e.rulesChanged()
	w.Header().Set("Location", "/v1/alerts/rules/"+url.PathEscape(out.ID))
	return writeJSON(w, http.StatusCreated, out)
}

func (h *api) putRule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	rule := Rule{Enabled: true}
	if err := decodeBody(w, r, &rule, "alert rule", "created_at", "updated_at"); err != nil {
		return err
	}
	if rule.ID != "" && rule.ID != id {
		return fieldError("alert rule", "id", "must match the id in the path, "+strconv.Quote(id))
	}
	rule.ID = id
	old, err := h.st.AlertRule(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.checkRule(r, &rule); err != nil {
		return err
	}
	rule.CreatedAt, rule.UpdatedAt = old.CreatedAt, stamp(h.e.opts.Now())
	out, err := h.st.UpdateAlertRule(r.Context(), &rule)
	if err != nil {
		return err
	}
	h.e.rulesChanged()
	return writeJSON(w, http.StatusOK, out)
}

// checkRule normalizes and validates rule, and checks that its webhooks exist.
func (h *api) checkRule(r *http.Request, rule *Rule) error {
	rule.Normalize()
	var p gatehouse.Problems
	if err := rule.Validate(); err != nil {
		p.Merge("", err)
	}
	for i, id := range rule.Webhooks {
		if _, err := h.st.Webhook(r.Context(), id); gatehouse.ErrorCode(err) == gatehouse.ENotFound {
			p.Addf(fmt.Sprintf("webhooks[%d]", i), "no webhook has the id %q", id)
		} else if err != nil {
			return err
		}
	}
	return p.Err("alert rule")
}

func (h *api) deleteRule(w http.ResponseWriter, r *http.Request) error {
	if err := h.st.DeleteAlertRule(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	h.e.rulesChanged()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// hidden is w as the API shows it: without its secret.
func hidden(w *Webhook) *Webhook {
	out := *w
	out.Secret = ""
	return &out
}

func (h *api) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	hooks, err := h.st.Webhooks(r.Context())
	if err != nil {
		return err
	}
	out := make([]*Webhook, len(hooks))
	for i, hk := range hooks {
		out[i] = hidden(hk)
	}
	return writeJSON(w, http.StatusOK, items[*Webhook]{Items: out})
}

func (h *api) getWebhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := h.st.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, hidden(hook))
}

// createWebhook stores a webhook. Without a secret it generates one and returns it, this
// once; a given secret is never returned.
func (h *api) createWebhook(w http.ResponseWriter, r *http.Request) error {
	hook := Webhook{Enabled: true}
	if err := decodeBody(w, r, &hook, "webhook", "created_at", "updated_at"); err != nil {
		return err
	}
	if hook.ID == "" {
		hook.ID = gatehouse.NewID("wh")
	}
	generated := hook.Secret == ""
	if generated {
		hook.Secret, _, _ = gatehouse.NewSecret("whsec_")
	}
	hook.Normalize()
	if err := hook.Validate(); err != nil {
		return err
	}
	now := stamp(h.e.opts.Now())
	hook.CreatedAt, hook.UpdatedAt = now, now
	out, err := h.st.CreateWebhook(r.Context(), &hook)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/webhooks/"+url.PathEscape(out.ID))
	if generated {
		return writeJSON(w, http.StatusCreated, out)
	}
	return writeJSON(w, http.StatusCreated, hidden(out))
}

// putWebhook replaces a webhook; without a secret the current one is kept.
func (h *api) putWebhook(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	hook := Webhook{Enabled: true}
	if err := decodeBody(w, r, &hook, "webhook", "created_at", "updated_at"); err != nil {
		return err
	}
	if hook.ID != "" && hook.ID != id {
		return fieldError("webhook", "id", "must match the id in the path, "+strconv.Quote(id))
	}
	hook.ID = id
	old, err := h.st.Webhook(r.Context(), id)
	if err != nil {
		return err
	}
	if hook.Secret == "" {
		hook.Secret = old.Secret
	}
	hook.Normalize()
	if err := hook.Validate(); err != nil {
		return err
	}
	hook.CreatedAt, hook.UpdatedAt = old.CreatedAt, stamp(h.e.opts.Now())
	out, err := h.st.UpdateWebhook(r.Context(), &hook)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, hidden(out))
}

func (h *api) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := h.st.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *api) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listParams(q, "event")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := h.st.Webhook(r.Context(), id); err != nil {
		return err
	}
	page, err := h.st.Deliveries(r.Context(), DeliveryFilter{ListOptions: o, Webhook: id, Event: q.Get("event")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items[*Delivery]{Items: nonNil(page.Items), Next: page.Next})
}

func (h *api) testWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	rec, err := h.e.TestWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rec)
}

func (h *api) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listParams(q, "rule", "state", "api", "since", "until")
	if err != nil {
		return err
	}
	f := EventFilter{ListOptions: o, Rule: q.Get("rule"), State: State(q.Get("state")), API: q.Get("api")}
	var p gatehouse.Problems
	if f.State != "" && f.State != StateFiring && f.State != StateResolved {
		p.Addf("state", "must be firing or resolved")
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				p.Addf(t.name, "must be an RFC 3339 time such as 2025-01-02T15:04:05Z")
			}
			*t.dst = tm
		}
	}
	if err := p.Err("query"); err != nil {
		return err
	}
	page, err := h.st.AlertEvents(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items[*Event]{Items: nonNil(page.Items), Next: page.Next})
}

func (h *api) listFiring(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items[Event]{Items: h.e.Firing()})
}

// fail renders err as a problem document with its stable code.
func (h *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := gatehouse.ErrorCode(err)
	status := http.StatusInternalServerError
	switch code {
	case gatehouse.EInvalid:
		status = http.StatusBadRequest
	case gatehouse.ENotFound:
		status = http.StatusNotFound
	case gatehouse.EConflict:
		status = http.StatusConflict
	case gatehouse.EUnauthorized:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	case gatehouse.EForbidden:
		status = http.StatusForbidden
	case gatehouse.ETooLarge:
		status = http.StatusRequestEntityTooLarge
	case gatehouse.EUnavailable:
		status = http.StatusServiceUnavailable
		h.e.log.WarnContext(r.Context(), "alerts api: dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case codeUnsupportedMediaType:
		status = http.StatusUnsupportedMediaType
	default:
		code = gatehouse.EInternal
		h.e.log.ErrorContext(r.Context(), "alerts api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	doc := problem.Document{Status: status, Code: code, Detail: gatehouse.ErrorMessage(err)}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		doc.Errors = ge.Fields
	}
	problem.WriteDoc(w, doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func fieldError(what, field, msg string) error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid " + what,
		Fields: []gatehouse.FieldError{{Field: field, Message: msg}}}
}

// onlyParams rejects query parameters other than allowed, and repeated ones.
func onlyParams(q url.Values, allowed ...string) error {
	var p gatehouse.Problems
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			if len(allowed) == 0 {
				p.Addf(name, "unknown query parameter; this endpoint takes none")
			} else {
				p.Addf(name, "unknown query parameter; this endpoint takes %s", strings.Join(allowed, ", "))
			}
		case len(q[name]) > 1:
			p.Addf(name, "given %d times; give it once", len(q[name]))
		}
	}
	return p.Err("query")
}

// listParams checks the query of a list and returns its limit and after.
func listParams(q url.Values, filters ...string) (gatehouse.ListOptions, error) {
	var o gatehouse.ListOptions
	if err := onlyParams(q, append([]string{"limit", "after"}, filters...)...); err != nil {
		return o, err
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > gatehouse.MaxPageSize {
			return o, fieldError("query", "limit", fmt.Sprintf("must be an integer between 1 and %d", gatehouse.MaxPageSize))
		}
		o.Limit = n
	}
	o.After = q.Get("after")
	return o, nil
}

// decodeBody reads a JSON object into dst (a pointer to a struct whose fields already hold
// the defaults), field by field, so that every unknown field and every bad value is
// reported under its JSON name. ignore lists fields the server sets, accepted and dropped
// (a client may PUT back what it got).
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, what string, ignore ...string) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return gatehouse.Errorf(codeUnsupportedMediaType, "Content-Type %q is not supported; send application/json", ct)
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return gatehouse.Errorf(gatehouse.ETooLarge, "request body exceeds %d bytes", maxBody)
		}
		return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "reading the request body failed", Err: err}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		msg := "request body must be a JSON object"
		if err != nil {
			msg += ": " + strings.TrimPrefix(err.Error(), "json: ")
		}
		return &gatehouse.Error{Code: gatehouse.EInvalid, Message: msg, Err: err}
	}
	v := reflect.ValueOf(dst).Elem()
	fields := map[string]int{}
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var p gatehouse.Problems
	for _, k := range keys {
		if slices.Contains(ignore, k) {
			continue
		}
		i, ok := fields[k]
		if !ok {
			p.Addf(k, "unknown field")
			continue
		}
		f := v.Field(i)
		tmp := reflect.New(f.Type())
		tmp.Elem().Set(f)
		if err := json.Unmarshal(raw[k], tmp.Interface()); err != nil {
			p.Addf(k, "%s", valueMessage(err, f.Type()))
			continue
		}
		f.Set(tmp.Elem())
	}
	return p.Err(what)
}

// valueMessage explains why a JSON value does not fit type t.
func valueMessage(err error, t reflect.Type) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	msg := "must be " + jsonType(t)
	if te.Type != nil && te.Type != t && t.Kind() == reflect.Slice {
		msg = "items must be " + jsonType(te.Type)
	}
	return msg + ", not " + te.Value
}

// jsonType names the JSON form of t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}
