package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

// The reference is the API page's view of an OpenAPI document: plain strings and slices
// that the template only has to walk, built once per render. Every string in it is
// document text and is escaped by html/template; nothing here is trusted HTML.
type reference struct {
	Title       string
	Version     string
	OpenAPI     string // the document's openapi version
	Description []string
	Groups      []opGroup
	Schemas     []namedSchema
	Operations  int
	// Truncated says that the document was larger than the page renders in full.
	Truncated bool
}

type opGroup struct {
	Name        string
	Anchor      string
	Description []string
	Ops         []operation
}

type operation struct {
	Anchor      string
	Method      string // upper case
	Path        string
	Summary     string
	OperationID string
	Description []string
	Deprecated  bool
	Params      []param
	Body        *requestBody
	Responses   []response
}

type param struct {
	Name, In    string
	Required    bool
	Deprecated  bool
	Type        string
	SchemaRef   *schemaRef // set when the parameter's schema is a named one
	Description []string
	Enum        []string
	Default     string
	Constraints []string
	Example     string
}

type requestBody struct {
	Required    bool
	Description []string
	Media       []media
}

type response struct {
	Status      string
	Class       string // "2", "4"...: the status's first digit, for its colour
	Description []string
	Media       []media
}

type media struct {
	Type     string
	Schema   *schemaView
	Examples []example
}

type example struct {
	Name, Summary string
	Description   []string
	Value         string // pretty-printed JSON (or the scalar's text)
	External      string // externalValue, shown as text: never a link
}

type namedSchema struct {
	Name   string
	Anchor string
	Schema *schemaView
}

type schemaRef struct{ Name, Anchor string }

// schemaView is one schema as a nested field list. A schema that is a reference to a
// named component is shown by name (Ref) and expanded only where expand allowed it;
// the component's own section holds the rest, so cycles end at a link.
type schemaView struct {
	Ref         *schemaRef
	Type        string
	Description []string
	Enum        []string
	Default     string
	Constraints []string // format, bounds, pattern, read/write-only...
	Example     string
	Fields      []field
	Items       *schemaView   // array items
	Additional  *schemaView   // additionalProperties
	Combinator  string        // "all of", "one of", "any of"
	Variants    []*schemaView // its subschemas
	Omitted     bool          // not expanded: depth or budget reached
}

type field struct {
	Name     string
	Required bool
	Schema   *schemaView
}

// Limits that keep one page bounded whatever the document holds: schemas nest at most
// maxSchemaDepth levels below an operation, and a page renders at most maxSchemaNodes
// schema nodes and maxExampleBytes of each example. A document beyond them renders
// with "…" where it was cut, never slowly.
const (
	maxSchemaDepth  = 8
	maxSchemaNodes  = 40000
	maxExampleBytes = 16 << 10
	maxOperations   = 2000
)

// buildReference parses doc (JSON or YAML, OpenAPI 3.0 or 3.1) into the page's view.
// The error is for the page's notice: the document could not be read at all.
func buildReference(doc string) (ref *reference, err error) {
	// libopenapi is not hardened against every malformed input (see openapivalidate): a
	// document that makes it panic gets the page's notice, not a crashed request.
	defer func() {
		if r := recover(); r != nil {
			ref, err = nil, fmt.Errorf("the document cannot be read (%v)", r)
		}
	}()
	m, err := parseDocument([]byte(doc))
	if err != nil {
		return nil, err
	}
	b := &refBuilder{anchors: map[string]int{}, schemaAnchors: map[string]string{}, budget: maxSchemaNodes}
	return b.build(m), nil
}

