package telemetry

import (
	"math"
	"sync/atomic"
)

// Gauge is one series of a gauge: a float64 set or moved atomically.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v (which may be negative).
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Value is the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// GaugeVec is a gauge with labels.
type GaugeVec struct{ v *vec[Gauge] }

// With returns the series for the label values, in the order the labels were declared.
func (g *GaugeVec) With(values ...string) *Gauge { return g.v.with(values) }

// Len reports the number of series; Folds how many label sets went over the cap.
func (g *GaugeVec) Len() int      { return g.v.Len() }
func (g *GaugeVec) Folds() uint64 { return g.v.Folds() }

func (g *GaugeVec) collect(w *Writer) { collectValues(w, g.v) }

func (g *GaugeVec) base() metricBase { return g.v }
