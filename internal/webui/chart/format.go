package chart

import (
	"math"
	"strconv"
	"strings"
)

// maxAbs bounds the values the layout works with: the span of two values within it is
// still finite, so scales and ticks never overflow. The data table shows values as given.
const maxAbs = 1e300

// minSpan is the smallest y range given ticks of its own; below it (all zeros, or
// values too close to tell apart) the axis is padded instead.
const minSpan = 1e-200

// suffixes are the compact-number scales, largest first: 1.2k, 3.4M.
var suffixes = [...]struct {
	scale  float64
	suffix string
}{{1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}}

// niceTicks chooses about target gridline values covering [lo, hi], spaced by 1, 2 or
// 5 × 10^n, the first at or below lo and the last at or above hi; the axis runs from the
// first to the last. It handles lo == hi (all zeros) and values of any size.
func niceTicks(lo, hi float64, target int) (ticks []float64, step float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		lo, hi = 0, 1
	}
	lo, hi = clamp(lo, -maxAbs, maxAbs), clamp(hi, -maxAbs, maxAbs)
	if lo > hi {
		lo, hi = hi, lo
	}
	if !(hi-lo > minSpan) {
		// One value (or a few too close to tell apart): pad it, without crossing zero.
		pad := math.Abs(hi) / 2
		if !(pad > minSpan) {
			pad = 1
		}
		switch {
		case lo >= 0:
			hi += pad
			if lo < pad {
				lo = 0
			} else {
				lo -= pad
			}
		default:
			lo -= pad
			if hi > -pad {
				hi = 0
			} else {
				hi += pad
			}
		}
	}
	target = max(target, 1)
	rough := (hi - lo) / float64(target)
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	switch f := rough / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	if !(step > 0) || math.IsInf(step, 0) { // unreachable within maxAbs; belt and braces
		return []float64{lo, hi}, hi - lo
	}
	// A hair of tolerance so 0.30000000000000004 / 0.1 does not add a tick.
	kLo := math.Floor(lo/step + 1e-9)
	kHi := math.Ceil(hi/step - 1e-9)
	n := min(int(kHi-kLo)+1, 4*target+2)
	ticks = make([]float64, n)
	for i := range ticks {
		ticks[i] = (kLo + float64(i)) * step
	}
	return ticks, step
}

// formatTick writes an axis value compactly (1.5k, 2M, 0.25), with as many decimals as
// the tick step needs to tell neighbouring ticks apart.
func formatTick(v, step float64) string {
	if math.Abs(v) < step/2 {
		return "0" // not "-0" nor 5.551115123125783e-17
	}
	abs := math.Abs(v)
	if abs >= 1e21 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	scale, suffix := 1.0, ""
	for _, s := range suffixes {
		if abs >= s.scale*(1-1e-9) { // 999.9999999999999 is a tick at 1k
			scale, suffix = s.scale, s.suffix
			break
		}
	}
	dec := 0
	if st := step / scale; st < 1 {
		dec = int(math.Ceil(-math.Log10(st) - 1e-9))
	}
	if dec > 6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return trimZeros(strconv.FormatFloat(v/scale, 'f', dec, 64)) + suffix
}

// formatCompact writes a value to three significant digits with a suffix from 1,000 up
// (12.3, 1.23k, 45.6M): the latest values in a chart's description.
func formatCompact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "no data"
	}
	abs := math.Abs(v)
	if abs >= 1e21 || (abs != 0 && abs < 1e-3) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	scale, suffix := 1.0, ""
	for _, s := range suffixes {
		// From just below the scale: 999.96k rounds to 1000k, which is 1M.
		if abs >= s.scale*0.9995 {
			scale, suffix = s.scale, s.suffix
			break
		}
	}
	return sig3(v/scale) + suffix
}

// sig3 writes v (below 1,000 in magnitude) to three significant digits, trimmed.
func sig3(v float64) string {
	abs := math.Abs(v)
	dec := 2
	switch {
	case abs == 0:
		return "0"
	case abs >= 99.95:
		dec = 0
	case abs >= 9.995:
		dec = 1
	case abs < 1:
		dec = 2 - int(math.Floor(math.Log10(abs)))
	}
	return trimZeros(strconv.FormatFloat(v, 'f', dec, 64))
}

// appendExact writes a value for the data table: whole numbers in full, others to six
// significant digits (more for large ones, which are shown to the unit), with no
// exponent between 1e-6 and 1e15.
func appendExact(b []byte, v float64) []byte {
	abs := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "—"...)
	case v == 0:
		return append(b, '0')
	case abs >= 1e15 || abs < 1e-6:
		return strconv.AppendFloat(b, v, 'g', 6, 64)
	case v == math.Trunc(v): // counts, mostly
		return strconv.AppendInt(b, int64(v), 10)
	}
	dec := 0 // 5 - floor(log10(abs)), without the logarithm
	for _, p := range [...]float64{1e5, 1e4, 1e3, 1e2, 1e1, 1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5} {
		if abs >= p {
			break
		}
		dec++
	}
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', dec, 64)
	if dec > 0 { // trim trailing zeros, and the point if nothing is left after it
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
		if b[len(b)-1] == '.' {
			b = b[:len(b)-1]
		}
	}
	if string(b[n:]) == "-0" {
		b = append(b[:n], '0')
	}
	return b
}

func formatExact(v float64) string { return string(appendExact(nil, v)) }

// trimZeros drops trailing zeros after a decimal point, and the point if nothing is
// left after it.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// finite reports whether v is a number a chart can draw.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
