package chart

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// node is an element of rendered markup, parsed as XML.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     strings.Builder // all character data inside, children's included
}

// allowedElements and allowedAttrs are everything the package may emit: a hostile
// string that became markup would show up as something else.
var allowedElements = []string{"figure", "figcaption", "span", "ul", "li", "svg", "title", "desc",
	"g", "line", "text", "path", "circle", "details", "summary", "table", "thead", "tbody", "tr",
	"th", "td", "time", "output"}

var allowedAttrs = []string{"class", "id", "xmlns", "viewBox", "role", "aria-labelledby",
	"aria-describedby", "aria-hidden", "aria-live", "data-plot", "data-tick", "data-field",
	"data-live-src", "data-live-window", "data-live-fields", "data-state", "data-points", "stroke",
	"stroke-width", "fill", "font-size", "text-anchor", "stroke-linejoin", "stroke-linecap", "x", "y",
	"dy", "x1", "y1", "x2", "y2", "d", "cx", "cy", "r", "scope", "datetime"}

// numericAttrs must hold finite numbers (space-separated for the lists).
var numericAttrs = []string{"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "viewBox", "data-plot",
	"stroke-width", "font-size", "data-tick", "data-points", "data-live-window"}

// parse checks that s is one well-formed element using only the allowed elements and
// attributes, with finite numbers in every coordinate and no "NaN" or "Inf" in any
// attribute, and returns it as a tree.
func parse(s string) (*node, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	var root *node
	var stack []*node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			if !slices.Contains(allowedElements, n.name) {
				return nil, fmt.Errorf("unexpected element <%s>", n.name)
			}
			for _, a := range tok.Attr {
				name, v := a.Name.Local, a.Value
				if !slices.Contains(allowedAttrs, name) || a.Name.Space != "" {
					return nil, fmt.Errorf("unexpected attribute %s:%s on <%s>", a.Name.Space, name, n.name)
				}
				if strings.Contains(v, "NaN") || strings.Contains(v, "Inf") {
					return nil, fmt.Errorf("<%s %s=%q>", n.name, name, v)
				}
				if err := checkNumbers(name, v); err != nil {
					return nil, fmt.Errorf("<%s>: %w", n.name, err)
				}
				n.attrs[name] = v
			}
			switch {
			case len(stack) > 0:
				top := stack[len(stack)-1]
				top.children = append(top.children, n)
			case root != nil:
				return nil, errors.New("more than one root element")
			default:
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(tok)) != "" {
					return nil, fmt.Errorf("text outside the root: %q", tok)
				}
				continue
			}
			for _, n := range stack {
				n.text.Write(tok)
			}
		case xml.ProcInst, xml.Directive, xml.Comment:
			return nil, fmt.Errorf("unexpected %T", tok)
		}
	}
	if root == nil {
		return nil, errors.New("no element")
	}
	return root, nil
}

// checkNumbers checks the numbers of a numeric attribute, and of a path's data.
func checkNumbers(name, v string) error {
	var fields []string
	switch {
	case name == "d":
		fields = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == 'M' || r == 'L' || r == 'h' })
	case slices.Contains(numericAttrs, name):
		fields = strings.Fields(v)
		if len(fields) == 0 {
			return fmt.Errorf("%s is empty", name)
		}
	}
	for _, f := range fields {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s=%q: %q is not a finite number", name, v, f)
		}
	}
	return nil
}

// all returns the elements under n (n included) that match.
func (n *node) all(match func(*node) bool) []*node {
	var out []*node
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.children {
		out = append(out, c.all(match)...)
	}
	return out
}

func (n *node) named(name string) []*node {
	return n.all(func(c *node) bool { return c.name == name })
}

func (n *node) classed(class string) []*node {
	return n.all(func(c *node) bool { return slices.Contains(strings.Fields(c.attrs["class"]), class) })
}

func (n *node) first(name string) *node {
	if all := n.named(name); len(all) > 0 {
		return all[0]
	}
	return &node{attrs: map[string]string{}}
}

func texts(ns []*node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.text.String()
	}
	return out
}

// times is n instants step apart from start.
func times(start time.Time, step time.Duration, n int) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = start.Add(time.Duration(i) * step)
	}
	return ts
}

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

var nan = math.NaN()
