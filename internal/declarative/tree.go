package declarative

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
)

// value is a document node in the JSON data model, with its position in the file kept so
// that problems found later (by the type check, the JSON decoder or validation) can be
// reported where the user wrote the value.
type value struct {
	line, col int
	kind      kind
	text      string // the string; a JSON number literal; "true" or "false"
	raw       string // the YAML source text of a scalar, for messages
	items     []*value
	members   []*member
	// bad marks a value already reported as wrong; it is left out of the JSON and problems
	// under it are not reported twice.
	bad bool
	// start and end are the value's byte span in the JSON last written by appendJSON, to
	// map a decoder's offset back to a node.
	start, end int
}

type member struct {
	key       string
	line, col int // of the key
	val       *value
	dropped   bool // left out of the JSON: unknown, server-managed, null or bad
}

type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kList
	kMap
)

// describe names v's kind for "want X, got Y" messages.
func (v *value) describe() string {
	switch v.kind {
	case kNull:
		return "nothing (null)"
	case kBool:
		return v.text
	case kNumber:
		return "the number " + cmp.Or(v.raw, v.text)
	case kString:
		if len(v.text) > 40 {
			return "a string"
		}
		return fmt.Sprintf("the string %q", v.text)
	case kList:
		return "a list"
	}
	return "a mapping"
}

// get returns the member named key, or nil.
func (v *value) get(key string) *member {
	for _, m := range v.members {
		if m.key == key && !m.dropped {
			return m
		}
	}
	return nil
}

// find returns the deepest node on path (such as "upstream.targets[0].url") that exists
// under v: a problem about a missing field is reported at the mapping that lacks it.
func (v *value) find(path string) *value {
	cur := v
	for path != "" {
		var seg string
		switch {
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return cur
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || cur.kind != kList || i < 0 || i >= len(cur.items) {
				return cur
			}
			cur, path = cur.items[i], path[end+1:]
			continue
		case path[0] == '.':
			path = path[1:]
			continue
		}
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			end = len(path)
		}
		seg, path = path[:end], path[end:]
		m := cur.get(seg)
		if cur.kind != kMap || m == nil {
			return cur
		}
		cur = m.val
	}
	return cur
}

// appendJSON writes v as JSON, leaving out dropped members and writing bad list items as
// null (so that later items keep their indexes), and records each value's span.
func (v *value) appendJSON(b []byte) []byte {
	v.start = len(b)
	switch {
	case v.bad || v.kind == kNull:
		b = append(b, "null"...)
	case v.kind == kBool, v.kind == kNumber:
		b = append(b, v.text...)
	case v.kind == kString:
		b = appendString(b, v.text)
	case v.kind == kList:
		b = append(b, '[')
		for i, it := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.appendJSON(b)
		}
		b = append(b, ']')
	default:
		b = append(b, '{')
		first := true
		for _, m := range v.members {
			if m.dropped {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, m.key)
			b = append(b, ':')
			b = m.val.appendJSON(b)
		}
		b = append(b, '}')
	}
	v.end = len(b)
	return b
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // never fails for a string
	return append(b, q...)
}

// at returns the innermost node whose JSON span holds offset.
func (v *value) at(offset int) *value {
	for _, it := range v.items {
		if offset >= it.start && offset <= it.end {
			return it.at(offset)
		}
	}
	for _, m := range v.members {
		if !m.dropped && offset >= m.val.start && offset <= m.val.end {
			return m.val.at(offset)
		}
	}
	return v
}

// converter turns a yaml.Node tree into values, expanding aliases and merge keys.
type converter struct {
	file     string
	problems *[]Problem
	// budget is how many more nodes may be produced. Aliases can make a small file expand
	// exponentially ("billion laughs"), so expansion beyond the file's own size is capped.
	budget    int
	exhausted bool
	expanding map[*yaml.Node]bool // anchored nodes being converted, to refuse an alias inside its anchor
}

// maxAliasExpansion is how many nodes aliases may add on top of the file's own.
const maxAliasExpansion = 100_000

func newConverter(file string, problems *[]Problem, root *yaml.Node) *converter {
	return &converter{
		file:      file,
		problems:  problems,
		budget:    countNodes(root, 0) + maxAliasExpansion,
		expanding: map[*yaml.Node]bool{},
	}
}

func countNodes(n *yaml.Node, depth int) int {
	if n == nil || depth > 20000 {
		return 0
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch, depth+1)
	}
	return c
}

func (c *converter) problem(line, col int, field, msg string) {
	*c.problems = append(*c.problems, Problem{Source: c.file, Line: line, Column: col, Field: field, Message: msg})
}

