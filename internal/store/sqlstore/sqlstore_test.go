package sqlstore

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// cursorLayouts are the sort keys of the lists: by name, by creation, by audit id.
func cursorLayouts() [][]sortCol {
	return [][]sortCol{
		{{"name", keyText}},
		{{"created_at", keyTime}, {"id", keyText}},
		{{"id", keyInt}},
	}
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	tests := []struct {
		cols []sortCol
		key  []string
		want []any
	}{
		{cursorLayouts()[0], []string{"orders-v2"}, []any{"orders-v2"}},
		{cursorLayouts()[0], []string{`we"ird/é`}, []any{`we"ird/é`}},
		{cursorLayouts()[1], []string{cursorTime(at), "key_abc"}, []any{at, "key_abc"}},
		{cursorLayouts()[2], []string{"9007199254740993"}, []any{int64(9007199254740993)}},
	}
	for _, tc := range tests {
		c := encodeCursor(tc.key)
		got, err := decodeCursor(c, tc.cols)
		if err != nil {
			t.Fatalf("decodeCursor(%q): %v", c, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("decodeCursor(encodeCursor(%q)) (-want +got):\n%s", tc.key, d)
		}
	}
}

func TestCursorRejects(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		cursor string
		cols   []sortCol
	}{
		{"%%%", cursorLayouts()[0]},
		{b64(`["a"]`) + "=", cursorLayouts()[0]},
		{b64(`"a"`), cursorLayouts()[0]},
		{b64(`["a", "b"]`), cursorLayouts()[0]},
		{b64(`["2026-01-02 03:04:05", "x"]`), cursorLayouts()[1]},
		{b64(`["2026-01-02T03:04:05.123456+01:00", "x"]`), cursorLayouts()[1]},
		{b64(`["12x"]`), cursorLayouts()[2]},
		{b64(`["99999999999999999999"]`), cursorLayouts()[2]},
	} {
		_, err := decodeCursor(tc.cursor, tc.cols)
		if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
			t.Errorf("decodeCursor(%q) = %v, want EInvalid", tc.cursor, err)
		}
	}
}

// FuzzDecodeCursor checks that no input makes the decoder panic, and that what it accepts
// re-encodes to a cursor that decodes to the same values.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor([]string{"orders"}))
	f.Add(encodeCursor([]string{cursorTime(time.Now()), "key_abc"}))
	f.Add(encodeCursor([]string{"42"}))
	f.Add("")
	f.Add("!!!")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`[null, {"a": 1}]`)))
	f.Fuzz(func(t *testing.T, cursor string) {
		for _, cols := range cursorLayouts() {
			vals, err := decodeCursor(cursor, cols)
			if err != nil {
				if gatehouse.ErrorCode(err) != gatehouse.EInvalid {
					t.Fatalf("decodeCursor(%q) error %v is not EInvalid", cursor, err)
				}
				continue
			}
			key := make([]string, len(vals))
			for i, v := range vals {
				switch v := v.(type) {
				case string:
					key[i] = v
				case time.Time:
					key[i] = cursorTime(v)
				case int64:
					key[i] = strconv.FormatInt(v, 10)
				default:
					t.Fatalf("decodeCursor(%q) returned a %T", cursor, v)
				}
			}
			again, err := decodeCursor(encodeCursor(key), cols)
			if err != nil {
				t.Fatalf("re-encoded cursor of %q rejected: %v", cursor, err)
			}
			if d := cmp.Diff(vals, again); d != "" {
				t.Fatalf("cursor %q does not round-trip (-first +second):\n%s", cursor, d)
			}
		}
	})
}

func TestNumberPlaceholders(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                         "SELECT 1",
		"a = ? AND b = ?":                  "a = $1 AND b = $2",
		"x = '?' AND y = ? AND \"q?\" = ?": "x = '?' AND y = $1 AND \"q?\" = $2",
		"(created_at, id) > (?, ?) ORDER BY id LIMIT ?": "(created_at, id) > ($1, $2) ORDER BY id LIMIT $3",
	} {
		if got := numberPlaceholders(in); got != want {
			t.Errorf("numberPlaceholders(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCeilMicro(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, tc := range []struct{ in, want time.Time }{
		{base, base},
		{base.Add(1), base.Add(time.Microsecond)},
		{base.Add(999), base.Add(time.Microsecond)},
		{base.In(time.FixedZone("X", 7200)), base},
	} {
		if got := ceilMicro(tc.in); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ceilMicro(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReadMigrations(t *testing.T) {
	sql := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := readMigrations(fstest.MapFS{
		"0010_later.sql": sql("B"),
		"0002_next.sql":  sql("A"),
		"0001_init.sql":  sql("0"),
		"README.md":      sql("not a migration"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%d %s %s", m.version, m.name, m.sql))
	}
	if want := []string{"1 0001_init 0", "2 0002_next A", "10 0010_later B"}; !slices.Equal(got, want) {
		t.Errorf("migrations %q, want %q", got, want)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"init.sql": sql("")},
		"zero":           {"0000_init.sql": sql("")},
		"shared version": {"0001_a.sql": sql(""), "1_b.sql": sql("")},
		"none":           {},
	} {
		if _, err := readMigrations(fsys); err == nil {
			t.Errorf("%s: readMigrations succeeded", name)
		}
	}
}
