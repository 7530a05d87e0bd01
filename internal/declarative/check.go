package declarative

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
)

// field is one JSON field of a struct, found the way encoding/json finds it: by the json
// tag, with embedded structs inlined.
type field struct {
	name string
	typ  reflect.Type
	// server marks fields the server manages (Meta, a subscription's id). Documents may
	// carry them, as exports from an older tool might; they are ignored.
	server bool
}

// jsonFields lists the JSON fields of struct type t in declaration order. The json tags
// are the one source of field names: the admin API and documents use the same.
func jsonFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			sub := jsonFields(f.Type)
			for j := range sub {
				sub[j].server = sub[j].server || f.Type == reflect.TypeFor[gatehouse.Meta]()
			}
			out = append(out, sub...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name: name, typ: f.Type, server: t == reflect.TypeFor[gatehouse.Subscription]() && name == "id"})
	}
	return out
}

// checker compares values against Go types before encoding/json sees them, so that every
// unknown field and wrong type is reported, with its position (encoding/json stops at the
// first and does not say where an unknown field is). Values it rejects are marked so that
// the JSON given to the decoder leaves them out.
type checker struct {
	file     string
	problems *[]Problem
	fields   map[reflect.Type][]field
	// bad lists the paths (relative to the resource) of rejected values: validation
	// problems at or under them restate the same mistake and are not reported.
	bad []string
}

func (c *checker) fieldsOf(t reflect.Type) []field {
	if fs, ok := c.fields[t]; ok {
		return fs
	}
	fs := jsonFields(t)
	c.fields[t] = fs
	return fs
}

// reject reports v as wrong.
func (c *checker) reject(v *value, prefix, path, msg string) {
	*c.problems = append(*c.problems, Problem{Source: c.file, Line: v.line, Column: v.col, Field: prefix + path, Message: msg})
	v.bad = true
	c.bad = append(c.bad, path)
}

// check compares v with type t. prefix is the resource's place in the document
// ("apis[0]."), path the place of v inside the resource.
func (c *checker) check(v *value, t reflect.Type, prefix, path string) {
	if v.bad {
		c.bad = append(c.bad, path)
		return
	}
	for t.Kind() == reflect.Pointer {
		if v.kind == kNull {
			return
		}
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return // any value: the policy named next to it checks it
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(reflect.TypeFor[json.Unmarshaler]()) || pt.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		c.checkUnmarshaler(v, t, prefix, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if v.kind != kMap {
			c.reject(v, prefix, path, "want a mapping, got "+v.describe())
			return
		}
		c.checkStruct(v, t, prefix, path)
	case reflect.Slice, reflect.Array:
		if v.kind == kNull {
			return
		}
		if v.kind != kList {
			c.reject(v, prefix, path, "want a list, got "+v.describe())
			return
		}
		for i, it := range v.items {
			c.check(it, t.Elem(), prefix, fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if v.kind == kNull {
			return
		}
		if v.kind != kMap || t.Key().Kind() != reflect.String {
			c.reject(v, prefix, path, "want a mapping, got "+v.describe())
			return
		}
		for _, m := range v.members {
			c.check(m.val, t.Elem(), prefix, joinPath(path, m.key))
		}
	case reflect.String:
		if v.kind != kString {
			msg := "want a string, got " + v.describe()
			if v.kind == kNumber || v.kind == kBool {
				msg += fmt.Sprintf(" (quote it: %q)", cmp.Or(v.raw, v.text))
			}
			c.reject(v, prefix, path, msg)
		}
	case reflect.Bool:
		if v.kind != kBool {
			c.reject(v, prefix, path, "want true or false, got "+v.describe())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(v.text, 10, 64)
		if err != nil || reflect.Zero(t).OverflowInt(n) {
			c.rejectNumber(v, prefix, path)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(v.text, 10, 64)
		if err != nil || reflect.Zero(t).OverflowUint(n) {
			c.rejectNumber(v, prefix, path)
		}
	case reflect.Float32, reflect.Float64:
		if v.kind != kNumber {
			c.reject(v, prefix, path, "want a number, got "+v.describe())
		}
	case reflect.Interface:
	default:
		c.reject(v, prefix, path, fmt.Sprintf("unsupported field type %s", t)) // a bug
	}
}

// rejectNumber reports v, which does not fit the integer field it is for.
func (c *checker) rejectNumber(v *value, prefix, path string) {
	f, err := strconv.ParseFloat(v.text, 64)
	switch {
	case v.kind != kNumber:
		c.reject(v, prefix, path, "want a whole number, got "+v.describe())
	case err == nil && f != math.Trunc(f):
		c.reject(v, prefix, path, "want a whole number, got "+v.describe())
	default:
		c.reject(v, prefix, path, fmt.Sprintf("%s is out of range", cmp.Or(v.raw, v.text)))
	}
}

func (c *checker) checkStruct(v *value, t reflect.Type, prefix, path string) {
	fields := c.fieldsOf(t)
	for _, m := range v.members {
		var f *field
		for i := range fields {
			if fields[i].name == m.key {
				f = &fields[i]
				break
			}
		}
		switch {
		case f == nil:
			m.dropped = true
			msg := fmt.Sprintf("unknown field %q", m.key)
			if s := suggestField(m.key, fields); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			*c.problems = append(*c.problems, Problem{Source: c.file, Line: m.line, Column: m.col, Field: prefix + joinPath(path, m.key), Message: msg})
		case f.server:
			m.dropped = true
		case m.val.kind == kNull && !m.val.bad:
			m.dropped = true // null is the field's zero value, as if it were left out
		default:
			sub := joinPath(path, m.key)
			c.check(m.val, f.typ, prefix, sub)
			if m.val.bad {
				m.dropped = true
			}
		}
	}
}

func suggestField(key string, fields []field) string {
	var names []string
	for _, f := range fields {
		if !f.server {
			names = append(names, f.name)
		}
	}
	return yamlpos.Suggest(key, names)
}

// checkUnmarshaler decodes v alone into a fresh t, so that types with their own decoding
// (durations, times) report their message at v.
func (c *checker) checkUnmarshaler(v *value, t reflect.Type, prefix, path string) {
	err := json.Unmarshal(v.appendJSON(nil), reflect.New(t).Interface())
	if err == nil {
		return
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if v.kind != kString {
		msg += ", got " + v.describe()
	}
	if t == reflect.TypeFor[time.Time]() {
		msg = `want a time in RFC 3339 form, such as "2026-06-30T00:00:00Z", got ` + v.describe()
	}
	c.reject(v, prefix, path, msg)
}

// suppressed reports whether a validation problem at field restates a type problem
// already reported at a path in bad.
func suppressed(field string, bad []string) bool {
	for _, b := range bad {
		if field == b || strings.HasPrefix(field, b+".") || strings.HasPrefix(field, b+"[") {
			return true
		}
	}
	return false
}
