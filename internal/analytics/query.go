package analytics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Measures a query can ask for. Latencies are in milliseconds, error_rate is
// errors/count (0..1).
const (
	MeasureCount       = "count"
	MeasureErrors      = "errors"
	MeasureErrorRate   = "error_rate"
	MeasureRateLimited = "rate_limited"
	MeasureRejected    = "rejected"
	MeasureCacheHits   = "cache_hits"
	MeasureBytesIn     = "bytes_in"
	MeasureBytesOut    = "bytes_out"
	MeasureLatencyMean = "latency_mean"
	MeasureLatencyP50  = "latency_p50"
	MeasureLatencyP95  = "latency_p95"
	MeasureLatencyP99  = "latency_p99"
	MeasureUpstreamP50 = "upstream_p50"
	MeasureUpstreamP95 = "upstream_p95"
	MeasureUpstreamP99 = "upstream_p99"
)

// Measures lists every measure name.
var Measures = []string{
	MeasureCount, MeasureErrors, MeasureErrorRate, MeasureRateLimited, MeasureRejected,
	MeasureCacheHits, MeasureBytesIn, MeasureBytesOut, MeasureLatencyMean,
	MeasureLatencyP50, MeasureLatencyP95, MeasureLatencyP99,
	MeasureUpstreamP50, MeasureUpstreamP95, MeasureUpstreamP99,
}

// Dimensions a query can group by (Series.GroupBy, Top.By).
const (
	DimAPI         = "api"
	DimRoute       = "route"
	DimApp         = "app"
	DimDeveloper   = "developer"
	DimPlan        = "plan"
	DimStatusClass = "status_class" // values "1xx".."5xx", "none" for no status
	DimKind        = "kind"         // values "request", "connection", "message"
)

var dimensions = []string{DimAPI, DimRoute, DimApp, DimDeveloper, DimPlan, DimStatusClass, DimKind}

// Filters restrict a query; each non-empty list keeps rows whose field is one of its
// values. The developer portal sets Apps to the caller's own apps.
type Filters struct {
	APIs          []string `json:"apis,omitempty"`
	Routes        []string `json:"routes,omitempty"`
	Apps          []string `json:"apps,omitempty"`
	Developers    []string `json:"developers,omitempty"`
	Plans         []string `json:"plans,omitempty"`
	StatusClasses []int    `json:"status_classes,omitempty"` // 1..5, 0 for none
	Kinds         []Kind   `json:"kinds,omitempty"`
}

// SeriesQuery asks for time series. From is aligned down to the interval (to the day for
// intervals longer than a day) and To up to the minute; buckets are [From+k*Interval,
// From+(k+1)*Interval).
type SeriesQuery struct {
	From, To time.Time
	Interval time.Duration // >= 1 minute, a whole number of minutes
	GroupBy  []string      // dimensions; none: one series
	Filters  Filters
	Measures []string // default: count
}

// TopQuery asks for the N groups with the highest Measure over [From, To).
type TopQuery struct {
	From, To time.Time
	By       string // a dimension
	Measure  string // default count
	N        int    // 1..1000, default 10
	Filters  Filters
}

// TotalsQuery asks for every measure over [From, To) (From down, To up to the minute).
type TotalsQuery struct {
	From, To time.Time
	Filters  Filters
}

// Stats is every measure of a set of events. Latencies are milliseconds; percentiles
// come from merged sketches and are within 1% of the exact nearest-rank value.
type Stats struct {
	Count         int64   `json:"count"`
	Errors        int64   `json:"errors"`
	ErrorRate     float64 `json:"error_rate"`
	RateLimited   int64   `json:"rate_limited"`
	Rejected      int64   `json:"rejected"`
	CacheHits     int64   `json:"cache_hits"`
	BytesIn       int64   `json:"bytes_in"`
	BytesOut      int64   `json:"bytes_out"`
	LatencyMeanMs float64 `json:"latency_mean"`
	LatencyP50Ms  float64 `json:"latency_p50"`
	LatencyP95Ms  float64 `json:"latency_p95"`
	LatencyP99Ms  float64 `json:"latency_p99"`
	UpstreamP50Ms float64 `json:"upstream_p50"`
	UpstreamP95Ms float64 `json:"upstream_p95"`
	UpstreamP99Ms float64 `json:"upstream_p99"`
}

