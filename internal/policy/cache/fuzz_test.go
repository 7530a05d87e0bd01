package cache

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func encodeEntry(status int, storedAt time.Time, fresh time.Duration, flags byte, h http.Header, body []byte) []byte {
	return append(appendEntryHead(nil, status, storedAt, fresh, flags, h), body...)
}

func TestEntryRoundTrip(t *testing.T) {
	h := http.Header{
		"Content-Type":   {"text/plain"},
		"Etag":           {`"abc"`},
		"Last-Modified":  {"Thu, 01 Jan 2026 00:00:00 GMT"},
		"X-Multi":        {"a", "b", ""},
		"Content-Length": {"5"},     // derived from the body instead
		"Connection":     {"X-Hop"}, // hop-by-hop
		"X-Hop":          {"named by Connection"},
		"Set-Cookie":     {"never stored"},
	}
	at := time.Unix(1_700_000_000, 123)
	b := encodeEntry(203, at, 90*time.Second, flagMustRevalidate, h, []byte("hello"))
	e, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.status != 203 || !e.storedAt.Equal(at) || e.fresh != 90*time.Second || !e.mustRevalidate() || string(e.body) != "hello" {
		t.Fatalf("decoded %+v", e)
	}
	if e.etag != `"abc"` || e.lastMod != "Thu, 01 Jan 2026 00:00:00 GMT" {
		t.Fatalf("validators %q %q", e.etag, e.lastMod)
	}
	got := e.header()
	want := http.Header{"Content-Type": h["Content-Type"], "Etag": h["Etag"], "Last-Modified": h["Last-Modified"], "X-Multi": h["X-Multi"]}
	if len(got) != len(want) {
		t.Fatalf("headers %v, want %v", got, want)
	}
	for k, vs := range want {
		if !slices.Equal(got[k], vs) {
			t.Fatalf("%s = %q, want %q", k, got[k], vs)
		}
	}
	// A 304 leaves the representation's metadata out; values already there are kept.
	dst := http.Header{"X-Multi": {"first"}}
	extra := e.apply(dst, true, 2)
	if len(extra) != 2 || dst["Content-Type"] != nil || !slices.Equal(dst["X-Multi"], []string{"first", "a", "b", ""}) {
		t.Fatalf("apply: %v, extra %d", dst, len(extra))
	}
	for n := range b {
		if _, err := decodeEntry(b[:n]); err == nil && n < len(b)-5 {
			t.Fatalf("a truncated entry (%d of %d bytes) decoded", n, len(b))
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	at := time.Unix(1_700_000_000, 0)
	f.Add(encodeEntry(200, at, time.Minute, 0, http.Header{"Content-Type": {"text/plain"}, "Etag": {`"x"`}}, []byte("body")))
	f.Add(encodeEntry(204, at, 0, flagMustRevalidate, http.Header{}, nil))
	f.Add(encodeEntry(301, at, time.Hour, 0, http.Header{"Location": {"/a", "/b"}, "Vary": {"Accept"}}, bytes.Repeat([]byte{0}, 100)))
	f.Add([]byte{})
	f.Add([]byte{entryVersion})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		h := e.header()
		e.apply(http.Header{}, true, 3)
		_ = notModified(`"x"`, "", e.etag, e.lastMod)
		// What decodes re-encodes to the same entry (less the headers an entry never holds).
		e2, err := decodeEntry(encodeEntry(e.status, e.storedAt, e.fresh, e.flags, h, e.body))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if e2.status != e.status || !e2.storedAt.Equal(e.storedAt) || e2.fresh != e.fresh || e2.flags != e.flags || !bytes.Equal(e2.body, e.body) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", e, e2)
		}
		for k, vs := range e2.header() {
			if !slices.Equal(h[k], vs) {
				t.Fatalf("round trip changed %q: %q -> %q", k, h[k], vs)
			}
		}
	})
}

func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"", "no-store", "max-age=60", `max-age="60"`, "max-age=abc", "s-maxage=10, max-age=5",
		"private, no-cache", `no-cache="Set-Cookie"`, "max-age=99999999999999999999999", "MAX-AGE=1,,, must-revalidate",
		"max-age=10, max-age=5", " = , =",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseCacheControl([]string{s})
		for _, v := range []int64{d.maxAge, d.sMaxAge} {
			if v < -1 || v > maxSeconds {
				t.Fatalf("%q: age %d out of range", s, v)
			}
		}
		fresh := lifetime(d, http.Header{"Cache-Control": {s}}, time.Unix(0, 0), time.Minute, time.Hour)
		if fresh < 0 || fresh > time.Hour {
			t.Fatalf("%q: lifetime %s", s, fresh)
		}
	})
}

func FuzzConditional(f *testing.F) {
	f.Add(`"a"`, `"a"`, "")
	f.Add(`W/"a", "b"`, `"b"`, "")
	f.Add(`"a,b", "c"`, `W/"a,b"`, "")
	f.Add("*", `"x"`, "")
	f.Add("", `"x"`, "Thu, 01 Jan 2026 00:00:00 GMT")
	f.Add(`"unterminated`, `"x"`, "not a date")
	f.Fuzz(func(t *testing.T, inm, etag, ims string) {
		_ = notModified(inm, ims, etag, ims)
		// A well-formed tag always matches itself, strongly or weakly.
		if tag := `"` + strings.ReplaceAll(etag, `"`, "") + `"`; !etagMatch(tag, "W/"+tag) || !etagMatch("W/"+tag+", ", tag) {
			t.Fatalf("%s does not match itself", tag)
		}
	})
}

func FuzzQueryKey(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1&b=2", "b=2&a=1", "a=1&a=2", "&&x", "sort+by=1&page=%zz", "=&=="} {
		f.Add(s)
	}
	all := &handler{query: queryAll}
	list := &handler{query: queryList, params: []string{"a", "sort by"}}
	f.Fuzz(func(t *testing.T, raw string) {
		key := all.appendQuery(nil, raw)
		_ = list.appendQuery(nil, raw)
		// Parameters with distinct names may come in any order.
		parts := strings.Split(raw, "&")
		names := map[string]bool{}
		for _, p := range parts {
			names[paramName(p)] = true
		}
		if len(names) == len(parts) {
			slices.Reverse(parts)
			if got := all.appendQuery(nil, strings.Join(parts, "&")); !bytes.Equal(got, key) {
				t.Fatalf("%q reversed gives another key", raw)
			}
		}
	})
}
