package grip

import (
	"errors"
	"slices"
	"strings"
)

// Filters a subscription may list (grip.md §3.3): Grip-Channel filter=, instruct
// "filters", and a WebSocket subscribe control message. The realtime proxy applies them
// the same way whatever carried the subscription.
const (
	FilterSkipSelf   = "skip-self"
	FilterSkipUsers  = "skip-users"
	FilterRequireSub = "require-sub"
	FilterBuildID    = "build-id"
	FilterVarSubst   = "var-subst"
)

// ContentFilters is the content-rewriting part of filters, in order: what a publish's
// content-filters must equal for the item to reach the subscription.
func ContentFilters(filters []string) []string {
	var out []string
	for _, f := range filters {
		if f == FilterBuildID || f == FilterVarSubst {
			out = append(out, f)
		}
	}
	return out
}

// ContentFiltersMatch reports whether a published format's content-filters (nil: the
// publisher named none) suit a subscription with filters.
func ContentFiltersMatch(published, filters []string) bool {
	return published == nil || slices.Equal(published, ContentFilters(filters))
}

// FiltersPass applies the message filters of a subscription (with subscription meta
// subMeta) to a publish's meta. subscribed reports whether the connection is subscribed
// to a channel, for require-sub.
func FiltersPass(filters []string, subMeta, pubMeta map[string]string, subscribed func(channel string) bool) bool {
	user := subMeta["user"]
	for _, f := range filters {
		switch f {
		case FilterSkipSelf:
			if user != "" && pubMeta["sender"] == user {
				return false
			}
		case FilterSkipUsers:
			if user == "" {
				continue
			}
			for part := range strings.SplitSeq(pubMeta["skip_users"], ",") {
				if strings.TrimSpace(part) == user {
					return false
				}
			}
		case FilterRequireSub:
			if req := pubMeta["require_sub"]; req != "" && !subscribed(req) {
				return false
			}
		}
	}
	return true
}

// ApplyContentFilters runs the subscription's content filters over published content.
// build-id (Pushpin's id templating from prev-ids) is not implemented: content passes
// unchanged. An error means Pushpin would drop the item for this subscription.
func ApplyContentFilters(filters []string, subMeta map[string]string, content []byte) ([]byte, error) {
	for _, f := range filters {
		if f == FilterVarSubst {
			var err error
			if content, err = VarSubst(content, subMeta); err != nil {
				return nil, err
			}
		}
	}
	return content, nil
}

// ErrVarSubst is VarSubst's error.
var ErrVarSubst = errors.New("grip: var-subst: invalid directive or unknown variable")

// VarSubst replaces %(name)s with the subscription meta value name and %% with %, the
// Python-style directives Pushpin's var-subst filter understands. Any other directive,
// or an unknown variable, is an error (Pushpin drops the message).
func VarSubst(in []byte, vars map[string]string) ([]byte, error) {
	if !slices.Contains(in, '%') {
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
			return nil, ErrVarSubst
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
						return nil, ErrVarSubst
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
				return nil, ErrVarSubst
			}
			i++
			v, ok := vars[string(name)]
			if !ok {
				return nil, ErrVarSubst
			}
			out = append(out, v...)
		default:
			return nil, ErrVarSubst
		}
	}
	return out, nil
}
