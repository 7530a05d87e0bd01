package analytics

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countSink struct{ n atomic.Int64 }

func (c *countSink) Consume(b []Event) { c.n.Add(int64(len(b))) }

type panicSink struct{}

func (panicSink) Consume([]Event) { panic("boom") }

func sampleEvent() Event {
	return Event{
		Kind: KindRequest, Time: time.Now(), API: "orders", Route: "GET /orders/{id}", Method: "GET",
		Status: 200, App: "app-1", Developer: "dev-1", KeyID: "key-1", Plan: "gold",
		ClientIP: "203.0.113.9", UserAgent: "curl/8.5.0", BytesIn: 120, BytesOut: 4096,
		Latency: 12 * time.Millisecond, UpstreamLatency: 10 * time.Millisecond,
		Cache: "MISS", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	rec := NewRecorder(RecorderOptions{QueueSize: 1 << 20})
	e := sampleEvent()
	if a := testing.AllocsPerRun(10_000, func() { rec.Record(&e) }); a != 0 {
		t.Fatalf("Record allocates %v per call", a)
	}
	// The dropping path must not allocate either.
	full := NewRecorder(RecorderOptions{QueueSize: 1})
	if a := testing.AllocsPerRun(1000, func() { full.Record(&e) }); a != 0 {
		t.Fatalf("a dropping Record allocates %v per call", a)
	}
}

func TestRecorderDropsAndCounts(t *testing.T) {
	sink := &countSink{}
	rec := NewRecorder(RecorderOptions{QueueSize: 128, Sinks: []Sink{sink}})
	e := sampleEvent()
	for range 1000 {
		rec.Record(&e)
	}
	if got := rec.Recorded() + rec.Dropped(); got != 1000 {
		t.Fatalf("recorded+dropped = %d, want 1000", got)
	}
	if rec.Recorded() > 128 || rec.Dropped() == 0 {
		t.Fatalf("recorded %d dropped %d with a queue of 128", rec.Recorded(), rec.Dropped())
	}
	rec.Close()
	if got := uint64(sink.n.Load()); got != rec.Recorded() {
		t.Fatalf("sink got %d, recorder accepted %d", got, rec.Recorded())
	}
	rec.Record(&e) // after Close: dropped
	if rec.Dropped() != 1000-rec.Recorded()+1 {
		t.Fatalf("record after close not counted as dropped: %d", rec.Dropped())
	}
}

// TestRecorderCloseLosesNothing: producers race Close; every accepted event reaches the
// sinks, in batches no larger than BatchSize, and a panicking sink harms no one.
func TestRecorderCloseLosesNothing(t *testing.T) {
	sink := &countSink{}
	var maxBatch atomic.Int64
	rec := NewRecorder(RecorderOptions{BatchSize: 100, Sinks: []Sink{panicSink{}, sink}})
	rec.AddSink(sinkFunc(func(b []Event) {
		if n := int64(len(b)); n > maxBatch.Load() {
			maxBatch.Store(n)
		}
	}))
	rec.Start(context.Background())
	var wg sync.WaitGroup
	var attempts atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			e := sampleEvent()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec.Record(&e)
				attempts.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	rec.Close()
	close(stop)
	wg.Wait()
	if got := rec.Recorded() + rec.Dropped(); got != uint64(attempts.Load()) {
		t.Fatalf("recorded+dropped %d, attempts %d", got, attempts.Load())
	}
	if got := uint64(sink.n.Load()); got != rec.Recorded() {
		t.Fatalf("sink got %d, recorder accepted %d", got, rec.Recorded())
	}
	if maxBatch.Load() > 100 {
		t.Fatalf("batch of %d > BatchSize", maxBatch.Load())
	}
	t.Logf("%d accepted, %d dropped after close", rec.Recorded(), rec.Dropped())
}

type sinkFunc func([]Event)

func (f sinkFunc) Consume(b []Event) { f(b) }

// TestRecorderSustainedRate pushes 50,000 events per second for 2 seconds through the
// default queue into a no-op sink and requires zero drops. The producer paces itself by
// the clock; the test asserts drops, not speed.
func TestRecorderSustainedRate(t *testing.T) {
	if testing.Short() {
		t.Skip("2 s")
	}
	const rate, dur = 50_000, 2 * time.Second
	sink := &countSink{}
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{sink}})
	rec.Start(context.Background())
	defer rec.Close()
	var wg sync.WaitGroup
	const producers = 4
	start := time.Now()
	for p := range producers {
		wg.Go(func() {
			e := sampleEvent()
			e.App = string(rune('a' + p))
			sent := 0
			for {
				el := time.Since(start)
				if el >= dur {
					break
				}
				want := int(el.Seconds() * rate / producers)
				for ; sent < want; sent++ {
					rec.Record(&e)
				}
				time.Sleep(200 * time.Microsecond)
			}
			for ; sent < rate*int(dur/time.Second)/producers; sent++ {
				rec.Record(&e)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	rec.Close()
	total := rec.Recorded() + rec.Dropped()
	t.Logf("%d events in %v (%.0f/s), %d dropped, %d delivered", total, el.Round(time.Millisecond), float64(total)/el.Seconds(), rec.Dropped(), sink.n.Load())
	if total != rate*2 {
		t.Fatalf("sent %d, want %d", total, rate*2)
	}
	if rec.Dropped() != 0 {
		t.Fatalf("%d events dropped at %d/s", rec.Dropped(), rate)
	}
	if uint64(sink.n.Load()) != total {
		t.Fatalf("delivered %d of %d", sink.n.Load(), total)
	}
}

func reportDrops(b *testing.B, rec *Recorder) {
	rec.Drain()
	t := rec.Recorded() + rec.Dropped()
	b.ReportMetric(float64(rec.Dropped())/float64(max(t, 1)), "dropped/op")
}

// BenchmarkRecord is the request path's cost per accepted event: the queue is drained
// (timer stopped) before it can fill, so no event takes the cheaper dropping path.
func BenchmarkRecord(b *testing.B) {
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{&countSink{}}})
	e := sampleEvent()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec.Record(&e)
		if i++; i%8192 == 0 {
			b.StopTimer()
			rec.Drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	reportDrops(b, rec)
}

// BenchmarkRecordParallel: every core records; each producer drains every 4096 events
// (the drain's cost, a few ns per event with a no-op sink, is included), so none drop.
func BenchmarkRecordParallel(b *testing.B) {
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{&countSink{}}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := sampleEvent()
		i := 0
		for pb.Next() {
			rec.Record(&e)
			if i++; i%4096 == 0 {
				rec.Drain()
			}
		}
	})
	b.StopTimer()
	reportDrops(b, rec)
}

// BenchmarkRecordSaturated runs producers flat out against the draining goroutine: far
// past any real request rate, so it shows the cost mix of accepting and dropping.
func BenchmarkRecordSaturated(b *testing.B) {
	rec := NewRecorder(RecorderOptions{Sinks: []Sink{&countSink{}}})
	rec.Start(context.Background())
	b.Cleanup(rec.Close)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := sampleEvent()
		for pb.Next() {
			rec.Record(&e)
		}
	})
	b.StopTimer()
	reportDrops(b, rec)
}

// BenchmarkAggregatorConsume is the drainer's cost per event in the rollup aggregator.
func BenchmarkAggregatorConsume(b *testing.B) {
	agg := NewAggregator(AggregatorOptions{Store: NewMemoryStore()})
	batch := make([]Event, 512)
	for i := range batch {
		batch[i] = sampleEvent()
		batch[i].App = []string{"a", "b", "c", "d"}[i%4]
		batch[i].Latency = time.Duration(i+1) * 100 * time.Microsecond
	}
	b.ReportAllocs()
	for b.Loop() {
		agg.Consume(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
