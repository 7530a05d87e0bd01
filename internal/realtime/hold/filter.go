package hold

import (
	"errors"
	"strings"
)

// Filter names a channel subscription may list (grip.md §3.3).
const (
	filterSkipSelf   = "skip-self"
	filterSkipUsers  = "skip-users"
	filterRequireSub = "require-sub"
	filterBuildID    = "build-id"
	filterVarSubst   = "var-subst"
)

// isContentFilter reports whether a filter rewrites content (rather than deciding
// whether to send): those are what a publish's content-filters list must equal.
func isContentFilter(f string) bool { return f == filterBuildID || f == filterVarSubst }

// contentFilters is the subscription's content filters, in order.
func contentFilters(filters []string) []string {
	var out []string
	for _, f := range filters {
		if isContentFilter(f) {
			out = append(out, f)
		}
	}
	return out
}

// passes applies the message filters a subscription lists to a publish's meta. subs
// are the session's channels, for require-sub.
func passes(filters []string, subMeta, pubMeta map[string]string, subs []sub) bool {
	for _, f := range filters {
		switch f {
		case filterSkipSelf:
			user, sender := subMeta["user"], pubMeta["sender"]
			if user != "" && sender == user {
				return false
			}
		case filterSkipUsers:
			user := subMeta["user"]
			if user == "" {
				continue
			}
			for part := range strings.SplitSeq(pubMeta["skip_users"], ",") {
				if strings.TrimSpace(part) == user {
					return false
				}
			}
		case filterRequireSub:
			req := pubMeta["require_sub"]
			if req == "" {
				continue
			}
			found := false
			for _, s := range subs {
				if s.name == req || s.full == req {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// applyContent runs the subscription's content filters over published content.
// build-id (Pushpin's id templating from prev-ids) is not implemented: content passes
// unchanged.
func applyContent(filters []string, subMeta map[string]string, content []byte) ([]byte, error) {
	for _, f := range filters {
		if f == filterVarSubst {
			var err error
			if content, err = varSubst(content, subMeta); err != nil {
				return nil, err
			}
		}
	}
	return content, nil
}

var errVarSubst = errors.New("var-subst: invalid directive")

// varSubst replaces %(name)s with the subscription meta value name and %% with %, the
// Python-style directives Pushpin's var-subst filter understands. Any other directive,
// or an unknown variable, is an error (Pushpin drops the message).
func varSubst(in []byte, vars map[string]string) ([]byte, error) {
	if indexByte(in, '%') < 0 {
		return in, nil
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(in) {
			return nil, errVarSubst
		}
		switch in[i] {
		case '%':
			out = append(out, '%')
		case '(':
			var name []byte
			closed := false
			for i++; i < len(in); i++ {
				if in[i] == '\\' {
					if i+1 >= len(in) {
						return nil, errVarSubst
					}
					i++
					name = append(name, in[i])
					continue
				}
				if in[i] == ')' {
					closed = true
					break
				}
				name = append(name, in[i])
			}
			if !closed || i+1 >= len(in) || in[i+1] != 's' {
				return nil, errVarSubst
			}
			i++
			v, ok := vars[string(name)]
			if !ok {
				return nil, errVarSubst
			}
			out = append(out, v...)
		default:
			return nil, errVarSubst
		}
	}
	return out, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
