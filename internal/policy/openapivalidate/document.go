package openapivalidate

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"go.yaml.in/yaml/v3"

	"github.com/pb33f/libopenapi-validator/cache"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	sv "github.com/pb33f/libopenapi-validator/schema_validation"
)

// parse reads doc (JSON or YAML) as an OpenAPI 3.0 or 3.1 document and returns its model,
// with servers removed: the gateway serves the paths under the API's prefix, whatever
// base path the document's servers name, and the validator would otherwise strip those.
func parse(doc []byte) (m *v3.Document, err error) {
	// The library is not hardened against every malformed input: a document that makes
	// it panic is a configuration error like any other, not a crash of the node.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("openapi document: cannot be read (%v)", r)
		}
	}()
	doc, err = sanitize(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	dc := datamodel.NewDocumentConfiguration()
	// Local references only: reading files or fetching URLs while compiling a snapshot
	// would make the configuration depend on the node's disk and network.
	dc.AllowFileReferences = false
	dc.AllowRemoteReferences = false
	dc.Logger = slog.New(slog.DiscardHandler)
	d, err := libopenapi.NewDocumentWithConfiguration(doc, dc)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if v := d.GetVersion(); !strings.HasPrefix(v, "3.0") && !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapi document: version %q is not supported (3.0 and 3.1 are)", v)
	}
	built, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if built == nil || built.Model.Paths == nil || built.Model.Paths.PathItems == nil || built.Model.Paths.PathItems.Len() == 0 {
		return nil, errors.New("openapi document: it defines no paths")
	}
	m = &built.Model
	m.Servers = nil
	return m, nil
}

// dataKeys hold instance data (examples, defaults, extensions' content), not schemas:
// nothing under them is compiled, so nothing under them is checked.
func dataKey(k string) bool {
	switch k {
	case "example", "examples", "default", "enum", "const":
		return true
	}
	return strings.HasPrefix(k, "x-")
}

// nameMapKeys hold maps whose keys are names (of properties, schemas, paths, media
// types...) rather than keywords: a property called "$ref" or "example" is not one.
func nameMapKey(k string) bool {
	switch k {
	case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
		"paths", "webhooks", "schemas", "responses", "parameters", "requestBodies", "headers",
		"securitySchemes", "links", "callbacks", "pathItems", "content", "encoding",
		"mapping", "variables", "scopes":
		return true
	}
	return false
}

// oasDialect is OpenAPI 3.1's default JSON Schema dialect: naming it says nothing the
// validator does not assume, and the schema compiler, which does not embed it, would
// fetch it.
const oasDialect = "https://spec.openapis.org/oas/3.1/dialect/"

// sanitize refuses what would make the schema compiler read a file or fetch a URL (it
// loads file:, http: and https: resources it does not know, and this cannot be turned
// off): references outside the document, and $schema dialects other than the JSON Schema
// drafts it embeds. A $schema naming OpenAPI's own dialect is removed instead. doc is
// returned as is unless something was removed.
func sanitize(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("invalid YAML or JSON: %w", err)
	}
	s := &scanner{}
	s.walk(&root, false, 0)
	if len(s.errs) > 0 {
		return nil, errors.Join(s.errs...)
	}
	if !s.changed {
		return doc, nil
	}
	return yaml.Marshal(&root)
}

type scanner struct {
	errs    []error
	changed bool
}

// maxDepth bounds the walk; deeper documents are refused rather than recursed into.
const maxDepth = 512

func (s *scanner) errorf(n *yaml.Node, format string, args ...any) {
	if len(s.errs) < 10 {
		s.errs = append(s.errs, fmt.Errorf("line %d: %s", n.Line, fmt.Sprintf(format, args...)))
	}
}

// walk checks n; names says that n's keys are names, not keywords. Aliases are not
// followed: their anchor is walked where it is defined.
func (s *scanner) walk(n *yaml.Node, names bool, depth int) {
	if depth > maxDepth {
		s.errorf(n, "nested too deeply")
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			s.walk(c, false, depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if names || k.Kind != yaml.ScalarNode {
				s.walk(v, false, depth+1)
				continue
			}
			switch key := k.Value; {
			case dataKey(key):
				continue
			case key == "$ref" || key == "$dynamicRef" || key == "$recursiveRef":
				if v.Kind == yaml.ScalarNode && !strings.HasPrefix(v.Value, "#") {
					s.errorf(v, "%s %q: only references within the document (#/...) are supported", key, v.Value)
				}
			case key == "$schema" && v.Kind == yaml.ScalarNode:
				switch {
				case embeddedDraft(v.Value):
				case strings.HasPrefix(v.Value, oasDialect):
					n.Content = append(n.Content[:i], n.Content[i+2:]...)
					i -= 2
					s.changed = true
				default:
					s.errorf(v, "$schema %q: only the JSON Schema drafts and OpenAPI's dialect are supported", v.Value)
				}
			default:
				s.walk(v, nameMapKey(key), depth+1)
			}
		}
	}
}

