package chart

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		name    string
		lo, hi  float64
		target  int
		want    []string // formatTick of each tick
		step    float64
		loAtMax float64 // the first tick is at most this (0: at most lo)
	}{
		{name: "all zero", lo: 0, hi: 0, target: 5, want: []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, step: 0.2},
		{name: "unit", lo: 0, hi: 1, target: 5, want: []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, step: 0.2},
		{name: "1500 in 4", lo: 0, hi: 1500, target: 4, want: []string{"0", "500", "1k", "1.5k"}, step: 500},
		{name: "rounds up", lo: 0, hi: 1234, target: 5, want: []string{"0", "500", "1k", "1.5k"}, step: 500},
		{name: "99 tops at 100", lo: 0, hi: 99, target: 5, want: []string{"0", "20", "40", "60", "80", "100"}, step: 20},
		{name: "tenths without float noise", lo: 0, hi: 0.3, target: 3, want: []string{"0", "0.1", "0.2", "0.3"}, step: 0.1},
		{name: "small", lo: 0, hi: 0.0042, target: 4, want: []string{"0", "0.002", "0.004", "0.006"}, step: 0.002},
		{name: "negative", lo: -3, hi: 7, target: 5, want: []string{"-4", "-2", "0", "2", "4", "6", "8"}, step: 2},
		{name: "all negative", lo: -90, hi: 0, target: 4, want: []string{"-100", "-50", "0"}, step: 50},
		{name: "millions", lo: 0, hi: 3.4e6, target: 4, want: []string{"0", "1M", "2M", "3M", "4M"}, step: 1e6},
		{name: "half millions", lo: 0, hi: 1.2e6, target: 5, want: []string{"0", "500k", "1M", "1.5M"}, step: 5e5},
		{name: "billions", lo: 0, hi: 7.5e9, target: 5, want: []string{"0", "2G", "4G", "6G", "8G"}, step: 2e9},
		{name: "huge", lo: 0, hi: 1e300, target: 5, want: []string{"0", "2e+299", "4e+299", "6e+299", "8e+299", "1e+300"}},
		{name: "beyond float range", lo: -math.MaxFloat64, hi: math.MaxFloat64, target: 4, want: []string{"-1e+300", "-5e+299", "0", "5e+299", "1e+300"}},
		{name: "subnormal", lo: 0, hi: 5e-324, target: 5, want: []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, step: 0.2},
		{name: "one value", lo: 5, hi: 5, target: 5, want: []string{"2", "3", "4", "5", "6", "7", "8"}, step: 1},
		{name: "NaN", lo: math.NaN(), hi: 1, target: 5, want: []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, step: 0.2},
		{name: "swapped", lo: 10, hi: 0, target: 5, want: []string{"0", "2", "4", "6", "8", "10"}, step: 2},
		{name: "target zero", lo: 0, hi: 10, target: 0, want: []string{"0", "10"}, step: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks, step := niceTicks(tt.lo, tt.hi, tt.target)
			var got []string
			for _, v := range ticks {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("tick %v", v)
				}
				got = append(got, formatTick(v, step))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ticks = %q, want %q", got, tt.want)
			}
			if tt.step != 0 && math.Abs(step-tt.step) > tt.step*1e-9 {
				t.Errorf("step = %v, want %v", step, tt.step)
			}
			lo, hi := min(tt.lo, tt.hi), max(tt.lo, tt.hi)
			if !math.IsNaN(lo) && (ticks[0] > math.Max(lo, -maxAbs) || ticks[len(ticks)-1] < math.Min(hi, maxAbs)*(1-1e-12)) {
				t.Errorf("ticks %v do not cover [%v, %v]", ticks, lo, hi)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v                float64
		compact, precise string
	}{
		{0, "0", "0"},
		{1, "1", "1"},
		{12.345, "12.3", "12.345"},
		{0.5, "0.5", "0.5"},
		{99.96, "100", "99.96"},
		{999.4, "999", "999.4"},
		{999.6, "1k", "999.6"},
		{1234, "1.23k", "1234"},
		{-2500, "-2.5k", "-2500"},
		{999960, "1M", "999960"},
		{1.5e6, "1.5M", "1500000"},
		{3.4e9, "3.4G", "3400000000"},
		{1e21, "1e+21", "1e+21"},
		{0.000123, "0.000123", "0.000123"},
		{1.0 / 3, "0.333", "0.333333"},
		{123456.789, "123k", "123457"},
		{math.NaN(), "no data", "—"},
		{math.Inf(1), "no data", "—"},
	}
	for _, tt := range tests {
		if got := formatCompact(tt.v); got != tt.compact {
			t.Errorf("formatCompact(%v) = %q, want %q", tt.v, got, tt.compact)
		}
		if got := formatExact(tt.v); got != tt.precise {
			t.Errorf("formatExact(%v) = %q, want %q", tt.v, got, tt.precise)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name      string
		from      time.Time
		span      time.Duration
		maxLabels int
		want      []string
	}{
		{"one instant", t0, 0, 9, []string{"09:00"}},
		{"one instant with seconds", t0.Add(7 * time.Second), 0, 9, []string{"09:00:07"}},
		{"a minute by seconds", t0, time.Minute, 9, []string{"09:00:00", "09:00:10", "09:00:20", "09:00:30", "09:00:40", "09:00:50", "09:01:00"}},
		{"an hour", t0, time.Hour, 9, []string{"09:00", "09:10", "09:20", "09:30", "09:40", "09:50", "10:00"}},
		{"an hour from an odd minute", t0.Add(7 * time.Minute), time.Hour, 9, []string{"09:10", "09:20", "09:30", "09:40", "09:50", "10:00"}},
		{"six hours", t0, 6 * time.Hour, 9, []string{"09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"}},
		{"a day, few labels", t0, day, 5, []string{"12:00", "18:00", "00:00", "06:00"}},
		{"just under two days", t0, 2*day - time.Minute, 9, []string{"12:00", "18:00", "00:00", "06:00", "12:00", "18:00", "00:00", "06:00"}},
		{"two days", t0, 2 * day, 9, []string{"Mar 15", "Mar 16"}},
		{"a week", t0, 7 * day, 9, []string{"Mar 15", "Mar 16", "Mar 17", "Mar 18", "Mar 19", "Mar 20", "Mar 21"}},
		{"a month", t0, 30 * day, 9, []string{"Mar 17", "Mar 24", "Mar 31", "Apr 07"}},
		{"a quarter", t0, 90 * day, 9, []string{"Mar 17", "Mar 31", "Apr 14", "Apr 28", "May 12", "May 26", "Jun 09"}},
		{"half a year", t0, 180 * day, 9, []string{"Apr 01", "May 01", "Jun 01", "Jul 01", "Aug 01", "Sep 01"}},
		{"two years", t0, 730 * day, 9, []string{"Apr 2025", "Jul 2025", "Oct 2025", "Jan 2026", "Apr 2026", "Jul 2026", "Oct 2026", "Jan 2027"}},
		{"a century", t0, 36525 * day, 9, []string{"2040", "2060", "2080", "2100", "2120"}},
		{"midnight UTC, not local", time.Date(2025, 3, 14, 22, 0, 0, 0, time.FixedZone("X", 5*3600)), 4 * time.Hour, 5, []string{"17:00", "18:00", "19:00", "20:00", "21:00"}},
		{"fewest labels", t0.Add(time.Second), 30 * time.Minute, 2, []string{"09:15", "09:30"}},
		{"between round times", t0.Add(200 * time.Millisecond), 500 * time.Millisecond, 9, []string{"09:00:00"}},
		{"one round time inside", t0.Add(200 * time.Millisecond), 1500 * time.Millisecond, 1, []string{"09:00:01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := secs(tt.from)
			ticks := timeTicks(a, a+tt.span.Seconds(), tt.maxLabels)
			var got []string
			for _, tk := range ticks {
				got = append(got, tk.label)
				if tk.at < a-1 || tk.at > a+tt.span.Seconds()+1 {
					t.Errorf("tick %q at %v is outside the axis", tk.label, tk.at)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("labels = %q, want %q", got, tt.want)
			}
			if len(ticks) > max(tt.maxLabels, 2) {
				t.Errorf("%d labels, at most %d wanted", len(ticks), tt.maxLabels)
			}
		})
	}
}

func TestTimeTicksExtremes(t *testing.T) {
	for _, r := range [][2]float64{
		{-9.2e18, 9.2e18}, {0, 9.2e18}, {-62135596800, 253402300799}, {1, 1e12}, {1e15, 1e15 + 1},
	} {
		ticks := timeTicks(r[0], r[1], 9)
		if len(ticks) == 0 || len(ticks) > 10 {
			t.Errorf("%v: %d ticks", r, len(ticks))
		}
		for _, tk := range ticks {
			if strings.ContainsAny(tk.label, "<>&\"'") {
				t.Errorf("%v: label %q", r, tk.label)
			}
		}
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, `plain`},
		{`<script>alert(1)</script>`, `&lt;script&gt;alert(1)&lt;/script&gt;`},
		{`" onload="x`, `&#34; onload=&#34;x`},
		{`'&`, `&#39;&amp;`},
		{"tab\tnl\ncr\r", "tab\tnl\ncr\r"},
		{"nul\x00bell\x07del\x7f", "nulbelldel"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"c1\u0085 nonchar\uFFFE\uFFFF", "c1 nonchar"},
		{"ünïcødé ✓ \u202e \U0001F600", "ünïcødé ✓ \u202e \U0001F600"},
	}
	for _, tt := range tests {
		if got := string(appendText(nil, tt.in)); got != tt.want {
			t.Errorf("appendText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"traffic-1_a", "traffic-1_a"},
		{`x" onload="y`, "xonloady"},
		{"a b", "ab"},
		{"<>", ""},
		{strings.Repeat("a", 100), strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		if got := cleanID(tt.in); got != tt.want {
			t.Errorf("cleanID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendCoord(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{0, "0"}, {-0.01, "0"}, {1, "1"}, {1.04, "1"}, {1.05, "1.1"}, {215.95, "216"}, {-3.25, "-3.3"}, {math.NaN(), "0"}, {math.Inf(-1), "0"}}
	for _, tt := range tests {
		if got := string(appendCoord(nil, tt.v)); got != tt.want {
			t.Errorf("appendCoord(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
