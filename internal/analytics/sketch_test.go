package analytics

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank q-quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[nearestRank(q, uint64(len(sorted)))-1]
}

// relErr is |got-want|/want; nanosecond rounding of the reported value adds at most
// 0.5ns, so tests allow that on top of the 1%.
func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}

const accuracySlack = 1e-6 // nanosecond rounding on values of 1ms and more

func distributions(r *rand.Rand) map[string]func() time.Duration {
	return map[string]func() time.Duration{
		"uniform 1ms-1s": func() time.Duration {
			return time.Millisecond + time.Duration(r.Int64N(int64(time.Second)))
		},
		"lognormal median 20ms": func() time.Duration {
			return time.Duration(math.Exp(math.Log(20e6) + r.NormFloat64()*1.2))
		},
		"bimodal 2ms/400ms": func() time.Duration {
			if r.IntN(10) < 8 {
				return time.Duration(2e6 + r.NormFloat64()*2e5)
			}
			return time.Duration(400e6 + r.NormFloat64()*5e7)
		},
		"exponential mean 50ms": func() time.Duration {
			return time.Millisecond + time.Duration(r.ExpFloat64()*50e6)
		},
	}
}

// TestSketchAccuracy: quantiles from merged per-"minute" sketches, as a query computes
// them from rollups, are within 1% of the exact nearest-rank quantile of the same samples.
func TestSketchAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	qs := []float64{0.5, 0.9, 0.95, 0.99, 0.999}
	for name, gen := range distributions(r) {
		t.Run(name, func(t *testing.T) {
			const n, parts = 200_000, 60
			var all []time.Duration
			sketches := make([]*Sketch, parts)
			for i := range sketches {
				sketches[i] = new(Sketch)
			}
			for i := range n {
				d := max(gen(), time.Millisecond)
				all = append(all, d)
				sketches[i%parts].Add(d)
			}
			// Rows go through their encoding, as they do through the store.
			var merged Sketch
			for _, s := range sketches {
				b, _ := s.MarshalBinary()
				if err := merged.MergeBinary(b); err != nil {
					t.Fatal(err)
				}
			}
			if merged.Count() != n {
				t.Fatalf("count %d, want %d", merged.Count(), n)
			}
			slices.Sort(all)
			worst := 0.0
			for _, q := range qs {
				got, want := merged.Quantile(q), exactQuantile(all, q)
				e := relErr(got, want)
				worst = max(worst, e)
				if e > SketchAccuracy+accuracySlack {
					t.Errorf("q%.3f = %v, exact %v: error %.4f%%", q, got, want, 100*e)
				}
			}
			t.Logf("worst relative error %.4f%% over %v", 100*worst, qs)
		})
	}
}

// TestSketchEveryRank checks the bound at every rank of a small sample, where rounding
// of ranks matters most.
func TestSketchEveryRank(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 7, 100, 1001} {
		var s Sketch
		vals := make([]time.Duration, n)
		for i := range vals {
			vals[i] = time.Duration(r.Int64N(int64(10*time.Second))) + time.Millisecond
			s.Add(vals[i])
		}
		slices.Sort(vals)
		for i := 0; i <= 1000; i++ {
			q := float64(i) / 1000
			if e := relErr(s.Quantile(q), exactQuantile(vals, q)); e > SketchAccuracy+accuracySlack {
				t.Fatalf("n=%d q=%v: error %.4f%%", n, q, 100*e)
			}
		}
	}
}

