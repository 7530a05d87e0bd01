package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parseJSON(t testing.TB, s string) (any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	return v, true
}

// rfc7396Cases are the examples of RFC 7396 appendix A.
var rfc7396Cases = []struct{ target, patch, want string }{
	{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
	{`{"a":"b"}`, `{"a":null}`, `{}`},
	{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
	{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
	{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
	{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
	{`["a","b"]`, `["c","d"]`, `["c","d"]`},
	{`{"a":"b"}`, `["c"]`, `["c"]`},
	{`{"a":"foo"}`, `null`, `null`},
	{`{"a":"foo"}`, `"bar"`, `"bar"`},
	{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
	{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
	{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
}

func TestMergePatchRFC7396(t *testing.T) {
	for _, c := range rfc7396Cases {
		target, _ := parseJSON(t, c.target)
		patch, _ := parseJSON(t, c.patch)
		want, _ := parseJSON(t, c.want)
		if diff := cmp.Diff(want, mergePatch(target, patch)); diff != "" {
			t.Errorf("%s + %s (-want +got):\n%s", c.target, c.patch, diff)
		}
	}
}

// FuzzMergePatch checks, for any two JSON values, that applying a patch leaves its inputs
// alone and is idempotent (RFC 7396 patches are).
func FuzzMergePatch(f *testing.F) {
	for _, c := range rfc7396Cases {
		f.Add(c.target, c.patch)
	}
	f.Add(apiBody, `{"upstream":{"targets":null},"tags":["x"]}`)
	f.Fuzz(func(t *testing.T, ts, ps string) {
		target, ok1 := parseJSON(t, ts)
		patch, ok2 := parseJSON(t, ps)
		if !ok1 || !ok2 {
			return
		}
		tb, _ := json.Marshal(target)
		pb, _ := json.Marshal(patch)
		once := mergePatch(target, patch)
		if b, _ := json.Marshal(target); string(b) != string(tb) {
			t.Fatalf("target modified: %s -> %s", tb, b)
		}
		if b, _ := json.Marshal(patch); string(b) != string(pb) {
			t.Fatalf("patch modified: %s -> %s", pb, b)
		}
		twice := mergePatch(once, patch)
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Fatalf("not idempotent for %s + %s:\n%s", ts, ps, diff)
		}
	})
}
