package openapivalidate

import (
	"cmp"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/jsonschema/v6/kind"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// maxDetail bounds a rejection's detail: it names one failure, not the whole report.
const maxDetail = 300

// describe renders the first of errs as "<location>: <what is wrong>", e.g.
// `query parameter "limit": must be <= 100` or `body /items/0/price: expected number, got string`.
// The parameter validators report in the document's order; within one error, firstLeaf
// picks a fixed failure, so the same request always gets the same detail. prefix is "" for
// requests and "response " for responses.
func describe(prefix string, errs []*liberrors.ValidationError) string {
	if len(errs) == 0 || errs[0] == nil {
		return prefix + "invalid"
	}
	where, path, what := failure(errs[0])
	d := prefix + where
	if len(path) > 0 {
		d += " " + pointer(path)
	}
	return clip(d + ": " + what)
}

// failure splits e into where it is (`query parameter "limit"`), the path of the failing
// value inside it, and what is wrong.
func failure(e *liberrors.ValidationError) (where string, path []string, what string) {
	where = location(e)
	if e.ValidationType == helpers.ResponseBodyValidation &&
		(e.ValidationSubType == helpers.ResponseBodyResponseCode || e.ValidationSubType == helpers.RequestBodyContentType) {
		return where, nil, "not in the document" // the log record carries the status and content type
	}
	var orig *jsonschema.ValidationError
	var reason string
	for _, f := range e.SchemaValidationErrors {
		if f == nil {
			continue
		}
		if f.OriginalJsonSchemaError != nil {
			orig = f.OriginalJsonSchemaError
			break
		}
		if reason == "" {
			reason = f.Reason
			if strings.HasSuffix(f.KeywordLocation, "/required") && e.ValidationType == helpers.ParameterValidation {
				reason = "required but missing"
			}
		}
	}
	if orig != nil {
		if leaf := firstLeaf(orig); leaf != nil {
			return where, leaf.InstanceLocation, explain(leaf.ErrorKind)
		}
	}
	if reason != "" {
		return where, nil, lowerFirst(reason)
	}
	switch {
	case strings.HasPrefix(e.Reason, "The request body cannot be decoded: "),
		strings.HasPrefix(e.Reason, "The response body cannot be decoded: "):
		_, r, _ := strings.Cut(e.Reason, "decoded: ")
		// "decode request body as application/json: unexpected EOF" → "unexpected EOF"
		if i := strings.LastIndex(r, ": "); i >= 0 {
			r = r[i+2:]
		}
		return where, nil, "not valid JSON: " + r
	case strings.Contains(e.Message, "request body is empty"):
		return where, nil, "a request body is required"
	}
	if e.Reason != "" {
		return where, nil, lowerFirst(e.Reason)
	}
	return where, nil, lowerFirst(e.Message)
}

// location names the part of the message e is about.
func location(e *liberrors.ValidationError) string {
	switch e.ValidationType {
	case helpers.ParameterValidation:
		switch e.ValidationSubType {
		case helpers.ParameterValidationHeader:
			return "header " + strconv.Quote(e.ParameterName)
		case helpers.ParameterValidationCookie:
			return "cookie " + strconv.Quote(e.ParameterName)
		}
		return e.ValidationSubType + " parameter " + strconv.Quote(e.ParameterName)
	case helpers.RequestBodyValidation:
		return "body"
	case helpers.ResponseBodyValidation:
		switch e.ValidationSubType {
		case helpers.ResponseBodyResponseCode:
			return "status"
		case helpers.RequestBodyContentType:
			return "content type"
		case helpers.ParameterValidationHeader:
			if len(e.SchemaValidationErrors) > 0 && e.SchemaValidationErrors[0] != nil && e.SchemaValidationErrors[0].FieldName != "" {
				return "header " + strconv.Quote(e.SchemaValidationErrors[0].FieldName)
			}
			return "headers"
		}
		return "body"
	}
	return cmp.Or(e.ValidationType, "request")
}

// firstLeaf returns the leaf of the error tree with the smallest instance location (array
// indexes compared as numbers), so that the same request always gets the same detail.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	var best *jsonschema.ValidationError
	var bestText string
	var walk func(e *jsonschema.ValidationError, depth int)
	walk = func(e *jsonschema.ValidationError, depth int) {
		if e == nil || depth > 64 {
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c, depth+1)
			}
			return
		}
		text := explain(e.ErrorKind)
		if best == nil {
			best, bestText = e, text
			return
		}
		if c := cmpPath(e.InstanceLocation, best.InstanceLocation); c < 0 || c == 0 && text < bestText {
			best, bestText = e, text
		}
	}
	walk(e, 0)
	return best
}

