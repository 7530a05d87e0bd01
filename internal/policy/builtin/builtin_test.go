package builtin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestDocs holds docs/policies to the code: every registered type has a page that names
// it, its phase and every configuration field (nested ones as parent.child), and the index
// links every page.
func TestDocs(t *testing.T) {
	root := filepath.Join("..", "..", "..", "docs")
	index, err := os.ReadFile(filepath.Join(root, "policies.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range Types() {
		if !strings.Contains(string(index), "(policies/"+typ.Name+".md)") {
			t.Errorf("docs/policies.md does not link policies/%s.md", typ.Name)
		}
		b, err := os.ReadFile(filepath.Join(root, "policies", typ.Name+".md"))
		if err != nil {
			t.Errorf("policy %s has no page: %v", typ.Name, err)
			continue
		}
		page := string(b)
		if !strings.HasPrefix(page, "# "+typ.Name+"\n") {
			t.Errorf("docs/policies/%s.md must start with \"# %s\"", typ.Name, typ.Name)
		}
		if !strings.Contains(strings.ToLower(page), "phase: "+typ.Phase.String()) && !strings.Contains(strings.ToLower(page), "phase: "+strings.ToLower(typ.Phase.String())) {
			t.Errorf("docs/policies/%s.md does not state \"phase: %s\"", typ.Name, typ.Phase)
		}
		for _, f := range fields(typ.ConfigType(), "") {
			if !strings.Contains(page, "`"+f+"`") {
				t.Errorf("docs/policies/%s.md does not document config field `%s`", typ.Name, f)
			}
		}
	}
}

// fields lists the JSON field paths of a config struct.
func fields(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			out = append(out, fields(f.Type, prefix)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+name)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" && !implementsUnmarshal(ft) {
			out = append(out, fields(ft, prefix+name+".")...)
		}
	}
	return out
}

func implementsUnmarshal(t reflect.Type) bool {
	u := reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()
	return reflect.PointerTo(t).Implements(u)
}

// TestRegistry: names are unique (NewRegistry panics otherwise) and every type decodes its
// zero configuration or rejects it with a message.
func TestRegistry(t *testing.T) {
	r := Registry()
	for _, name := range r.Names() {
		typ := r[name]
		if typ.Summary == "" {
			t.Errorf("%s has no summary", name)
		}
		if _, err := typ.Decode([]byte(`{"no_such_field": 1}`)); err == nil || !strings.Contains(err.Error(), "no_such_field") {
			t.Errorf("%s: an unknown field gives %v, want an error naming it", name, err)
		}
	}
	if _, ok := r[policy.SubscriptionType]; !ok {
		t.Error("the subscription check is not registered; authenticated APIs would skip authorization")
	}
}

// TestDocExamplesDecode: every YAML example in docs/policies.md and docs/policies/*.md
// holds policies whose configurations this registry accepts, so the docs cannot drift into
// fields that do not exist.
func TestDocExamplesDecode(t *testing.T) {
	root := filepath.Join("..", "..", "..", "docs")
	files, _ := filepath.Glob(filepath.Join(root, "policies", "*.md"))
	files = append(files, filepath.Join(root, "policies.md"), filepath.Join(root, "declarative.md"))
	reg := Registry()
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(b)) {
			var doc any
			if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
				t.Errorf("%s: example %d is not YAML: %v", f, i+1, err)
				continue
			}
			for _, spec := range findPolicies(doc) {
				typ, _ := spec["type"].(string)
				pt, ok := reg[typ]
				if !ok {
					t.Errorf("%s: example %d uses unknown policy type %q", f, i+1, typ)
					continue
				}
				raw, _ := json.Marshal(spec["config"])
				if spec["config"] == nil {
					raw = nil
				}
				if _, err := pt.Decode(raw); err != nil {
					t.Errorf("%s: example %d: %s: %v", f, i+1, typ, err)
				}
				checked++
			}
		}
	}
	if checked < len(Types()) {
		t.Errorf("only %d policy examples found; every page should have one", checked)
	}
}

func yamlBlocks(md string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(md, "```yaml\n")
		if !ok {
			return out
		}
		block, after, _ := strings.Cut(rest, "```")
		out = append(out, block)
		md = after
	}
}

// findPolicies returns every element of every "policies" list in doc.
func findPolicies(doc any) []map[string]any {
	var out []map[string]any
	switch v := doc.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "policies" {
				if list, ok := x.([]any); ok {
					for _, e := range list {
						if m, ok := e.(map[string]any); ok {
							out = append(out, m)
						}
					}
				}
				continue
			}
			out = append(out, findPolicies(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, findPolicies(x)...)
		}
	}
	return out
}
