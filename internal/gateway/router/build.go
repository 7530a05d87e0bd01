package router

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxErrors bounds the problems Build reports, so that a broken configuration of thousands
// of APIs yields a readable message.
const maxErrors = 20

// Build compiles entries into a table. It reports every problem it finds (up to a limit),
// each naming the entries or routes involved, and never panics.
func Build[T any](entries []Entry[T]) (*Table[T], error) {
	return build(entries, 0)
}

// build is Build with a bound on the states of the Allow-list enumeration per entry (0 for
// the default), which tests lower to reach the fallback.
func build[T any](entries []Entry[T], maxStates int) (*Table[T], error) {
	t := &Table[T]{values: make([]T, len(entries))}
	b := &builder{c: &t.c, maxStates: maxStates, strs: map[string]sref{}, allows: map[string]int32{},
		universes: map[string][]sref{}}
	b.dfa.seen = map[uint64]int32{}
	b.get, b.head = b.intern("GET"), b.intern("HEAD")
	presize(&t.c, entries)
	b.c.anyHost = -1
	for i := range entries {
		e := &entries[i]
		t.values[i] = e.Value
		b.add(int32(i), e.Name, e.Hosts, e.Prefix, e.Routes)
	}
	b.pt.freeze(b, func(n int32) *children { return &b.c.pnodes[n].kids })
	if err := b.err(); err != nil {
		return nil, err
	}
	b.finish()
	return t, nil
}

// finish makes the string block and, now that the keys are in it, the maps that Lookup
// searches: the hosts' and those of nodes with many children. Keys in the block rather than
// in the caller's entries, scattered over the heap, spare a lookup a cache miss or two.
func (b *builder) finish() {
	c := b.c
	c.strs = string(b.block)
	for _, m := range []*map[string]int32{&c.exact, &c.wild} {
		if *m == nil {
			continue
		}
		old := *m
		*m = make(map[string]int32, len(old))
		for k, v := range old {
			(*m)[c.str(b.strs[k])] = v
		}
	}
	index := func(k *children) {
		if k.n <= linearMax {
			return
		}
		m := make(map[string]int32, k.n)
		for _, e := range c.edges[k.first : k.first+k.n] {
			m[c.str(e.key)] = e.node
		}
		k.index = int32(len(c.indexes))
		c.indexes = append(c.indexes, m)
	}
	for i := range c.pnodes {
		index(&c.pnodes[i].kids)
	}
	for i := range c.rnodes {
		index(&c.rnodes[i].kids)
	}
}

// presize allocates the table's slices at once, from upper bounds on their lengths: growing
// them by doubling would copy megabytes at 10,000 entries.
func presize[T any](c *core, entries []Entry[T]) {
	var pn, rn, lv, ms, ns int
	for i := range entries {
		e := &entries[i]
		pn += max(1, len(e.Hosts)) * (strings.Count(e.Prefix, "/") + 1)
		if len(e.Routes) > 0 {
			rn++
			lv += len(e.Routes)
			for _, r := range e.Routes {
				rn += strings.Count(r.Path, "/")
				ms += len(r.Methods) + 1 // + HEAD, when GET brings it
				ns += strings.Count(r.Path, "{")
			}
		}
	}
	c.entries = make([]entry, 0, len(entries))
	c.pnodes = make([]pnode, 0, pn)
	c.rnodes = make([]rnode, 0, rn)
	c.leaves = make([]leaf, 0, lv)
	c.edges = make([]edge, 0, pn+rn)
	c.methods = make([]methodRoute, 0, ms)
	c.names = make([]string, 0, ns)
	c.params = make([][]string, 0, lv)
}

