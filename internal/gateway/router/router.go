package router

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// Route is one operation of an API: the domain type, so that the gateway passes an API's
// routes through without copying them.
type Route = gatehouse.Route

// Entry is one API as the router sees it.
type Entry[T any] struct {
	// Name identifies the entry in Build's errors; "entries[i]" when empty.
	Name string
	// Hosts are exact names ("api.example.com"), IP addresses ("10.0.0.1", "::1") or
	// wildcards ("*.example.com"), without ports; empty means any host.
	Hosts []string
	// Prefix is the API's base path: "/" or "/orders", without a trailing slash or
	// templates; "" means "/".
	Prefix string
	// Routes narrow the entry to these operations; empty means every path under Prefix,
	// whatever the method.
	Routes []Route
	Value  T
}

// Result says how a lookup ended.
type Result uint8

const (
	// NotFound: no entry owns the path, or its owner has routes and none matches the path.
	NotFound Result = iota
	// Found: Match describes the entry and route that serve the request.
	Found
	// MethodNotAllowed: the owner has routes that match the path, but none accepts the
	// method; Match.Allow lists the ones that do.
	MethodNotAllowed
)

func (r Result) String() string {
	switch r {
	case NotFound:
		return "NotFound"
	case Found:
		return "Found"
	case MethodNotAllowed:
		return "MethodNotAllowed"
	}
	return "Result(?)"
}

// Match is what Lookup found. Callers reuse one Match across lookups; every field is set by
// every lookup.
type Match[T any] struct {
	// Value is the owning entry's value; the zero value when no entry owns the path.
	Value T
	// Entry is the owner's index in the entries given to Build, -1 when there is none. It
	// is set on NotFound and MethodNotAllowed too, so the caller can answer as that API.
	Entry int
	// Route is the index of the matched route in the owner's Routes, -1 when the owner has
	// no routes or none matched.
	Route int
	// Params holds the route's parameters; their values are substrings of the path.
	Params Params
	// Allow is the Allow header for MethodNotAllowed ("GET, HEAD"), "" otherwise.
	Allow string
	// Rest is the path after the owner's prefix, "/" when nothing is left; "" when no
	// entry owns the path.
	Rest string
}

// Params are a matched route's parameters, in template order. They live in a fixed array so
// that a lookup allocates nothing.
type Params struct {
	names  []string // the route's names, shared with the table
	values [MaxParams]string
}

// Len returns the number of parameters.
func (p *Params) Len() int { return len(p.names) }

// At returns the i'th parameter, 0 <= i < Len().
func (p *Params) At(i int) (name, value string) { return p.names[i], p.values[i] }

// Get returns the value of the parameter called name.
func (p *Params) Get(name string) (string, bool) {
	for i, n := range p.names {
		if n == name {
			return p.values[i], true
		}
	}
	return "", false
}

// Table is a compiled route table. It is immutable: build a new one for a new configuration.
type Table[T any] struct {
	values []T
	c      core
}

// Lookup finds the entry and route for a request. host is the Host header as received, path
// the decoded path (r.URL.Path), method the request method. It fills m and allocates nothing.
func (t *Table[T]) Lookup(host, path, method string, m *Match[T]) Result {
	var zero T
	if t == nil {
		*m = Match[T]{Value: zero, Entry: -1, Route: -1}
		return NotFound
	}
	res, e, r, allow, rest := t.c.lookup(host, path, method, &m.Params)
	m.Value = zero
	if e >= 0 {
		m.Value = t.values[e]
	}
	m.Entry, m.Route, m.Allow, m.Rest = int(e), int(r), allow, rest
	return res
}

// Len returns the number of entries in the table.
func (t *Table[T]) Len() int { return len(t.values) }

// core is the part of a table that does not depend on T, so that the hot path is compiled
// once rather than once per shape of T.
//
// Nodes, edges and leaves live in flat slices and refer to each other by index, and their
// strings are windows (sref) on one string: they hold no pointers, so the garbage collector
// never traces them however large the table, a lookup touches few cache lines, and Build
// makes a handful of allocations rather than several per route.
type core struct {
	exact   map[string]int32 // lower-case host → prefix trie root
	wild    map[string]int32 // ".example.com" → prefix trie root
	wildMax int              // the longest key of wild
	anyHost int32            // prefix trie root of the entries without hosts; -1 when none
	entries []entry
	pnodes  []pnode
	rnodes  []rnode
	leaves  []leaf
	edges   []edge             // the static children of every node, each node's side by side
	indexes []map[string]int32 // children.index points here
	methods []methodRoute      // leaves' methods, each leaf's side by side
	allows  []string           // Allow lists, each distinct one once
	strs    string             // every string that nodes and leaves compare, each once
	names   []string           // the entries' parameter names; entry.params are windows on it
	params  [][]string
}