// Measure returns the named measure (0 for an unknown name).
func (s *Stats) Measure(name string) float64 {
	switch name {
	case MeasureCount:
		return float64(s.Count)
	case MeasureErrors:
		return float64(s.Errors)
	case MeasureErrorRate:
		return s.ErrorRate
	case MeasureRateLimited:
		return float64(s.RateLimited)
	case MeasureRejected:
		return float64(s.Rejected)
	case MeasureCacheHits:
		return float64(s.CacheHits)
	case MeasureBytesIn:
		return float64(s.BytesIn)
	case MeasureBytesOut:
		return float64(s.BytesOut)
	case MeasureLatencyMean:
		return s.LatencyMeanMs
	case MeasureLatencyP50:
		return s.LatencyP50Ms
	case MeasureLatencyP95:
		return s.LatencyP95Ms
	case MeasureLatencyP99:
		return s.LatencyP99Ms
	case MeasureUpstreamP50:
		return s.UpstreamP50Ms
	case MeasureUpstreamP95:
		return s.UpstreamP95Ms
	case MeasureUpstreamP99:
		return s.UpstreamP99Ms
	}
	return 0
}

// SeriesResult is the answer to a SeriesQuery.
type SeriesResult struct {
	From            time.Time  `json:"from"`
	To              time.Time  `json:"to"`
	IntervalSeconds int64      `json:"interval_seconds"`
	Resolution      Resolution `json:"resolution"` // the coarsest rows used
	Series          []Series   `json:"series"`
}

// Series is one group's points, one per bucket, empty buckets included (as zeros).
type Series struct {
	Group  map[string]string `json:"group"` // dimension → value; empty without GroupBy
	Points []Point           `json:"points"`
}

// Point is one bucket's measures.
type Point struct {
	Start  time.Time          `json:"start"`
	Values map[string]float64 `json:"values"`
}

// TopEntry is one group of a Top answer.
type TopEntry struct {
	Value float64 `json:"value"` // the measure ranked by
	Key   string  `json:"key"`   // the group's value of By
	Stats Stats   `json:"stats"`
}

// QueryError is an invalid query; the HTTP layer answers 400 with Field and Message.
type QueryError struct {
	Field   string // e.g. "interval", "group_by", "filters.status_classes"
	Message string
}

func (e *QueryError) Error() string {
	return "analytics: invalid query: " + e.Field + ": " + e.Message
}

// Unwrap presents the error as the domain's EInvalid error with one field, so
// gatehouse.ErrorCode and the admin API's error mapping treat it like any invalid input.
func (e *QueryError) Unwrap() error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "invalid analytics query",
		Fields: []gatehouse.FieldError{{Field: e.Field, Message: e.Message}}}
}

