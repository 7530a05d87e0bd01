package chart

import (
	"math"
	"time"
)

// timeTick is one x-axis label: where (seconds since the Unix epoch) and what it says.
type timeTick struct {
	at    float64
	label string
}

const (
	minute = 60
	hour   = 60 * minute
	day    = 24 * hour
	week   = 7 * day
	monday = 4 * day // the Unix epoch was a Thursday; weeks start on Mondays
)

// clockSteps are the label spacings, in seconds, of charts spanning less than two days,
// labelled HH:MM (HH:MM:SS below a minute).
var clockSteps = [...]float64{1, 2, 5, 10, 15, 30, minute, 2 * minute, 5 * minute, 10 * minute,
	15 * minute, 30 * minute, hour, 2 * hour, 3 * hour, 6 * hour, 12 * hour, day}

// daySteps are those of longer charts, labelled "Jan 02"; past two weeks months take over.
var daySteps = [...]struct{ step, offset float64 }{{day, 0}, {2 * day, 0}, {week, monday}, {2 * week, monday}}

// timeTicks chooses the x-axis labels of a chart from t0 to t1 (seconds since the Unix
// epoch, UTC): at most maxLabels of them, at round times (whole minutes, hours, midnights,
// Mondays, first days of months, years) with the coarsest format the span allows. A chart
// of one instant, or one between round times, is labelled at its ends.
func timeTicks(t0, t1 float64, maxLabels int) []timeTick {
	maxLabels = max(maxLabels, 2)
	span := t1 - t0
	switch {
	case !(span >= 0):
		return nil
	case span == 0:
		layout := "15:04"
		if math.Mod(t0, minute) != 0 {
			layout = "15:04:05"
		}
		return []timeTick{{t0, unixTime(t0).Format(layout)}}
	case span < 2*day:
		for _, st := range clockSteps {
			layout := "15:04"
			if st < minute {
				layout = "15:04:05"
			}
			if ticks, ok := fixedTicks(t0, t1, st, 0, maxLabels, layout); ok {
				return orEnds(ticks, t0, t1, layout)
			}
		}
		return orEnds(nil, t0, t1, "15:04")
	}
	for _, st := range daySteps {
		if ticks, ok := fixedTicks(t0, t1, st.step, st.offset, maxLabels, "Jan 02"); ok {
			return orEnds(ticks, t0, t1, "Jan 02")
		}
	}
	return monthTicks(t0, t1, maxLabels)
}

// fixedTicks labels every multiple of step (shifted by offset) from t0 to t1, or reports
// false when there would be more than maxLabels.
func fixedTicks(t0, t1, step, offset float64, maxLabels int, layout string) ([]timeTick, bool) {
	first := math.Ceil((t0-offset)/step)*step + offset
	if first > t1 {
		return nil, true
	}
	n := math.Floor((t1-first)/step) + 1
	if n > float64(maxLabels) {
		return nil, false
	}
	ticks := make([]timeTick, 0, int(n))
	for i := range int(n) {
		at := first + float64(i)*step
		ticks = append(ticks, timeTick{at, unixTime(at).Format(layout)})
	}
	return ticks, true
}

// monthTicks labels first days of months, spaced 1, 2, 3 or 6 months, or 1, 2 or 5 ×
// 10^n years, whichever is the closest spacing that fits maxLabels.
func monthTicks(t0, t1 float64, maxLabels int) []timeTick {
	a, z := unixTime(t0), unixTime(t1)
	k0 := a.Year()*12 + int(a.Month()) - 1
	k1 := z.Year()*12 + int(z.Month()) - 1
	spanMonths := k1 - k0
	fits := func(step int) bool { return spanMonths/step+1 <= maxLabels }
	step := 0
	for _, m := range [...]int{1, 2, 3, 6} {
		if fits(m) {
			step = m
			break
		}
	}
years:
	for e := 12; step == 0 && e < math.MaxInt/120; e *= 10 {
		for _, m := range [...]int{1, 2, 5} {
			if fits(m * e) {
				step = m * e
				break years
			}
		}
	}
	if step == 0 { // only past any time.Time's range
		return orEnds(nil, t0, t1, "2006")
	}
	layout := "Jan 02"
	switch {
	case step >= 12:
		layout = "2006"
	case t1-t0 > 366*day:
		layout = "Jan 2006"
	}
	first := ceilDiv(k0, step) * step
	if secs(monthStart(first)) < t0 {
		first += step
	}
	var ticks []timeTick
	for k := first; len(ticks) < maxLabels; k += step {
		at := secs(monthStart(k))
		if at > t1 || at < t0 { // below t0 only if the year arithmetic overflowed
			break
		}
		ticks = append(ticks, timeTick{at, monthStart(k).Format(layout)})
	}
	return orEnds(ticks, t0, t1, layout)
}

// orEnds returns ticks, or when there are none labels of both ends of the axis (one,
// if they read the same).
func orEnds(ticks []timeTick, t0, t1 float64, layout string) []timeTick {
	if len(ticks) > 0 {
		return ticks
	}
	a, z := unixTime(t0).Format(layout), unixTime(t1).Format(layout)
	if a == z {
		return []timeTick{{t0, a}}
	}
	return []timeTick{{t0, a}, {t1, z}}
}

// monthStart is the first instant of month k counted from January of year 0.
func monthStart(k int) time.Time {
	return time.Date(floorDiv(k, 12), time.Month(k-floorDiv(k, 12)*12+1), 1, 0, 0, 0, 0, time.UTC)
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }

// secs is t as seconds since the Unix epoch: a float keeps any two times' difference
// finite (time.Time.Sub saturates past 292 years).
func secs(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// unixTime is the UTC time of secs' result, to the second.
func unixTime(s float64) time.Time {
	s = clamp(math.Floor(s), -9.2e18, 9.2e18)
	return time.Unix(int64(s), 0).UTC()
}
