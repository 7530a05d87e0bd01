// Package declarative reads, writes and compares the GitOps document of Gatehouse: one
// YAML (or JSON) file holding APIs, plans, developers, apps and subscriptions, with the
// same field names as the admin API.
//
// Parse reports every mistake in a file at once, each at its file:line:col. Encode writes a
// document deterministically, so exports diff cleanly in git. Diff computes the ordered
// changes that turn what a server has into what a document declares, and FormatChanges
// prints them as a plan. The package does no I/O: the CLI's apply, diff and export
// commands read files and call the admin API around it.
//
// Secrets (API keys, admin tokens) are deliberately not part of the document.
package declarative

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
)

// Document is the declarative form of a set of resources. References between them (a
// plan's APIs, an app's developer, a subscription's app and plan) may point at resources
// that exist only on the server; CheckRefs checks them against both.
type Document struct {
	APIs          []*gatehouse.API          `json:"apis,omitempty" yaml:"apis,omitempty"`
	Plans         []*gatehouse.Plan         `json:"plans,omitempty" yaml:"plans,omitempty"`
	Developers    []*gatehouse.Developer    `json:"developers,omitempty" yaml:"developers,omitempty"`
	Apps          []*gatehouse.App          `json:"apps,omitempty" yaml:"apps,omitempty"`
	Subscriptions []*gatehouse.Subscription `json:"subscriptions,omitempty" yaml:"subscriptions,omitempty"`
}

// secretReason explains why a top-level key someone might keep secrets under is not a
// section, rather than guessing at a "did you mean".
func secretReason(key string) string {
	switch strings.ToLower(key) {
	case "keys", "api_keys", "apikeys", "credentials", "secrets":
		return "API keys are not part of the document: secrets never live in git; create keys with gatehouse key create or the admin API"
	case "admin_tokens", "admins", "tokens":
		return "admin tokens are not part of the document: secrets never live in git"
	}
	return ""
}

// Parse reads a document from YAML or JSON. name is used in problem positions. Every
// resource is normalized and validated; server-managed fields (revision, created_at,
// updated_at, a subscription's id) are accepted and dropped. Two resources with one key
// are an error; references to other resources are not checked (see CheckRefs).
//
// Parse returns either a document or an *Error listing every problem, in file order.
func Parse(name string, data []byte) (*Document, error) {
	root, problems := yamlpos.Decode(name, data, "a declarative file")
	switch {
	case root == nil && len(problems) > 0:
		return nil, &Error{Problems: problems}
	case root == nil:
		return &Document{}, nil // empty, or only comments
	}
	doc := &Document{}
	if len(root.Content) > 0 {
		p := &parser{file: name, problems: &problems}
		top := newConverter(name, &problems, root).convert(root.Content[0], "")
		p.document(top, doc)
	}
	if len(problems) > 0 {
		yamlpos.Sort(problems)
		return nil, &Error{Problems: problems}
	}
	return doc, nil
}

type parser struct {
	file     string
	problems *[]Problem
	fields   map[reflect.Type][]field
}

func (p *parser) add(v *value, field, msg string) {
	*p.problems = append(*p.problems, Problem{Source: p.file, Line: v.line, Column: v.col, Field: field, Message: msg})
}

func (p *parser) document(top *value, doc *Document) {
	secs := sections()
	var names []string
	for _, s := range secs {
		names = append(names, s.name)
	}
	switch {
	case top.bad, top.kind == kNull:
		return
	case top.kind != kMap:
		p.add(top, "", fmt.Sprintf("want a mapping with the keys %s at the top level, got %s", strings.Join(names, ", "), top.describe()))
		return
	}
	p.fields = map[reflect.Type][]field{}
	for _, m := range top.members {
		i := slices.IndexFunc(secs, func(s section) bool { return s.name == m.key })
		if i < 0 {
			msg := secretReason(m.key)
			if msg == "" {
				msg = "unknown section"
				if s := yamlpos.Suggest(m.key, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
			}
			*p.problems = append(*p.problems, Problem{Source: p.file, Line: m.line, Column: m.col, Field: m.key, Message: msg})
			continue
		}
		s := secs[i]
		switch {
		case m.val.bad, m.val.kind == kNull:
			continue
		case m.val.kind != kList:
			p.add(m.val, s.name, fmt.Sprintf("want a list of %s, got %s", s.name, m.val.describe()))
			continue
		}
		first := map[string]int{} // key → line of its first definition
		for j, item := range m.val.items {
			at := fmt.Sprintf("%s[%d]", s.name, j)
			if item.bad {
				continue
			}
			if item.kind != kMap {
				p.add(item, at, fmt.Sprintf("want a mapping describing one %s, got %s", s.kind, item.describe()))
				continue
			}
			r := p.resource(item, s, at)
			if r == nil {
				continue
			}
			s.add(doc, r)
			key := keyOf(r)
			if key == "" || key == "/" {
				continue
			}
			pos := item
			if s.keyField != "" {
				pos = item.find(s.keyField)
			}
			if line, dup := first[key]; dup {
				p.add(pos, joinPath(at, s.keyField), fmt.Sprintf("duplicate %s %q (first defined at line %d)", s.kind, key, line))
				continue
			}
			first[key] = pos.line
		}
	}
}

// resource decodes one resource: type check, then encoding/json with unknown fields
// disallowed, then Normalize and Validate. It returns nil when the resource has a problem
// the type check or decoder reported.
func (p *parser) resource(item *value, s section, at string) any {
	chk := &checker{file: p.file, problems: p.problems, fields: p.fields}
	chk.checkStruct(item, s.typ, at+".", "")
	data := item.appendJSON(nil)
	r := reflect.New(s.typ).Interface()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		// The type check should have caught this; point as close as the decoder lets us.
		pos, msg := item, strings.TrimPrefix(err.Error(), "json: ")
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			pos = item.at(int(te.Offset))
		}
		p.add(pos, at, msg)
		return nil
	}
	normalize(r)
	err := validate(r)
	var ge *gatehouse.Error
	switch {
	case err == nil:
	case errors.As(err, &ge) && len(ge.Fields) > 0:
		for _, f := range ge.Fields {
			if suppressed(f.Field, chk.bad) {
				continue
			}
			field := at
			if f.Field != "" {
				field = at + "." + f.Field
				if strings.HasPrefix(f.Field, "[") {
					field = at + f.Field
				}
			}
			p.add(item.find(f.Field), field, f.Message)
		}
	default:
		p.add(item, at, err.Error())
	}
	return r
}