func qerr(field, format string, args ...any) error {
	return &QueryError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// IsQueryError reports whether err is (or wraps) a *QueryError.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}

// QueryOptions configure a Query engine.
type QueryOptions struct {
	Store Store
	// Aggregator, when set, is this node's: its unflushed rows are included, so answers
	// are current to the last recorder drain. Other nodes' unflushed rows are not.
	Aggregator *Aggregator
	MaxPoints  int // buckets per series (default 10,000)
	MaxSeries  int // series per answer (default 1,000)
}

// Query answers analytics queries from rollups: the store's rows plus the aggregator's
// pending ones, each time bucket read from the coarsest resolution compacted for it.
type Query struct {
	store     Store
	agg       *Aggregator
	maxPoints int
	maxSeries int
}

// NewQuery returns a query engine.
func NewQuery(o QueryOptions) *Query {
	q := &Query{store: o.Store, agg: o.Aggregator, maxPoints: o.MaxPoints, maxSeries: o.MaxSeries}
	if q.maxPoints <= 0 {
		q.maxPoints = 10_000
	}
	if q.maxSeries <= 0 {
		q.maxSeries = 1_000
	}
	return q
}

func validateRange(from, to time.Time) error {
	if from.IsZero() {
		return qerr("from", "required")
	}
	if to.IsZero() {
		return qerr("to", "required")
	}
	if !from.Before(to) {
		return qerr("to", "must be after from")
	}
	return nil
}

func (f *Filters) validate() error {
	for _, c := range f.StatusClasses {
		if c < 0 || c > 5 {
			return qerr("filters.status_classes", "%d is not a status class (1..5, 0 for none)", c)
		}
	}
	for _, k := range f.Kinds {
		if int(k) >= len(kindNames) {
			return qerr("filters.kinds", "unknown kind %d", k)
		}
	}
	return nil
}

func (f *Filters) rollupQuery() RollupQuery {
	return RollupQuery{
		Kinds: f.Kinds, APIs: f.APIs, Routes: f.Routes, Apps: f.Apps,
		Developers: f.Developers, Plans: f.Plans, StatusClasses: f.StatusClasses,
	}
}

func validMeasure(field, m string) error {
	if !slices.Contains(Measures, m) {
		return qerr(field, "unknown measure %q (one of %s)", m, strings.Join(Measures, ", "))
	}
	return nil
}

func validDim(field, d string) error {
	if !slices.Contains(dimensions, d) {
		return qerr(field, "unknown dimension %q (one of %s)", d, strings.Join(dimensions, ", "))
	}
	return nil
}

func ceilMinute(t time.Time) time.Time {
	t = t.UTC()
	if u := t.Truncate(time.Minute); !u.Equal(t) {
		return u.Add(time.Minute)
	}
	return t
}

const day = 24 * time.Hour

// Series answers q.
func (e *Query) Series(ctx context.Context, q SeriesQuery) (*SeriesResult, error) {
	if err := validateRange(q.From, q.To); err != nil {
		return nil, err
	}
	if q.Interval < time.Minute || q.Interval%time.Minute != 0 {
		return nil, qerr("interval", "must be a whole number of minutes, at least one")
	}
	if len(q.Measures) == 0 {
		q.Measures = []string{MeasureCount}
	}
	for _, m := range q.Measures {
		if err := validMeasure("measures", m); err != nil {
			return nil, err
		}
	}
	for i, d := range q.GroupBy {
		if err := validDim("group_by", d); err != nil {
			return nil, err
		}
		if slices.Contains(q.GroupBy[:i], d) {
			return nil, qerr("group_by", "%q given twice", d)
		}
	}
	if err := q.Filters.validate(); err != nil {
		return nil, err
	}
	// Align buckets to the clock so charts line up, and read the coarsest rows that fit.
	res := Minute
	switch {
	case q.Interval%day == 0:
		res = Day
	case q.Interval%time.Hour == 0:
		res = Hour
	}
	from := q.From.UTC()
	if day%q.Interval == 0 {
		from = from.Truncate(q.Interval)
	} else {
		from = from.Truncate(resStep(res))
	}
	to := ceilMinute(q.To)
	nb := int((to.Sub(from) + q.Interval - 1) / q.Interval)
	if nb > e.maxPoints {
		return nil, qerr("interval", "%d points per series; at most %d (widen the interval)", nb, e.maxPoints)
	}
	pct := needsSketches(q.Measures)

	type group struct {
		vals    []string
		buckets []acc
	}
	groups := map[string]*group{}
	var tooMany bool
	var kb strings.Builder
	err := e.read(ctx, q.Filters, from, to, res, func(r *Rollup) {
		kb.Reset()
		for _, d := range q.GroupBy {
			kb.WriteString(dimValue(&r.Dims, d))
			kb.WriteByte(0)
		}
		g := groups[kb.String()]
		if g == nil {
			if len(groups) >= e.maxSeries {
				tooMany = true
				return
			}
			g = &group{buckets: make([]acc, nb)}
			for _, d := range q.GroupBy {
				g.vals = append(g.vals, dimValue(&r.Dims, d))
			}
			groups[kb.String()] = g
		}
		b := int(r.Start.Sub(from) / q.Interval)
		if b >= 0 && b < nb {
			g.buckets[b].add(r, pct)
		}
	})
	if err != nil {
		return nil, err
	}
	if tooMany {
		return nil, qerr("group_by", "more than %d series; add filters", e.maxSeries)
	}
	out := &SeriesResult{From: from, To: to, IntervalSeconds: int64(q.Interval / time.Second), Resolution: res}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(q.GroupBy) == 0 && len(keys) == 0 {
		keys = append(keys, "")
		groups[""] = &group{buckets: make([]acc, nb)}
	}
	for _, k := range keys {
		g := groups[k]
		s := Series{Group: map[string]string{}, Points: make([]Point, nb)}
		for i, d := range q.GroupBy {
			s.Group[d] = g.vals[i]
		}
		for i := range g.buckets {
			st := g.buckets[i].stats()
			vals := make(map[string]float64, len(q.Measures))
			for _, m := range q.Measures {
				vals[m] = st.Measure(m)
			}
			s.Points[i] = Point{Start: from.Add(time.Duration(i) * q.Interval), Values: vals}
		}
		out.Series = append(out.Series, s)
	}
	return out, nil
}

// Totals answers q: every measure over the range.
func (e *Query) Totals(ctx context.Context, q TotalsQuery) (Stats, error) {
	if err := validateRange(q.From, q.To); err != nil {
		return Stats{}, err
	}
	if err := q.Filters.validate(); err != nil {
		return Stats{}, err
	}
	var a acc
	err := e.read(ctx, q.Filters, q.From.UTC().Truncate(time.Minute), ceilMinute(q.To), Day, func(r *Rollup) {
		a.add(r, true)
	})
	if err != nil {
		return Stats{}, err
	}
	return a.stats(), nil
}

// Top answers q, highest value first (ties by key).
func (e *Query) Top(ctx context.Context, q TopQuery) ([]TopEntry, error) {
	if err := validateRange(q.From, q.To); err != nil {
		return nil, err
	}
	if err := validDim("by", q.By); err != nil {
		return nil, err
	}
	if q.Measure == "" {
		q.Measure = MeasureCount
	}
	if err := validMeasure("measure", q.Measure); err != nil {
		return nil, err
	}
	if q.N == 0 {
		q.N = 10
	}
	if q.N < 1 || q.N > 1000 {
		return nil, qerr("n", "must be 1..1000")
	}
	if err := q.Filters.validate(); err != nil {
		return nil, err
	}
	groups := map[string]*acc{}
	err := e.read(ctx, q.Filters, q.From.UTC().Truncate(time.Minute), ceilMinute(q.To), Day, func(r *Rollup) {
		k := dimValue(&r.Dims, q.By)
		a := groups[k]
		if a == nil {
			a = &acc{}
			groups[k] = a
		}
		a.add(r, true)
	})
	if err != nil {
		return nil, err
	}
	out := make([]TopEntry, 0, len(groups))
	for k, a := range groups {
		st := a.stats()
		out = append(out, TopEntry{Key: k, Value: st.Measure(q.Measure), Stats: st})
	}
	slices.SortFunc(out, func(a, b TopEntry) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if len(out) > q.N {
		out = out[:q.N]
	}
	return out, nil
}

func needsSketches(ms []string) bool {
	for _, m := range ms {
		if strings.Contains(m, "_p") {
			return true
		}
	}
	return false
}

func dimValue(d *Dims, name string) string {
	switch name {
	case DimAPI:
		return d.API
	case DimRoute:
		return d.Route
	case DimApp:
		return d.App
	case DimDeveloper:
		return d.Developer
	case DimPlan:
		return d.Plan
	case DimStatusClass:
		if d.StatusClass == 0 {
			return "none"
		}
		return strconv.Itoa(d.StatusClass) + "xx"
	case DimKind:
		return d.Kind.String()
	}
	return ""
}

// acc adds rows up.
type acc struct {
	r        Rollup
	lat, ups *Sketch
}

func (a *acc) add(r *Rollup, sketches bool) {
	mergeCounts(&a.r, r)
	if !sketches {
		return
	}
	mergeEncoded(&a.lat, r.Latency)
	mergeEncoded(&a.ups, r.Upstream)
}

// mergeEncoded merges b into *s, allocating it on first use; a row whose sketch does not
// decode contributes its counts but no latencies rather than failing the query.
func mergeEncoded(s **Sketch, b []byte) {
	if len(b) == 0 {
		return
	}
	tmp := GetSketch()
	defer PutSketch(tmp)
	if tmp.UnmarshalBinary(b) != nil {
		return
	}
	if *s == nil {
		*s = new(Sketch)
	}
	(*s).Merge(tmp)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (a *acc) stats() Stats {
	r := &a.r
	s := Stats{
		Count: r.Count, Errors: r.Errors, RateLimited: r.RateLimited, Rejected: r.Rejected,
		CacheHits: r.CacheHits, BytesIn: r.BytesIn, BytesOut: r.BytesOut,
	}
	if r.Count > 0 {
		s.ErrorRate = float64(r.Errors) / float64(r.Count)
		s.LatencyMeanMs = ms(r.LatencySum) / float64(r.Count)
	}
	if a.lat != nil {
		s.LatencyP50Ms, s.LatencyP95Ms, s.LatencyP99Ms = ms(a.lat.Quantile(0.5)), ms(a.lat.Quantile(0.95)), ms(a.lat.Quantile(0.99))
	}
	if a.ups != nil {
		s.UpstreamP50Ms, s.UpstreamP95Ms, s.UpstreamP99Ms = ms(a.ups.Quantile(0.5)), ms(a.ups.Quantile(0.95)), ms(a.ups.Quantile(0.99))
	}
	return s
}

// read calls fn for every row that covers [from, to) (whole minutes) under the filters,
// each bucket from exactly one resolution, no coarser than coarsest. For each coarse
// level it reads the rows of the whole buckets inside the range; compaction builds coarse
// buckets in order, so up to the latest bucket with rows they are complete, and the rest
// is read at the next finer level, down to minutes plus the aggregator's pending rows.
func (e *Query) read(ctx context.Context, f Filters, from, to time.Time, coarsest Resolution, fn func(r *Rollup)) error {
	base := f.rollupQuery()
	return e.agg.readConsistent(func(pending []Rollup) error {
		var cover func(a, b time.Time, res Resolution) error
		cover = func(a, b time.Time, res Resolution) error {
			if !a.Before(b) {
				return nil
			}
			q := base
			if res == Minute {
				q.Res, q.From, q.To = Minute, a, b
				rows, err := e.store.ReadRollups(ctx, q)
				if err != nil {
					return fmt.Errorf("analytics: read rollups: %w", err)
				}
				for i := range rows {
					fn(&rows[i])
				}
				for i := range pending {
					if RollupMatches(&q, &pending[i]) {
						fn(&pending[i])
					}
				}
				return nil
			}
			finer := Minute
			if res == Day {
				finer = Hour
			}
			step := resStep(res)
			A := a.Truncate(step)
			if A.Before(a) {
				A = A.Add(step)
			}
			B := b.Truncate(step)
			if !A.Before(B) {
				return cover(a, b, finer)
			}
			q.Res, q.From, q.To = res, A, B
			rows, err := e.store.ReadRollups(ctx, q)
			if err != nil {
				return fmt.Errorf("analytics: read rollups: %w", err)
			}
			until := A
			for i := range rows {
				fn(&rows[i])
				if end := rows[i].Start.Add(step); end.After(until) {
					until = end
				}
			}
			if err := cover(a, A, finer); err != nil {
				return err
			}
			return cover(until, b, finer)
		}
		return cover(from.UTC(), to.UTC(), coarsest)
	})
}