func parseDocument(doc []byte) (*v3.Document, error) {
	dc := datamodel.NewDocumentConfiguration()
	// Local references only: rendering a page must not read the node's disk or network.
	dc.AllowFileReferences = false
	dc.AllowRemoteReferences = false
	dc.Logger = slog.New(slog.DiscardHandler)
	d, err := libopenapi.NewDocumentWithConfiguration(doc, dc)
	if err != nil {
		return nil, fmt.Errorf("the document is not valid JSON or YAML OpenAPI: %w", err)
	}
	if v := d.GetVersion(); !strings.HasPrefix(v, "3.0") && !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("OpenAPI version %q is not supported (3.0 and 3.1 are)", v)
	}
	built, err := d.BuildV3Model()
	// Circular references come back as errors alongside a usable model: the page caps
	// their depth itself, so only a missing model is a failure.
	if built == nil {
		if err == nil {
			err = errors.New("no model was built")
		}
		return nil, fmt.Errorf("the document cannot be read: %w", err)
	}
	return &built.Model, nil
}

type refBuilder struct {
	anchors       map[string]int    // anchors handed out, to keep ids unique
	schemaAnchors map[string]string // component schema name → its anchor
	budget        int               // schema nodes left to render
	truncated     bool
}

func (b *refBuilder) build(m *v3.Document) *reference {
	ref := &reference{OpenAPI: m.Version}
	if in := m.Info; in != nil {
		ref.Title, ref.Version, ref.Description = in.Title, in.Version, paragraphs(in.Description)
	}
	// Anchors of component schemas first, so operations can link to them.
	var names []string
	if m.Components != nil && m.Components.Schemas != nil {
		for s := m.Components.Schemas.First(); s != nil; s = s.Next() {
			names = append(names, s.Key())
			b.schemaAnchors[s.Key()] = b.anchor("schema-" + s.Key())
		}
	}

	// Groups in the order of the document's tags, then of first use.
	groups := map[string]*opGroup{}
	var order []string
	group := func(name string) *opGroup {
		if g, ok := groups[name]; ok {
			return g
		}
		g := &opGroup{Name: name, Anchor: b.anchor("tag-" + name)}
		groups[name] = g
		order = append(order, name)
		return g
	}
	for _, t := range m.Tags {
		if t != nil && t.Name != "" {
			group(t.Name).Description = paragraphs(t.Description)
		}
	}
	if m.Paths != nil && m.Paths.PathItems != nil {
		for pp := m.Paths.PathItems.First(); pp != nil; pp = pp.Next() {
			item := pp.Value()
			if item == nil {
				continue
			}
			for op := item.GetOperations().First(); op != nil; op = op.Next() {
				o := op.Value()
				if o == nil {
					continue
				}
				if ref.Operations >= maxOperations {
					b.truncated = true
					break
				}
				ref.Operations++
				name := "Other operations"
				if len(o.Tags) > 0 && o.Tags[0] != "" {
					name = o.Tags[0]
				}
				g := group(name)
				g.Ops = append(g.Ops, b.operation(pp.Key(), strings.ToUpper(op.Key()), item, o))
			}
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Ops) > 0 {
			ref.Groups = append(ref.Groups, *g)
		}
	}
	for _, name := range names {
		sp := m.Components.Schemas.GetOrZero(name)
		ref.Schemas = append(ref.Schemas, namedSchema{
			Name: name, Anchor: b.schemaAnchors[name],
			Schema: b.schema(sp, 0, true),
		})
	}
	ref.Truncated = b.truncated
	return ref
}

// anchor returns a unique element id built from s: letters, digits, '-' and '_' only, so
// that the id and the fragment linking to it are the same string however the template
// escapes each.
func (b *refBuilder) anchor(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
		if sb.Len() >= 80 {
			break
		}
	}
	a := strings.TrimSuffix(sb.String(), "-")
	if a == "" {
		a = "x"
	}
	b.anchors[a]++
	if n := b.anchors[a]; n > 1 {
		a += "-" + strconv.Itoa(n)
	}
	return a
}

