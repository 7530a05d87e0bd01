package declarative

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse"
)

// sameDocs compares documents as Parse(Encode(d)) promises: equal after Normalize, with
// empty and missing lists alike.
func sameDocs(t testing.TB, want, got *Document) {
	t.Helper()
	norm := func(d *Document) *Document {
		out := &Document{}
		for _, s := range sections() {
			for _, r := range s.get(d) {
				s.add(out, normalized(r))
			}
		}
		return out
	}
	opts := cmp.Options{cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}
	if diff := cmp.Diff(norm(want), norm(got), opts); diff != "" {
		t.Fatalf("documents differ (-want +got):\n%s", diff)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := mustParse(t, string(data))
	out, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse("encoded.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Encode(d)): %v\n%s", err, out)
	}
	// Parse keeps file order and Encode sorts; compare in Encode's order.
	sorted := func(d *Document) *Document {
		out := &Document{}
		for _, s := range sections() {
			for _, r := range sortedNormalized(s.get(d)) {
				s.add(out, r)
			}
		}
		return out
	}
	sameDocs(t, sorted(d), d2)
	out2, err := Encode(d2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, out2) {
		t.Errorf("Encode is not stable:\n%s\n---\n%s", out, out2)
	}
}

func TestEncode(t *testing.T) {
	weight0 := 0
	sunset := time.Date(2027, 1, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))
	d := &Document{
		Subscriptions: []*gatehouse.Subscription{
			{ID: "sub_2", App: "b", Plan: "p", Status: gatehouse.SubActive, Meta: gatehouse.Meta{Revision: 9}},
			{ID: "sub_1", App: "a-b", Plan: "p"},
			{ID: "sub_3", App: "a", Plan: "q"},
		},
		APIs: []*gatehouse.API{
			{Name: "zeta", State: gatehouse.StateDraft, Path: "/", StripPath: false, Version: "1.10",
				Upstream: gatehouse.Upstream{Balancing: gatehouse.BalanceRoundRobin, Targets: []gatehouse.Target{{URL: "http://a", Weight: &weight0}}},
				OpenAPI:  "openapi: 3.0.0\npaths: {}\n", Sunset: &sunset,
				Meta: gatehouse.Meta{Revision: 3, CreatedAt: time.Unix(1, 0)}},
			{Name: "alpha", Description: "true", Upstream: gatehouse.Upstream{ConnectTimeout: gatehouse.Duration(90 * time.Second)}},
		},
		Plans: []*gatehouse.Plan{{Name: "p", APIs: []string{"zeta", "alpha", "zeta"}, Approval: gatehouse.ApprovalAuto,
			RateLimit: &gatehouse.RateLimit{Limit: 5, Window: gatehouse.Duration(time.Minute)},
			Policies:  []gatehouse.PolicySpec{{Type: "x", Config: []byte(`{"b": [], "a": {}}`)}, {Type: "y", Config: []byte(`{}`)}}}},
		Developers: []*gatehouse.Developer{{Email: "Z@Example.com", Status: gatehouse.DeveloperActive}, {Email: "a@example.com", Name: "A", Status: gatehouse.DeveloperBlocked}},
	}
	before, _ := canonicalJSON(d.APIs[0])
	out, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `apis:
  - name: alpha
    description: "true"
    upstream:
      connect_timeout: 1m30s
  - name: zeta
    version: "1.10"
    upstream:
      targets:
        - url: http://a
          weight: 0
    openapi: |
      openapi: 3.0.0
      paths: {}
    sunset: "2027-01-01T11:00:00Z"
plans:
  - name: p
    apis:
      - alpha
      - zeta
    rate_limit:
      limit: 5
      window: 1m
    policies:
      - type: x
        config:
          a: {}
          b: []
      - type: y
developers:
  - email: a@example.com
    name: A
    status: blocked
  - email: z@example.com
subscriptions:
  - app: a
    plan: q
  - app: a-b
    plan: p
  - app: b
    plan: p
    status: active
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Encode mismatch (-want +got):\n%s", diff)
	}
	if after, _ := canonicalJSON(d.APIs[0]); !bytes.Equal(before, after) || d.APIs[0].Meta.Revision != 3 || d.Subscriptions[0].ID != "sub_2" {
		t.Error("Encode modified its input")
	}
	// Input order does not matter.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		rng.Shuffle(len(d.Subscriptions), func(i, j int) { d.Subscriptions[i], d.Subscriptions[j] = d.Subscriptions[j], d.Subscriptions[i] })
		rng.Shuffle(len(d.Developers), func(i, j int) { d.Developers[i], d.Developers[j] = d.Developers[j], d.Developers[i] })
		again, err := Encode(d)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("Encode depends on input order: %v\n%s", err, again)
		}
	}
}

func TestEncodeEmpty(t *testing.T) {
	for _, d := range []*Document{nil, {}, {APIs: []*gatehouse.API{nil}}} {
		out, err := Encode(d)
		if err != nil || string(out) != "{}\n" {
			t.Errorf("Encode(%+v) = %q, %v", d, out, err)
		}
		back := mustParse(t, string(out))
		if len(back.APIs) != 0 {
			t.Errorf("Parse(%q) = %+v", out, back)
		}
	}
}

// TestEncodeTricky round-trips strings YAML would otherwise misread.
func TestEncodeTricky(t *testing.T) {
	descs := []string{
		"yes", "no", "~", "null", "1e3", "0x10", "2026-01-01", "- item", "key: value", "#comment", "*alias", "&anchor",
		"trailing space ", " leading space", "line\nbreak", "ends with newline\n", "two\n\nblank\n\n", "tab\tinside",
		"windows\r\nline", "unicode ✓ ünïcödé", "quote \" and ' both", "{flow}", "[flow]", "%percent", "@at", "`tick`",
		"back\\slash", "\x00nul", "\n", "   ", "---", "...",
	}
	d := &Document{}
	for i, s := range descs {
		d.Apps = append(d.Apps, &gatehouse.App{Name: strings.Repeat("a", i+1), Developer: "d@example.com", Description: s})
		d.APIs = append(d.APIs, &gatehouse.API{Name: strings.Repeat("a", i+1), OpenAPI: s}) // a literal block
	}
	out, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("tricky.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sameDocs(t, d, back)
}

func TestEncodeOpenAPI(t *testing.T) {
	d := &Document{APIs: []*gatehouse.API{{Name: "a", OpenAPI: `{"openapi": "3.1.0", "paths": {}}`}}}
	out, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	want := "apis:\n  - name: a\n    openapi: |-\n      {\"openapi\": \"3.1.0\", \"paths\": {}}\n"
	if string(out) != want {
		t.Errorf("Encode = %q, want %q", out, want)
	}
	sameDocs(t, d, mustParse(t, string(out)))
}

func TestResourceYAML(t *testing.T) {
	out, err := resourceYAML(&gatehouse.Plan{Name: "p", Meta: gatehouse.Meta{Revision: 4}})
	if err != nil || string(out) != "name: p\n" {
		t.Errorf("resourceYAML = %q, %v", out, err)
	}
}
