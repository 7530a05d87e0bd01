package router

import (
	"fmt"
	"strings"
)

// MaxParams is the most parameters one route template may hold. Match carries their values
// in a fixed array so that a lookup never allocates; real APIs stay far below it.
const MaxParams = 8

type segKind uint8

const (
	segStatic   segKind = iota
	segParam            // {name}: one non-empty segment
	segCatchAll         // {name...}: the rest of the path
)

// segment is one part of a parsed template: static text, or a parameter's name.
type segment struct {
	kind segKind
	text string
}

// parseTemplate appends the segments of a route template to dst. "/" is one empty static
// segment, and so is the end of "/orders/": an empty segment is how a trailing slash stays
// significant.
func parseTemplate(dst []segment, path string) ([]segment, error) {
	if !strings.HasPrefix(path, "/") {
		return dst, fmt.Errorf("template %q must start with /", path)
	}
	first, params := len(dst), 0
	for rest := path[1:]; ; {
		s, after, more := strings.Cut(rest, "/")
		seg, err := parseSegment(path, s, !more)
		if err != nil {
			return dst, err
		}
		if seg.kind != segStatic {
			for _, prev := range dst[first:] {
				if prev.kind != segStatic && prev.text == seg.text {
					return dst, fmt.Errorf("template %q: parameter %q appears twice", path, seg.text)
				}
			}
			if params++; params > MaxParams {
				return dst, fmt.Errorf("template %q has more than %d parameters", path, MaxParams)
			}
		}
		dst = append(dst, seg)
		if !more {
			return dst, nil
		}
		rest = after
	}
}

func parseSegment(path, s string, last bool) (segment, error) {
	if !strings.ContainsAny(s, "{}") {
		switch {
		case s == "" && !last:
			return segment{}, fmt.Errorf("template %q has an empty segment (//)", path)
		case s == "." || s == "..":
			return segment{}, fmt.Errorf("template %q has a %q segment, which no cleaned path holds", path, s)
		}
		return segment{segStatic, s}, nil
	}
	inner, ok := strings.CutPrefix(s, "{")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok || strings.ContainsAny(inner, "{}") {
		return segment{}, fmt.Errorf("template %q: segment %q: a parameter fills a whole segment, like {id}", path, s)
	}
	kind := segParam
	if name, ok := strings.CutSuffix(inner, "..."); ok {
		if !last {
			return segment{}, fmt.Errorf("template %q: %q must be the last segment", path, s)
		}
		kind, inner = segCatchAll, name
	}
	if inner == "" {
		return segment{}, fmt.Errorf("template %q: segment %q: a parameter needs a name", path, s)
	}
	return segment{kind, inner}, nil
}

// tchars are the characters of an HTTP token (RFC 9110 §5.6.2), which every method is.
const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isToken(s string) bool { return s != "" && strings.Trim(s, tchars) == "" }
