package quota

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestPeriodOf(t *testing.T) {
	tests := []struct {
		period     gatehouse.QuotaPeriod
		zone       string
		t          string
		start, end string
	}{
		{"hour", "UTC", "2026-01-15T10:20:30Z", "2026-01-15T10:00:00Z", "2026-01-15T11:00:00Z"},
		{"hour", "Asia/Kolkata", "2026-01-15T10:20:30Z", "2026-01-15T09:30:00Z", "2026-01-15T10:30:00Z"},
		{"hour", "Asia/Kathmandu", "2026-01-15T10:20:30Z", "2026-01-15T10:15:00Z", "2026-01-15T11:15:00Z"},
		{"day", "UTC", "2026-01-15T00:00:00Z", "2026-01-15T00:00:00Z", "2026-01-16T00:00:00Z"},
		{"day", "America/New_York", "2026-01-15T04:59:59Z", "2026-01-14T05:00:00Z", "2026-01-15T05:00:00Z"},
		{"day", "America/New_York", "2026-03-08T12:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"},
		{"day", "America/New_York", "2026-11-01T12:00:00Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"},
		{"day", "Asia/Tokyo", "2026-01-15T14:59:59Z", "2026-01-14T15:00:00Z", "2026-01-15T15:00:00Z"},
		// Havana's DST starts at midnight (2013-03-10 00:00 does not exist): the day before
		// ends when the jump happens, and the day starts then.
		{"day", "America/Havana", "2013-03-10T04:30:00Z", "2013-03-09T05:00:00Z", "2013-03-10T05:00:00Z"},
		{"day", "America/Havana", "2013-03-10T05:00:00Z", "2013-03-10T05:00:00Z", "2013-03-11T04:00:00Z"},
		// Santiago falls back at midnight (2019-04-07 00:00 -03 → 2019-04-06 23:00 -04): the
		// repeated hour belongs to the 6th, whose day lasts 25 hours.
		{"day", "America/Santiago", "2019-04-07T03:30:00Z", "2019-04-06T03:00:00Z", "2019-04-07T04:00:00Z"},
		{"week", "UTC", "2026-01-18T23:59:59Z", "2026-01-12T00:00:00Z", "2026-01-19T00:00:00Z"},
		{"week", "UTC", "2026-01-19T00:00:00Z", "2026-01-19T00:00:00Z", "2026-01-26T00:00:00Z"},
		{"week", "UTC", "2026-01-01T12:00:00Z", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"}, // across a year
		{"week", "America/New_York", "2026-03-09T03:00:00Z", "2026-03-02T05:00:00Z", "2026-03-09T04:00:00Z"},
		{"month", "UTC", "2026-02-28T23:59:59Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"month", "UTC", "2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"},
		{"month", "UTC", "2026-12-31T12:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"month", "America/New_York", "2026-03-01T04:59:59Z", "2026-02-01T05:00:00Z", "2026-03-01T05:00:00Z"},
		{"month", "Europe/Paris", "2026-03-15T00:00:00Z", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"},
	}
	for _, tc := range tests {
		start, end := periodOf(tc.period, mustLoad(t, tc.zone), at(tc.t))
		if !start.Equal(at(tc.start)) || !end.Equal(at(tc.end)) {
			t.Errorf("%s in %s at %s: [%s, %s), want [%s, %s)", tc.period, tc.zone, tc.t,
				start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), tc.start, tc.end)
		}
	}
}

// Zones with the calendar's oddities: half- and quarter-hour offsets, DST at midnight,
// half-hour DST, a skipped day (Apia, 2011-12-30), southern-hemisphere DST.
var fuzzZones = []string{
	"UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu",
	"America/Havana", "America/Santiago", "Asia/Beirut", "America/Sao_Paulo",
	"Australia/Lord_Howe", "Pacific/Apia", "Pacific/Chatham", "America/St_Johns",
	"Europe/Dublin", "Africa/Casablanca", "Pacific/Kiritimati",
}

var periods = []gatehouse.QuotaPeriod{gatehouse.PeriodHour, gatehouse.PeriodDay, gatehouse.PeriodWeek, gatehouse.PeriodMonth}

// FuzzPeriodOf checks the invariants of every period, in every zone above, from 1900 to
// 2200: it contains t, has a sane length, and (for calendar periods) the next one starts
// where it ends, so that no instant belongs to two periods.
func FuzzPeriodOf(f *testing.F) {
	for _, s := range []string{"2011-12-29T10:30:00Z", "2013-03-10T04:30:00Z", "2019-04-07T03:30:00Z", "2026-03-08T06:59:59Z", "2026-11-01T05:30:00Z", "2026-04-05T15:00:00Z"} {
		for z := range fuzzZones {
			f.Add(uint8(z), uint8(1), at(s).Unix())
		}
	}
	f.Add(uint8(0), uint8(3), int64(0))
	locs := make([]*time.Location, len(fuzzZones))
	for i, z := range fuzzZones {
		locs[i] = mustLoad(f, z)
	}
	lo, hi := at("1900-01-01T00:00:00Z").Unix(), at("2200-01-01T00:00:00Z").Unix()
	f.Fuzz(func(t *testing.T, zone, period uint8, unix int64) {
		loc := locs[int(zone)%len(locs)]
		p := periods[int(period)%len(periods)]
		if unix < lo || unix > hi {
			unix = lo + (unix%(hi-lo)+(hi-lo))%(hi-lo)
		}
		tm := time.Unix(unix, 0)
		start, end := periodOf(p, loc, tm)
		if tm.Before(start) || !tm.Before(end) {
			t.Fatalf("%s in %s at %v: [%v, %v) does not contain it", p, loc, tm.In(loc), start.In(loc), end.In(loc))
		}
		longest := map[gatehouse.QuotaPeriod]time.Duration{"hour": time.Hour, "day": 50 * time.Hour, "week": 7*24*time.Hour + 2*time.Hour, "month": 31*24*time.Hour + 2*time.Hour}[p]
		if d := end.Sub(start); d > longest || p == gatehouse.PeriodHour && d != time.Hour {
			t.Fatalf("%s in %s at %v: [%v, %v) lasts %v", p, loc, tm.In(loc), start.In(loc), end.In(loc), d)
		}
		if p == gatehouse.PeriodHour {
			return // hours follow the offset at t; half-hour DST shifts make them overlap
		}
		if next, _ := periodOf(p, loc, end); !next.Equal(end) {
			t.Fatalf("%s in %s: [%v, %v) is followed by a period starting %v", p, loc, start.In(loc), end.In(loc), next.In(loc))
		}
		if _, prevEnd := periodOf(p, loc, start.Add(-time.Nanosecond)); !prevEnd.Equal(start) {
			t.Fatalf("%s in %s: [%v, %v) is preceded by a period ending %v", p, loc, start.In(loc), end.In(loc), prevEnd.In(loc))
		}
	})
}