// builder holds what compiling needs beyond the table itself.
type builder struct {
	c    *core
	errs []error
	more int // problems beyond maxErrors
	// maxStates bounds the enumeration of Allow lists per entry; 0 means in proportion
	// to the entry's routes.
	maxStates int
	block     []byte          // becomes core.strs
	strs      map[string]sref // what block holds
	get, head sref
	allows    map[string]int32 // what core.allows holds
	universes map[string][]sref
	pt        trieBuilder // the prefix tries, laid out at the end of Build
	rt        trieBuilder // the current entry's route trie
	dfa       dfaScratch
	segs      []segment
	byLeaf    []leafRoute
	forks     []int32
	univ      []sref
	buf       []byte
}

// intern returns s's window on the string block, adding s the first time. Equal strings
// get equal windows, so the builder compares windows rather than strings.
func (b *builder) intern(s string) sref {
	if r, ok := b.strs[s]; ok {
		return r
	}
	r := sref{uint32(len(b.block)), uint32(len(s))}
	b.block = append(b.block, s...)
	b.strs[s] = r
	return r
}

// bytes returns what r names while the block is still being built.
func (b *builder) bytes(r sref) []byte { return b.block[r.off : r.off+r.n] }

func (b *builder) errorf(format string, args ...any) {
	if len(b.errs) == maxErrors {
		b.more++
		return
	}
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

func (b *builder) err() error {
	if b.more > 0 {
		b.errs = append(b.errs, fmt.Errorf("and %d more problems", b.more))
	}
	return errors.Join(b.errs...)
}

// add compiles one entry. The entry is added even when it has problems, so that entry i stays
// at index i and later problems can still name it.
func (b *builder) add(i int32, name string, hosts []string, prefix string, routes []Route) {
	if name == "" {
		name = fmt.Sprintf("entries[%d]", i)
	}
	if prefix == "" {
		prefix = "/"
	}
	en := entry{name: name, prefix: prefix, root: -1}
	ok := true
	if msg := checkPrefix(prefix); msg != "" {
		b.errorf("entry %q: prefix %q %s", name, prefix, msg)
		ok = false
	} else if prefix != "/" {
		en.plen = len(prefix)
	}
	if len(routes) > 0 {
		b.routes(&en, routes)
	}
	b.c.entries = append(b.c.entries, en)
	if !ok {
		return
	}
	if len(hosts) == 0 {
		if b.c.anyHost < 0 {
			b.c.anyHost = b.newPNode()
		}
		b.claim(b.c.anyHost, i, "")
	}
	for _, h := range hosts {
		key, wild, msg := normHost(h)
		if msg != "" {
			b.errorf("entry %q: host %q %s", name, h, msg)
			continue
		}
		m := &b.c.exact
		if wild {
			m = &b.c.wild
			b.c.wildMax = max(b.c.wildMax, len(key))
		}
		if *m == nil {
			*m = map[string]int32{}
		}
		root, found := (*m)[key]
		if !found {
			root = b.newPNode()
			(*m)[key] = root
			b.intern(key)
		}
		b.claim(root, i, h)
	}
}

// checkPrefix returns why p cannot be a prefix, "" when it can.
func checkPrefix(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /"
	case p == "/":
		return ""
	case strings.HasSuffix(p, "/"):
		return "must not end with / (except the root path \"/\")"
	case strings.Contains(p, "//"):
		return "must not contain empty segments (//)"
	case strings.ContainsAny(p, "{}"):
		return "must not contain templates; routes hold {params}"
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return "must not contain . or .. segments, which no cleaned path holds"
		}
	}
	return ""
}