func (b *refBuilder) operation(path, method string, item *v3.PathItem, o *v3.Operation) operation {
	id := o.OperationId
	if id == "" {
		id = method + path
	}
	op := operation{
		Anchor: b.anchor("op-" + id), Method: method, Path: path,
		Summary: o.Summary, OperationID: o.OperationId, Description: paragraphs(o.Description),
		Deprecated: o.Deprecated != nil && *o.Deprecated,
	}
	// Path-level parameters apply unless the operation redefines them (same name and in).
	seen := map[string]bool{}
	for _, p := range o.Parameters {
		if p != nil {
			seen[p.In+"\x00"+p.Name] = true
		}
	}
	for _, p := range item.Parameters {
		if p != nil && !seen[p.In+"\x00"+p.Name] {
			op.Params = append(op.Params, b.param(p))
		}
	}
	for _, p := range o.Parameters {
		if p != nil {
			op.Params = append(op.Params, b.param(p))
		}
	}
	if rb := o.RequestBody; rb != nil {
		op.Body = &requestBody{
			Required:    rb.Required != nil && *rb.Required,
			Description: paragraphs(rb.Description),
			Media:       b.content(rb.Content),
		}
	}
	if rs := o.Responses; rs != nil {
		if rs.Codes != nil {
			for r := rs.Codes.First(); r != nil; r = r.Next() {
				op.Responses = append(op.Responses, b.response(r.Key(), r.Value()))
			}
		}
		if rs.Default != nil {
			op.Responses = append(op.Responses, b.response("default", rs.Default))
		}
	}
	return op
}

func (b *refBuilder) param(p *v3.Parameter) param {
	v := param{
		Name: p.Name, In: p.In, Required: p.Required != nil && *p.Required, Deprecated: p.Deprecated,
		Description: paragraphs(p.Description),
	}
	sp := p.Schema
	if sp == nil && p.Content != nil {
		if c := p.Content.First(); c != nil && c.Value() != nil {
			sp = c.Value().Schema
		}
	}
	if sp != nil {
		if name := b.refName(sp); name != "" {
			v.SchemaRef = &schemaRef{Name: name, Anchor: b.schemaAnchors[name]}
		}
		if s := resolve(sp); s != nil {
			v.Type = typeName(b, s)
			v.Enum = scalars(s.Enum)
			v.Constraints = constraints(s)
			if s.Default != nil {
				v.Default = exampleText(s.Default)
			}
			if s.Example != nil {
				v.Example = exampleText(s.Example)
			}
		}
	}
	if p.Example != nil {
		v.Example = exampleText(p.Example)
	} else if p.Examples != nil {
		for e := p.Examples.First(); e != nil; e = e.Next() {
			if e.Value() != nil && e.Value().Value != nil {
				v.Example = exampleText(e.Value().Value)
				break
			}
		}
	}
	return v
}

func (b *refBuilder) response(status string, r *v3.Response) response {
	class := "x"
	if len(status) == 3 && status[0] >= '1' && status[0] <= '5' {
		class = status[:1]
	}
	if r == nil {
		return response{Status: status, Class: class}
	}
	return response{Status: status, Class: class, Description: paragraphs(r.Description), Media: b.content(r.Content)}
}

func (b *refBuilder) content(c *orderedmap.Map[string, *v3.MediaType]) []media {
	if c == nil {
		return nil
	}
	var out []media
	for m := c.First(); m != nil; m = m.Next() {
		mt := m.Value()
		v := media{Type: m.Key()}
		if mt == nil {
			out = append(out, v)
			continue
		}
		if mt.Schema != nil {
			v.Schema = b.schema(mt.Schema, 0, true)
		}
		if mt.Example != nil {
			v.Examples = append(v.Examples, example{Value: exampleText(mt.Example)})
		}
		if mt.Examples != nil {
			for e := mt.Examples.First(); e != nil; e = e.Next() {
				ex := e.Value()
				if ex == nil {
					continue
				}
				v.Examples = append(v.Examples, example{
					Name: e.Key(), Summary: ex.Summary, Description: paragraphs(ex.Description),
					Value: exampleText(ex.Value), External: ex.ExternalValue,
				})
			}
		}
		// Without a media example, the schema's own example is the next best thing.
		if len(v.Examples) == 0 && v.Schema != nil && v.Schema.Example != "" {
			v.Examples = append(v.Examples, example{Value: v.Schema.Example})
			v.Schema.Example = ""
		}
		out = append(out, v)
	}
	return out
}