// convert returns n as a value. Problems are recorded and the value marked bad, so a
// broken node never stops the rest of the file from being checked.
func (c *converter) convert(n *yaml.Node, path string) *value {
	v := &value{line: n.Line, col: n.Column}
	if c.budget--; c.budget < 0 {
		if !c.exhausted {
			c.exhausted = true
			c.problem(n.Line, n.Column, path, fmt.Sprintf("aliases expand the document beyond %d nodes", maxAliasExpansion))
		}
		v.bad = true
		return v
	}
	if n.Anchor != "" {
		c.expanding[n] = true
		defer delete(c.expanding, n)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || c.expanding[n.Alias] {
			c.problem(n.Line, n.Column, path, fmt.Sprintf("alias *%s refers to a node that contains it", n.Value))
			v.bad = true
			return v
		}
		return c.convert(n.Alias, path)
	case yaml.ScalarNode:
		c.scalar(n, path, v)
	case yaml.SequenceNode:
		v.kind = kList
		for i, it := range n.Content {
			v.items = append(v.items, c.convert(it, fmt.Sprintf("%s[%d]", path, i)))
		}
	case yaml.MappingNode:
		c.mapping(n, path, v)
	default:
		c.problem(n.Line, n.Column, path, "unexpected YAML node")
		v.bad = true
	}
	return v
}

func (c *converter) scalar(n *yaml.Node, path string, v *value) {
	v.raw = n.Value
	fail := func(msg string) {
		c.problem(n.Line, n.Column, path, msg)
		v.bad = true
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		v.kind = kNull
	case "!!bool":
		var b bool
		if n.Decode(&b) != nil {
			fail(fmt.Sprintf("%q is not a boolean", n.Value))
			return
		}
		v.kind, v.text = kBool, strconv.FormatBool(b)
	case "!!int":
		var i int64
		var u uint64
		var f float64
		switch {
		case n.Decode(&i) == nil:
			v.text = strconv.FormatInt(i, 10)
		case n.Decode(&u) == nil:
			v.text = strconv.FormatUint(u, 10)
		case n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f):
			v.text = strconv.FormatFloat(f, 'g', -1, 64)
		default:
			fail(fmt.Sprintf("%q is not a number", n.Value))
			return
		}
		v.kind = kNumber
	case "!!float":
		var f float64
		if n.Decode(&f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			fail(fmt.Sprintf("%q is not a finite number", n.Value))
			return
		}
		v.kind, v.text = kNumber, strconv.FormatFloat(f, 'g', -1, 64)
	case "!!str", "!!timestamp", "!!merge":
		// Timestamps stay strings: the JSON decoder parses times in RFC 3339 form.
		v.kind, v.text = kString, n.Value
	default:
		fail(fmt.Sprintf("unsupported YAML tag %s", tag))
	}
}

// mapping converts a mapping. Keys written in the mapping win over merged ones (<<), and
// earlier merge sources win over later ones, as YAML's merge key specifies.
func (c *converter) mapping(n *yaml.Node, path string, v *value) {
	v.kind = kMap
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kr := yamlpos.Resolve(k)
		if kr.Kind != yaml.ScalarNode {
			c.problem(k.Line, k.Column, path, "mapping keys must be strings")
			continue
		}
		if kr.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		field := joinPath(path, kr.Value)
		if line, dup := seen[kr.Value]; dup {
			c.problem(k.Line, k.Column, field, fmt.Sprintf("key %q is already set at line %d", kr.Value, line))
			continue
		}
		seen[kr.Value] = k.Line
		v.members = append(v.members, &member{key: kr.Value, line: k.Line, col: k.Column, val: c.convert(val, field)})
	}
	for _, m := range merges {
		src := c.convert(m, path)
		var sources []*value
		switch {
		case src.bad:
			continue
		case src.kind == kMap:
			sources = []*value{src}
		case src.kind == kList:
			sources = src.items
		}
		for _, s := range sources {
			if s.bad {
				continue
			}
			if s.kind != kMap {
				c.problem(m.Line, m.Column, path, "a merge key (<<) takes a mapping or a list of mappings")
				break
			}
			for _, mm := range s.members {
				if _, dup := seen[mm.key]; !dup {
					seen[mm.key] = mm.line
					v.members = append(v.members, mm)
				}
			}
		}
		if len(sources) == 0 {
			c.problem(m.Line, m.Column, path, "a merge key (<<) takes a mapping or a list of mappings")
		}
	}
}

func joinPath(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

// fromJSON reads JSON into a value, keeping the order of object keys (encoding/json
// writes struct fields in declaration order, which Encode keeps).
func fromJSON(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder) (*value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: kNull}, nil
	case bool:
		return &value{kind: kBool, text: strconv.FormatBool(t)}, nil
	case json.Number:
		return &value{kind: kNumber, text: t.String()}, nil
	case string:
		return &value{kind: kString, text: t}, nil
	case json.Delim:
		if t == '[' {
			v := &value{kind: kList}
			for dec.More() {
				it, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, it)
			}
			_, err := dec.Token()
			return v, err
		}
		v := &value{kind: kMap}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			val, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			v.members = append(v.members, &member{key: key, val: val})
		}
		_, err := dec.Token()
		return v, err
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}
