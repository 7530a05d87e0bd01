package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Sketch parameters. Values are microseconds; bucket i holds values v with
// gamma^(i-1) < v <= gamma^i and reports 2*gamma^i/(gamma+1), which is within
// SketchAccuracy of every value in the bucket. Values under 1 µs go to the zero bucket
// (reported as 0), values past the last bucket are clamped into it.
const (
	// SketchAccuracy is the relative accuracy of Sketch quantiles.
	SketchAccuracy = 0.01
	// sketchMaxIndex covers up to gamma^1600 µs, about 2.5 years: realtime connections
	// are held for long.
	sketchMaxIndex = 1600
	sketchVersion  = 1
)

var (
	sketchGamma    = (1 + SketchAccuracy) / (1 - SketchAccuracy)
	sketchLogGamma = math.Log(sketchGamma)
)

// Sketch is a mergeable latency histogram (DDSketch-style log buckets): any quantile of
// the durations added, or of several sketches merged, is within SketchAccuracy (1%) of
// the exact nearest-rank value. The zero value is an empty sketch ready to use. Not safe
// for concurrent use.
type Sketch struct {
	zero   uint64   // values under 1 µs
	lo     int      // bucket index of counts[0]
	counts []uint64 // buckets lo .. lo+len(counts)-1
	n      uint64   // total, zero included
}

var sketchPool = sync.Pool{New: func() any { return new(Sketch) }}

// GetSketch returns an empty sketch from a pool; PutSketch returns it. Reusing sketches
// keeps their bucket arrays, so steady-state aggregation allocates nothing.
func GetSketch() *Sketch { return sketchPool.Get().(*Sketch) }

// PutSketch resets s and returns it to the pool.
func PutSketch(s *Sketch) {
	if s != nil {
		s.Reset()
		sketchPool.Put(s)
	}
}

// Reset empties s, keeping its memory.
func (s *Sketch) Reset() {
	clear(s.counts)
	s.counts = s.counts[:0]
	s.zero, s.n, s.lo = 0, 0, 0
}

// Count is the number of durations added (or merged in).
func (s *Sketch) Count() uint64 { return s.n }

func sketchIndex(d time.Duration) (int, bool) {
	if d < time.Microsecond {
		return 0, false
	}
	i := int(math.Ceil(math.Log(float64(d)/1e3) / sketchLogGamma))
	return min(max(i, 0), sketchMaxIndex), true
}

// sketchValue is bucket i's representative value.
func sketchValue(i int) time.Duration {
	v := 2 * math.Pow(sketchGamma, float64(i)) / (sketchGamma + 1) * 1e3
	return time.Duration(math.Round(v))
}

// Add counts d; negative and sub-microsecond durations count as zero.
func (s *Sketch) Add(d time.Duration) { s.addN(d, 1) }

func (s *Sketch) addN(d time.Duration, c uint64) {
	s.n += c
	i, ok := sketchIndex(d)
	if !ok {
		s.zero += c
		return
	}
	s.addIndex(i, c)
}

func (s *Sketch) addIndex(i int, c uint64) {
	if len(s.counts) == 0 || i < s.lo || i >= s.lo+len(s.counts) {
		s.grow(i, i)
	}
	s.counts[i-s.lo] += c
}

// grow makes the buckets cover [a, b], with slack so that neighbours do not regrow.
func (s *Sketch) grow(a, b int) {
	const slack = 16
	if len(s.counts) > 0 {
		a, b = min(a, s.lo), max(b, s.lo+len(s.counts)-1)
	}
	a, b = max(a-slack, 0), min(b+slack, sketchMaxIndex)
	// Widen into the spare capacity first (reset sketches keep theirs).
	if c := cap(s.counts); b-a+1 < c {
		extra := c - (b - a + 1)
		a = max(a-extra/2, 0)
		b = min(a+c-1, sketchMaxIndex)
	}
	n := b - a + 1
	if len(s.counts) == 0 {
		if cap(s.counts) >= n {
			s.counts = s.counts[:n]
		} else {
			s.counts = make([]uint64, n)
		}
		s.lo = a
		return
	}
	var dst []uint64
	if cap(s.counts) >= n {
		dst = s.counts[:n]
	} else {
		dst = make([]uint64, n)
	}
	// copy handles the overlap when dst shares s.counts' array.
	off := s.lo - a
	copy(dst[off:], s.counts)
	clear(dst[:off])
	clear(dst[off+len(s.counts):])
	s.counts, s.lo = dst, a
}

