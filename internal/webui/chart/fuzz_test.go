package chart

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

func float64Bytes(vs ...float64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// FuzzLine draws charts from arbitrary names, values (any float64 bits: NaN, ±Inf,
// subnormals, the largest), times and sizes: Line must not panic and its output must
// stay well-formed, inside the allowed markup, with finite coordinates.
func FuzzLine(f *testing.F) {
	f.Add("Requests", "req", "ok\nerrors", float64Bytes(1, 2, math.NaN(), 4, 5, 0), int64(1741942800), int64(60), 0, 0)
	f.Add(hostileNames[0], hostileNames[1], strings.Join(hostileNames, "\n"), float64Bytes(1, math.Inf(1), -1), int64(0), int64(3600), 300, 120)
	f.Add("", "", "", []byte{}, int64(0), int64(0), 0, 0)
	f.Add("one", "ms", "p99", float64Bytes(42), int64(-62135596800), int64(1), 1, 1)
	f.Add("huge", "B", "a\nb\nc\nd\ne\nf\ng\nh", float64Bytes(math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e300, -1e-300, math.Copysign(0, -1), 7, 8), int64(math.MaxInt64), int64(math.MinInt64), math.MaxInt, math.MinInt)
	f.Add("days", "%", "x", float64Bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), int64(1700000000), int64(86400*30), 720, 240)
	f.Add("\xff\x00bad", "\uFFFE", "\x01\n\u0085", float64Bytes(math.NaN(), 1, math.NaN()), int64(1e12), int64(-7), 0, 0)
	f.Fuzz(func(t *testing.T, title, unit, names string, raw []byte, start, step int64, width, height int) {
		nameList := strings.Split(names, "\n")
		if len(nameList) > 20 {
			nameList = nameList[:20]
		}
		if len(raw) > 8*4000 {
			raw = raw[:8*4000]
		}
		series := make([]Series, len(nameList))
		for i, n := range nameList {
			series[i].Name = n
		}
		for j := 0; j+8 <= len(raw); j += 8 {
			s := &series[(j/8)%len(series)]
			s.Values = append(s.Values, math.Float64frombits(binary.LittleEndian.Uint64(raw[j:])))
		}
		n := (len(raw)/8 + len(series) - 1) / len(series)
		ts := make([]time.Time, n)
		for i := range ts {
			ts[i] = time.Unix(start+int64(i)*step, 0)
		}
		c := Chart{Title: title, Unit: unit, Times: ts, Series: series, Width: width, Height: height, ID: "f"}
		out := string(Line(c))
		if _, err := parse(out); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

// FuzzLiveFigure: whatever the strings, the figure is well-formed, follows only a
// same-origin path, and lists only keys live.js can match.
func FuzzLiveFigure(f *testing.F) {
	f.Add("t", "Traffic", "/v1/analytics/live", "count", "Requests", "req")
	f.Add(hostileNames[1], hostileNames[0], `/x?" onload="y`, "a,b", hostileNames[2], hostileNames[7])
	f.Add("", "", "//evil", "", "", "")
	f.Add("x", "y", "/\\evil", "totals.p99_ms", "", "ms")
	f.Fuzz(func(t *testing.T, id, title, src, key, label, unit string) {
		out := string(LiveFigure(id, title, src, []LiveField{{Key: key, Label: label, Unit: unit}, {Key: "b"}}))
		root, err := parse(out)
		if err != nil {
			if strings.Contains(src, "NaN") || strings.Contains(src, "Inf") {
				t.Skip("the test's NaN check covers attributes, and src is one")
			}
			t.Fatalf("%v\n%s", err, out)
		}
		if got, ok := root.attrs["data-live-src"]; ok && (got != src || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`)) {
			t.Errorf("data-live-src %q from %q", got, src)
		}
		for _, k := range strings.Split(root.attrs["data-live-fields"], ",") {
			if !validKey(k) && k != "" {
				t.Errorf("field key %q", k)
			}
		}
	})
}
