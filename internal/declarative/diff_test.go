package declarative

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse"
)

// summary lists changes as "op kind key [fields]" for compact comparison.
func summary(cs []Change) []string {
	var out []string
	for _, c := range cs {
		s := c.Op + " " + c.Kind + " " + c.Key
		if len(c.Fields) > 0 {
			s += " " + strings.Join(c.Fields, ",")
		}
		out = append(out, s)
	}
	return out
}

const currentDoc = `
apis:
  - {name: a, state: published, upstream: {targets: [{url: "http://a"}]}}
  - {name: old, path: /old}
plans:
  - {name: p, apis: [a, old], rate_limit: {limit: 10, window: 1m}}
  - {name: gone, apis: [old]}
developers:
  - {email: dev@example.com, name: Dev}
  - {email: left@example.com}
apps:
  - {name: x, developer: dev@example.com}
  - {name: y, developer: left@example.com}
subscriptions:
  - {app: x, plan: p, status: active}
  - {app: y, plan: gone, status: active}
  - {app: x, plan: gone, status: pending}
`

const desiredDoc = `
apis:
  - {name: b, path: /b}
  - {name: a, state: published, upstream: {targets: [{url: "http://a", weight: 100}], balancing: round_robin}}
plans:
  - {name: p, apis: [b, a], rate_limit: {limit: 20, window: 60s}}
developers:
  - {email: DEV@example.com, name: Dev}
  - {email: new@example.com}
apps:
  - {name: x, developer: dev@example.com, description: changed}
  - {name: z, developer: new@example.com}
subscriptions:
  - {app: x, plan: p}
  - {app: z, plan: p, status: active}
`

