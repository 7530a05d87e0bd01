package httpapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// Bounds on what one request may ask for.
const (
	maxRange        = 731 * 24 * time.Hour // two years (and a leap day)
	maxOffset       = 100 * 365 * 24 * time.Hour
	defaultRange    = time.Hour
	targetPoints    = 300 // the default interval gives at most this many buckets
	maxPoints       = 10_000
	maxTotalPoints  = 1_000_000 // series × buckets in one answer
	maxGroupBy      = 4
	maxTopN         = 1000
	defaultTopN     = 10
	maxFilterValues = 100
	maxValueLen     = 512
	maxRequestLimit = 1000
	defaultLimit    = 100
)

// defaultMeasures are the series measures when none are asked for.
var defaultMeasures = []string{
	analytics.MeasureCount, analytics.MeasureErrors,
	analytics.MeasureLatencyP50, analytics.MeasureLatencyP95, analytics.MeasureLatencyP99,
}

// intervals are the default intervals, finest first: the first that gives at most
// targetPoints buckets over the range is chosen.
var intervals = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour,
}

var errTimeSyntax = errors.New("must be an RFC 3339 time (2025-03-10T09:00:00Z), a date (2025-03-10), now, or a time relative to now (-15m, -24h, -7d, now-1h)")

// parseTime parses an absolute time (RFC 3339, or a date meaning its midnight UTC) or one
// relative to now: "now", "-15m", "now-15m", "-7d", "-1d12h". Relative offsets take Go
// duration syntax plus d (24h) and w (7d), and are at most 100 years.
func parseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now-"):
		return relative(s[len("now-"):], now)
	case strings.HasPrefix(s, "-"):
		return relative(s[1:], now)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, errTimeSyntax
		}
	}
	// Answers hold times aligned up to the next day, which must still be a four-digit
	// year for RFC 3339 (and encoding/json).
	if t = t.UTC(); t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, errTimeBounds
	}
	return t, nil
}

var (
	minTime       = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime       = time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC)
	errTimeBounds = errors.New("must be between 1970 and 9000")
)

func relative(s string, now time.Time) (time.Time, error) {
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, errTimeSyntax
	}
	return now.Add(-d), nil
}

// parseDuration parses a positive duration of at most maxOffset: Go syntax ("90s",
// "1h30m", "1.5h") or whole numbers with units w, d, h, m and s ("7d", "1w2d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("not a duration")
	}
	var d time.Duration
	if strings.ContainsAny(s, "dw") {
		var err error
		if d, err = parseDays(s); err != nil {
			return 0, err
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("not a duration")
		}
	}
	if d <= 0 || d > maxOffset {
		return 0, fmt.Errorf("must be positive and at most %d days", maxOffset/(24*time.Hour))
	}
	return d, nil
}

// parseDays parses whole-number components with units w, d, h, m and s.
func parseDays(s string) (time.Duration, error) {
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 { // 9 digits keep every product below maxOffset's order
			return 0, errors.New("not a duration")
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		if s == "" {
			return 0, errors.New("missing unit")
		}
		var unit time.Duration
		switch s[0] {
		case 'w':
			unit = 7 * 24 * time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
			if strings.HasPrefix(s, "ms") {
				return 0, errors.New("unknown unit")
			}
		case 's':
			unit = time.Second
		default:
			return 0, errors.New("unknown unit")
		}
		s = s[1:]
		if n > int64(maxOffset/unit) {
			return 0, errors.New("too long")
		}
		total += time.Duration(n) * unit
		if total > maxOffset {
			return 0, errors.New("too long")
		}
	}
	return total, nil
}

// defaultInterval picks the finest standard interval giving at most targetPoints buckets
// over [from, to), or a whole number of days for very long ranges.
func defaultInterval(from, to time.Time) time.Duration {
	d := to.Sub(from)
	for _, iv := range intervals {
		if buckets(d, iv) <= targetPoints {
			return iv
		}
	}
	const day = 24 * time.Hour
	days := (d + targetPoints*day - 1) / (targetPoints * day)
	return days * day
}

// buckets is how many buckets of iv cover d, counting one more for the alignment of the
// first bucket.
func buckets(d, iv time.Duration) int64 {
	return int64((d+iv-1)/iv) + 1
}

// params reads a request's query string strictly: unknown parameters, parameters given
// twice that may be given once and malformed values are all reported, together.
type params struct {
	v    url.Values
	now  time.Time
	errs gatehouse.Problems
	bad  bool
}

// spec names the parameters an endpoint takes; true marks the repeatable ones.
type spec map[string]bool

var (
	rangeParams  = spec{"from": false, "to": false, "format": false}
	filterParams = spec{"api": true, "app": true, "developer": true, "plan": true, "route": true, "status_class": true, "kind": true}
	seriesSpec   = merge(rangeParams, filterParams, spec{"interval": false, "group_by": true, "measures": true})
	topSpec      = merge(rangeParams, filterParams, spec{"by": false, "measure": false, "n": false})
	totalsSpec   = merge(rangeParams, filterParams)
	requestsSpec = merge(rangeParams, spec{"limit": false, "after": false, "api": true, "app": true, "status": true})
	liveSpec     = spec{"api": false}
)