// methodRoute is a method a leaf serves, and the route that serves it: side by side, so
// that accepting a method reads one cache line.
type methodRoute struct {
	method sref
	route  int32
}

// sref is a window on core.strs.
type sref struct{ off, n uint32 }

func (c *core) str(r sref) string { return c.strs[r.off : r.off+r.n] }

// pnode is a node of a prefix trie: one per segment of some entry's prefix.
type pnode struct {
	kids  children
	entry int32 // the entry whose prefix ends here, -1 when none
}

// entry is a compiled Entry.
type entry struct {
	name    string
	prefix  string
	plen    int        // bytes of the path the prefix consumes: 0 for "/"
	root    int32      // route trie root; -1 when the entry has no routes
	params  [][]string // parameter names of each route
	methods []sref     // the methods of the routes, sorted: bit i of a mask is methods[i]
	unions  []union    // Allow lists of leaves that match one path together
	partial bool       // unions are incomplete (too many overlaps to precompute)
}

// union is the Allow list of a set of leaves that some path matches together.
type union struct {
	mask  uint64
	allow string
}

// rnode is a node of an entry's route trie: one per distinct template segment.
type rnode struct {
	kids     children
	param    int32 // child for a {name} segment, -1 when none
	catchAll int32 // leaf of a final {name...} segment, -1 when none
	leaf     int32 // leaf of templates that end here, -1 when none
}

// leaf holds the routes that share one template (up to parameter names).
type leaf struct {
	first, n int32  // methods[first:first+n]; a GET also answers HEAD unless a route claims HEAD
	any      int32  // the route with no methods, -1 when none
	allow    int32  // index of the Allow list in allows
	mask     uint64 // the methods, as bits of entry.methods
}

// children are a trie node's static children: edges[first:first+n].
type children struct {
	first, n int32
	index    int32 // index of a map of the keys in indexes, -1 for a linear search
}

type edge struct {
	key  sref
	node int32
}

// linearMax is the most children a node searches one by one; above it a map is faster.
const linearMax = 8

// child returns the child of k named seg, -1 when there is none.
func (c *core) child(k children, seg string) int32 {
	if k.index >= 0 {
		if n, ok := c.indexes[k.index][seg]; ok {
			return n
		}
		return -1
	}
	for _, e := range c.edges[k.first : k.first+k.n] {
		if int(e.key.n) == len(seg) && c.str(e.key) == seg {
			return e.node
		}
	}
	return -1
}

// maxHost bounds the hosts that buckets can match: a little over the longest DNS name (253),
// so that the lower-case copy of a host fits a buffer on the stack.
const maxHost = 255

// lookup is Lookup without the entry's value. It resets p and returns the rest of the match.
func (c *core) lookup(host, path, method string, p *Params) (res Result, e, r int32, allow, rest string) {
	p.names = nil
	if path == "" {
		path = "/" // an absolute-form request URI without a path
	} else if path[0] != '/' {
		return NotFound, -1, -1, "", ""
	}
	if e = c.owner(host, path); e < 0 {
		return NotFound, -1, -1, "", ""
	}
	en := &c.entries[e]
	if rest = path[en.plen:]; rest == "" {
		rest = "/"
	}
	if en.root < 0 {
		return Found, e, -1, "", rest
	}
	w := walker{c: c, method: method, vals: &p.values, last: -1}
	if r = w.walk(en.root, rest[1:], 0); r >= 0 {
		p.names = en.params[r]
		return Found, e, r, "", rest
	}
	if w.last < 0 {
		return NotFound, e, -1, "", rest
	}
	return MethodNotAllowed, e, -1, c.allow(en, &w), rest
}

