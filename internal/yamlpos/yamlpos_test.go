package yamlpos

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Source: "f.yaml", Line: 3, Column: 7, Field: "log.level", Message: "bad"}, "f.yaml:3:7: log.level: bad"},
		{Problem{Source: "f.yaml", Line: 3, Message: "bad"}, "f.yaml:3: bad"},
		{Problem{Source: "f.yaml", Column: 7, Message: "bad"}, "f.yaml: bad"},
		{Problem{Source: "env GATEHOUSE_X", Field: "x", Message: "bad"}, "env GATEHOUSE_X: x: bad"},
		{Problem{Line: 2, Column: 1, Field: "apis[0]", Message: "bad"}, "2:1: apis[0]: bad"},
		{Problem{Field: "plans[1].apis", Message: "bad"}, "plans[1].apis: bad"},
		{Problem{Message: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	e := &Error{Problems: []Problem{
		{Source: "f.yaml", Line: 1, Column: 1, Message: "one"},
		{Source: "flag --x", Field: "x", Message: "two"},
	}}
	if got, want := e.Error(), "f.yaml:1:1: one\nflag --x: x: two"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSort(t *testing.T) {
	ps := []Problem{
		{Source: "env A", Message: "env"},
		{Line: 3, Column: 2, Message: "3:2"},
		{Source: "flag --b", Message: "flag"},
		{Line: 1, Column: 9, Message: "1:9"},
		{Line: 3, Column: 1, Message: "3:1"},
		{Line: 1, Message: "1"},
		{Message: "last"},
	}
	Sort(ps)
	var got []string
	for _, p := range ps {
		got = append(got, p.Message)
	}
	want := []string{"1", "1:9", "3:1", "3:2", "env", "flag", "last"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"proxy_addr", "admin_addr", "portal_addr", "log", "store"}
	for in, want := range map[string]string{
		"proxy_adr":  "proxy_addr",
		"Proxy-Addr": "proxy_addr",
		"admn_addr":  "admin_addr",
		"stroe":      "store",
		"lg":         "log",
		"database":   "",
		"":           "",
	} {
		if got := Suggest(in, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Suggest("x", nil); got != "" {
		t.Errorf("Suggest with no candidates = %q", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"level", "level", 0},
		{"levle", "level", 1}, // a swap of neighbours is one edit
		{"lvel", "level", 1},
		{"kitten", "sitting", 3},
		{strings.Repeat("a", 65), "a", 1 << 20},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		doc      bool      // whether a document is returned
		want     []Problem // the problems
	}{
		{name: "empty", in: ""},
		{name: "comments only", in: "# nothing\n"},
		{name: "one document", in: "a: 1\n", doc: true},
		{name: "explicit start", in: "---\na: 1\n", doc: true},
		{name: "json", in: `{"a": [1, 2]}`, doc: true},
		{name: "second document", in: "a: 1\n---\nb: 2\n", doc: true, want: []Problem{
			{Source: "f.yaml", Line: 2, Column: 1, Message: "a second YAML document: a test file holds exactly one"},
		}},
		{name: "syntax error in the second document", in: "a: 1\n---\nb: [\n", doc: true, want: []Problem{
			{Source: "f.yaml", Line: 4, Message: "invalid YAML: did not find expected node content"},
		}},
		{name: "parser error counted from 0", in: "a:\n  - b: [c\n", want: []Problem{
			{Source: "f.yaml", Line: 2, Message: "invalid YAML: did not find expected ',' or ']'"},
		}},
		{name: "scanner error", in: "\ta: 1\n", want: []Problem{
			{Source: "f.yaml", Line: 1, Message: "invalid YAML: found character that cannot start any token"},
		}},
		{name: "unknown anchor", in: "a:\n  - &x 1\n  - *x\n  - *nope\n", want: []Problem{
			{Source: "f.yaml", Line: 4, Column: 5, Message: "invalid YAML: unknown anchor 'nope' referenced"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, got := Decode("f.yaml", []byte(tt.in), "a test file")
			if (doc != nil) != tt.doc {
				t.Errorf("document returned: %v, want %v", doc != nil, tt.doc)
			}
			if doc != nil && doc.Kind != yaml.DocumentNode {
				t.Errorf("returned a %v node, want the document", doc.Kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindAlias(t *testing.T) {
	for _, tt := range []struct {
		data, name string
		line, col  int
	}{
		{"a: *x\n", "x", 1, 4},
		{"a: *xy\nb: [*x]\n", "x", 2, 5}, // *xy is another alias
		{"a: é *x", "x", 1, 6},           // columns count characters, not bytes
		{"a: 1\n", "x", 1, 0},            // not found
	} {
		line, col := findAlias([]byte(tt.data), tt.name)
		if line != tt.line || col != tt.col {
			t.Errorf("findAlias(%q, %q) = %d:%d, want %d:%d", tt.data, tt.name, line, col, tt.line, tt.col)
		}
	}
}

func TestResolve(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: &v {b: 1}\nc: *v\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	alias, target := m.Content[3], m.Content[1]
	if alias.Kind != yaml.AliasNode {
		t.Fatalf("c is a %v node, want an alias", alias.Kind)
	}
	if got := Resolve(alias); got != target {
		t.Errorf("Resolve(*v) = %v, want the anchored mapping", got)
	}
	if got := Resolve(target); got != target {
		t.Errorf("Resolve of a non-alias returned another node")
	}
}
