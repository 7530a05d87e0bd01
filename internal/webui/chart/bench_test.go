package chart

import (
	"math"
	"testing"
	"time"
)

// BenchmarkLine draws a day of minutes (1,440 points) for three series, with a few
// gaps: the dashboard's largest chart.
func BenchmarkLine(b *testing.B) {
	const n = 1440
	c := Chart{Title: "Traffic", Unit: "req", Times: times(t0, time.Minute, n)}
	for s, name := range []string{"requests", "errors", "rejected"} {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = (1000 + 400*math.Sin(float64(i)/90)) / float64(1+10*s)
			if i%97 == 0 {
				vs[i] = math.NaN()
			}
		}
		c.Series = append(c.Series, Series{Name: name, Values: vs})
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		size = len(Line(c))
	}
	b.ReportMetric(float64(size), "bytes/chart")
}
