package admin

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
)

// Media types a request body may have.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// serverFields are set by the server on every resource. A body may carry them (a client
// that PUTs back what it GOT will), and they are dropped before decoding, whatever their
// type, so they are ignored rather than errors.
func serverFields() []string {
	return []string{"revision", "created_at", "updated_at", "id", "prefix"}
}

// readBody reads the request body as one JSON object, enforcing the size limit, the media
// type and JSON syntax. With optional, a request without a body reads as {}.
func (s *server) readBody(w http.ResponseWriter, r *http.Request, optional bool, media ...string) (map[string]any, error) {
	ct := r.Header.Get("Content-Type")
	if optional && ct == "" && r.ContentLength <= 0 {
		// Peek for a body sent without a length (chunked) rather than trusting the header.
		b, err := readLimited(w, r, s.maxBody)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return map[string]any{}, nil
		}
		return nil, unsupportedMedia(ct, media)
	}
	if err := checkMediaType(ct, media); err != nil {
		return nil, err
	}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge(s.maxBody)
	}
	b, err := readLimited(w, r, s.maxBody)
	if err != nil {
		return nil, err
	}
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	return decodeDoc(b)
}

func readLimited(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(limit)
		}
		return nil, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "reading the request body failed", Err: err}
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return gatehouse.Errorf(gatehouse.ETooLarge, "request body exceeds %d bytes", limit)
}

// checkMediaType accepts one of media, optionally with charset=utf-8 (JSON is UTF-8 by
// definition; any other charset is a client bug worth reporting).
func checkMediaType(ct string, media []string) error {
	if ct == "" {
		return unsupportedMedia(ct, media)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(media, mt) {
		return unsupportedMedia(ct, media)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &gatehouse.Error{Code: codeUnsupportedMediaType, Message: fmt.Sprintf("charset %q is not supported; send UTF-8", cs)}
	}
	return nil
}

func unsupportedMedia(ct string, media []string) error {
	got := "no Content-Type"
	if ct != "" {
		got = "Content-Type " + strconv.Quote(ct)
	}
	return &gatehouse.Error{Code: codeUnsupportedMediaType,
		Message: fmt.Sprintf("%s is not supported; send %s", got, strings.Join(media, " or "))}
}

// decodeDoc parses b as exactly one JSON object. Numbers stay json.Number so that a value
// re-encoded for the typed decode keeps every digit.
func decodeDoc(b []byte) (map[string]any, error) {
	if !utf8.Valid(b) {
		return nil, gatehouse.Errorf(gatehouse.EInvalid, "request body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, gatehouse.Errorf(gatehouse.EInvalid, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			// Offset counts the bytes read, the offending one included.
			return nil, gatehouse.Errorf(gatehouse.EInvalid, "malformed JSON at %s: %s", position(b, se.Offset-1), se.Error())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, gatehouse.Errorf(gatehouse.EInvalid, "malformed JSON at %s: unexpected end of input", position(b, int64(len(b))))
		}
		return nil, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "malformed JSON", Err: err}
	}
	off := dec.InputOffset()
	if rest := bytes.TrimLeft(b[off:], " \t\r\n"); len(rest) > 0 {
		return nil, gatehouse.Errorf(gatehouse.EInvalid,
			"malformed JSON at %s: unexpected data after the JSON value; send exactly one object",
			position(b, int64(len(b)-len(rest))))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, gatehouse.Errorf(gatehouse.EInvalid, "request body must be a JSON object, not %s", jsonKind(v))
	}
	return m, nil
}

// position describes the byte at offset off (0-based) as line and column (1-based) and
// offset, so that people find it in their file and programs in their buffer.
func position(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Sprintf("line %d, column %d (byte %d)", line, col, off)
}