// cmpPath orders instance locations segment by segment, numbers numerically.
func cmpPath(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		x, errx := strconv.Atoi(a[i])
		y, erry := strconv.Atoi(b[i])
		if errx == nil && erry == nil {
			return cmp.Compare(x, y)
		}
		return strings.Compare(a[i], b[i])
	}
	return cmp.Compare(len(a), len(b))
}

// pointer spells an instance location as a JSON pointer (RFC 6901).
func pointer(path []string) string {
	var b strings.Builder
	for _, s := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// explain says what a schema keyword's failure means, in the words of the document's
// reader rather than the validator's.
func explain(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return "expected " + strings.Join(k.Want, " or ") + ", got " + k.Got
	case *kind.Enum:
		return "must be one of " + values(k.Want)
	case *kind.Const:
		return "must be " + values([]any{k.Want})
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.Minimum:
		return "must be >= " + number(k.Want)
	case *kind.Maximum:
		return "must be <= " + number(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be > " + number(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be < " + number(k.Want)
	case *kind.MultipleOf:
		return "must be a multiple of " + number(k.Want)
	case *kind.MinLength:
		return "must be at least " + strconv.Itoa(k.Want) + " characters long"
	case *kind.MaxLength:
		return "must be at most " + strconv.Itoa(k.Want) + " characters long"
	case *kind.Pattern:
		return "must match the pattern " + strconv.Quote(k.Want)
	case *kind.MinItems:
		return "must have at least " + strconv.Itoa(k.Want) + " items"
	case *kind.MaxItems:
		return "must have at most " + strconv.Itoa(k.Want) + " items"
	case *kind.UniqueItems:
		return "items " + strconv.Itoa(k.Duplicates[0]) + " and " + strconv.Itoa(k.Duplicates[1]) + " must not be equal"
	case *kind.MinProperties:
		return "must have at least " + strconv.Itoa(k.Want) + " properties"
	case *kind.MaxProperties:
		return "must have at most " + strconv.Itoa(k.Want) + " properties"
	case *kind.Required:
		return "missing required " + plural(len(k.Missing), "property", "properties") + " " + quoted(k.Missing)
	case *kind.DependentRequired:
		return "property " + strconv.Quote(k.Prop) + " requires " + quoted(k.Missing)
	case *kind.Dependency:
		return "property " + strconv.Quote(k.Prop) + " requires " + quoted(k.Missing)
	case *kind.AdditionalProperties:
		return "unexpected " + plural(len(k.Properties), "property", "properties") + " " + quoted(k.Properties)
	case *kind.FalseSchema:
		return "not allowed"
	case *kind.Not:
		return "must not match the schema"
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			return "must match one of the schemas (oneOf)"
		}
		return "must match exactly one of the schemas (oneOf), matches several"
	case *kind.AnyOf:
		return "must match at least one of the schemas (anyOf)"
	case nil:
		return "invalid"
	}
	return k.LocalizedString(printer)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func values(vs []any) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			s[i] = "?"
			continue
		}
		s[i] = string(b)
	}
	return strings.Join(s, ", ")
}

// number spells r as a decimal: "100", "0.5".
func number(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r >= 'A' && r <= 'Z' && n == 1 && (len(s) < 2 || !(s[1] >= 'A' && s[1] <= 'Z')) {
		return string(r+'a'-'A') + s[1:]
	}
	return s
}

// clip shortens s to maxDetail bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