func TestDiff(t *testing.T) {
	desired, current := mustParse(t, desiredDoc), mustParse(t, currentDoc)
	tests := []struct {
		name             string
		desired, current *Document
		prune            bool
		want             []string
	}{
		{
			name: "without prune", desired: desired, current: current,
			want: []string{
				"create developer new@example.com",
				"create api b",
				"update plan p apis,rate_limit",
				"update app x description",
				"create app z",
				"create subscription z/p",
			},
		},
		{
			name: "with prune", desired: desired, current: current, prune: true,
			want: []string{
				"create developer new@example.com",
				"create api b",
				"update plan p apis,rate_limit",
				"update app x description",
				"create app z",
				"create subscription z/p",
				"delete subscription x/gone",
				"delete subscription y/gone",
				"delete app y",
				"delete plan gone",
				"delete api old",
				"delete developer left@example.com",
			},
		},
		{name: "equal", desired: current, current: current, prune: true},
		{name: "both nil", prune: true},
		{
			name: "from nothing", desired: current,
			want: []string{
				"create developer dev@example.com", "create developer left@example.com",
				"create api a", "create api old", "create plan gone", "create plan p",
				"create app x", "create app y",
				"create subscription x/gone", "create subscription x/p", "create subscription y/gone",
			},
		},
		{
			name: "to nothing", current: current, prune: true,
			want: []string{
				"delete subscription x/gone", "delete subscription x/p", "delete subscription y/gone",
				"delete app x", "delete app y", "delete plan gone", "delete plan p",
				"delete api a", "delete api old",
				"delete developer dev@example.com", "delete developer left@example.com",
			},
		},
		{
			name:    "subscription status",
			desired: mustParse(t, "subscriptions: [{app: x, plan: p, status: revoked}, {app: x, plan: q}, {app: x, plan: r, status: active}]"),
			current: mustParse(t, "subscriptions: [{app: x, plan: p, status: active}, {app: x, plan: q, status: pending}, {app: x, plan: r, status: active}]"),
			want:    []string{"update subscription x/p status"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Diff(tt.desired, tt.current, tt.prune))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffServerFields checks that what the server adds never shows as a change, and
// that changes carry what apply needs: the desired value to send and the current one's
// revision and id.
func TestDiffServerFields(t *testing.T) {
	desired := mustParse(t, "apis: [{name: a}]\nsubscriptions: [{app: x, plan: p, status: revoked}]\n")
	current := mustParse(t, "apis: [{name: a}]\nsubscriptions: [{app: x, plan: p, status: active}]\n")
	now := time.Now()
	current.APIs[0].Meta = gatehouse.Meta{Revision: 7, CreatedAt: now, UpdatedAt: now}
	current.Subscriptions[0].ID = "sub_1"
	current.Subscriptions[0].Meta = gatehouse.Meta{Revision: 8}
	cs := Diff(desired, current, true)
	if len(cs) != 1 {
		t.Fatalf("changes: %v", summary(cs))
	}
	c := cs[0]
	if cur := c.Current.(*gatehouse.Subscription); cur.ID != "sub_1" || cur.Revision != 8 {
		t.Errorf("Current lost server fields: %+v", cur)
	}
	if des := c.Desired.(*gatehouse.Subscription); des.Status != gatehouse.SubRevoked || des.ID != "" {
		t.Errorf("Desired: %+v", des)
	}
	// Diff must not modify its inputs.
	if current.APIs[0].Revision != 7 || desired.Subscriptions[0].Status != gatehouse.SubRevoked {
		t.Error("Diff modified its inputs")
	}
}

// TestDiffOrder checks, for random documents, that applying the changes in order never
// refers to a resource that does not exist at that moment, and that it reaches desired.
func TestDiffOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 200 {
		desired, current := randomDoc(rng), randomDoc(rng)
		prune := i%2 == 0
		cs := Diff(desired, current, prune)
		state := map[string]map[string]any{}
		for _, kind := range dependencyOrder() {
			state[kind] = map[string]any{}
			for _, r := range sectionOf(kind).get(current) {
				state[kind][keyOf(r)] = r
			}
		}
		for _, c := range cs {
			switch c.Op {
			case OpCreate, OpUpdate:
				for _, ref := range refs(c.Desired) {
					if state[ref[0]][ref[1]] == nil {
						t.Fatalf("doc %d: %s %s %s before %s %s exists\n%v", i, c.Op, c.Kind, c.Key, ref[0], ref[1], summary(cs))
					}
				}
				state[c.Kind][c.Key] = c.Desired
			case OpDelete:
				delete(state[c.Kind], c.Key)
				for kind, rs := range state {
					for key, r := range rs {
						for _, ref := range refs(r) {
							if ref[0] == c.Kind && ref[1] == c.Key && prune {
								t.Fatalf("doc %d: delete %s %s while %s %s refers to it\n%v", i, c.Kind, c.Key, kind, key, summary(cs))
							}
						}
					}
				}
			}
		}
		// Applying the changes reaches the desired state: diffing again finds nothing.
		after := &Document{}
		for _, kind := range dependencyOrder() {
			s := sectionOf(kind)
			var keys []string
			for k := range state[kind] {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				s.add(after, state[kind][k])
			}
		}
		if again := Diff(desired, after, prune); len(again) != 0 {
			t.Fatalf("doc %d: not converged: %v", i, summary(again))
		}
	}
}

// refs lists the (kind, key) pairs r refers to.
func refs(r any) [][2]string {
	var out [][2]string
	switch r := r.(type) {
	case *gatehouse.Plan:
		for _, a := range r.APIs {
			out = append(out, [2]string{gatehouse.KindAPI, a})
		}
	case *gatehouse.App:
		out = append(out, [2]string{gatehouse.KindDeveloper, gatehouse.NormalizeEmail(r.Developer)})
	case *gatehouse.Subscription:
		out = append(out, [2]string{gatehouse.KindApp, r.App}, [2]string{gatehouse.KindPlan, r.Plan})
	}
	return out
}

// randomDoc returns a small document whose references all resolve within it.
func randomDoc(rng *rand.Rand) *Document {
	d := &Document{}
	pick := func(n int) []int {
		var out []int
		for i := range n {
			if rng.IntN(2) == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range pick(4) {
		d.Developers = append(d.Developers, &gatehouse.Developer{Email: fmt.Sprintf("d%d@example.com", i), Name: fmt.Sprint(rng.IntN(2))})
	}
	for _, i := range pick(4) {
		d.APIs = append(d.APIs, &gatehouse.API{Name: fmt.Sprintf("api%d", i), Path: fmt.Sprintf("/p%d", rng.IntN(2))})
	}
	for _, i := range pick(4) {
		p := &gatehouse.Plan{Name: fmt.Sprintf("plan%d", i)}
		for _, a := range d.APIs {
			if rng.IntN(2) == 0 {
				p.APIs = append(p.APIs, a.Name)
			}
		}
		d.Plans = append(d.Plans, p)
	}
	if len(d.Developers) > 0 {
		for _, i := range pick(4) {
			dev := d.Developers[rng.IntN(len(d.Developers))]
			d.Apps = append(d.Apps, &gatehouse.App{Name: fmt.Sprintf("app%d", i), Developer: dev.Email})
		}
	}
	for _, a := range d.Apps {
		for _, p := range d.Plans {
			if rng.IntN(3) == 0 {
				status := []gatehouse.SubscriptionStatus{"", gatehouse.SubActive, gatehouse.SubRevoked}[rng.IntN(3)]
				d.Subscriptions = append(d.Subscriptions, &gatehouse.Subscription{App: a.Name, Plan: p.Name, Status: status})
			}
		}
	}
	return d
}

func TestFormatChanges(t *testing.T) {
	desired, current := mustParse(t, desiredDoc), mustParse(t, currentDoc)
	var b strings.Builder
	FormatChanges(&b, Diff(desired, current, true))
	want := `+ developer new@example.com
+ api b
~ plan p (apis, rate_limit)
    @@ -1,7 +1,7 @@
     name: p
     apis:
       - a
    -  - old
    +  - b
     rate_limit:
    -  limit: 10
    +  limit: 20
       window: 1m
~ app x (description)
    @@ -1,2 +1,3 @@
     name: x
     developer: dev@example.com
    +description: changed
+ app z
+ subscription z/p
- subscription x/gone
- subscription y/gone
- app y
- plan gone
- api old
- developer left@example.com

4 to create, 2 to update, 6 to delete
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("FormatChanges (-want +got):\n%s", diff)
	}
	b.Reset()
	FormatChanges(&b, nil)
	if b.String() != "no changes\n" {
		t.Errorf("FormatChanges(nil) = %q", b.String())
	}
}

func TestUnifiedDiff(t *testing.T) {
	split := func(s string) []string { return lines(s) }
	tests := []struct {
		a, b, want string
	}{
		{"a\nb\nc", "a\nb\nc", ""},
		{"", "x", "@@ -0,0 +1 @@\n+x"},
		{"x", "", "@@ -1 +0,0 @@\n-x"},
		// Six unchanged lines between changes: one hunk.
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11", "1\n2\nX\n4\n5\n6\n7\n8\n9\nY\n11",
			"@@ -1,11 +1,11 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n 8\n 9\n-10\n+Y\n 11"},
		// Seven: two hunks, as diff -u would print.
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12", "1\n2\nX\n4\n5\n6\n7\n8\n9\n10\nY\n12",
			"@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12"},
		{"a\nb", "b\nc", "@@ -1,2 +1,2 @@\n-a\n b\n+c"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14", "X\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY",
			"@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -11,4 +11,4 @@\n 11\n 12\n 13\n-14\n+Y"},
	}
	for _, tt := range tests {
		got := strings.Join(unifiedDiff(split(tt.a), split(tt.b), 3), "\n")
		if got != tt.want {
			t.Errorf("unifiedDiff(%q, %q):\n%s\nwant:\n%s", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestLineDiffProperty checks on random inputs that the edit script turns a into b.
func TestLineDiffProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	gen := func() []string {
		out := make([]string, rng.IntN(12))
		for i := range out {
			out[i] = string(rune('a' + rng.IntN(4)))
		}
		return out
	}
	for range 2000 {
		a, b := gen(), gen()
		var gotA, gotB []string
		for _, e := range lineDiff(a, b) {
			if e.op != '+' {
				gotA = append(gotA, e.line)
			}
			if e.op != '-' {
				gotB = append(gotB, e.line)
			}
		}
		if !slices.Equal(a, gotA) || !slices.Equal(b, gotB) {
			t.Fatalf("lineDiff(%q, %q) does not rebuild its inputs: %q %q", a, b, gotA, gotB)
		}
	}
}