func merge(specs ...spec) spec {
	out := spec{}
	for _, s := range specs {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

func newParams(r *http.Request, s spec, now time.Time) *params {
	p := &params{v: r.URL.Query(), now: now}
	names := make([]string, 0, len(p.v))
	for k := range p.v {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		repeatable, ok := s[k]
		switch {
		case !ok:
			p.addf(k, "unknown parameter")
		case !repeatable && len(p.v[k]) > 1:
			p.addf(k, "given more than once")
		}
	}
	return p
}

func (p *params) addf(field, format string, args ...any) {
	p.bad = true
	p.errs.Addf(field, format, args...)
}

func (p *params) err() error {
	if !p.bad {
		return nil
	}
	return p.errs.Err("analytics query")
}

// get is the parameter's value, "" when absent.
func (p *params) get(name string) string { return p.v.Get(name) }

// list is every value of a repeatable, comma-separated parameter, trimmed, without
// empty items, and bounded in count and length.
func (p *params) list(name string) []string {
	var out []string
	for _, v := range p.v[name] {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	if len(out) > maxFilterValues {
		p.addf(name, "at most %d values", maxFilterValues)
		return nil
	}
	for _, item := range out {
		if len(item) > maxValueLen {
			p.addf(name, "values are at most %d bytes", maxValueLen)
			return nil
		}
	}
	return out
}

// timeRange reads from and to: to defaults to now, from to an hour before to. It checks
// that from is before to and that the range is at most two years.
func (p *params) timeRange() (from, to time.Time) {
	to = p.now
	if s := p.get("to"); s != "" {
		t, err := parseTime(s, p.now)
		if err != nil {
			p.addf("to", "%v", err)
			return
		}
		to = t
	}
	from = to.Add(-defaultRange)
	if s := p.get("from"); s != "" {
		t, err := parseTime(s, p.now)
		if err != nil {
			p.addf("from", "%v", err)
			return
		}
		from = t
	}
	switch {
	case !from.Before(to):
		p.addf("from", "must be before to (%s)", to.Format(time.RFC3339))
	case to.Sub(from) > maxRange:
		p.addf("from", "the range is at most %d days", maxRange/(24*time.Hour))
	}
	return from, to
}

// optionalRange reads from and to for the request log, where both default to open ends.
func (p *params) optionalRange() (from, to time.Time) {
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := p.get(f.name); s != "" {
			t, err := parseTime(s, p.now)
			if err != nil {
				p.addf(f.name, "%v", err)
				continue
			}
			*f.t = t
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		p.addf("from", "must be before to (%s)", to.Format(time.RFC3339))
	}
	return from, to
}

// filters reads the filter parameters. A non-empty app restricts the answer to that app:
// an app parameter naming another one is an error.
func (p *params) filters(app string) analytics.Filters {
	f := analytics.Filters{
		APIs:       p.list("api"),
		Routes:     p.list("route"),
		Apps:       p.list("app"),
		Developers: p.list("developer"),
		Plans:      p.list("plan"),
	}
	if app != "" {
		for _, a := range f.Apps {
			if a != app {
				p.addf("app", "this usage is restricted to app %q", app)
				break
			}
		}
		f.Apps = []string{app}
	}
	for _, s := range p.list("status_class") {
		c, ok := parseStatusClass(s)
		if !ok {
			p.addf("status_class", "%q is not a status class (1xx..5xx, 1..5, or none)", s)
			continue
		}
		if !slices.Contains(f.StatusClasses, c) {
			f.StatusClasses = append(f.StatusClasses, c)
		}
	}
	for _, s := range p.list("kind") {
		k, ok := analytics.ParseKind(s)
		if !ok {
			p.addf("kind", "%q is not a kind (request, connection or message)", s)
			continue
		}
		if !slices.Contains(f.Kinds, k) {
			f.Kinds = append(f.Kinds, k)
		}
	}
	if len(f.Kinds) == 0 {
		// Requests unless asked otherwise: realtime messages and connections have their own
		// latencies and counts, and would blur request rates and percentiles.
		f.Kinds = []analytics.Kind{analytics.KindRequest}
	}
	return f
}

// parseStatusClass accepts "2xx" (any case), "2", and "none" or "0" for events without a
// status.
func parseStatusClass(s string) (int, bool) {
	s = strings.ToLower(s)
	if s == "none" {
		return 0, true
	}
	s = strings.TrimSuffix(s, "xx")
	if len(s) != 1 || s[0] < '0' || s[0] > '5' {
		return 0, false
	}
	return int(s[0] - '0'), true
}

// intParam reads an integer in [lo, hi], def when absent.
func (p *params) intParam(name string, def, lo, hi int) int {
	s := p.get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.addf(name, "must be a whole number from %d to %d", lo, hi)
		return def
	}
	return n
}

// wantCSV decides the answer's format: the format parameter if given, else CSV when the
// Accept header lists text/csv (with a non-zero q).
func (p *params) wantCSV(r *http.Request) bool {
	switch p.get("format") {
	case "csv":
		return true
	case "json":
		return false
	case "":
	default:
		p.addf("format", "must be json or csv")
		return false
	}
	for _, h := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(h, ",") {
			mt, ps, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/csv" {
				continue
			}
			if q, err := strconv.ParseFloat(ps["q"], 64); ps["q"] != "" && (err != nil || q <= 0) {
				continue
			}
			return true
		}
	}
	return false
}
