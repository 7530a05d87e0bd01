package declarative

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
)

// CheckRefs reports references in d that resolve neither to a resource in d nor to one in
// existing (what the server has; nil for none): a plan's APIs, an app's developer, a
// subscription's app and plan. With --prune, pass nil: everything the document does not
// name is about to be deleted, so it cannot be referred to.
//
// The problems carry field paths (plans[0].apis[1]) but no positions: d may not come from
// a file. It returns nil or an *Error.
func (d *Document) CheckRefs(existing *Document) error {
	where := "in the document"
	if existing != nil {
		where = "in the document or on the server"
	}
	names := func(kind string) map[string]bool {
		s := sectionOf(kind)
		m := map[string]bool{}
		for _, doc := range []*Document{d, existing} {
			if doc == nil {
				continue
			}
			for _, r := range s.get(doc) {
				m[keyOf(r)] = true
			}
		}
		return m
	}
	apis, plans := names(gatehouse.KindAPI), names(gatehouse.KindPlan)
	devs, apps := names(gatehouse.KindDeveloper), names(gatehouse.KindApp)
	var problems []Problem
	missing := func(field, kind, key string) {
		problems = append(problems, Problem{Field: field, Message: fmt.Sprintf("no %s %q %s", kind, key, where)})
	}
	for i, p := range d.Plans {
		if p == nil {
			continue
		}
		for j, a := range p.APIs {
			if !apis[a] {
				missing(fmt.Sprintf("plans[%d].apis[%d]", i, j), gatehouse.KindAPI, a)
			}
		}
	}
	for i, a := range d.Apps {
		if a != nil && !devs[gatehouse.NormalizeEmail(a.Developer)] {
			missing(fmt.Sprintf("apps[%d].developer", i), gatehouse.KindDeveloper, a.Developer)
		}
	}
	for i, s := range d.Subscriptions {
		if s == nil {
			continue
		}
		if !apps[s.App] {
			missing(fmt.Sprintf("subscriptions[%d].app", i), gatehouse.KindApp, s.App)
		}
		if !plans[s.Plan] {
			missing(fmt.Sprintf("subscriptions[%d].plan", i), gatehouse.KindPlan, s.Plan)
		}
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}
