package router

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// refResult is what refLookup decides.
type refResult struct {
	res    Result
	entry  int
	route  int
	params map[string]string
	allow  string
	rest   string
}

// refLookup is a deliberately naive reading of the package doc: no tries, no precomputation,
// every rule spelled out on its own. The table tests check it against hand-written answers and
// FuzzLookup checks the compiled table against it.
func refLookup[T any](entries []Entry[T], host, path, method string) refResult {
	none := refResult{res: NotFound, entry: -1, route: -1}
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return none
	}
	owner := refOwner(entries, refHostname(host), path)
	if owner < 0 {
		return none
	}
	e := entries[owner]
	rest := path
	if p := refPrefix(e.Prefix); p != "/" {
		rest = path[len(p):]
	}
	if rest == "" {
		rest = "/"
	}
	out := refResult{res: NotFound, entry: owner, route: -1, rest: rest}
	if len(e.Routes) == 0 {
		out.res = Found
		return out
	}
	type cand struct {
		route  int
		kinds  []segKind
		rank   int // 0 exact method, 1 GET answering HEAD, 2 any method, 3 does not accept
		params map[string]string
	}
	var cands []cand
	allowed := map[string]bool{}
	for ri, r := range e.Routes {
		segs, _ := parseTemplate(nil, r.Path)
		params, ok := refMatch(segs, rest)
		if !ok {
			continue
		}
		c := cand{route: ri, rank: 3, params: params}
		for _, s := range segs {
			c.kinds = append(c.kinds, s.kind)
		}
		if len(r.Methods) == 0 {
			c.rank = 2
		}
		for _, m := range r.Methods {
			m = strings.ToUpper(m)
			allowed[m] = true
			if m == "GET" {
				allowed["HEAD"] = true
			}
			switch {
			case m == method:
				c.rank = 0
			case m == "GET" && method == "HEAD":
				c.rank = min(c.rank, 1)
			}
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return out
	}
	best := -1
	for i, c := range cands {
		if c.rank == 3 {
			continue
		}
		if best < 0 || refLess(c.kinds, c.rank, cands[best].kinds, cands[best].rank) {
			best = i
		}
	}
	if best < 0 {
		out.res = MethodNotAllowed
		var ms []string
		for m := range allowed {
			ms = append(ms, m)
		}
		slices.Sort(ms)
		out.allow = strings.Join(ms, ", ")
		return out
	}
	out.res, out.route, out.params = Found, cands[best].route, cands[best].params
	return out
}

// refLess orders matching templates: static before {name} before {name...} at the first
// segment where they differ; then by how the method was accepted.
func refLess(a []segKind, ar int, b []segKind, br int) bool {
	if c := slices.Compare(a, b); c != 0 {
		return c < 0
	}
	return ar < br
}

func refMatch(segs []segment, rest string) (map[string]string, bool) {
	parts := strings.Split(rest[1:], "/")
	params := map[string]string{}
	for k, s := range segs {
		if s.kind == segCatchAll {
			if k >= len(parts) {
				return nil, false
			}
			params[s.text] = strings.Join(parts[k:], "/")
			return params, true
		}
		if k >= len(parts) {
			return nil, false
		}
		switch {
		case s.kind == segStatic && parts[k] != s.text:
			return nil, false
		case s.kind == segParam && parts[k] == "":
			return nil, false
		case s.kind == segParam:
			params[s.text] = parts[k]
		}
	}
	if len(parts) != len(segs) {
		return nil, false
	}
	return params, true
}

func refHostname(h string) string {
	switch {
	case strings.HasPrefix(h, "["):
		if end := strings.Index(h, "]"); end > 0 {
			h = h[1:end]
		} else {
			h = h[1:]
		}
	case strings.Count(h, ":") == 1:
		h, _, _ = strings.Cut(h, ":")
		h = strings.TrimSuffix(h, ".")
	default:
		h = strings.TrimSuffix(h, ".")
	}
	return asciiLower(h)
}

