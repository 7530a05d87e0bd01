package hold

import (
	"encoding/json"
	"testing"
)

func TestApplyBodyPatch(t *testing.T) {
	cases := []struct {
		name, doc, patch, want string
		fail                   bool
	}{
		{"add member", `{"a":1}`, `[{"op":"add","path":"/b","value":[1]}]`, `{"a":1,"b":[1]}`, false},
		{"add index", `[1,3]`, `[{"op":"add","path":"/1","value":2}]`, `[1,2,3]`, false},
		{"add end", `[1]`, `[{"op":"add","path":"/-","value":2}]`, `[1,2]`, false},
		{"add past end", `[1]`, `[{"op":"add","path":"/2","value":2}]`, ``, true},
		{"remove", `{"a":{"b":1,"c":2}}`, `[{"op":"remove","path":"/a/b"}]`, `{"a":{"c":2}}`, false},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ``, true},
		{"remove array", `[1,2,3]`, `[{"op":"remove","path":"/1"}]`, `[1,3]`, false},
		{"replace", `{"a":1}`, `[{"op":"replace","path":"/a","value":"x"}]`, `{"a":"x"}`, false},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, ``, true},
		{"move", `{"a":{"x":1},"b":{}}`, `[{"op":"move","from":"/a/x","path":"/b/y"}]`, `{"a":{},"b":{"y":1}}`, false},
		{"move into itself", `{"a":{"x":1}}`, `[{"op":"move","from":"/a","path":"/a/x/y"}]`, ``, true},
		{"copy", `{"a":[1]}`, `[{"op":"copy","from":"/a","path":"/b"},{"op":"add","path":"/b/-","value":2}]`, `{"a":[1],"b":[1,2]}`, false},
		{"test ok", `{"a":1.0}`, `[{"op":"test","path":"/a","value":1}]`, `{"a":1.0}`, false},
		{"test fails", `{"a":1}`, `[{"op":"test","path":"/a","value":2}]`, ``, true},
		{"escapes", `{"a/b":{"~":1}}`, `[{"op":"replace","path":"/a~1b/~0","value":2}]`, `{"a/b":{"~":2}}`, false},
		{"unknown op", `{}`, `[{"op":"frob","path":"/a"}]`, ``, true},
		{"leading zero", `[1,2]`, `[{"op":"remove","path":"/01"}]`, ``, true},
		{"html kept", `{}`, `[{"op":"add","path":"/h","value":"<&>"}]`, `{"h":"<&>"}`, false},
		{"scalar body", `3`, `[]`, ``, true},
	}
	for _, c := range cases {
		for _, nl := range []string{"", "\n", "\r\n"} {
			got, err := applyBodyPatch([]byte(c.doc+nl), json.RawMessage(c.patch))
			if c.fail {
				if err == nil {
					t.Errorf("%s: want an error, got %q", c.name, got)
				}
				continue
			}
			if err != nil || string(got) != c.want+nl {
				t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want+nl)
			}
		}
	}
}

func FuzzJSONPatch(f *testing.F) {
	f.Add(`{"a":[1,2],"b":{"c":"d"}}`, `[{"op":"add","path":"/a/-","value":3},{"op":"move","from":"/b/c","path":"/e"}]`)
	f.Add(`[1,2,3]`, `[{"op":"remove","path":"/0"},{"op":"copy","from":"/0","path":"/1"},{"op":"test","path":"/0","value":2}]`)
	f.Add(`{}`, `[{"op":"replace","path":"","value":[]}]`)
	f.Fuzz(func(t *testing.T, doc, patch string) {
		out, err := applyBodyPatch([]byte(doc), json.RawMessage(patch))
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON out: %q", out)
		}
	})
}
