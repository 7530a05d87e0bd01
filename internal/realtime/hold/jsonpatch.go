package hold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// applyBodyPatch applies a published body-patch (RFC 6902) to the held response's
// original body, as Pushpin's applyBodyPatch: the body must be a JSON object or array,
// the result is compact JSON keeping the original's trailing newline. On any error the
// body is empty, as in Pushpin.
func applyBodyPatch(orig []byte, patch json.RawMessage) ([]byte, error) {
	doc, err := decodeJSON(orig)
	if err != nil {
		return nil, fmt.Errorf("original body is not JSON: %w", err)
	}
	switch doc.(type) {
	case map[string]any, []any:
	default:
		return nil, errors.New("original body is not a JSON object or array")
	}
	if doc, err = jsonPatch(doc, patch); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Qt's compact JSON does not escape <, >, &
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	switch {
	case bytes.HasSuffix(orig, []byte("\r\n")):
		out = append(out, '\r', '\n')
	case bytes.HasSuffix(orig, []byte("\n")):
		out = append(out, '\n')
	}
	return out, nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  *string         `json:"path"`
	From  *string         `json:"from"`
	Value json.RawMessage `json:"value"`
}

// jsonPatch applies RFC 6902 operations to doc (which it may modify) and returns the result.
func jsonPatch(doc any, patch json.RawMessage) (any, error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("patch is not a list of operations: %w", err)
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fmt.Errorf("operation %d has no path", i)
		}
		path, err := parsePointer(*op.Path)
		if err != nil {
			return nil, err
		}
		value := func() (any, error) {
			if op.Value == nil {
				return nil, fmt.Errorf("operation %d has no value", i)
			}
			return decodeJSON(op.Value)
		}
		from := func() ([]string, error) {
			if op.From == nil {
				return nil, fmt.Errorf("operation %d has no from", i)
			}
			return parsePointer(*op.From)
		}
		switch op.Op {
		case "add", "replace", "test":
			v, err := value()
			if err != nil {
				return nil, err
			}
			switch op.Op {
			case "add":
				doc, err = addAt(doc, path, v)
			case "replace":
				doc, err = replaceAt(doc, path, v)
			default:
				var cur any
				if cur, err = getAt(doc, path); err == nil && !jsonEqual(cur, v) {
					err = fmt.Errorf("test failed at %q", *op.Path)
				}
			}
			if err != nil {
				return nil, err
			}
		case "remove":
			if doc, _, err = removeAt(doc, path); err != nil {
				return nil, err
			}
		case "move", "copy":
			fp, err := from()
			if err != nil {
				return nil, err
			}
			var v any
			if op.Op == "move" {
				if isPrefix(fp, path) && len(fp) < len(path) {
					return nil, fmt.Errorf("cannot move %q into itself", *op.From)
				}
				if doc, v, err = removeAt(doc, fp); err != nil {
					return nil, err
				}
			} else {
				if v, err = getAt(doc, fp); err != nil {
					return nil, err
				}
				v = deepCopy(v)
			}
			if doc, err = addAt(doc, path, v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown operation %q", op.Op)
		}
	}
	return doc, nil
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped reference tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("invalid JSON pointer %q", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(t, "~") {
			for j := 0; j < len(t); j++ {
				if t[j] == '~' && (j+1 >= len(t) || t[j+1] != '0' && t[j+1] != '1') {
					return nil, fmt.Errorf("invalid escape in JSON pointer %q", p)
				}
			}
			toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
	}
	return toks, nil
}

func isPrefix(a, b []string) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// arrayIndex parses an array index token: digits, no leading zeros; max is the largest
// index allowed.
func arrayIndex(tok string, max int) (int, error) {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return 0, fmt.Errorf("invalid array index %q", tok)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, fmt.Errorf("invalid array index %q", tok)
		}
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n > max {
		return 0, fmt.Errorf("array index %q out of range", tok)
	}
	return n, nil
}

func getAt(doc any, path []string) (any, error) {
	for _, tok := range path {
		switch c := doc.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			doc = v
		case []any:
			i, err := arrayIndex(tok, len(c)-1)
			if err != nil {
				return nil, err
			}
			doc = c[i]
		default:
			return nil, fmt.Errorf("cannot descend into a scalar at %q", tok)
		}
	}
	return doc, nil
}

// modify walks to the container holding path's last token and lets fn replace that
// container; containers on the way are updated, since slices may be reallocated.
func modify(doc any, path []string, fn func(container any, key string) (any, error)) (any, error) {
	if len(path) == 1 {
		return fn(doc, path[0])
	}
	switch c := doc.(type) {
	case map[string]any:
		child, ok := c[path[0]]
		if !ok {
			return nil, fmt.Errorf("no member %q", path[0])
		}
		nc, err := modify(child, path[1:], fn)
		if err != nil {
			return nil, err
		}
		c[path[0]] = nc
		return c, nil
	case []any:
		i, err := arrayIndex(path[0], len(c)-1)
		if err != nil {
			return nil, err
		}
		nc, err := modify(c[i], path[1:], fn)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	}
	return nil, fmt.Errorf("cannot descend into a scalar at %q", path[0])
}

func addAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return modify(doc, path, func(container any, key string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			c[key] = v
			return c, nil
		case []any:
			if key == "-" {
				return append(c, v), nil
			}
			i, err := arrayIndex(key, len(c))
			if err != nil {
				return nil, err
			}
			return slicesInsert(c, i, v), nil
		}
		return nil, fmt.Errorf("cannot add to a scalar at %q", key)
	})
}

func replaceAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return modify(doc, path, func(container any, key string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			if _, ok := c[key]; !ok {
				return nil, fmt.Errorf("no member %q to replace", key)
			}
			c[key] = v
			return c, nil
		case []any:
			i, err := arrayIndex(key, len(c)-1)
			if err != nil {
				return nil, err
			}
			c[i] = v
			return c, nil
		}
		return nil, fmt.Errorf("cannot replace in a scalar at %q", key)
	})
}

func removeAt(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, errors.New("cannot remove the whole document")
	}
	var removed any
	doc, err := modify(doc, path, func(container any, key string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			v, ok := c[key]
			if !ok {
				return nil, fmt.Errorf("no member %q to remove", key)
			}
			removed = v
			delete(c, key)
			return c, nil
		case []any:
			i, err := arrayIndex(key, len(c)-1)
			if err != nil {
				return nil, err
			}
			removed = c[i]
			return append(c[:i:i], c[i+1:]...), nil
		}
		return nil, fmt.Errorf("cannot remove from a scalar at %q", key)
	})
	return doc, removed, err
}

func slicesInsert(c []any, i int, v any) []any {
	out := make([]any, 0, len(c)+1)
	out = append(out, c[:i]...)
	out = append(out, v)
	return append(out, c[i:]...)
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, x := range c {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, x := range c {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

// jsonEqual compares decoded JSON values; numbers compare by value (1 equals 1.0).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && fx == fy
	}
	return a == b
}