func refPrefix(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// refOwner tries the buckets in order, exact, wildcards longest first, then no hosts, and
// returns the entry with the longest matching prefix in the first bucket that has one.
func refOwner[T any](entries []Entry[T], host, path string) int {
	var buckets [][]int
	if host != "" && len(host) <= maxHost {
		var exact []int
		wild := map[string][]int{}
		for i, e := range entries {
			for _, h := range e.Hosts {
				h = asciiLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
				if suffix, ok := strings.CutPrefix(h, "*"); ok {
					if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
						wild[suffix] = append(wild[suffix], i)
					}
				} else if h == host {
					exact = append(exact, i)
				}
			}
		}
		buckets = append(buckets, exact)
		suffixes := make([]string, 0, len(wild))
		for s := range wild {
			suffixes = append(suffixes, s)
		}
		slices.SortFunc(suffixes, func(a, b string) int { return len(b) - len(a) })
		for _, s := range suffixes {
			buckets = append(buckets, wild[s])
		}
	}
	var anyHost []int
	for i, e := range entries {
		if len(e.Hosts) == 0 {
			anyHost = append(anyHost, i)
		}
	}
	buckets = append(buckets, anyHost)
	for _, b := range buckets {
		best := -1
		for _, i := range b {
			p := refPrefix(entries[i].Prefix)
			if p == "/" || path == p || strings.HasPrefix(path, p+"/") {
				if best < 0 || len(p) > len(refPrefix(entries[best].Prefix)) {
					best = i
				}
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}

// TestRandomTables compares Lookup with the reference on random tables built from a small
// alphabet, so that overlaps, backtracking and Allow unions are common; FuzzTable explores
// further when run with -fuzz.
func TestRandomTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	template := func() string {
		var b strings.Builder
		n := 1 + rng.IntN(4)
		for i := range n {
			b.WriteByte('/')
			switch s := pick("a", "b", "{p}", "{q}", "", "c", "{r...}"); {
			case s == "" && i < n-1, strings.HasSuffix(s, "...}") && i < n-1:
				b.WriteString("a")
			case strings.HasPrefix(s, "{"):
				b.WriteString(s[:2] + fmt.Sprint(i) + s[2:]) // distinct names within a template
			default:
				b.WriteString(s)
			}
		}
		return b.String()
	}
	path := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString("/" + pick("a", "b", "c", "", "x", "api"))
		}
		return b.String()
	}
	built, results := 0, map[Result]int{}
	for range 1000 {
		var es []Entry[string]
		for i := range 1 + rng.IntN(4) {
			e := Entry[string]{Name: fmt.Sprint(i), Value: fmt.Sprint(i), Prefix: pick("/", "/api", "/a", "/api/v1")}
			if h := pick("", "x.test", "*.test", "*.x.test"); h != "" {
				e.Hosts = []string{h}
			}
			for range rng.IntN(6) {
				r := Route{Path: template()}
				for range rng.IntN(3) {
					r.Methods = append(r.Methods, pick("GET", "POST", "HEAD", "DELETE"))
				}
				e.Routes = append(e.Routes, r)
			}
			es = append(es, e)
		}
		tbl, err := Build(es)
		if err != nil {
			continue
		}
		built++
		var m Match[string]
		for range 50 {
			host, p, method := pick("x.test", "y.x.test", "X.TEST:80", "other", "z.test"), path(), pick("GET", "POST", "HEAD", "PUT")
			res := tbl.Lookup(host, p, method, &m)
			checkMatch(t, es, host, p, method, res, &m)
			results[res]++
		}
	}
	t.Logf("%d tables; lookups by result: %v", built, results)
	if results[Found] < 1000 || results[MethodNotAllowed] < 100 {
		t.Errorf("too few interesting lookups: %v", results)
	}
	if built < 250 {
		t.Errorf("only %d of 1000 random tables built; the generator needs fewer conflicts", built)
	}
}
