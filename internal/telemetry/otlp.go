package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ExporterOptions configures an OTLP/HTTP JSON span exporter. Zero values take the
// defaults noted.
type ExporterOptions struct {
	// URL is the collector's traces endpoint, e.g. http://otel-collector:4318/v1/traces.
	// A URL with no path gets /v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT style).
	URL string
	// Headers are sent with every export (authentication, tenant...).
	Headers map[string]string
	// Client sends the exports; default: a client with a 10s timeout.
	Client *http.Client
	// ServiceName and ServiceVersion describe the resource (service.name defaults to
	// "gatehouse"); ResourceAttrs are added to it (service.instance.id, ...).
	ServiceName, ServiceVersion string
	ResourceAttrs               []Attr
	// QueueSize bounds the spans waiting for export (default 4096); spans ended while it
	// is full are dropped and counted.
	QueueSize int
	// BatchSize is the most spans per export (default 512).
	BatchSize int
	// FlushInterval exports a partial batch this often (default 5s).
	FlushInterval time.Duration
	// MaxAttempts is how many times one batch is sent before it is given up (default 5).
	// Network errors, 429 and 5xx answers are retried with exponential backoff and
	// jitter from InitialBackoff (default 500ms) to MaxBackoff (default 30s); a
	// Retry-After in seconds is honoured up to MaxBackoff.
	MaxAttempts                int
	InitialBackoff, MaxBackoff time.Duration
	Logger                     *slog.Logger
}

// Exporter batches ended spans and posts them to an OTLP/HTTP collector as JSON, on its
// own goroutine. Close flushes what is queued.
type Exporter struct {
	opts   ExporterOptions
	url    string
	client *http.Client
	log    *slog.Logger

	queue   chan *Span
	flushCh chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool
	closeMu sync.Once

	exported, dropped, failed, retries, batches atomic.Uint64
}

// NewExporter validates opts and starts the exporter.
func NewExporter(opts ExporterOptions) (*Exporter, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q must be an http or https URL", opts.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	if opts.ServiceName == "" {
		opts.ServiceName = "gatehouse"
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 5 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.InitialBackoff)
	e := &Exporter{
		opts: opts, url: u.String(), client: opts.Client, log: opts.Logger,
		queue:   make(chan *Span, opts.QueueSize),
		flushCh: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e, nil
}

// enqueue hands an ended span to the exporter without blocking.
func (e *Exporter) enqueue(s *Span) {
	if e.closed.Load() {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- s:
	default:
		e.dropped.Add(1)
	}
}

func (e *Exporter) run() {
	defer close(e.done)
	tick := time.NewTicker(e.opts.FlushInterval)
	defer tick.Stop()
	batch := make([]*Span, 0, e.opts.BatchSize)
	send := func() {
		if len(batch) > 0 {
			e.export(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	drain := func() {
		for {
			select {
			case s := <-e.queue:
				if batch = append(batch, s); len(batch) >= e.opts.BatchSize {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-e.queue:
			if batch = append(batch, s); len(batch) >= e.opts.BatchSize {
				send()
			}
		case <-tick.C:
			send()
		case ack := <-e.flushCh:
			drain()
			close(ack)
		case <-e.stop:
			drain()
			return
		}
	}
}

// Flush exports everything queued so far and waits for it, or for ctx.
func (e *Exporter) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case e.flushCh <- ack:
	case <-e.done:
		return errors.New("telemetry: exporter closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting spans, exports what is queued and stops. When ctx ends first,
// the export in progress is abandoned (its spans count as failed).
func (e *Exporter) Close(ctx context.Context) error {
	e.closeMu.Do(func() {
		e.closed.Store(true)
		close(e.stop)
	})
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		e.cancel()
		<-e.done
		return ctx.Err()
	}
}

// export sends one batch, retrying as configured.
func (e *Exporter) export(batch []*Span) {
	body := e.encode(batch)
	backoff := e.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := e.post(body)
		if err == nil {
			e.exported.Add(uint64(len(batch)))
			e.batches.Add(1)
			return
		}
		var perm permanentError
		if errors.As(err, &perm) || attempt >= e.opts.MaxAttempts || e.ctx.Err() != nil {
			e.failed.Add(uint64(len(batch)))
			e.log.Warn("trace export failed; spans dropped", "spans", len(batch), "attempts", attempt, "err", err)
			return
		}
		e.retries.Add(1)
		wait := backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		if retryAfter > 0 {
			wait = min(retryAfter, e.opts.MaxBackoff)
		}
		backoff = min(backoff*2, e.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
		}
	}
}

type permanentError struct{ error }

// post sends one body. It returns the server's Retry-After, if any, and an error that is
// a permanentError when retrying cannot help.
func (e *Exporter) post(body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.opts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("collector answered %s", resp.Status)
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return 0, permanentError{err}
	}
	var after time.Duration
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	return after, err
}

// ExporterStats are an exporter's counters, in spans (Batches in exports).
type ExporterStats struct {
	Queued   int    `json:"queued"`
	Exported uint64 `json:"exported"`
	Dropped  uint64 `json:"dropped"` // queue full, or ended after Close
	Failed   uint64 `json:"failed"`  // given up after retries or a permanent error
	Retries  uint64 `json:"retries"`
	Batches  uint64 `json:"batches"`
}

// Stats reports the exporter's counters.
func (e *Exporter) Stats() ExporterStats {
	return ExporterStats{Queued: len(e.queue), Exported: e.exported.Load(), Dropped: e.dropped.Load(),
		Failed: e.failed.Load(), Retries: e.retries.Load(), Batches: e.batches.Load()}
}

// Collector reports the exporter's counters as gatehouse_trace_* metrics.
func (e *Exporter) Collector() Collector {
	return func(w *Writer) {
		st := e.Stats()
		w.Family("gatehouse_trace_spans_queued", "gauge", "Spans waiting for export.")
		w.Sample("gatehouse_trace_spans_queued", float64(st.Queued))
		for _, c := range [...]struct {
			name, help string
			v          uint64
		}{
			{"gatehouse_trace_spans_exported_total", "Spans accepted by the OTLP collector.", st.Exported},
			{"gatehouse_trace_spans_dropped_total", "Spans dropped because the export queue was full.", st.Dropped},
			{"gatehouse_trace_spans_failed_total", "Spans given up after failed exports.", st.Failed},
			{"gatehouse_trace_export_retries_total", "Export attempts retried after an error, 429 or 5xx.", st.Retries},
		} {
			w.Family(c.name, "counter", c.help)
			w.Sample(c.name, float64(c.v))
		}
	}
}
