package openapivalidate

import (
	"errors"
	"math/big"
	"testing"

	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/jsonschema/v6/kind"
)

func TestExplain(t *testing.T) {
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	tests := []struct {
		k    jsonschema.ErrorKind
		want string
	}{
		{&kind.Type{Got: "string", Want: []string{"integer", "null"}}, "expected integer or null, got string"},
		{&kind.Enum{Got: "x", Want: []any{"a", 1.5}}, `must be one of "a", 1.5`},
		{&kind.Const{Got: 1, Want: "on"}, `must be "on"`},
		{&kind.Format{Got: "x", Want: "date-time", Err: errors.New("bad")}, "must be a valid date-time"},
		{&kind.Minimum{Got: rat("0"), Want: rat("1")}, "must be >= 1"},
		{&kind.Maximum{Got: rat("101"), Want: rat("100")}, "must be <= 100"},
		{&kind.ExclusiveMinimum{Got: rat("0"), Want: rat("0.5")}, "must be > 0.5"},
		{&kind.ExclusiveMaximum{Got: rat("9"), Want: rat("9")}, "must be < 9"},
		{&kind.MultipleOf{Got: rat("7"), Want: rat("1/4")}, "must be a multiple of 0.25"},
		{&kind.MinLength{Got: 1, Want: 2}, "must be at least 2 characters long"},
		{&kind.MaxLength{Got: 9, Want: 8}, "must be at most 8 characters long"},
		{&kind.Pattern{Got: "x", Want: "^[a-z]+$"}, `must match the pattern "^[a-z]+$"`},
		{&kind.MinItems{Got: 0, Want: 1}, "must have at least 1 items"},
		{&kind.MaxItems{Got: 5, Want: 4}, "must have at most 4 items"},
		{&kind.UniqueItems{Duplicates: [2]int{0, 3}}, "items 0 and 3 must not be equal"},
		{&kind.MinProperties{Got: 0, Want: 1}, "must have at least 1 properties"},
		{&kind.MaxProperties{Got: 3, Want: 2}, "must have at most 2 properties"},
		{&kind.Required{Missing: []string{"a", "b"}}, `missing required properties "a", "b"`},
		{&kind.DependentRequired{Prop: "a", Missing: []string{"b"}}, `property "a" requires "b"`},
		{&kind.AdditionalProperties{Properties: []string{"x"}}, `unexpected property "x"`},
		{&kind.FalseSchema{}, "not allowed"},
		{&kind.Not{}, "must not match the schema"},
		{&kind.OneOf{}, "must match one of the schemas (oneOf)"},
		{&kind.OneOf{Subschemas: []int{0, 1}}, "must match exactly one of the schemas (oneOf), matches several"},
		{&kind.AnyOf{}, "must match at least one of the schemas (anyOf)"},
		{nil, "invalid"},
		{&kind.MinContains{Got: []int{1}, Want: 2}, "min 2 items required to match contains schema, but matched 1 items at 1"},
	}
	for _, tt := range tests {
		if got := explain(tt.k); got != tt.want {
			t.Errorf("explain(%T) = %q, want %q", tt.k, got, tt.want)
		}
	}
}

func TestPointer(t *testing.T) {
	if got := pointer([]string{"a/b", "~c", "0"}); got != "/a~1b/~0c/0" {
		t.Errorf("pointer: %q", got)
	}
	for _, tt := range []struct {
		a, b []string
		want int
	}{
		{[]string{"items", "2"}, []string{"items", "10"}, -1},
		{[]string{"a"}, []string{"a", "b"}, -1},
		{[]string{"b"}, []string{"a", "z"}, 1},
		{nil, nil, 0},
	} {
		if got := cmpPath(tt.a, tt.b); got != tt.want {
			t.Errorf("cmpPath(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
