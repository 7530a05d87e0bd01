package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// column is one column of a table: its header and how to show a value in it.
type column[T any] struct {
	header string
	value  func(T) string
}

// printList writes items as a table with cols, or as a JSON or YAML array.
func printList[T any](e *env, items []T, cols []column[T]) error {
	if e.output != "table" {
		if items == nil {
			items = []T{} // "[]", not "null"
		}
		return e.printData(items)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 3, ' ', 0)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, it := range items {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cell(c.value(it))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printOne writes one value as a one-row table, or as a JSON or YAML object.
func printOne[T any](e *env, v T, cols []column[T]) error {
	if e.output != "table" {
		return e.printData(v)
	}
	return printList(e, []T{v}, cols)
}

// printDone reports a change: a line for people in table mode, else the resulting value
// (nothing when there is none, as after a delete) so that scripts can use it.
func (e *env) printDone(v any, format string, args ...any) error {
	if e.output == "table" {
		_, err := fmt.Fprintf(e.stdout, format+"\n", args...)
		return err
	}
	if v == nil {
		return nil
	}
	return e.printData(v)
}

// printData writes v as indented JSON or as YAML with the JSON field names and order.
func (e *env) printData(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	if e.output == "yaml" {
		if b, err = jsonToYAML(b); err != nil {
			return fmt.Errorf("encoding output: %w", err)
		}
	} else {
		b = append(b, '\n')
	}
	_, err = e.stdout.Write(b)
	return err
}

// cell keeps a table cell on one line and never empty, so columns stay aligned.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// formatTime shows a time in tables: UTC, to the second; "-" for none.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

// jsonToYAML converts a JSON document to YAML, keeping the order of object fields (the
// order of the Go struct) that decoding into maps would lose.
func jsonToYAML(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	node, err := yamlNode(dec)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func yamlNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if t == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, scalar("!!str", k.(string)))
			}
			v, err := yamlNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return scalar("!!str", t), nil // the encoder quotes it if it would read as another type
	case json.Number:
		if strings.ContainsAny(t.String(), ".eE") {
			return scalar("!!float", t.String()), nil
		}
		return scalar("!!int", t.String()), nil
	case bool:
		return scalar("!!bool", fmt.Sprint(t)), nil
	case nil:
		return scalar("!!null", "null"), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}
