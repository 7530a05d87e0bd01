package quota

import (
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// periodOf returns the calendar period of kind p that contains t, in loc: [start, end).
//
// Days, weeks (from Monday) and months start at local midnight, found with time.Date in
// loc, so that a day is 23 or 25 hours long across a DST change (see midnight for zones
// whose clocks jump at midnight). Boundaries increase with the date, so stepping one
// period back or forth until start <= t < end keeps consecutive periods tiling time even
// where a zone's history is stranger still.
//
// Hours start on the hour of local time, using the offset in force at t, and last an hour.
func periodOf(p gatehouse.QuotaPeriod, loc *time.Location, t time.Time) (start, end time.Time) {
	if p == gatehouse.PeriodHour {
		_, off := t.In(loc).Zone()
		o := time.Duration(off) * time.Second
		start = t.Add(o).Truncate(time.Hour).Add(-o)
		return start, start.Add(time.Hour)
	}
	y, m, d := label(p, t.In(loc))
	start = midnight(y, m, d, loc)
	y2, m2, d2 := step(p, y, m, d, 1)
	end = midnight(y2, m2, d2, loc)
	// A few steps at most: boundaries are off by an hour or so, and a zone that skipped a
	// whole day (Pacific/Apia, 2011-12-30) makes one period empty.
	for range 4 {
		switch {
		case t.Before(start):
			y, m, d = step(p, y, m, d, -1)
			start, end = midnight(y, m, d, loc), start
		case !t.Before(end):
			y2, m2, d2 = step(p, y2, m2, d2, 1)
			start, end = end, midnight(y2, m2, d2, loc)
		default:
			return start, end
		}
	}
	return start, end
}

// midnight is when the date y-m-d starts in loc. Where the clocks jump forward at
// midnight (America/Havana), 00:00 does not exist and time.Date answers an instant of the
// day before: the day then starts when that day's zone ends, at the jump.
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if ty, tm, td := t.Date(); ty != y || tm != m || td != d {
		if _, next := t.ZoneBounds(); !next.IsZero() {
			if ny, nm, nd := next.Date(); ny == y && nm == m && nd == d {
				return next
			}
		}
	}
	return t
}

// label is the date naming the period of local time l: the day, the Monday of its week,
// or the first of its month.
func label(p gatehouse.QuotaPeriod, l time.Time) (int, time.Month, int) {
	y, m, d := l.Date()
	switch p {
	case gatehouse.PeriodWeek:
		return civil(y, m, d-(int(l.Weekday())+6)%7)
	case gatehouse.PeriodMonth:
		return y, m, 1
	}
	return y, m, d
}

// step moves a period label by n periods.
func step(p gatehouse.QuotaPeriod, y int, m time.Month, d, n int) (int, time.Month, int) {
	switch p {
	case gatehouse.PeriodWeek:
		return civil(y, m, d+7*n)
	case gatehouse.PeriodMonth:
		return civil(y, m+time.Month(n), d)
	}
	return civil(y, m, d+n)
}

// civil normalises a date (day 0 is the last of the previous month...), in UTC where
// every date exists.
func civil(y int, m time.Month, d int) (int, time.Month, int) {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Date()
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
