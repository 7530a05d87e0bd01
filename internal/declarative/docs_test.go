package declarative

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
)

// TestDocs keeps docs/declarative.md honest: its YAML examples parse, and the plan it
// shows is what FormatChanges prints for that example.
func TestDocs(t *testing.T) {
	data, err := os.ReadFile("../../docs/declarative.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml examples")
	}
	for i, b := range blocks {
		if _, err := Parse("docs-example.yaml", []byte(b[1])); err != nil {
			t.Errorf("example %d does not parse:\n%v", i, err)
		}
	}
	desired := mustParse(t, blocks[0][1])
	current := mustParse(t, blocks[0][1])
	current.APIs = slices.DeleteFunc(current.APIs, func(a *gatehouse.API) bool { return a.Name == "orders-v1" })
	current.Plans[1].APIs, current.Plans[1].Approval = []string{"orders"}, gatehouse.ApprovalAuto
	current.Apps[0].Description = ""
	current.Apps = append(current.Apps, &gatehouse.App{Name: "old-shop", Developer: "ann@example.com"})
	current.Developers = current.Developers[:1]
	current.Subscriptions = current.Subscriptions[:1]
	var b strings.Builder
	FormatChanges(&b, Diff(desired, current, true))
	want := "$ gatehouse diff -f shop.yaml --prune\n" + b.String()
	if !strings.Contains(doc, want) {
		t.Errorf("docs/declarative.md does not show the plan FormatChanges prints:\n%s", want)
	}
}
