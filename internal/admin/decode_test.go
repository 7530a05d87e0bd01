package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func TestPosition(t *testing.T) {
	b := []byte("{\n  \"a\": x\n}")
	for off, want := range map[int64]string{
		0:  "line 1, column 1 (byte 0)",
		2:  "line 2, column 1 (byte 2)",
		9:  "line 2, column 8 (byte 9)",
		99: "line 3, column 2 (byte 12)",
		-1: "line 1, column 1 (byte 0)",
	} {
		if got := position(b, off); got != want {
			t.Errorf("position(%d) = %q, want %q", off, got, want)
		}
	}
}

func TestJSONFields(t *testing.T) {
	var got []string
	for k := range jsonFields(reflect.TypeFor[gatehouse.Developer]()) {
		got = append(got, k)
	}
	sort.Strings(got)
	want := []string{"created_at", "email", "name", "revision", "status", "updated_at"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Developer fields (-want +got):\n%s", diff)
	}
	if _, ok := jsonFields(reflect.TypeFor[gatehouse.Key]())["Hash"]; ok {
		t.Error(`json:"-" field listed`)
	}
	if _, ok := jsonFields(reflect.TypeFor[keyCreated]())["key"]; !ok {
		t.Error("keyCreated lacks key")
	}
}

func TestDecodeIntoLeavesDstAlone(t *testing.T) {
	d := gatehouse.Developer{Name: "kept"}
	doc, err := decodeDoc([]byte(`{"name":"changed","status":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeInto(doc, &d); err == nil || d.Name != "kept" {
		t.Errorf("decodeInto = %v, left %q", err, d.Name)
	}
}

// decodeSeeds are request bodies for the fuzzer: valid, broken, and nearly valid.
var decodeSeeds = []string{
	apiBody,
	`{"name":"p","apis":["a"],"rate_limit":{"limit":10,"window":"1s"},"quota":{"limit":5,"period":"day"},"policies":[{"type":"cors","config":{"origins":["*"]}}]}`,
	`{"name":"a","upstream":{"targets":[{"url":"http://x","weight":"heavy"}],"health_check":{"path":"/h","interval":"5s"}}}`,
	`{"name":"a","sunset":"2030-01-02T15:04:05Z","routes":[{"path":"/x/{id}","methods":["get"]}]}`,
	`{"name":"a","openapi":"{\"openapi\":\"3.1.0\"}","tags":null,"hosts":["*.example.com"]}`,
	`{"revision":"x","id":[],"Name":"a"}`,
	`{"a":1e999}`, `{"upstream":{"retries":1.5}}`, `{"upstream":{"retries":-9223372036854775809}}`,
	`{`, `[]`, `null`, `"x"`, `{} {}`, "{\"a\":\"\xff\"}", " \n ", `{"a":{"b":{"c":[[[[]]]]}}}`,
}

// FuzzDecodeBody feeds arbitrary bytes through the body decoder into an API, the richest
// resource. It must never panic, must fail only with invalid, and the shape check must be
// at least as strict as encoding/json, so that nothing it passes can fail in the typed
// decode (whose errors have worse paths).
func FuzzDecodeBody(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := decodeDoc(body)
		if err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
				t.Fatalf("decodeDoc error with code %q: %v", gatehouse.ErrorCode(err), err)
			}
			return
		}
		var p gatehouse.Problems
		checkShape(&p, "", doc, reflect.TypeFor[gatehouse.API]())
		shapeOK := p.Err("x") == nil
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("re-encoding a decoded document: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var strict gatehouse.API
		if err := dec.Decode(&strict); err != nil && shapeOK {
			t.Fatalf("shape check passed %s but encoding/json says %v", b, err)
		}

		var a gatehouse.API
		err = decodeInto(doc, &a, serverFields()...)
		if err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
				t.Fatalf("decodeInto error with code %q: %v", gatehouse.ErrorCode(err), err)
			}
			return
		}
		// A decoded API survives a round trip through JSON and the decoder again.
		again, err := json.Marshal(&a)
		if err != nil {
			t.Fatalf("encoding a decoded API: %v", err)
		}
		doc2, err := decodeDoc(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		var b2 gatehouse.API
		if err := decodeInto(doc2, &b2); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
	})
}

func TestEntityTags(t *testing.T) {
	cases := []struct {
		in   string
		tags []string
		star bool
		ok   bool
	}{
		{`"1"`, []string{`"1"`}, false, true},
		{` W/"1" , "2"`, []string{`W/"1"`, `"2"`}, false, true},
		{`"a,b"`, []string{`"a,b"`}, false, true},
		{`*`, nil, true, true},
		{`1`, nil, false, false},
		{`"1`, nil, false, false},
		{`"1" "2"`, nil, false, false},
		{`"1",`, []string{`"1"`}, false, true},
		{``, nil, false, false},
	}
	for _, c := range cases {
		tags, star, ok := entityTags(c.in)
		if ok != c.ok || star != c.star || (ok && !slices.Equal(tags, c.tags)) {
			t.Errorf("entityTags(%q) = %q, %v, %v; want %q, %v, %v", c.in, tags, star, ok, c.tags, c.star, c.ok)
		}
	}
	if !noneMatch(`W/"5"`, 5) || noneMatch(`"6"`, 5) || !noneMatch(`*`, 5) || noneMatch(`bad`, 5) {
		t.Error("noneMatch")
	}
}
