package declarative

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func mustParse(t testing.TB, in string) *Document {
	t.Helper()
	d, err := Parse("test.yaml", []byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// TestGolden parses every testdata/*.yaml. The golden file holds the exact problems for a
// file with mistakes, and Encode's output for a valid one.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatal("no testdata", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if d, err := Parse(path, data); err != nil {
				got = err.Error() + "\n"
			} else {
				out, err := Encode(d)
				if err != nil {
					t.Fatal(err)
				}
				got = string(out)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.APIs) != 3 || len(d.Plans) != 2 || len(d.Developers) != 2 || len(d.Apps) != 2 || len(d.Subscriptions) != 3 {
		t.Fatalf("resource counts: %d %d %d %d %d", len(d.APIs), len(d.Plans), len(d.Developers), len(d.Apps), len(d.Subscriptions))
	}
	orders, v1 := d.APIs[0], d.APIs[1]
	if orders.Meta != (gatehouse.Meta{}) {
		t.Errorf("server fields kept: %+v", orders.Meta)
	}
	if got := *orders.Upstream.Targets[0].Weight; got != gatehouse.DefaultWeight {
		t.Errorf("weight not defaulted: %d", got)
	}
	if got := orders.Routes[0].Methods; !reflect.DeepEqual(got, []string{"GET"}) {
		t.Errorf("methods not normalized: %v", got)
	}
	if !strings.HasPrefix(orders.OpenAPI, "openapi: 3.1.0\ninfo:\n") {
		t.Errorf("openapi block: %q", orders.OpenAPI)
	}
	if string(orders.Policies[1].Config) != `{"allow_origins":["https://shop.example.com"],"max_age":600}` {
		t.Errorf("policy config: %s", orders.Policies[1].Config)
	}
	if want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); !orders.Sunset.Equal(want) {
		t.Errorf("sunset: %v", orders.Sunset)
	}
	if diff := cmp.Diff(orders.Upstream, v1.Upstream); diff != "" {
		t.Errorf("alias not expanded (-orders +orders-v1):\n%s", diff)
	}
	if d.Developers[0].Email != "dev@example.com" || d.Developers[0].Status != gatehouse.DeveloperActive {
		t.Errorf("developer not normalized: %+v", d.Developers[0])
	}
	if d.Plans[0].Approval != gatehouse.ApprovalAuto || d.Plans[0].RateLimit.Window.D() != time.Minute {
		t.Errorf("plan: %+v", d.Plans[0])
	}
	if s := d.Subscriptions[2]; s.ID != "" || s.Status != gatehouse.SubPending {
		t.Errorf("subscription: %+v", s)
	}
	if s := d.Subscriptions[1]; s.Status != "" {
		t.Errorf("empty subscription status changed: %+v", s)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the error text; "" for success
		check    func(t *testing.T, d *Document)
	}{
		{name: "empty", in: ""},
		{name: "comments only", in: "# nothing yet\n"},
		{name: "empty document", in: "---\n"},
		{name: "empty sections", in: "apis: []\nplans:\n"},
		{
			name: "json", in: `{"apis": [{"name": "a", "upstream": {"targets": [{"url": "http://x", "weight": 0}]}}]}`,
			check: func(t *testing.T, d *Document) {
				if *d.APIs[0].Upstream.Targets[0].Weight != 0 {
					t.Error("explicit weight 0 lost")
				}
			},
		},
		{
			name: "merge keys", in: "x: 1\n",
			want: `test.yaml:1:1: x: unknown section`,
		},
		{
			name: "merge keys in resources",
			in: `apis:
  - &base {name: a, state: published, upstream: {targets: [{url: "http://a"}]}, tags: [t]}
  - <<: *base
    name: b
  - <<: [{name: ignored, path: /c}, *base]
    name: c
`,
			check: func(t *testing.T, d *Document) {
				if d.APIs[1].Name != "b" || d.APIs[1].State != gatehouse.StatePublished || d.APIs[2].Path != "/c" || d.APIs[2].Name != "c" {
					t.Errorf("merge: %+v %+v", d.APIs[1], d.APIs[2])
				}
			},
		},
		{
			name: "server fields ignored",
			in:   "subscriptions: [{id: sub_1, app: a, plan: p, revision: 3, created_at: x, updated_at: [1]}]\n",
			check: func(t *testing.T, d *Document) {
				if s := d.Subscriptions[0]; s.ID != "" || s.Revision != 0 {
					t.Errorf("server fields kept: %+v", s)
				}
			},
		},
		{
			name: "null fields are absent",
			in:   "plans: [{name: p, rate_limit: null, apis: ~, description: }]\n",
			check: func(t *testing.T, d *Document) {
				if d.Plans[0].RateLimit != nil {
					t.Error("rate_limit not nil")
				}
			},
		},
		{name: "top-level list", in: "- a\n", want: `test.yaml:1:1: want a mapping with the keys apis, plans, developers, apps, subscriptions at the top level, got a list`},
		{name: "two documents", in: "apis: []\n---\napis: []\n", want: `test.yaml:2:1: a second YAML document: a declarative file holds exactly one`},
		{name: "syntax error", in: "apis:\n  - name: [a\n", want: `test.yaml:2: invalid YAML: did not find expected ',' or ']'`},
		{name: "unknown anchor", in: "apis:\n  - *nope\n", want: `test.yaml:2:5: invalid YAML: unknown anchor 'nope' referenced`},
		{name: "section not a list", in: "apis: {name: a}\n", want: `test.yaml:1:7: apis: want a list of apis, got a mapping`},
		{name: "null resource", in: "apis:\n  - ~\n", want: `test.yaml:2:5: apis[0]: want a mapping describing one api, got nothing (null)`},
		{name: "duplicate key", in: "apis:\n  - name: a\n    name: b\n", want: `test.yaml:3:5: apis[0].name: key "name" is already set at line 2`},
		{name: "non-string key", in: "apis:\n  - [a]: 1\n    name: a\n", want: `test.yaml:2:5: apis[0]: mapping keys must be strings`},
		{name: "alias cycle", in: "apis: &a [*a]\n", want: `test.yaml:1:11: apis[0]: alias *a refers to a node that contains it`},
		{name: "unsupported tag", in: "apis: [{name: !!binary YQ==}]\n", want: `test.yaml:1:15: apis[0].name: unsupported YAML tag !!binary`},
		{name: "infinite number", in: "plans: [{name: p, rate_limit: {limit: .inf, window: 1s}}]\n", want: `test.yaml:1:39: plans[0].rate_limit.limit: ".inf" is not a finite number`},
		{name: "int out of range", in: "apis: [{name: a, upstream: {retries: 99999999999999999999}}]\n", want: `test.yaml:1:38: apis[0].upstream.retries: 99999999999999999999 is out of range`},
		{name: "bool for string", in: "apis: [{name: a, version: yes, state: true}]\n", want: `test.yaml:1:39: apis[0].state: want a string, got true (quote it: "true")`},
		{name: "string for bool", in: "apis: [{name: a, strip_path: \"yes\"}]\n", want: `test.yaml:1:30: apis[0].strip_path: want true or false, got the string "yes"`},
		{name: "wrong json case", in: "apps: [{Name: a, developer: d@e.f}]\n", want: "test.yaml:1:8: apps[0].name: is required\ntest.yaml:1:9: apps[0].Name: unknown field \"Name\"; did you mean \"name\"?"},
		{name: "bad duration", in: "apis: [{name: a, upstream: {connect_timeout: 5}}]\n", want: `test.yaml:1:46: apis[0].upstream.connect_timeout: want a duration string such as "30s", got the number 5`},
		{name: "duration not a string", in: "apis: [{name: a, upstream: {connect_timeout: [5s]}}]\n", want: `test.yaml:1:46: apis[0].upstream.connect_timeout: want a duration string such as "30s", got a list`},
		{name: "bad duration string", in: "apis: [{name: a, upstream: {connect_timeout: 5 s}}]\n", want: `test.yaml:1:46: apis[0].upstream.connect_timeout: bad duration "5 s": want a value such as "30s" or "1m30s"`},
		{name: "policy config must be an object", in: "apis: [{name: a, policies: [{type: cors, config: [1]}]}]\n", want: `test.yaml:1:50: apis[0].policies[0].config: must be a JSON object`},
		{name: "secrets", in: "admin_tokens: []\n", want: `test.yaml:1:1: admin_tokens: admin tokens are not part of the document: secrets never live in git`},
		{name: "duplicate developer by case", in: "developers: [{email: a@b.c}, {email: A@B.C}]\n", want: `test.yaml:1:38: developers[1].email: duplicate developer "a@b.c" (first defined at line 1)`},
		{
			name: "type problems hide the validation problems they cause",
			in:   "apis:\n  - name: a\n    state: published\n    upstream:\n      targets: {url: x}\n",
			want: `test.yaml:5:16: apis[0].upstream.targets: want a list, got a mapping`,
		},
		{
			name: "alias bomb",
			in: `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
`,
			want: "test.yaml:1:1: a: unknown section\ntest.yaml:2:1: b: unknown section\ntest.yaml:2:29: e[7][0][7][7]: aliases expand the document beyond 100000 nodes\ntest.yaml:3:1: c: unknown section\ntest.yaml:4:1: d: unknown section\ntest.yaml:5:1: e: unknown section\ntest.yaml:6:1: f: unknown section",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("test.yaml", []byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
				if d != nil {
					t.Error("Parse returned a document with its error")
				}
			}
			if got != tt.want {
				t.Fatalf("Parse(%q):\n got: %s\nwant: %s", tt.in, got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	_, err := Parse("f.yaml", []byte("apis: [{name: \"\"}, {name: ok, path: x}]\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T is not *Error", err)
	}
	want := []Problem{
		{Source: "f.yaml", Line: 1, Column: 15, Field: "apis[0].name", Message: "is required"},
		{Source: "f.yaml", Line: 1, Column: 37, Field: "apis[1].path", Message: "must start with /"},
	}
	if diff := cmp.Diff(want, e.Problems); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSectionsMatchDocument holds the section table to Document's fields and json tags.
func TestSectionsMatchDocument(t *testing.T) {
	dt := reflect.TypeFor[Document]()
	secs := sections()
	if dt.NumField() != len(secs) {
		t.Fatalf("%d sections for %d fields", len(secs), dt.NumField())
	}
	for i, s := range secs {
		f := dt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != s.name || f.Type.Elem().Elem() != s.typ {
			t.Errorf("section %d is %s %v, field is %s %v", i, s.name, s.typ, name, f.Type)
		}
		yname, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if yname != name {
			t.Errorf("field %s: yaml tag %q, json tag %q", f.Name, yname, name)
		}
		var d Document
		s.add(&d, reflect.New(s.typ).Interface())
		if len(s.get(&d)) != 1 {
			t.Errorf("section %s: add then get lost the resource", s.name)
		}
	}
}

func TestCheckRefs(t *testing.T) {
	d := mustParse(t, `
apis: [{name: a}]
plans: [{name: p, apis: [a, b, c]}]
developers: [{email: dev@example.com}]
apps: [{name: x, developer: DEV@example.com}, {name: y, developer: other@example.com}]
subscriptions: [{app: x, plan: p}, {app: z, plan: q}]
`)
	err := d.CheckRefs(nil)
	want := `plans[0].apis[1]: no api "b" in the document
plans[0].apis[2]: no api "c" in the document
apps[1].developer: no developer "other@example.com" in the document
subscriptions[1].app: no app "z" in the document
subscriptions[1].plan: no plan "q" in the document`
	if err == nil || err.Error() != want {
		t.Errorf("CheckRefs(nil):\n got: %v\nwant: %s", err, want)
	}
	existing := mustParse(t, `
apis: [{name: b}, {name: c}]
plans: [{name: q}]
developers: [{email: Other@example.com}]
apps: [{name: z, developer: other@example.com}]
`)
	if err := d.CheckRefs(existing); err != nil {
		t.Errorf("CheckRefs(existing) = %v", err)
	}
	existing.APIs = existing.APIs[:1]
	if err := d.CheckRefs(existing); err == nil || err.Error() != `plans[0].apis[2]: no api "c" in the document or on the server` {
		t.Errorf("CheckRefs with a missing api = %v", err)
	}
}
