package router

import (
	"cmp"
	"slices"
)

// unions precomputes the Allow list of every set of leaves that one path matches together,
// so that MethodNotAllowed does not build one per request ("GET /users/me" and
// "DELETE /users/{id}" make "/users/me" answer "DELETE, GET, HEAD").
//
// It runs the subset construction of the route trie read as an automaton over segments: a
// state is the set of nodes that a path's first segments can have reached, plus the masks of
// the {name...} leaves passed on the way (each matches any continuation). From a state, the
// next segment is one of the static keys of its nodes, or another non-empty segment (only
// {name} children follow), or an empty one (nothing follows). The leaves a path matches are
// those of the state it ends in.
//
// The construction starts at the forks, the nodes with more than one kind of child, rather
// than at the root: until a path reaches a fork, its state is a single node with nothing
// pending, which ends in one leaf at most. A bound on the states keeps pathological overlaps
// from slowing Build down; past it the rare missing list is built at lookup time.
func (b *builder) unions(en *entry, firstNode int32, forks []int32) {
	limit := b.maxStates
	if limit == 0 {
		limit = 16*(len(b.c.rnodes)-int(firstNode)) + 256
	}
	d := &b.dfa
	d.reset(len(b.c.rnodes) - int(firstNode))
	for _, n := range forks {
		d.next = append(d.next[:0], n)
		d.push(firstNode, 0)
	}
	for q := 0; q < len(d.queue); q++ {
		if len(d.queue) > limit {
			en.partial = true
			break
		}
		s := d.queue[q]
		nodes := d.arena[s.off : s.off+s.n : s.off+s.n] // appends to the arena leave it intact
		end, pend, leaves := s.pend, s.pend, 0
		if s.pend != 0 {
			leaves = 2 // one {name...} leaf or more, and the path may match others: a union
		}
		d.params, d.syms = d.params[:0], d.syms[:0]
		for _, n := range nodes {
			nd := &b.c.rnodes[n]
			if nd.leaf >= 0 {
				end |= b.c.leaves[nd.leaf].mask
				leaves++
			}
			if nd.catchAll >= 0 {
				pend |= b.c.leaves[nd.catchAll].mask
			}
			if nd.param >= 0 {
				d.params = append(d.params, nd.param)
			}
		}
		// With one leaf, Lookup finds the list on the leaf itself.
		if leaves > 1 && !slices.Contains(d.found, end) {
			d.found = append(d.found, end)
		}
		// Keys are interned, so equal keys are equal windows; an empty key has n == 0.
		if len(nodes) == 1 {
			// One node's keys are distinct, and each names one child: no search.
			for _, e := range b.edgesOf(b.c.rnodes[nodes[0]].kids) {
				d.next = append(d.next[:0], e.node)
				if e.key.n > 0 {
					d.next = append(d.next, d.params...)
				}
				d.push(firstNode, pend)
			}
		} else {
			for _, n := range nodes {
				for _, e := range b.edgesOf(b.c.rnodes[n].kids) {
					d.syms = append(d.syms, e.key)
				}
			}
			slices.SortFunc(d.syms, func(x, y sref) int { return cmp.Or(cmp.Compare(x.off, y.off), cmp.Compare(x.n, y.n)) })
			for _, sym := range slices.Compact(d.syms) {
				d.next = d.next[:0]
				for _, n := range nodes {
					for _, e := range b.edgesOf(b.c.rnodes[n].kids) {
						if e.key == sym {
							d.next = append(d.next, e.node)
						}
					}
				}
				if sym.n > 0 {
					d.next = append(d.next, d.params...)
				}
				d.push(firstNode, pend)
			}
		}
		d.next = append(d.next[:0], d.params...)
		d.push(firstNode, pend) // a segment that no static child names
		d.next = d.next[:0]
		d.push(firstNode, pend) // an empty segment, which no {name} matches
	}
	slices.Sort(d.found) // deterministic tables
	for _, m := range d.found {
		en.unions = append(en.unions, union{m, b.c.allows[b.allowList(en.methods, m)]})
	}
}

// dfaScratch is the reusable memory of unions, which Build runs for thousands of entries.
type dfaScratch struct {
	seen   map[uint64]int32 // hash of a state → its index in queue
	single []bool           // whether the state of one node and nothing pending was seen
	queue  []dfaState
	arena  []int32 // the nodes of the queued states
	found  []uint64
	next   []int32
	params []int32
	syms   []sref
}

type dfaState struct {
	off, n int32 // nodes are arena[off : off+n], sorted
	pend   uint64
}

func (d *dfaScratch) reset(nodes int) {
	if len(d.seen) > 1024 {
		d.seen = map[uint64]int32{} // clearing a large map costs its size, for every entry after it
	} else {
		clear(d.seen)
	}
	d.single = slices.Grow(d.single[:0], nodes)[:nodes]
	clear(d.single)
	d.queue, d.arena, d.found = d.queue[:0], d.arena[:0], d.found[:0]
}

// push queues the state of the nodes in d.next and pend, unless it was queued before. The
// state of one node with nothing pending, by far the most common, is remembered in a slice;
// the others by a hash, checked against the state it names.
func (d *dfaScratch) push(firstNode int32, pend uint64) {
	slices.Sort(d.next)
	nodes := slices.Compact(d.next)
	if len(nodes) == 1 && pend == 0 {
		if d.single[nodes[0]-firstNode] {
			return
		}
		d.single[nodes[0]-firstNode] = true
	} else {
		h := uint64(14695981039346656037) // FNV-1a
		for _, n := range nodes {
			h = (h ^ uint64(n)) * 1099511628211
		}
		h = (h ^ pend) * 1099511628211
		if q, ok := d.seen[h]; ok {
			if d.same(d.queue[q], nodes, pend) {
				return
			}
			for _, s := range d.queue { // a hash collision: look at every state
				if d.same(s, nodes, pend) {
					return
				}
			}
		} else {
			d.seen[h] = int32(len(d.queue))
		}
	}
	d.queue = append(d.queue, dfaState{int32(len(d.arena)), int32(len(nodes)), pend})
	d.arena = append(d.arena, nodes...)
}

func (d *dfaScratch) same(s dfaState, nodes []int32, pend uint64) bool {
	return s.pend == pend && slices.Equal(d.arena[s.off:s.off+s.n], nodes)
}
