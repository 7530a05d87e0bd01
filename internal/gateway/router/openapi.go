package router

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
	"go.yaml.in/yaml/v3"
)

// ErrNoOperations is returned, wrapped, for a document that defines no operations. An entry
// with no routes serves every path, so the caller must decide what such a document means
// rather than receive an empty list that silently opens the whole API.
var ErrNoOperations = errors.New("the document defines no operations")

// isOperation reports whether k is a field of a path item that holds an operation (OpenAPI
// 3.0 and 3.1 Path Item Object; Swagger 2.0 has the same ones except trace).
func isOperation(k string) bool {
	switch k {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// RoutesFromOpenAPI returns one route per operation of an OpenAPI 3.0 or 3.1 (or Swagger 2.0)
// document, JSON or YAML, in document order: Path is the path's key (OpenAPI's {name}
// templates are ours), Methods the operation's method in upper case and Name its operationId.
// Path items without operations are skipped; a path item that is a local $ref is followed.
// Paths are taken as relative to the API's prefix: servers and basePath are not read.
//
// Errors carry the line of the offending node. A template whose parameter fills only part
// of a segment ("/report.{format}") is an error, since routes match whole segments; so are two
// operations with the same method on equivalent templates, and a repeated operationId.
func RoutesFromOpenAPI(doc []byte) ([]Route, error) {
	root, err := parseDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	p := &oaParser{root: root}
	routes := p.routes()
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("openapi: %w", errors.Join(p.errs...))
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("openapi: %w", ErrNoOperations)
	}
	return routes, nil
}

// parseDocument parses doc as YAML, of which JSON is a subset, and returns its top mapping.
func parseDocument(doc []byte) (*yaml.Node, error) {
	root, problems := yamlpos.Decode("", doc, "an OpenAPI document")
	if len(problems) > 0 {
		p := problems[0]
		return nil, fmt.Errorf("line %d: invalid YAML or JSON: %s", max(p.Line, 1), strings.TrimPrefix(p.Message, "invalid YAML: "))
	}
	if root == nil || len(root.Content) == 0 {
		return nil, errors.New("the document is empty")
	}
	top := resolve(root.Content[0])
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the document must be a mapping", top.Line)
	}
	return top, nil
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node { return yamlpos.Resolve(n) }

// get returns the value of key in mapping m, nil when absent.
func get(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

type oaParser struct {
	root  *yaml.Node
	errs  []error
	seen  map[string]int // method and canonical template → line
	opIDs map[string]int // operationId → line
}

func (p *oaParser) errorf(n *yaml.Node, format string, args ...any) {
	if len(p.errs) == maxErrors {
		return
	}
	p.errs = append(p.errs, fmt.Errorf("line %d: %s", n.Line, fmt.Sprintf(format, args...)))
}

func (p *oaParser) routes() []Route {
	if !p.version() {
		return nil
	}
	paths := get(p.root, "paths")
	if paths == nil || paths.Kind == yaml.ScalarNode && paths.Tag == "!!null" {
		return nil
	}
	if paths.Kind != yaml.MappingNode {
		p.errorf(paths, "paths must be a mapping")
		return nil
	}
	p.seen, p.opIDs = map[string]int{}, map[string]int{}
	var routes []Route
	for i := 0; i+1 < len(paths.Content); i += 2 {
		k := resolve(paths.Content[i])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "a key of paths must be a string")
			continue
		}
		if strings.HasPrefix(k.Value, "x-") {
			continue // a specification extension
		}
		item := p.follow(resolve(paths.Content[i+1]))
		if item == nil {
			continue
		}
		routes = append(routes, p.pathItem(k, item)...)
	}
	return routes
}

