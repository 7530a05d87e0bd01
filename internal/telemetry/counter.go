package telemetry

import (
	"math"
	"sync/atomic"
)

// Counter is one series of a counter: a float64 that only goes up, updated atomically.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v, which must not be negative (negative values are ignored).
func (c *Counter) Add(v float64) {
	if !(v > 0) {
		return
	}
	addFloat(&c.bits, v)
}

// Value is the current count.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

func addFloat(a *atomic.Uint64, v float64) {
	for {
		old := a.Load()
		if a.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// CounterVec is a counter with labels.
type CounterVec struct{ v *vec[Counter] }

// With returns the series for the label values, in the order the labels were declared.
// It allocates only when the series is new.
func (c *CounterVec) With(values ...string) *Counter { return c.v.with(values) }

// Len reports the number of series; Folds how many label sets went over the cap.
func (c *CounterVec) Len() int      { return c.v.Len() }
func (c *CounterVec) Folds() uint64 { return c.v.Folds() }

func (c *CounterVec) collect(w *Writer) { collectValues(w, c.v) }

func (c *CounterVec) base() metricBase { return c.v }
