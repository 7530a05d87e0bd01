package declarative

import (
	"bytes"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// Change operations.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Change is one step from the current state towards the desired one.
type Change struct {
	Op   string // OpCreate, OpUpdate or OpDelete
	Kind string // gatehouse.KindAPI, KindPlan, KindDeveloper, KindApp or KindSubscription
	Key  string // name, email, or "app/plan" for subscriptions
	// Desired is the resource to create or update to (a *gatehouse.API, ...), normalized
	// and without server-managed fields; nil for deletes. A subscription's empty status
	// means "as the plan's approval decides" on create.
	Desired any
	// Current is the resource as given in current, with its server-managed fields (the
	// revision for If-Match, a subscription's id); nil for creates.
	Current any
	// Fields lists the top-level fields an update changes, in struct order.
	Fields []string
}

// dependencyOrder lists kinds so that each refers only to kinds before it: plans list
// APIs, apps belong to developers, subscriptions join apps and plans.
func dependencyOrder() []string {
	return []string{gatehouse.KindDeveloper, gatehouse.KindAPI, gatehouse.KindPlan, gatehouse.KindApp, gatehouse.KindSubscription}
}

// Diff returns the changes that turn current into desired, ordered so that running them
// top to bottom never breaks a reference: creates and updates in dependency order
// (developers, APIs, plans, apps, subscriptions), then, only when prune is set, deletes
// of what desired does not name, in reverse dependency order. Within a kind, changes are
// sorted by key.
//
// Resources are compared after Normalize, ignoring server-managed fields; equal
// resources give no change. A desired subscription with an empty status leaves the
// current status as it is. Nil documents count as empty. When a document names a key
// twice, the first one counts (Parse refuses such documents).
func Diff(desired, current *Document, prune bool) []Change {
	var applies, deletes []Change
	for _, kind := range dependencyOrder() {
		s := sectionOf(kind)
		want, wantKeys := index(s, desired)
		have, haveKeys := index(s, current)
		for _, w := range want {
			c, ok := haveKeys[w.key]
			if !ok {
				applies = append(applies, Change{Op: OpCreate, Kind: kind, Key: w.key, Desired: w.norm})
				continue
			}
			if fields := changedFields(w.norm, c.norm); len(fields) > 0 {
				applies = append(applies, Change{Op: OpUpdate, Kind: kind, Key: w.key, Desired: w.norm, Current: c.orig, Fields: fields})
			}
		}
		if !prune {
			continue
		}
		var gone []Change
		for _, c := range have {
			if _, ok := wantKeys[c.key]; !ok {
				gone = append(gone, Change{Op: OpDelete, Kind: kind, Key: c.key, Current: c.orig})
			}
		}
		deletes = append(gone, deletes...) // later kinds are deleted first
	}
	return append(applies, deletes...)
}

func sectionOf(kind string) section {
	for _, s := range sections() {
		if s.kind == kind {
			return s
		}
	}
	return section{}
}

type entry struct {
	key, sortKey string
	orig, norm   any
}

// index returns the resources of section s in doc, normalized, first of each key only,
// sorted by key, and the same by key.
func index(s section, doc *Document) ([]entry, map[string]entry) {
	byKey := map[string]entry{}
	if doc == nil {
		return nil, byKey
	}
	var out []entry
	for _, r := range s.get(doc) {
		n := normalized(r)
		k := keyOf(n)
		if _, dup := byKey[k]; dup {
			continue
		}
		e := entry{key: k, sortKey: sortKey(n), orig: r, norm: n}
		byKey[k] = e
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	return out, byKey
}

// changedFields lists the top-level fields whose canonical JSON differs between desired
// and current (both normalized), in struct order.
func changedFields(desired, current any) []string {
	if d, ok := desired.(*gatehouse.Subscription); ok && d.Status == "" {
		// An empty desired status leaves the current one alone.
		c := *d
		c.Status = current.(*gatehouse.Subscription).Status
		desired = &c
	}
	dv, err1 := canonical(desired)
	cv, err2 := canonical(current)
	if err1 != nil || err2 != nil {
		return []string{"(unencodable)"} // cannot happen for the domain types
	}
	var out []string
	for _, f := range jsonFields(reflect.TypeOf(desired).Elem()) {
		if f.server {
			continue
		}
		var a, b []byte
		if m := dv.get(f.name); m != nil {
			a = m.val.appendJSON(nil)
		}
		if m := cv.get(f.name); m != nil {
			b = m.val.appendJSON(nil)
		}
		if !bytes.Equal(a, b) {
			out = append(out, f.name)
		}
	}
	return out
}