// decodeInto decodes doc into dst (a pointer) after dropping the ignore keys at the top
// level. Before decoding it walks doc against dst's type and reports every unknown field
// and wrong type with its full path (`upstream.targets[0].weight`), which encoding/json
// cannot: its unknown-field error has no path and its type error no indices. dst is left
// untouched on error, so no half-decoded value can reach the store.
func decodeInto(doc map[string]any, dst any, ignore ...string) error {
	clean := make(map[string]any, len(doc))
	for k, v := range doc {
		if !slices.Contains(ignore, k) {
			clean[k] = v
		}
	}
	t := reflect.TypeOf(dst).Elem()
	var p gatehouse.Problems
	checkShape(&p, "", clean, t)
	if err := p.Err("request body"); err != nil {
		return err
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return fmt.Errorf("re-encoding request body: %w", err)
	}
	tmp := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(tmp.Interface()); err != nil {
		// checkShape should have caught this; keep the error useful if it did not.
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid request body",
				Fields: []gatehouse.FieldError{{Field: te.Field, Message: "must be " + te.Type.String() + ", not " + te.Value}}}
		}
		return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid request body: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	reflect.ValueOf(dst).Elem().Set(tmp.Elem())
	return nil
}

// checkShape records in p every place where v (generic JSON) does not fit type t. It
// follows encoding/json's rules, but field names must match exactly: encoding/json's
// case-insensitive match would let a typo such as "Upstream" through.
func checkShape(p *gatehouse.Problems, path string, v any, t reflect.Type) {
	if v == nil {
		return // null leaves a Go value at its zero, as encoding/json does
	}
	if customDecoded(t) {
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, reflect.New(t).Interface())
		}
		if err != nil {
			p.Addf(fieldName(path), "%s", customTypeMessage(t, v, err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkShape(p, path, v, t.Elem())
	case reflect.Interface:
		// any JSON value fits
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.Addf(fieldName(path), "must be an object, not %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys) // errors in a stable order
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			f, ok := fields[k]
			if !ok {
				p.Addf(sub, "unknown field")
				continue
			}
			checkShape(p, sub, m[k], f.Type)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			p.Addf(fieldName(path), "must be an object, not %s", jsonKind(v))
			return
		}
		for k, e := range m {
			checkShape(p, path+"."+k, e, t.Elem())
		}
	case reflect.Slice, reflect.Array:
		a, ok := v.([]any)
		if !ok {
			p.Addf(fieldName(path), "must be an array, not %s", jsonKind(v))
			return
		}
		if t.Kind() == reflect.Array && len(a) > t.Len() {
			p.Addf(fieldName(path), "must have at most %d elements", t.Len())
		}
		for i, e := range a {
			checkShape(p, fmt.Sprintf("%s[%d]", path, i), e, t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.Addf(fieldName(path), "must be a string, not %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.Addf(fieldName(path), "must be a boolean, not %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			p.Addf(fieldName(path), "must be an integer, not %s", jsonKind(v))
		} else if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			p.Addf(fieldName(path), "must be an integer that fits in %d bits, not %s", t.Bits(), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			p.Addf(fieldName(path), "must be a non-negative integer, not %s", jsonKind(v))
		} else if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			p.Addf(fieldName(path), "must be a non-negative integer that fits in %d bits, not %s", t.Bits(), n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			p.Addf(fieldName(path), "must be a number, not %s", jsonKind(v))
		} else if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			p.Addf(fieldName(path), "must be a number in range, not %s", n)
		}
	default:
		p.Addf(fieldName(path), "cannot be set")
	}
}

// customDecoded reports whether encoding/json hands values of t to their own
// UnmarshalJSON or UnmarshalText (time.Time, gatehouse.Duration, json.RawMessage).
func customDecoded(t reflect.Type) bool {
	for _, i := range []reflect.Type{reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// fieldName names the whole body when path is empty.
func fieldName(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

func customTypeMessage(t reflect.Type, v any, err error) string {
	switch {
	case t == reflect.TypeFor[time.Time]():
		if _, ok := v.(string); !ok {
			return "must be an RFC 3339 date-time string, not " + jsonKind(v)
		}
		return `must be an RFC 3339 date-time such as "2030-01-02T15:04:05Z"`
	case t == reflect.TypeFor[gatehouse.Duration]():
		if _, ok := v.(string); !ok {
			return `must be a duration string such as "30s" or "1m30s", not ` + jsonKind(v)
		}
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the JSON type of a generic value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// jsonFields returns the JSON object keys of struct type t with their fields, following
// encoding/json: tagged names, untagged exported names, and the fields of embedded structs
// (such as gatehouse.Meta) promoted into the parent. The OpenAPI test uses it too, so a
// field added to a resource fails the build of the docs until it is documented.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, sf := range jsonFields(ft) {
				if _, taken := out[k]; !taken { // the shallower field wins
					out[k] = sf
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}
