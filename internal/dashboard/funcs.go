package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"time": fmtTime,
		"ago": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return ago(v, now())
			case *time.Time:
				if v != nil {
					return ago(*v, now())
				}
			}
			return "—"
		},
		"timeptr":  func(t *time.Time) string { return fmtTimePtr(t) },
		"pretty":   prettyJSON,
		"path":     url.PathEscape,
		"num":      fmtNum,
		"int":      func(n int64) string { return strconv.FormatInt(n, 10) },
		"pct":      func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" },
		"kb":       func(n int) string { return fmtBytes(int64(n)) },
		"keystate": func(k *gatehouse.Key) string { return k.Status(now()) },
		"join":     strings.Join,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return "1 " + one
			}
			return strconv.Itoa(n) + " " + many
		},
		"iso": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return v.UTC().Format(time.RFC3339)
			case *time.Time:
				if v != nil {
					return v.UTC().Format(time.RFC3339)
				}
			}
			return ""
		},
		"devrow": func(d *gatehouse.Developer, csrf, back string) devRow { return devRow{d, csrf, back} },
		"subrows": func(subs []*gatehouse.Subscription, csrf string, canWrite bool, back string, showApp bool) subRows {
			return subRows{subs, csrf, canWrite, back, showApp}
		},
		"states": func() []gatehouse.APIState {
			return []gatehouse.APIState{gatehouse.StateDraft, gatehouse.StatePublished, gatehouse.StateDeprecated, gatehouse.StateRetired}
		},
	}
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return fmtTime(*t)
}

// ago is a short relative time for tables ("5 min ago"); the exact time goes in a title.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + " h"
	default:
		s = strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func fmtNum(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15 && v > -1e15:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// prettyJSON indents stored JSON for reading; anything that is not JSON is shown as is.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// indentJSON encodes v for a textarea.
func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

// formErr is a failed write as a form shows it: a message, and problems per field.
type formErr struct {
	Message string
	Fields  []gatehouse.FieldError
}

// For returns the messages of the fields named field or nested under it
// ("upstream.targets" covers "upstream.targets[0].url").
func (e *formErr) For(field string) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, f := range e.Fields {
		if f.Field == field || strings.HasPrefix(f.Field, field+".") || strings.HasPrefix(f.Field, field+"[") {
			out = append(out, f.Message)
		}
	}
	return out
}

// toFormErr turns a write's error into form problems, or returns it when it is not the
// user's to fix (the store is down, a bug), for the error page.
func toFormErr(err error) (*formErr, error) {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		return nil, err
	}
	switch ge.Code {
	case gatehouse.EInvalid, gatehouse.EConflict, gatehouse.EPreconditionFailed, gatehouse.ENotFound, gatehouse.ETooLarge:
		msg := ge.Message
		switch ge.Code {
		case gatehouse.EPreconditionFailed:
			msg = "Someone else changed this since you opened it. Reload the page to see their change, then make yours again."
		case gatehouse.EConflict:
			msg = ge.Message + "."
		}
		return &formErr{Message: msg, Fields: ge.Fields}, nil
	}
	return nil, err
}

// invalid is an EInvalid error about one form field.
func invalid(field, msg string) error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "Please correct the form",
		Fields: []gatehouse.FieldError{{Field: field, Message: msg}}}
}

// pager links to the next page of a list; the store pages forward only.
type pager struct {
	Next  string // URL of the next page, "" on the last
	First string // URL of the first page, "" on it
}

// pageLinks builds the pager of a list at path whose query is q, given the store's
// next cursor.
func pageLinks(path string, q url.Values, next string) pager {
	var p pager
	if q.Get("after") != "" {
		f := cloneValues(q)
		f.Del("after")
		f.Del("done")
		p.First = withQuery(path, f)
	}
	if next != "" {
		n := cloneValues(q)
		n.Set("after", next)
		n.Del("done")
		p.Next = withQuery(path, n)
	}
	return p
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// revision reads the form's revision field (0, unconditional, when absent).
func revision(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// devRow is what the developer action buttons need.
type devRow struct {
	Dev  *gatehouse.Developer
	CSRF string
	Back string
}

// subRows is what the subscriptions table needs.
type subRows struct {
	Subs     []*gatehouse.Subscription
	CSRF     string
	CanWrite bool
	Back     string
	ShowApp  bool
}
