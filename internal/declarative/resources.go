package declarative

import (
	"reflect"

	"github.com/gatehouse-dev/gatehouse"
)

// section is one list of a Document. The functions below are the only places that switch
// on resource types; everything else goes through them.
type section struct {
	name string       // the document key, as in Document's json tags
	kind string       // gatehouse.KindAPI, ...
	typ  reflect.Type // the resource struct
	// keyField is the field holding the key, for the position of a duplicate; "" points
	// at the whole resource.
	keyField string
	get      func(d *Document) []any
	add      func(d *Document, r any)
}

// sections lists the sections in document order.
func sections() []section {
	return []section{
		{name: "apis", kind: gatehouse.KindAPI, typ: reflect.TypeFor[gatehouse.API](), keyField: "name",
			get: func(d *Document) []any { return anys(d.APIs) },
			add: func(d *Document, r any) { d.APIs = append(d.APIs, r.(*gatehouse.API)) }},
		{name: "plans", kind: gatehouse.KindPlan, typ: reflect.TypeFor[gatehouse.Plan](), keyField: "name",
			get: func(d *Document) []any { return anys(d.Plans) },
			add: func(d *Document, r any) { d.Plans = append(d.Plans, r.(*gatehouse.Plan)) }},
		{name: "developers", kind: gatehouse.KindDeveloper, typ: reflect.TypeFor[gatehouse.Developer](), keyField: "email",
			get: func(d *Document) []any { return anys(d.Developers) },
			add: func(d *Document, r any) { d.Developers = append(d.Developers, r.(*gatehouse.Developer)) }},
		{name: "apps", kind: gatehouse.KindApp, typ: reflect.TypeFor[gatehouse.App](), keyField: "name",
			get: func(d *Document) []any { return anys(d.Apps) },
			add: func(d *Document, r any) { d.Apps = append(d.Apps, r.(*gatehouse.App)) }},
		{name: "subscriptions", kind: gatehouse.KindSubscription, typ: reflect.TypeFor[gatehouse.Subscription](), keyField: "",
			get: func(d *Document) []any { return anys(d.Subscriptions) },
			add: func(d *Document, r any) { d.Subscriptions = append(d.Subscriptions, r.(*gatehouse.Subscription)) }},
	}
}

// anys returns the non-nil elements of s; a nil resource has nothing to declare.
func anys[T any](s []*T) []any {
	out := make([]any, 0, len(s))
	for _, r := range s {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// keyOf returns r's identity within its kind: name, email, or "app/plan".
func keyOf(r any) string {
	switch r := r.(type) {
	case *gatehouse.API:
		return r.Name
	case *gatehouse.Plan:
		return r.Name
	case *gatehouse.Developer:
		return gatehouse.NormalizeEmail(r.Email)
	case *gatehouse.App:
		return r.Name
	case *gatehouse.Subscription:
		return r.App + "/" + r.Plan
	}
	return ""
}

// sortKey orders resources of one kind: by key, and subscriptions by app, then plan (the
// NUL keeps "a/x" before "a-b/x", which a plain "app/plan" comparison would not).
func sortKey(r any) string {
	if s, ok := r.(*gatehouse.Subscription); ok {
		return s.App + "\x00" + s.Plan
	}
	return keyOf(r)
}

// normalized returns a normalized deep copy of r without the fields the server manages,
// leaving r alone.
func normalized(r any) any {
	switch r := r.(type) {
	case *gatehouse.API:
		c := r.Clone()
		c.Normalize()
		c.Meta = gatehouse.Meta{}
		return c
	case *gatehouse.Plan:
		c := r.Clone()
		c.Normalize()
		c.Meta = gatehouse.Meta{}
		return c
	case *gatehouse.Developer:
		c := *r
		c.Normalize()
		c.Meta = gatehouse.Meta{}
		return &c
	case *gatehouse.App:
		c := *r
		c.Normalize()
		c.Meta = gatehouse.Meta{}
		return &c
	case *gatehouse.Subscription:
		c := *r
		c.ID = ""
		c.Meta = gatehouse.Meta{}
		return &c
	}
	return r
}

// normalize fills r's defaults in place (subscriptions have none).
func normalize(r any) {
	if n, ok := r.(interface{ Normalize() }); ok {
		n.Normalize()
	}
}

func validate(r any) error {
	if v, ok := r.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}
