package bot

// Flags say which lists a scan matched.
type Flags uint8

// The lists a substring pattern belongs to.
const (
	Allow Flags = 1 << iota
	Deny
)

// Matcher finds many substrings in one pass, ASCII case-insensitively: an Aho-Corasick
// automaton compiled to a DFA over byte classes. Checking a User-Agent against the ~30
// built-in scanner names costs one table step per byte instead of one search per name,
// and folding case in the class table means no lowercased copy of the User-Agent.
type Matcher struct {
	class  [256]uint8 // byte → column; 0 for bytes no pattern contains
	ncls   int
	next   []int32 // state*ncls + class → state
	out    []Flags // per state: the lists of every pattern ending here
	any    Flags   // the union of all patterns' flags
	states int
}

// Pattern is one substring and its list.
type Pattern struct {
	Text string
	List Flags
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// NewMatcher compiles patterns; empty ones are ignored.
func NewMatcher(patterns []Pattern) *Matcher {
	m := &Matcher{}
	// Columns: one per distinct (lowercased) byte, upper and lower case sharing one.
	m.ncls = 1
	for _, p := range patterns {
		for i := 0; i < len(p.Text); i++ {
			b := lower(p.Text[i])
			if m.class[b] == 0 {
				if m.ncls == 256 {
					continue // cannot happen: at most 256 bytes minus 26 folded letters
				}
				m.class[b] = uint8(m.ncls)
				m.ncls++
			}
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		m.class[b] = m.class[b+'a'-'A']
	}
	// The trie, with -1 for missing edges.
	trie := [][]int32{newRow(m.ncls)}
	out := []Flags{0}
	for _, p := range patterns {
		if p.Text == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p.Text); i++ {
			c := m.class[p.Text[i]]
			if trie[s][c] < 0 {
				trie[s][c] = int32(len(trie))
				trie = append(trie, newRow(m.ncls))
				out = append(out, 0)
			}
			s = trie[s][c]
		}
		out[s] |= p.List
		m.any |= p.List
	}
	// Breadth first: fill missing edges from the failure state and inherit its output,
	// turning the trie into a DFA.
	fail := make([]int32, len(trie))
	queue := make([]int32, 0, len(trie))
	for c := range m.ncls {
		if t := trie[0][c]; t < 0 {
			trie[0][c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		out[s] |= out[fail[s]]
		for c := range m.ncls {
			t := trie[s][c]
			if t < 0 {
				trie[s][c] = trie[fail[s]][c]
				continue
			}
			fail[t] = trie[fail[s]][c]
			queue = append(queue, t)
		}
	}
	m.states = len(trie)
	m.next = make([]int32, 0, len(trie)*m.ncls)
	for _, row := range trie {
		m.next = append(m.next, row...)
	}
	m.out = out
	return m
}

func newRow(n int) []int32 {
	r := make([]int32, n)
	for i := range r {
		r[i] = -1
	}
	return r
}

// Scan returns the lists whose patterns occur in s. It stops early once stop is matched.
func (m *Matcher) Scan(s string, stop Flags) Flags {
	if m.any == 0 {
		return 0
	}
	var f Flags
	st := int32(0)
	n := int32(m.ncls)
	for i := 0; i < len(s); i++ {
		st = m.next[st*n+int32(m.class[s[i]])]
		if o := m.out[st]; o != 0 {
			f |= o
			if f&stop != 0 {
				return f
			}
		}
	}
	return f
}
