package yamlpos

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Decode reads the one YAML document that data, the file name, holds, as a node tree
// that keeps every position. what names the kind of file for the problem a second
// document is, as in "a config file".
//
// Decode returns the document node, or nil when data holds no document (empty, or only
// comments) or the first document does not parse. The problems are that syntax error, or
// one with a second document; a document is returned along with the latter.
func Decode(name string, data []byte, what string) (*yaml.Node, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := decodeNode(dec, &doc); {
	case err == io.EOF:
		return nil, nil
	case err != nil:
		return nil, []Problem{syntaxProblem(name, data, err)}
	}
	var problems []Problem
	var extra yaml.Node
	switch err := decodeNode(dec, &extra); {
	case err == io.EOF:
	case err != nil:
		problems = append(problems, syntaxProblem(name, data, err))
	default:
		problems = append(problems, Problem{Source: name, Line: extra.Line, Column: extra.Column,
			Message: "a second YAML document: " + what + " holds exactly one"})
	}
	return &doc, problems
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// decodeNode decodes the next document. The parser reads untrusted files; should it ever
// panic, the file is reported as unreadable rather than crashing the command.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// syntaxProblem turns a YAML parser error into a positioned problem. The library reports a
// line but no column; it counts lines from 0 for parser (not scanner) errors, leaves the
// line out when that count is 0, and names an unknown anchor with no line at all, so the
// alias is looked up in data.
func syntaxProblem(name string, data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 0, 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, tail
			}
		}
	}
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected key", "did not find expected node content",
		"found duplicate %TAG directive", "found duplicate %YAML directive",
		"found incompatible YAML document", "found undefined tag handle":
		line++ // a parser error: its line was counted from 0
	}
	if anchor, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		line, col = findAlias(data, strings.TrimSuffix(anchor, "' referenced"))
	}
	return Problem{Source: name, Line: max(line, 1), Column: col, Message: "invalid YAML: " + msg}
}

// findAlias returns the 1-based line and column of the first "*name" alias in data.
func findAlias(data []byte, name string) (line, col int) {
	s := string(data)
	for off := 0; ; {
		i := strings.Index(s[off:], "*"+name)
		if i < 0 {
			return 1, 0
		}
		i += off
		end := i + 1 + len(name)
		if end == len(s) || strings.ContainsRune(" \t\r\n,]}", rune(s[end])) {
			before := s[:i]
			line = strings.Count(before, "\n") + 1
			col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
			return line, col
		}
		off = i + 1
	}
}
