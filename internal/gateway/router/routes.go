package router

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// leafRoute pairs a route with the leaf its template ends at.
type leafRoute struct {
	leaf, route int32
}

// routes compiles an entry's routes into its route trie and leaves.
func (b *builder) routes(en *entry, routes []Route) {
	firstNode, firstLeaf := int32(len(b.c.rnodes)), int32(len(b.c.leaves))
	en.root = b.newRNode()
	ps := len(b.c.params)
	b.c.params = append(b.c.params, make([][]string, len(routes))...)
	en.params = b.c.params[ps:len(b.c.params):len(b.c.params)]
	b.byLeaf = b.byLeaf[:0]
	for ri := range routes {
		segs, err := parseTemplate(b.segs[:0], routes[ri].Path)
		b.segs = segs
		if err != nil {
			b.errorf("entry %q: %s: %v", en.name, routeLabel(ri, routes[ri]), err)
			continue
		}
		ns := len(b.c.names)
		n, l := en.root, int32(-1)
		for _, s := range segs {
			switch s.kind {
			case segStatic:
				next, ok := b.rt.child(n, s.text)
				if !ok {
					next = b.newRNode()
					b.rt.add(b, n, s.text, next)
				}
				n = next
			case segParam:
				b.c.names = append(b.c.names, s.text)
				if b.c.rnodes[n].param < 0 {
					next := b.newRNode() // before indexing: it may move the nodes
					b.c.rnodes[n].param = next
				}
				n = b.c.rnodes[n].param
			case segCatchAll:
				b.c.names = append(b.c.names, s.text)
				if b.c.rnodes[n].catchAll < 0 {
					next := b.newLeaf()
					b.c.rnodes[n].catchAll = next
				}
				l = b.c.rnodes[n].catchAll
			}
		}
		if end := len(b.c.names); end > ns {
			en.params[ri] = b.c.names[ns:end:end]
		}
		if l < 0 {
			if b.c.rnodes[n].leaf < 0 {
				next := b.newLeaf()
				b.c.rnodes[n].leaf = next
			}
			l = b.c.rnodes[n].leaf
		}
		b.byLeaf = append(b.byLeaf, leafRoute{l, int32(ri)})
	}
	b.rt.freeze(b, func(n int32) *children { return &b.c.rnodes[n].kids })
	// Lay each leaf's methods out side by side, routes in their order within a leaf.
	slices.SortStableFunc(b.byLeaf, func(x, y leafRoute) int { return cmp.Compare(x.leaf, y.leaf) })
	for i := 0; i < len(b.byLeaf); {
		j := i
		for j < len(b.byLeaf) && b.byLeaf[j].leaf == b.byLeaf[i].leaf {
			j++
		}
		b.fillLeaf(en, b.byLeaf[i].leaf, b.byLeaf[i:j], routes)
		i = j
	}
	if !b.finishLeaves(en, firstLeaf) {
		return
	}
	// A path can match more than one template only below a node with more than one kind
	// of child; only then can an Allow list be a union of leaves.
	b.forks = b.forks[:0]
	for n := firstNode; n < int32(len(b.c.rnodes)); n++ {
		nd := &b.c.rnodes[n]
		kids, param, catchAll := nd.kids.n > 0, nd.param >= 0, nd.catchAll >= 0
		if kids && param || catchAll && (kids || param) {
			b.forks = append(b.forks, n)
		}
	}
	if len(b.forks) > 0 {
		b.unions(en, firstNode, b.forks)
	}
}

func routeLabel(i int, r Route) string {
	if r.Name != "" {
		return fmt.Sprintf("route %q", r.Name)
	}
	return fmt.Sprintf("routes[%d] (%s)", i, r.Path)
}

func (b *builder) newRNode() int32 {
	b.c.rnodes = append(b.c.rnodes, rnode{kids: children{index: -1}, param: -1, catchAll: -1, leaf: -1})
	return int32(len(b.c.rnodes) - 1)
}

func (b *builder) newLeaf() int32 {
	b.c.leaves = append(b.c.leaves, leaf{any: -1})
	return int32(len(b.c.leaves) - 1)
}