// owner returns the entry that owns path on host, -1 when none does.
func (c *core) owner(host, path string) int32 {
	if len(c.exact) > 0 || len(c.wild) > 0 {
		if h := hostname(host); len(h) <= maxHost {
			var e int32
			if hasUpper(h) {
				e = c.ownerFolded(h, path)
			} else {
				e = hostOwner(c, h, path)
			}
			if e >= 0 {
				return e
			}
		}
	}
	if c.anyHost >= 0 {
		return c.prefix(c.anyHost, path)
	}
	return -1
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// ownerFolded is hostOwner for a host with upper-case letters: it lowers a copy on the stack.
// It is a function of its own so that hosts in lower case, the common case, do not pay for
// zeroing the buffer.
//
//go:noinline
func (c *core) ownerFolded(h, path string) int32 {
	var buf [maxHost]byte
	key := buf[:len(h)]
	for i := range key {
		b := h[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		key[i] = b
	}
	return hostOwner(c, key, path)
}

// hostOwner tries the host buckets of key, a lower-case host: exact, then wildcards from the
// longest suffix. string(key) in a map index does not allocate.
func hostOwner[S string | []byte](c *core, key S, path string) int32 {
	if root, ok := c.exact[string(key)]; ok {
		if e := c.prefix(root, path); e >= 0 {
			return e
		}
	}
	if len(c.wild) == 0 {
		return -1
	}
	// Dots from the left give the suffixes longest first; i starts at 1 so that
	// "*.example.com" never matches ".example.com" or "example.com".
	for i := max(1, len(key)-c.wildMax); i < len(key); i++ {
		if key[i] != '.' {
			continue
		}
		if root, ok := c.wild[string(key[i:])]; ok {
			if e := c.prefix(root, path); e >= 0 {
				return e
			}
		}
	}
	return -1
}

// hostname strips what a Host header carries besides the name: the port, the brackets of an
// IPv6 literal and the trailing dot of a fully qualified name. Unbracketed text with more than
// one colon is taken as a bare IPv6 address, not a name and port.
func hostname(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h[1:]
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// prefix walks the prefix trie at root along path's segments and returns the entry with the
// longest prefix that matches, -1 when none does.
func (c *core) prefix(root int32, path string) int32 {
	n := &c.pnodes[root]
	best := n.entry
	for p := path[1:]; n.kids.n > 0; {
		seg, rest, more := cut(p)
		next := c.child(n.kids, seg)
		if next < 0 {
			return best
		}
		n = &c.pnodes[next]
		if n.entry >= 0 {
			best = n.entry
		}
		if !more {
			break
		}
		p = rest
	}
	return best
}

// cut splits the first segment off p, like strings.Cut(p, "/") without going through
// strings.Index on the hottest path.
func cut(p string) (seg, rest string, more bool) {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:], true
	}
	return p, "", false
}

// walker searches an entry's route trie for one path and method.
type walker struct {
	c      *core
	method string
	vals   *[MaxParams]string
	mask   uint64 // methods of the leaves that matched the path but not the method
	last   int32  // the last such leaf, -1 when none
}

// walk matches p, the path after the slash that ends node n's segment, against the subtree
// at n. It tries a static child, then the {name} child, then {name...}, and returns the first
// route that accepts the method, -1 when none does. Each node is visited at most once, so
// the backtracking costs at most the size of the trie.
func (w *walker) walk(n int32, p string, np int) int32 {
	nd := &w.c.rnodes[n]
	seg, rest, more := cut(p)
	if next := w.c.child(nd.kids, seg); next >= 0 {
		if r := w.step(next, rest, more, np); r >= 0 {
			return r
		}
	}
	// Build keeps every template within MaxParams, so np stays in bounds on any branch.
	if nd.param >= 0 && seg != "" {
		w.vals[np] = seg
		if r := w.step(nd.param, rest, more, np+1); r >= 0 {
			return r
		}
	}
	if nd.catchAll >= 0 {
		w.vals[np] = p
		return w.accept(nd.catchAll)
	}
	return -1
}

// step continues the walk at node next, or ends it there when the path has no more segments.
func (w *walker) step(next int32, rest string, more bool, np int) int32 {
	if more {
		return w.walk(next, rest, np)
	}
	if l := w.c.rnodes[next].leaf; l >= 0 {
		return w.accept(l)
	}
	return -1
}

// accept returns the route of leaf l that serves the method, or records the leaf's methods
// for the Allow list and returns -1.
func (w *walker) accept(l int32) int32 {
	lf := &w.c.leaves[l]
	for i := lf.first; i < lf.first+lf.n; i++ {
		if m := w.c.methods[i]; int(m.method.n) == len(w.method) && w.c.str(m.method) == w.method {
			return m.route
		}
	}
	if lf.any >= 0 {
		return lf.any
	}
	w.mask |= lf.mask
	w.last = l
	return -1
}

// allow returns the Allow list for the leaves the walk matched: precomputed at Build, unless
// the entry's templates overlap in more ways than Build was willing to enumerate.
func (c *core) allow(en *entry, w *walker) string {
	if lf := &c.leaves[w.last]; lf.mask == w.mask {
		return c.allows[lf.allow]
	}
	for _, u := range en.unions {
		if u.mask == w.mask {
			return u.allow
		}
	}
	// Only when en.partial, for pathological overlaps: the one allocating lookup.
	var b strings.Builder
	for i, m := range en.methods {
		if w.mask&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.str(m))
		}
	}
	return b.String()
}