// normHost returns the form of an entry host that Lookup compares with: lower case, no
// brackets, no trailing dot; a wildcard as its suffix (".example.com").
func normHost(h string) (key string, wild bool, msg string) {
	h = asciiLower(h) // as Lookup compares: host names are ASCII (IDNA spells the others)
	name, wild := strings.CutPrefix(h, "*.")
	if !wild && strings.ContainsAny(name, "[]:") {
		ip := name
		if inner, ok := strings.CutPrefix(name, "["); ok {
			ip, ok = strings.CutSuffix(inner, "]")
			if !ok {
				return "", false, "is not an IPv6 address"
			}
		} else if strings.Count(name, ":") == 1 {
			return "", false, "must not carry a port"
		}
		if strings.Count(ip, ":") < 2 || strings.Trim(ip, "0123456789abcdef:.") != "" {
			return "", false, "is not an IPv6 address"
		}
		return ip, false, ""
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" ||
		strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return "", false, "is not a host name (letters, digits, '-', '_' and dots; a wildcard only as the first label, like *.example.com)"
	}
	if wild {
		name = "." + name
	}
	if len(name) > maxHost {
		return "", false, fmt.Sprintf("is longer than %d characters", maxHost)
	}
	return name, wild, ""
}

// asciiLower lowers A-Z byte by byte, exactly as Lookup does (strings.ToLower would also
// rewrite non-ASCII letters and invalid UTF-8).
func asciiLower(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (b *builder) newPNode() int32 {
	b.c.pnodes = append(b.c.pnodes, pnode{entry: -1, kids: children{index: -1}})
	return int32(len(b.c.pnodes) - 1)
}

// claim records that entry i serves its prefix in the bucket at root, for host ("" for the
// bucket of entries without hosts).
func (b *builder) claim(root, i int32, host string) {
	n := root
	en := &b.c.entries[i]
	for p := en.prefix[1:]; en.plen > 0; {
		seg, rest, more := strings.Cut(p, "/")
		next, ok := b.pt.child(n, seg)
		if !ok {
			next = b.newPNode()
			b.pt.add(b, n, seg, next)
		}
		n = next
		if !more {
			break
		}
		p = rest
	}
	switch old := b.c.pnodes[n].entry; {
	case old == i: // the same host listed twice
	case old >= 0:
		where := "any host"
		if host != "" {
			where = fmt.Sprintf("host %q", host)
		}
		b.errorf("entries %q and %q both claim prefix %q on %s", b.c.entries[old].name, en.name, en.prefix, where)
	default:
		b.c.pnodes[n].entry = i
	}
}

// trieBuilder collects the edges of a growing trie, and lays them out in the table's edge
// arena once the trie is complete, each node's edges side by side.
type trieBuilder struct {
	index map[edgeKey]int32
	edges []pendingEdge
}

type edgeKey struct {
	parent int32
	key    string
}

type pendingEdge struct {
	parent int32
	edge
}

func (t *trieBuilder) child(parent int32, key string) (int32, bool) {
	n, ok := t.index[edgeKey{parent, key}]
	return n, ok
}

func (t *trieBuilder) add(b *builder, parent int32, key string, node int32) {
	if t.index == nil {
		t.index = map[edgeKey]int32{}
	}
	t.index[edgeKey{parent, key}] = node
	t.edges = append(t.edges, pendingEdge{parent, edge{b.intern(key), node}})
}

// freeze lays the edges out in the table, sets each parent's children, and empties t for
// the next trie.
func (t *trieBuilder) freeze(b *builder, kids func(parent int32) *children) {
	slices.SortStableFunc(t.edges, func(x, y pendingEdge) int { return cmp.Compare(x.parent, y.parent) })
	for i := 0; i < len(t.edges); {
		j, start := i, len(b.c.edges)
		for ; j < len(t.edges) && t.edges[j].parent == t.edges[i].parent; j++ {
			b.c.edges = append(b.c.edges, t.edges[j].edge)
		}
		k := kids(t.edges[i].parent)
		k.first, k.n = int32(start), int32(j-i)
		i = j
	}
	t.edges = t.edges[:0]
	if len(t.index) > 1024 {
		t.index = nil // clearing a large map costs its size, for every small trie after it
	} else {
		clear(t.index)
	}
}

// edgesOf returns the edges of a node's children.
func (b *builder) edgesOf(k children) []edge { return b.c.edges[k.first : k.first+k.n] }