// fillLeaf gives leaf l the methods of its routes, reporting a method two routes claim. A
// GET route also answers HEAD, unless a route claims HEAD itself.
func (b *builder) fillLeaf(en *entry, l int32, group []leafRoute, routes []Route) {
	lf := &b.c.leaves[l]
	start := len(b.c.methods)
	conflict := func(other, ri int32, what string) {
		b.errorf("entry %q: %s and %s both serve %s %s", en.name, routeLabel(int(other), routes[other]),
			routeLabel(int(ri), routes[ri]), what, routes[ri].Path)
	}
	for _, lr := range group {
		r := &routes[lr.route]
		if len(r.Methods) == 0 {
			if lf.any >= 0 {
				conflict(lf.any, lr.route, "any method on")
				continue
			}
			lf.any = lr.route
			continue
		}
		for _, m := range r.Methods {
			if !isToken(m) {
				b.errorf("entry %q: %s: %q is not an HTTP method", en.name, routeLabel(int(lr.route), *r), m)
				continue
			}
			m = strings.ToUpper(m)
			ref := b.intern(m)
			if i := b.methodAt(start, ref); i >= 0 {
				if other := b.c.methods[i].route; other != lr.route { // twice in one route is harmless
					conflict(other, lr.route, m)
				}
				continue
			}
			b.c.methods = append(b.c.methods, methodRoute{ref, lr.route})
		}
	}
	if g := b.methodAt(start, b.get); g >= 0 && b.methodAt(start, b.head) < 0 {
		b.c.methods = append(b.c.methods, methodRoute{b.head, b.c.methods[g].route})
	}
	lf.first, lf.n = int32(start), int32(len(b.c.methods)-start)
}

// methodAt returns the index of method m among the methods from start on, -1 when absent.
func (b *builder) methodAt(start int, m sref) int {
	for i := start; i < len(b.c.methods); i++ {
		if b.c.methods[i].method == m {
			return i
		}
	}
	return -1
}

// finishLeaves computes each leaf's Allow list, over the entry's sorted method set so that a
// union of leaves is an OR of their masks. It reports false when there are too many methods.
func (b *builder) finishLeaves(en *entry, first int32) bool {
	leaves := b.c.leaves[first:]
	b.univ = b.univ[:0]
	for i := range leaves {
		for _, m := range b.c.methods[leaves[i].first : leaves[i].first+leaves[i].n] {
			if !slices.Contains(b.univ, m.method) {
				b.univ = append(b.univ, m.method)
			}
		}
	}
	if len(b.univ) > 64 {
		b.errorf("entry %q: routes use %d methods; at most 64 are supported", en.name, len(b.univ))
		return false
	}
	// Allow lists are alphabetical, as net/http's ServeMux writes them.
	slices.SortFunc(b.univ, func(x, y sref) int { return bytes.Compare(b.bytes(x), b.bytes(y)) })
	// Most entries use the same few methods: they share one slice.
	b.buf = b.buf[:0]
	for _, m := range b.univ {
		b.buf = append(append(b.buf, b.bytes(m)...), ',')
	}
	if u, ok := b.universes[string(b.buf)]; ok {
		en.methods = u
	} else {
		en.methods = slices.Clone(b.univ)
		b.universes[string(b.buf)] = en.methods
	}
	for i := range leaves {
		lf := &leaves[i]
		for _, m := range b.c.methods[lf.first : lf.first+lf.n] {
			lf.mask |= 1 << slices.Index(en.methods, m.method)
		}
		lf.allow = b.allowList(en.methods, lf.mask)
	}
	return true
}

// allowList returns the index in core.allows of the Allow list of mask, adding it the first
// time: most leaves share a handful of lists.
func (b *builder) allowList(methods []sref, mask uint64) int32 {
	b.buf = b.buf[:0]
	for i, m := range methods {
		if mask&(1<<i) != 0 {
			if len(b.buf) > 0 {
				b.buf = append(b.buf, ", "...)
			}
			b.buf = append(b.buf, b.bytes(m)...)
		}
	}
	if i, ok := b.allows[string(b.buf)]; ok {
		return i
	}
	i := int32(len(b.c.allows))
	b.c.allows = append(b.c.allows, string(b.buf))
	b.allows[string(b.buf)] = i
	return i
}