// Merge adds o's durations to s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.n == 0 {
		return
	}
	s.n += o.n
	s.zero += o.zero
	first, last := -1, -1
	for i, c := range o.counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return
	}
	a, b := o.lo+first, o.lo+last
	if len(s.counts) == 0 || a < s.lo || b >= s.lo+len(s.counts) {
		s.grow(a, b)
	}
	for i := first; i <= last; i++ {
		s.counts[o.lo+i-s.lo] += o.counts[i]
	}
}

// Quantile is the nearest-rank q-quantile (0 <= q <= 1) of the durations, within 1%; 0
// for an empty sketch.
func (s *Sketch) Quantile(q float64) time.Duration {
	if s.n == 0 {
		return 0
	}
	rank := nearestRank(q, s.n)
	if rank <= s.zero {
		return 0
	}
	seen := s.zero
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			return sketchValue(s.lo + i)
		}
	}
	return sketchValue(s.lo + len(s.counts) - 1) // unreachable when counts add up
}

// nearestRank is the 1-based rank of the q-quantile of n values: ceil(q*n), at least 1.
// The small epsilon keeps 0.99*100 at 99 despite floating point.
func nearestRank(q float64, n uint64) uint64 {
	q = min(max(q, 0), 1)
	r := uint64(math.Ceil(q*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// MarshalBinary encodes s: a version byte, then uvarints: the zero count, the number of
// non-empty buckets, and per bucket the index delta from the previous one (the first from
// -1) and the count.
func (s *Sketch) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary appends s's encoding (see MarshalBinary) to b.
func (s *Sketch) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, sketchVersion)
	b = binary.AppendUvarint(b, s.zero)
	nz := 0
	for _, c := range s.counts {
		if c != 0 {
			nz++
		}
	}
	b = binary.AppendUvarint(b, uint64(nz))
	prev := -1
	for i, c := range s.counts {
		if c != 0 {
			b = binary.AppendUvarint(b, uint64(s.lo+i-prev))
			b = binary.AppendUvarint(b, c)
			prev = s.lo + i
		}
	}
	return b, nil
}

// ErrSketchEncoding is returned (wrapped) for bytes that are not an encoded Sketch.
var ErrSketchEncoding = errors.New("analytics: invalid sketch encoding")

// UnmarshalBinary replaces s with the decoded sketch; on error s is left empty.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	s.Reset()
	if err := s.MergeBinary(b); err != nil {
		s.Reset()
		return err
	}
	return nil
}

// MergeBinary adds an encoded sketch to s without decoding it into a separate Sketch
// (queries merge thousands of rows this way). On error s may hold part of b.
func (s *Sketch) MergeBinary(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrSketchEncoding)
	}
	if b[0] != sketchVersion {
		return fmt.Errorf("%w: version %d", ErrSketchEncoding, b[0])
	}
	b = b[1:]
	next := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b)
		// Non-minimal varints are refused too: the encoding is canonical.
		if n <= 0 || n > 1 && b[n-1] == 0 {
			return 0, fmt.Errorf("%w: bad %s", ErrSketchEncoding, what)
		}
		b = b[n:]
		return v, nil
	}
	zero, err := next("zero count")
	if err != nil {
		return err
	}
	nz, err := next("bucket count")
	if err != nil {
		return err
	}
	if nz > sketchMaxIndex+1 || nz > uint64(len(b))/2 {
		return fmt.Errorf("%w: %d buckets", ErrSketchEncoding, nz)
	}
	total := zero
	idx := -1
	for range nz {
		d, err := next("index")
		if err != nil {
			return err
		}
		c, err := next("count")
		if err != nil {
			return err
		}
		if d == 0 || d > sketchMaxIndex+1 || idx+int(d) > sketchMaxIndex {
			return fmt.Errorf("%w: index out of range", ErrSketchEncoding)
		}
		if c == 0 || total+c < total {
			return fmt.Errorf("%w: bad count", ErrSketchEncoding)
		}
		idx += int(d)
		total += c
		s.addIndex(idx, c)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrSketchEncoding, len(b))
	}
	s.zero += zero
	s.n += total
	return nil
}
