package builtin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
