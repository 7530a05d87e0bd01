package analytics

import (
	"fmt"
	"strconv"
	"time"
)

var kindNames = [...]string{KindRequest: "request", KindConnection: "connection", KindMessage: "message"}

// String is "request", "connection" or "message".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes k as its name (JSON filters and group values use names).
func (k Kind) MarshalText() ([]byte, error) {
	if int(k) >= len(kindNames) {
		return nil, fmt.Errorf("analytics: unknown kind %d", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, ok := ParseKind(string(b))
	if !ok {
		return fmt.Errorf("analytics: unknown kind %q", b)
	}
	*k = v
	return nil
}

// ParseKind parses "request", "connection" or "message".
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// DimsOf is the rollup dimensions of e.
func DimsOf(e *Event) Dims {
	return Dims{
		Kind: e.Kind, API: e.API, Route: e.Route, App: e.App,
		Developer: e.Developer, Plan: e.Plan, StatusClass: e.StatusClass(),
	}
}

// EventEnd is when e finished: Time + Latency (when the response was sent, the connection
// closed). Rollups and live totals count an event at its end, so a minute stops receiving
// events shortly after it closes even when requests or connections last long; a zero
// Time counts as now.
func EventEnd(e *Event, now time.Time) time.Time {
	if e.Time.IsZero() {
		return now
	}
	return e.Time.Add(max(e.Latency, 0))
}

// mergeCounts adds src's counters into dst.
func mergeCounts(dst *Rollup, src *Rollup) {
	dst.Count += src.Count
	dst.Errors += src.Errors
	dst.RateLimited += src.RateLimited
	dst.Rejected += src.Rejected
	dst.CacheHits += src.CacheHits
	dst.BytesIn += src.BytesIn
	dst.BytesOut += src.BytesOut
	dst.LatencySum += src.LatencySum
}

// MergeRollups merges rows with the same (Start, Dims) into one row each at res (Start
// truncated to res), with node as the writer. Used by compaction; exported for stores and
// tools that want the same arithmetic.
func MergeRollups(rows []Rollup, res Resolution, node string) ([]Rollup, error) {
	type key struct {
		start int64
		Dims
	}
	type acc struct {
		r        Rollup
		lat, ups *Sketch
	}
	idx := make(map[key]*acc, len(rows))
	order := make([]*acc, 0, len(rows))
	var firstErr error
	for i := range rows {
		r := &rows[i]
		start := truncRes(r.Start, res)
		k := key{start.Unix(), r.Dims}
		a := idx[k]
		if a == nil {
			a = &acc{r: Rollup{Start: start, Res: res, Node: node, Dims: r.Dims}}
			idx[k] = a
			order = append(order, a)
		}
		mergeCounts(&a.r, r)
		for _, p := range []struct {
			b []byte
			s **Sketch
		}{{r.Latency, &a.lat}, {r.Upstream, &a.ups}} {
			if len(p.b) == 0 {
				continue
			}
			if *p.s == nil {
				*p.s = GetSketch()
			}
			if err := (*p.s).MergeBinary(p.b); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	out := make([]Rollup, len(order))
	for i, a := range order {
		out[i] = a.r
		if a.lat != nil {
			out[i].Latency, _ = a.lat.MarshalBinary()
			PutSketch(a.lat)
		}
		if a.ups != nil {
			out[i].Upstream, _ = a.ups.MarshalBinary()
			PutSketch(a.ups)
		}
	}
	return out, firstErr
}

// resStep is the bucket length of res.
func resStep(res Resolution) time.Duration {
	switch res {
	case Hour:
		return time.Hour
	case Day:
		return 24 * time.Hour
	default:
		return time.Minute
	}
}

// truncRes aligns t (in UTC) to res.
func truncRes(t time.Time, res Resolution) time.Time {
	return t.UTC().Truncate(resStep(res))
}