// refName is the component schema sp refers to, or "" when it is not such a reference.
func (b *refBuilder) refName(sp *base.SchemaProxy) string {
	if sp == nil || !sp.IsReference() {
		return ""
	}
	r := sp.GetReference()
	name, ok := strings.CutPrefix(r, "#/components/schemas/")
	if !ok {
		if i := strings.LastIndexByte(r, '/'); i >= 0 {
			return r[i+1:]
		}
		return r
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
}

func resolve(sp *base.SchemaProxy) (s *base.Schema) {
	defer func() {
		if recover() != nil { // a schema the library cannot build is shown as unknown
			s = nil
		}
	}()
	return sp.Schema()
}

// schema renders sp. A reference is expanded only when expand is true (the top of a
// body or a component's own section); below that it is a link to the component, which
// is what ends cycles.
func (b *refBuilder) schema(sp *base.SchemaProxy, depth int, expand bool) *schemaView {
	if sp == nil {
		return nil
	}
	if b.budget <= 0 || depth > maxSchemaDepth {
		b.truncated = true
		return &schemaView{Omitted: true}
	}
	b.budget--
	v := &schemaView{}
	if name := b.refName(sp); name != "" {
		v.Ref = &schemaRef{Name: name, Anchor: b.schemaAnchors[name]}
		if !expand {
			if s := resolve(sp); s != nil {
				v.Type = typeName(b, s)
			}
			return v
		}
	}
	s := resolve(sp)
	if s == nil {
		v.Type = "unknown"
		return v
	}
	v.Type = typeName(b, s)
	v.Description = paragraphs(s.Description)
	v.Enum = scalars(s.Enum)
	if s.Default != nil {
		v.Default = exampleText(s.Default)
	}
	if s.Example != nil {
		v.Example = exampleText(s.Example)
	} else if len(s.Examples) > 0 && s.Examples[0] != nil {
		v.Example = exampleText(s.Examples[0])
	}
	v.Constraints = constraints(s)
	if s.Properties != nil {
		for p := s.Properties.First(); p != nil; p = p.Next() {
			v.Fields = append(v.Fields, field{
				Name: p.Key(), Required: slices.Contains(s.Required, p.Key()),
				Schema: b.schema(p.Value(), depth+1, false),
			})
		}
	}
	if s.Items != nil && s.Items.IsA() && s.Items.A != nil {
		v.Items = b.schema(s.Items.A, depth+1, false)
	}
	if ap := s.AdditionalProperties; ap != nil && ap.IsA() && ap.A != nil {
		v.Additional = b.schema(ap.A, depth+1, false)
	}
	for _, c := range []struct {
		name string
		list []*base.SchemaProxy
	}{{"all of", s.AllOf}, {"one of", s.OneOf}, {"any of", s.AnyOf}} {
		if len(c.list) == 0 {
			continue
		}
		v.Combinator = c.name
		for _, sub := range c.list {
			v.Variants = append(v.Variants, b.schema(sub, depth+1, false))
		}
		break
	}
	return v
}

// typeName says what s is in a few words: "string (date-time)", "array of Pet",
// "integer | null".
func typeName(b *refBuilder, s *base.Schema) string {
	types := slices.Clone(s.Type)
	if s.Nullable != nil && *s.Nullable && !slices.Contains(types, "null") {
		types = append(types, "null")
	}
	t := strings.Join(types, " | ")
	if slices.Contains(s.Type, "array") && s.Items != nil && s.Items.IsA() && s.Items.A != nil {
		item := b.refName(s.Items.A)
		if item == "" {
			if is := resolve(s.Items.A); is != nil && len(is.Type) > 0 {
				item = strings.Join(is.Type, " | ")
			}
		}
		if item != "" {
			t = strings.Replace(t, "array", "array of "+item, 1)
		}
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if t == "" {
		switch {
		case len(s.AllOf) > 0:
			t = "all of"
		case len(s.OneOf) > 0:
			t = "one of"
		case len(s.AnyOf) > 0:
			t = "any of"
		case s.Properties != nil && s.Properties.Len() > 0:
			t = "object"
		default:
			t = "any"
		}
	}
	return t
}

func constraints(s *base.Schema) []string {
	var out []string
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	if s.Minimum != nil {
		out = append(out, "minimum "+num(*s.Minimum))
	}
	if s.Maximum != nil {
		out = append(out, "maximum "+num(*s.Maximum))
	}
	if e := s.ExclusiveMinimum; e != nil && e.IsB() {
		out = append(out, "greater than "+num(e.B))
	}
	if e := s.ExclusiveMaximum; e != nil && e.IsB() {
		out = append(out, "less than "+num(e.B))
	}
	if s.MinLength != nil {
		out = append(out, fmt.Sprintf("min length %d", *s.MinLength))
	}
	if s.MaxLength != nil {
		out = append(out, fmt.Sprintf("max length %d", *s.MaxLength))
	}
	if s.MinItems != nil {
		out = append(out, fmt.Sprintf("min items %d", *s.MinItems))
	}
	if s.MaxItems != nil {
		out = append(out, fmt.Sprintf("max items %d", *s.MaxItems))
	}
	if s.Pattern != "" {
		out = append(out, "pattern "+s.Pattern)
	}
	if s.ReadOnly != nil && *s.ReadOnly {
		out = append(out, "read-only")
	}
	if s.WriteOnly != nil && *s.WriteOnly {
		out = append(out, "write-only")
	}
	if s.Deprecated != nil && *s.Deprecated {
		out = append(out, "deprecated")
	}
	return out
}

// scalars renders enum values as text.
func scalars(ns []*yaml.Node) []string {
	var out []string
	for _, n := range ns {
		if n != nil {
			out = append(out, exampleText(n))
		}
	}
	return out
}

// exampleText renders a YAML or JSON value as pretty-printed JSON (a string scalar as
// its text), at most maxExampleBytes of it.
func exampleText(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return truncate(n.Value)
	}
	budget := 100000 // nodes: aliases can make a small document a huge value
	out, err := marshalJSON(nodeValue(n, 0, &budget), "  ")
	if err != nil {
		return truncate(n.Value)
	}
	return truncate(strings.TrimSuffix(string(out), "\n"))
}

// marshalJSON is json.Marshal without HTML escaping: examples are shown as written,
// "<" and all, and html/template escapes them for the page.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func truncate(s string) string {
	if len(s) <= maxExampleBytes {
		return s
	}
	cut := maxExampleBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 { // back to a rune boundary
		cut--
	}
	return s[:cut] + "\n…"
}