// version checks that the document is OpenAPI 3.x or Swagger 2.0: another kind of document
// would yield no routes, or wrong ones, without a word.
func (p *oaParser) version() bool {
	if v := get(p.root, "openapi"); v != nil {
		if v.Kind != yaml.ScalarNode || !strings.HasPrefix(v.Value, "3.") {
			p.errorf(v, "openapi version %q is not supported (3.0 and 3.1 are)", v.Value)
			return false
		}
		return true
	}
	if v := get(p.root, "swagger"); v != nil {
		if v.Kind != yaml.ScalarNode || v.Value != "2.0" {
			p.errorf(v, "swagger version %q is not supported (2.0 is)", v.Value)
			return false
		}
		return true
	}
	p.errorf(p.root, "not an OpenAPI document: it has no \"openapi\" or \"swagger\" field")
	return false
}

// follow returns the path item n, or the one its local $ref names; nil for an empty item or
// an error.
func (p *oaParser) follow(n *yaml.Node) *yaml.Node {
	for hops := 0; ; hops++ {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			p.errorf(n, "a path item must be a mapping")
			return nil
		}
		ref := get(n, "$ref")
		if ref == nil {
			return n
		}
		if hops == 10 {
			p.errorf(ref, "$ref chain too long (a cycle?)")
			return nil
		}
		if ref.Kind != yaml.ScalarNode || !strings.HasPrefix(ref.Value, "#") {
			p.errorf(ref, "$ref %q: only references within the document (#/...) are supported", ref.Value)
			return nil
		}
		target, err := pointer(p.root, ref.Value[1:])
		if err != nil {
			p.errorf(ref, "$ref %q: %v", ref.Value, err)
			return nil
		}
		n = target
	}
}

// pointer resolves a JSON pointer (RFC 6901) taken from a URI fragment (percent-encoded).
func pointer(root *yaml.Node, frag string) (*yaml.Node, error) {
	ptr, err := url.PathUnescape(frag)
	if err != nil {
		return nil, err
	}
	if ptr == "" {
		return root, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, errors.New("not a JSON pointer")
	}
	n := root
	for tok := range strings.SplitSeq(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			next = get(n, tok)
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				next = resolve(n.Content[i])
			}
		}
		if next == nil {
			return nil, fmt.Errorf("%q not found", tok)
		}
		n = next
	}
	return n, nil
}

// pathItem returns the routes of one path item, in document order.
func (p *oaParser) pathItem(key, item *yaml.Node) []Route {
	segs, err := parseTemplate(nil, key.Value)
	if err != nil {
		p.errorf(key, "path %q: %v", key.Value, err)
		return nil
	}
	canon := canonical(segs)
	var routes []Route
	for i := 0; i+1 < len(item.Content); i += 2 {
		k := resolve(item.Content[i])
		if k.Kind != yaml.ScalarNode || !isOperation(k.Value) {
			continue // parameters, summary, servers, extensions...
		}
		op := resolve(item.Content[i+1])
		if op.Kind != yaml.MappingNode {
			p.errorf(op, "%s %s: an operation must be a mapping", k.Value, key.Value)
			continue
		}
		method := strings.ToUpper(k.Value)
		sig := method + " " + canon
		if line, dup := p.seen[sig]; dup {
			p.errorf(k, "%s %s: the same operation as line %d (templates that differ only in parameter names are equivalent)", k.Value, key.Value, line)
			continue
		}
		p.seen[sig] = k.Line
		r := Route{Methods: []string{method}, Path: key.Value}
		if id := get(op, "operationId"); id != nil {
			if id.Kind != yaml.ScalarNode || id.Value == "" {
				p.errorf(id, "%s %s: operationId must be a non-empty string", k.Value, key.Value)
				continue
			}
			if line, dup := p.opIDs[id.Value]; dup {
				p.errorf(id, "%s %s: operationId %q is already used at line %d", k.Value, key.Value, id.Value, line)
				continue
			}
			p.opIDs[id.Value] = id.Line
			r.Name = id.Value
		}
		routes = append(routes, r)
	}
	return routes
}

// canonical spells a template without its parameter names, so that equivalent templates
// spell the same.
func canonical(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.kind {
		case segStatic:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segCatchAll:
			b.WriteString("{...}")
		}
	}
	return b.String()
}
