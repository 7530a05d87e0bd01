package grip

import (
	"slices"
	"testing"
)

func TestVarSubst(t *testing.T) {
	vars := map[string]string{"user": "alice", "a)b": "q"}
	for in, want := range map[string]string{
		"plain":            "plain",
		"hi %(user)s!":     "hi alice!",
		"100%%":            "100%",
		`%(a\)b)s`:         "q",
		"%(nope)s":         "ERR",
		"%(user)d":         "ERR",
		"trailing %":       "ERR",
		"%(user":           "ERR",
		"%x":               "ERR",
		"%(user)s%(user)s": "alicealice",
	} {
		got, err := VarSubst([]byte(in), vars)
		if err != nil {
			got = []byte("ERR")
		}
		if string(got) != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func FuzzVarSubst(f *testing.F) {
	for _, s := range []string{"hi %(user)s %% %(x\\)y)s", "%(", ")s%(x)s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := VarSubst([]byte(s), map[string]string{"user": "alice", "x)y": "z"})
		if !slices.Contains([]byte(s), '%') && (err != nil || string(out) != s) {
			t.Fatalf("changed %q to %q (%v)", s, out, err)
		}
	})
}

func TestFiltersPass(t *testing.T) {
	subscribed := func(ch string) bool { return ch == "a" || ch == "b" }
	alice := map[string]string{"user": "alice"}
	cases := []struct {
		filters []string
		sub     map[string]string
		pub     map[string]string
		want    bool
	}{
		{[]string{"skip-self"}, alice, map[string]string{"sender": "alice"}, false},
		{[]string{"skip-self"}, alice, map[string]string{"sender": "bob"}, true},
		{[]string{"skip-self"}, nil, map[string]string{"sender": ""}, true},
		{nil, alice, map[string]string{"sender": "alice"}, true}, // not listed: not applied
		{[]string{"skip-users"}, alice, map[string]string{"skip_users": "bob, alice"}, false},
		{[]string{"skip-users"}, alice, map[string]string{"skip_users": "bob,carol"}, true},
		{[]string{"require-sub"}, nil, map[string]string{"require_sub": "b"}, true},
		{[]string{"require-sub"}, nil, map[string]string{"require_sub": "c"}, false},
		{[]string{"require-sub"}, nil, nil, true},
	}
	for i, c := range cases {
		if got := FiltersPass(c.filters, c.sub, c.pub, subscribed); got != c.want {
			t.Errorf("case %d: got %v", i, got)
		}
	}
}

func TestContentFiltersMatch(t *testing.T) {
	for _, c := range []struct {
		published, filters []string
		want               bool
	}{
		{nil, []string{"var-subst", "skip-self"}, true},
		{[]string{}, nil, true},
		{[]string{"var-subst"}, []string{"skip-self", "var-subst"}, true},
		{[]string{"var-subst"}, nil, false},
		{[]string{}, []string{"var-subst"}, false},
		{[]string{"build-id", "var-subst"}, []string{"var-subst", "build-id"}, false},
	} {
		if got := ContentFiltersMatch(c.published, c.filters); got != c.want {
			t.Errorf("%v against %v: %v", c.published, c.filters, got)
		}
	}
}
