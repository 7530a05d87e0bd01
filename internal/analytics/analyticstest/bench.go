package analyticstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
)

// BenchWriteRollups measures rollup flushes into the stores open returns (one per batch
// size): WriteRollups of batches of realistic rows, every dimension set and two sketches
// of typical size. rows/s is the figure to watch.
func BenchWriteRollups(b *testing.B, open func(b *testing.B) analytics.Store) {
	for _, batch := range []int{1, 50, 500, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b)
			rows := BenchRollups(batch)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.WriteRollups(b.Context(), rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchRollups is one node's flush of n rows of one minute: distinct dimensions, sketches
// of 200 and 120 bytes.
func BenchRollups(n int) []analytics.Rollup {
	sketch := seq(200)
	rows := make([]analytics.Rollup, n)
	for i := range rows {
		rows[i] = analytics.Rollup{
			Start: t0, Res: analytics.Minute, Node: "node-1",
			Dims: analytics.Dims{Kind: analytics.KindRequest, API: fmt.Sprintf("api-%d", i%20), Route: fmt.Sprintf("route-%d", i%7),
				App: fmt.Sprintf("app-%d", i), Developer: fmt.Sprintf("dev-%d@example.com", i%50), Plan: "gold", StatusClass: 2 + i%4},
			Count: int64(100 + i), Errors: 3, RateLimited: 1, CacheHits: 20, BytesIn: 12345, BytesOut: 987654,
			LatencySum: time.Duration(i) * time.Second, Latency: sketch, Upstream: sketch[:120],
		}
	}
	return rows
}