// nodeValue converts a YAML node to a value encoding/json can marshal, keeping mapping
// order (as a slice-backed object) and bounding depth and size.
func nodeValue(n *yaml.Node, depth int, budget *int) any {
	*budget--
	if n == nil || depth > 64 || *budget < 0 {
		return "…"
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return nodeValue(n.Content[0], depth+1, budget)
		}
		return nil
	case yaml.AliasNode:
		return nodeValue(n.Alias, depth+1, budget)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, nodeValue(c, depth+1, budget))
		}
		return out
	case yaml.MappingNode:
		obj := orderedObject{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				key = fmt.Sprint(nodeValue(k, depth+1, budget))
			}
			obj = append(obj, kv{key, nodeValue(n.Content[i+1], depth+1, budget)})
		}
		return obj
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool", "!!int", "!!float":
			var v any
			if n.Decode(&v) == nil {
				if f, ok := v.(float64); ok && (f != f || f > 1e308 || f < -1e308) {
					return n.Value // NaN and infinities have no JSON form
				}
				return v
			}
		}
		return n.Value
	}
	return nil
}

type kv struct {
	k string
	v any
}

// orderedObject marshals as a JSON object in the document's key order.
type orderedObject []kv

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := marshalJSON(e.k, "")
		sb.Write(bytes.TrimSuffix(k, []byte("\n")))
		sb.WriteByte(':')
		v, err := marshalJSON(e.v, "")
		if err != nil {
			return nil, err
		}
		sb.Write(bytes.TrimSuffix(v, []byte("\n")))
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}
