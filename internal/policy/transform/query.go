package transform

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/template"
)

// qvalue is one parameter to write: its decoded name (to match), its escaped key (to
// write) and its value, static (escaped) or a template.
type qvalue struct {
	name   string
	key    string
	static string
	tpl    *template.Template
}

type qrename struct {
	from string // decoded
	to   string // escaped
	name string // to, decoded
}

// queryOps edits a raw query in one pass, keeping the order of the parameters it does not
// touch, and re-encoding only what it writes.
type queryOps struct {
	remove []string // decoded names
	rename []qrename
	set    []qvalue
	add    []qvalue
}

// maxRenames keeps the set of renamed parameters present in a query in one word.
const maxRenames = 64

func (o *queryOps) empty() bool {
	return len(o.remove) == 0 && len(o.rename) == 0 && len(o.set) == 0 && len(o.add) == 0
}

func compileQuery(q *Query) (queryOps, []error) {
	var out queryOps
	var errs []error
	for i, n := range q.Remove {
		if n == "" {
			errs = append(errs, fmt.Errorf("query.remove[%d]: empty name", i))
			continue
		}
		out.remove = append(out.remove, n)
	}
	if len(q.Rename) > maxRenames {
		errs = append(errs, fmt.Errorf("query.rename: at most %d renames", maxRenames))
	}
	for _, from := range slices.Sorted(maps.Keys(q.Rename)) {
		to := q.Rename[from]
		switch {
		case from == "" || to == "":
			errs = append(errs, fmt.Errorf("query.rename: empty name in %q: %q", from, to))
		case q.Rename[to] != "":
			errs = append(errs, fmt.Errorf("query.rename: %q is renamed and is the new name of %q; renames do not chain", to, from))
		default:
			out.rename = append(out.rename, qrename{from: from, to: url.QueryEscape(to), name: to})
		}
	}
	values := func(field string, m map[string]string) []qvalue {
		var list []qvalue
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if name == "" {
				errs = append(errs, fmt.Errorf("query.%s: empty name", field))
				continue
			}
			t, err := template.Parse(m[name])
			if err != nil {
				errs = append(errs, fmt.Errorf("query.%s[%s]: %w", field, name, err))
				continue
			}
			v := qvalue{name: name, key: url.QueryEscape(name)}
			if t.IsStatic() {
				v.static = url.QueryEscape(t.Static())
			} else {
				v.tpl = t
			}
			list = append(list, v)
		}
		return list
	}
	out.set = values("set", q.Set)
	out.add = values("add", q.Add)
	return out, errs
}

// apply edits u.RawQuery. It allocates only the new query string, and nothing when no
// edit applies.
func (o *queryOps) apply(c *policy.Context, u *url.URL) {
	raw := u.RawQuery
	var present uint64 // renames whose old name occurs
	if len(o.rename) > 0 {
		for q := raw; q != ""; {
			var pair string
			pair, q, _ = strings.Cut(q, "&")
			k, _, _ := strings.Cut(pair, "=")
			for i := range o.rename {
				if template.QueryKeyIs(k, o.rename[i].from) {
					present |= 1 << i
				}
			}
		}
	}
	var arr [1024]byte
	buf := arr[:0]
	changed := false
	for q := raw; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, hasValue := strings.Cut(pair, "=")
		if o.drops(k, present) {
			changed = true
			continue
		}
		if len(buf) > 0 {
			buf = append(buf, '&')
		}
		if r := o.renamed(k); r != nil {
			changed = true
			buf = append(buf, r.to...)
			if hasValue {
				buf = append(append(buf, '='), v...)
			}
			continue
		}
		buf = append(buf, pair...)
	}
	for i := range o.set {
		buf, changed = o.set[i].write(c, buf, changed)
	}
	for i := range o.add {
		buf, changed = o.add[i].write(c, buf, changed)
	}
	if changed {
		u.RawQuery = string(buf)
	}
}

// drops reports whether the pair with raw key k goes: removed, replaced by set, or
// replaced by a rename onto it.
func (o *queryOps) drops(k string, present uint64) bool {
	for _, n := range o.remove {
		if template.QueryKeyIs(k, n) {
			return true
		}
	}
	for i := range o.set {
		if template.QueryKeyIs(k, o.set[i].name) {
			return true
		}
	}
	for i := range o.rename {
		if present&(1<<i) != 0 && template.QueryKeyIs(k, o.rename[i].name) {
			return true
		}
	}
	return false
}

func (o *queryOps) renamed(k string) *qrename {
	for i := range o.rename {
		if template.QueryKeyIs(k, o.rename[i].from) {
			return &o.rename[i]
		}
	}
	return nil
}

// write appends key=value unless the value is empty.
func (v *qvalue) write(c *policy.Context, buf []byte, changed bool) ([]byte, bool) {
	if v.tpl == nil {
		if v.static == "" {
			return buf, changed
		}
		if len(buf) > 0 {
			buf = append(buf, '&')
		}
		return append(append(append(buf, v.key...), '='), v.static...), true
	}
	var arr [256]byte
	val := v.tpl.Render(c, arr[:0])
	if len(val) == 0 {
		return buf, changed
	}
	if len(buf) > 0 {
		buf = append(buf, '&')
	}
	buf = append(append(buf, v.key...), '=')
	return appendQueryEscape(buf, val), true
}

// appendQueryEscape appends src as url.QueryEscape would write it.
func appendQueryEscape(dst, src []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range src {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}
