package declarative

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Encode writes doc as YAML, deterministically: sections in Document order, resources
// sorted by key (subscriptions by app, then plan), fields in the order of the Go structs,
// server-managed fields and subscription ids left out, and every field left out whose
// value is what Parse would fill in anyway (empty lists, state: draft, weight: 100, ...).
// Durations are strings ("1m") and multi-line strings, such as an OpenAPI document, are
// literal blocks. Parse(Encode(d)) returns d, normalized. doc is not modified.
func Encode(doc *Document) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, s := range sections() {
		var rs []any
		if doc != nil {
			rs = s.get(doc)
		}
		if len(rs) == 0 {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, r := range sortedNormalized(rs) {
			v, err := minimal(r)
			if err != nil {
				return nil, fmt.Errorf("encoding %s %q: %w", s.kind, keyOf(r), err)
			}
			seq.Content = append(seq.Content, yamlNode(v))
		}
		root.Content = append(root.Content, strNode(s.name), seq)
	}
	return marshalYAML(root)
}

// sortedNormalized returns normalized copies of rs, sorted by key.
func sortedNormalized(rs []any) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = normalized(r)
	}
	slices.SortStableFunc(out, func(a, b any) int { return strings.Compare(sortKey(a), sortKey(b)) })
	return out
}

// resourceYAML returns r alone as YAML, as Encode would write it.
func resourceYAML(r any) ([]byte, error) {
	v, err := minimal(normalized(r))
	if err != nil {
		return nil, err
	}
	return marshalYAML(yamlNode(v))
}

func marshalYAML(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// canonical returns the canonical tree of r, a normalized resource: its JSON in field
// order, without server-managed fields, and without null, empty lists and empty mappings
// where the Go types make them mean the same as leaving the field out. Two resources are
// equal when their canonical JSON is.
func canonical(r any) (*value, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	v, err := fromJSON(b)
	if err != nil {
		return nil, err
	}
	prune(v, reflect.TypeOf(r))
	return v, nil
}

func canonicalJSON(r any) ([]byte, error) {
	v, err := canonical(r)
	if err != nil {
		return nil, err
	}
	return v.appendJSON(nil), nil
}

// prune drops the members of v that mean the same as absence, guided by type t, and
// reports whether v itself is such a value. Policy configs are opaque JSON: inside them
// an empty list may mean something, so only an empty config as a whole counts as absent.
func prune(v *value, t reflect.Type) (empty bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v.kind == kNull {
		return true
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return v.kind == kMap && len(v.members) == 0
	}
	if opaque(t) {
		return false
	}
	switch v.kind {
	case kList:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for _, it := range v.items {
				prune(it, t.Elem())
			}
		}
		return len(v.items) == 0
	case kMap:
		var fields []field
		if t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		kept := 0
		for _, m := range v.members {
			ft := t
			if t.Kind() == reflect.Map {
				ft = t.Elem()
			}
			if i := slices.IndexFunc(fields, func(f field) bool { return f.name == m.key }); i >= 0 {
				if fields[i].server {
					m.dropped = true
					continue
				}
				ft = fields[i].typ
			}
			if prune(m.val, ft) {
				m.dropped = true
				continue
			}
			kept++
		}
		return kept == 0
	}
	return false
}

// opaque reports whether t decodes itself (durations, times), so its JSON is a leaf.
func opaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(reflect.TypeFor[json.Unmarshaler]()) || pt.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// minimal returns the canonical tree of r (normalized) with every field left out whose
// absence Parse would fill back in: a field is dropped when the resource decoded without
// it and normalized is canonically unchanged. Trying each field against the real
// Normalize keeps this in step with the domain's defaults without restating them.
func minimal(r any) (*value, error) {
	want, err := canonicalJSON(r)
	if err != nil {
		return nil, err
	}
	tree, err := canonical(r)
	if err != nil {
		return nil, err
	}
	typ := reflect.TypeOf(r).Elem()
	same := func() bool {
		x := reflect.New(typ).Interface()
		if json.Unmarshal(tree.appendJSON(nil), x) != nil {
			return false
		}
		normalize(x)
		got, err := canonicalJSON(x)
		return err == nil && bytes.Equal(got, want)
	}
	var reduce func(v *value, t reflect.Type)
	reduce = func(v *value, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == reflect.TypeFor[json.RawMessage]() || opaque(t) {
			return
		}
		switch {
		case v.kind == kList && t.Kind() == reflect.Slice:
			for _, it := range v.items {
				reduce(it, t.Elem())
			}
		case v.kind == kMap && t.Kind() == reflect.Struct:
			fields := jsonFields(t)
			for _, m := range v.members {
				if m.dropped {
					continue
				}
				m.dropped = true
				if same() {
					continue
				}
				m.dropped = false
				if i := slices.IndexFunc(fields, func(f field) bool { return f.name == m.key }); i >= 0 {
					reduce(m.val, fields[i].typ)
				}
			}
		}
	}
	reduce(tree, typ)
	if !same() {
		return nil, fmt.Errorf("canonical form does not round-trip") // a bug
	}
	return tree, nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// yamlNode converts v to a yaml.Node. The encoder quotes strings that would otherwise
// read back as another type ("true", "1.10", times).
func yamlNode(v *value) *yaml.Node {
	switch v.kind {
	case kNull:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case kBool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v.text}
	case kNumber:
		tag := "!!int"
		if strings.ContainsAny(v.text, ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.text}
	case kString:
		n := strNode(v.text)
		if strings.Contains(v.text, "\n") {
			n.Style = yaml.LiteralStyle // falls back to quoting when a block cannot hold it
		}
		return n
	case kList:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, it := range v.items {
			n.Content = append(n.Content, yamlNode(it))
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, m := range v.members {
		if m.dropped {
			continue
		}
		val := yamlNode(m.val)
		if m.key == "openapi" && m.val.kind == kString {
			// Even a one-line (JSON) OpenAPI document: a block needs no escaping of its quotes.
			val.Style = yaml.LiteralStyle
		}
		n.Content = append(n.Content, strNode(m.key), val)
	}
	if len(n.Content) == 0 {
		n.Style = yaml.FlowStyle
	}
	return n
}
