package httpapi

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 3, 10, 12, 30, 15, 0, time.UTC)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"now":                       now,
		"-15m":                      now.Add(-15 * time.Minute),
		"now-15m":                   now.Add(-15 * time.Minute),
		"-24h":                      now.Add(-24 * time.Hour),
		"-7d":                       now.Add(-7 * 24 * time.Hour),
		"-1w":                       now.Add(-7 * 24 * time.Hour),
		"-1d12h":                    now.Add(-36 * time.Hour),
		"-1h30m":                    now.Add(-90 * time.Minute),
		"-1.5h":                     now.Add(-90 * time.Minute),
		"-90s":                      now.Add(-90 * time.Second),
		"2025-03-10T09:00:00Z":      time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC),
		"2025-03-10T10:00:00+01:00": time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC),
		"2025-03-10T09:00:00.5Z":    time.Date(2025, 3, 10, 9, 0, 0, 5e8, time.UTC),
		"2025-03-10":                time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.Location() != time.UTC {
			t.Errorf("parseTime(%q) in %v", in, got.Location())
		}
	}
	for _, in := range []string{
		"", "now-", "-", "--5m", "-+5m", "+5m", "now+5m", "-5", "-5x", "-5ms5d", "-1y", "yesterday", "10:00",
		"2025-03-10T09:00:00", "2025-13-01", "-0s", "-0d", "-1000000000d", "-99999999999h", "-36600d",
		"-1d-1h", "-d", "-1dd", " now", "NOW", "0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00",
		"1969-12-31T23:59:59Z", "9000-01-01",
	} {
		if got, err := parseTime(in, now); err == nil {
			t.Errorf("parseTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1m": time.Minute, "15m": 15 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour,
		"2w": 14 * 24 * time.Hour, "1d6h": 30 * time.Hour, "90s": 90 * time.Second, "500ms": 500 * time.Millisecond,
		"36500d": 36500 * 24 * time.Hour,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0m", "-1m", "+1m", "1", "1x", "1d1", "36501d", "5300w", "1dms"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestDefaultInterval(t *testing.T) {
	for _, c := range []struct {
		d, want time.Duration
	}{
		{time.Minute, time.Minute},
		{time.Hour, time.Minute},
		{4 * time.Hour, time.Minute},
		{5 * time.Hour, 5 * time.Minute},
		{24 * time.Hour, 5 * time.Minute},
		{2 * 24 * time.Hour, 15 * time.Minute},
		{7 * 24 * time.Hour, time.Hour},
		{60 * 24 * time.Hour, 6 * time.Hour},
		{299 * 24 * time.Hour, 24 * time.Hour},
		{301 * 24 * time.Hour, 2 * 24 * time.Hour},
		{maxRange, 3 * 24 * time.Hour},
	} {
		if got := defaultInterval(now.Add(-c.d), now); got != c.want {
			t.Errorf("range %v: %v, want %v", c.d, got, c.want)
		}
		if n := buckets(c.d, defaultInterval(now.Add(-c.d), now)); n > targetPoints+1 {
			t.Errorf("range %v: %d buckets", c.d, n)
		}
	}
}

func TestParseStatusClass(t *testing.T) {
	for in, want := range map[string]int{"2xx": 2, "5XX": 5, "4": 4, "none": 0, "0": 0, "1xx": 1} {
		if got, ok := parseStatusClass(in); !ok || got != want {
			t.Errorf("%q: %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"6xx", "xx", "", "20x", "200", "2x", "-1"} {
		if _, ok := parseStatusClass(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzParseTime checks that the time parser never panics, that relative times are in the
// past by at most maxOffset, and that absolute times survive a round trip through
// RFC 3339.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"now", "-15m", "now-24h", "-7d", "-1w2d3h4m5s", "-1.5h", "2025-03-10T09:00:00Z",
		"2025-03-10T10:00:00.123456789+01:00", "2025-03-10", "-99999999d", "-1d1", "--1m", "-0s", "",
		"-9223372036854775807ns", "-1e3h", "0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, now)
		if err != nil {
			if got != (time.Time{}) {
				t.Fatalf("%q: error %v with a time %v", s, err, got)
			}
			return
		}
		if s == "now" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "now-") {
			if !got.Before(now) && s != "now" {
				t.Fatalf("%q: %v is not before now", s, got)
			}
			if now.Sub(got) > maxOffset {
				t.Fatalf("%q: %v is more than %v ago", s, got, maxOffset)
			}
			return
		}
		back, err := parseTime(got.Format(time.RFC3339Nano), now)
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v does not round-trip (%v, %v)", s, got, back, err)
		}
	})
}

// FuzzParseDuration checks the duration parser's bounds.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1m", "7d", "1w2d", "1h30m", "1.5h", "0", "-1m", "99999999999d", "1d1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && (d <= 0 || d > maxOffset) {
			t.Fatalf("%q: %v out of bounds", s, d)
		}
	})
}