func TestSketchEdges(t *testing.T) {
	var s Sketch
	if s.Quantile(0.5) != 0 || s.Count() != 0 {
		t.Fatal("empty sketch")
	}
	s.Add(0)
	s.Add(-time.Second)
	s.Add(500 * time.Nanosecond)
	s.Add(time.Microsecond)
	s.Add(30 * 24 * time.Hour)
	s.Add(100 * 365 * 24 * time.Hour) // clamped into the last bucket
	if s.Count() != 6 {
		t.Fatalf("count %d", s.Count())
	}
	if got := s.Quantile(0.5); got != 0 {
		t.Errorf("median %v, want 0 (three of six under 1µs)", got)
	}
	if got := s.Quantile(4.0 / 6); relErr(got, time.Microsecond) > SketchAccuracy+1e-3 {
		t.Errorf("4th value %v, want ~1µs", got)
	}
	if got := s.Quantile(5.0 / 6); relErr(got, 30*24*time.Hour) > SketchAccuracy {
		t.Errorf("5th value %v, want ~30 days", got)
	}
	for _, d := range []time.Duration{time.Microsecond, time.Hour} {
		if i, _ := sketchIndex(d); i >= sketchMaxIndex {
			t.Errorf("%v is clamped", d)
		}
	}
}

func TestSketchMergeEqualsWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var whole, a, b Sketch
	for i := range 10_000 {
		d := time.Duration(r.ExpFloat64() * 1e7)
		if i < 100 {
			d = time.Duration(r.Int64N(1e12)) // widen a's range so merging regrows b's
		}
		whole.Add(d)
		if i%2 == 0 {
			a.Add(d)
		} else {
			b.Add(d)
		}
	}
	b.Merge(&a)
	wb, _ := whole.MarshalBinary()
	mb, _ := b.MarshalBinary()
	if !bytes.Equal(wb, mb) {
		t.Fatal("merged sketch differs from the sketch of all values")
	}
	var c Sketch
	if err := c.UnmarshalBinary(wb); err != nil {
		t.Fatal(err)
	}
	cb, _ := c.MarshalBinary()
	if !bytes.Equal(wb, cb) || c.Count() != whole.Count() {
		t.Fatal("round trip differs")
	}
	// Reset keeps memory and leaves an empty sketch.
	c.Reset()
	if c.Count() != 0 || c.Quantile(0.9) != 0 {
		t.Fatal("reset sketch not empty")
	}
}

func TestSketchAddDoesNotAllocate(t *testing.T) {
	s := GetSketch()
	for i := range 2000 {
		s.Add(time.Duration(i) * 37 * time.Microsecond)
	}
	s.Reset()
	allocs := testing.AllocsPerRun(1000, func() {
		s.Add(3 * time.Millisecond)
		s.Add(70 * time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Add on a reused sketch", allocs)
	}
	PutSketch(s)
}

func TestSketchRejectsGarbage(t *testing.T) {
	var s Sketch
	s.Add(time.Millisecond)
	good, _ := s.MarshalBinary()
	bad := [][]byte{
		nil,
		{},
		{2, 0, 0},                     // version
		{1},                           // truncated
		{1, 0, 1},                     // missing pair
		{1, 0, 1, 0, 1},               // delta 0
		{1, 0, 1, 5, 0},               // count 0
		{1, 0, 1, 0xff, 0x7f, 1},      // index past the end
		append(slices.Clone(good), 0), // trailing
		{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},                                                       // overlong varint
		{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // sum overflows
		{1, 0x80, 0x00, 0}, // non-minimal varint
	}
	for _, b := range bad {
		var d Sketch
		if err := d.UnmarshalBinary(b); !errors.Is(err, ErrSketchEncoding) {
			t.Errorf("% x: err %v", b, err)
		} else if d.Count() != 0 {
			t.Errorf("% x: sketch not left empty", b)
		}
	}
}

func FuzzSketchUnmarshal(f *testing.F) {
	var s Sketch
	for _, d := range []time.Duration{0, time.Microsecond, time.Millisecond, time.Second, time.Hour} {
		s.Add(d)
	}
	good, _ := s.MarshalBinary()
	f.Add(good)
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 3, 2, 1, 1, 4, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Sketch
		if err := d.UnmarshalBinary(b); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes (the encoding is canonical) and
		// answers quantiles without panicking.
		enc, _ := d.MarshalBinary()
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding % x gave % x", b, enc)
		}
		_ = d.Quantile(0.99)
		var m Sketch
		m.Merge(&d)
		m.Merge(&d)
		if d.Count() < 1<<62 && m.Count() != 2*d.Count() {
			t.Fatal("merge count")
		}
	})
}