// embeddedDraft reports whether u names a JSON Schema draft the compiler has built in.
func embeddedDraft(u string) bool {
	u = strings.TrimSuffix(u, "#")
	u, ok := strings.CutPrefix(u, "http://")
	if !ok {
		u, _ = strings.CutPrefix(u, "https://")
	}
	switch u {
	case "json-schema.org/schema", "json-schema.org/draft/2020-12/schema", "json-schema.org/draft/2019-09/schema",
		"json-schema.org/draft-07/schema", "json-schema.org/draft-06/schema", "json-schema.org/draft-04/schema":
		return true
	}
	return false
}

// checkSchemas makes sure that every schema a request (and, with responses, a response)
// is checked against compiled when the validator was built, so that a broken schema is a
// configuration error now rather than a 400 for every request, each compiling it again.
// The validator compiles into schemas and drops failures silently; compiling a missing
// one again gives its error.
func checkSchemas(m *v3.Document, schemas cache.SchemaCache, opts *config.ValidationOptions, responses bool) error {
	version := helpers.VersionToFloat(m.Version)
	var errs []error
	check := func(where string, proxy *base.SchemaProxy, purpose sv.SchemaValidationPurpose) {
		if proxy == nil || len(errs) >= 10 {
			return
		}
		schema := proxy.Schema()
		if schema == nil || schema.GoLow() == nil {
			if err := proxy.GetBuildError(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			return
		}
		key := sv.SchemaCacheKey(schema.GoLow().Hash(), version, purpose)
		if _, ok := schemas.Load(key); ok {
			return
		}
		compiled, err := sv.CompileSchemaForValidation(schema, purpose, opts, version)
		if err == nil && (compiled == nil || compiled.CompiledSchema == nil) {
			err = errors.New("does not compile")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		schemas.Store(key, compiled.ToCacheEntry(schema))
	}
	params := func(where string, ps []*v3.Parameter) {
		for _, p := range ps {
			if p == nil {
				continue
			}
			at := fmt.Sprintf("%s: %s parameter %q", where, p.In, p.Name)
			if p.Schema != nil {
				check(at, p.Schema, sv.SchemaValidationPurposeGeneric)
			} else if p.Content != nil {
				for c := p.Content.First(); c != nil; c = c.Next() {
					check(at, c.Value().Schema, sv.SchemaValidationPurposeGeneric)
					break // the validator uses the first
				}
			}
		}
	}
	for pp := m.Paths.PathItems.First(); pp != nil; pp = pp.Next() {
		item := pp.Value()
		if item == nil {
			continue
		}
		params(pp.Key(), item.Parameters)
		for op := item.GetOperations().First(); op != nil; op = op.Next() {
			o := op.Value()
			where := strings.ToUpper(op.Key()) + " " + pp.Key()
			params(where, o.Parameters)
			if o.RequestBody != nil && o.RequestBody.Content != nil {
				for c := o.RequestBody.Content.First(); c != nil; c = c.Next() {
					check(where+": request body "+c.Key(), c.Value().Schema, sv.SchemaValidationPurposeRequestBody)
				}
			}
			if !responses || o.Responses == nil {
				continue
			}
			if o.Responses.Codes != nil {
				for r := o.Responses.Codes.First(); r != nil; r = r.Next() {
					if r.Value() != nil && r.Value().Content != nil {
						for c := r.Value().Content.First(); c != nil; c = c.Next() {
							check(where+": response "+r.Key()+" "+c.Key(), c.Value().Schema, sv.SchemaValidationPurposeResponseBody)
						}
					}
				}
			}
			if d := o.Responses.Default; d != nil && d.Content != nil {
				for c := d.Content.First(); c != nil; c = c.Next() {
					check(where+": default response "+c.Key(), c.Value().Schema, sv.SchemaValidationPurposeResponseBody)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("openapi document: %w", errors.Join(errs...))
	}
	return nil
}
