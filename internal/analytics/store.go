package analytics

import (
	"context"
	"time"
)

// Resolution is a rollup's time bucket.
type Resolution string

// Resolutions, finest first. Minute rows are compacted into hour rows and hour rows into
// day rows as they age; each has its own retention.
const (
	Minute Resolution = "minute"
	Hour   Resolution = "hour"
	Day    Resolution = "day"
)

// Dims are a rollup row's dimensions. Every combination seen in a bucket gets its own row.
type Dims struct {
	Kind        Kind
	API         string
	Route       string
	App         string
	Developer   string
	Plan        string
	StatusClass int // Status/100: 1..5, 0 for none
}

// Rollup is an aggregate of the events of one bucket with the same Dims, written by one
// node. Rows are append-only partial aggregates: a node flushes what it counted since its
// last flush, so one (Start, Res, Dims) may have many rows, from one node or several, and
// readers add them up (sketches merge). Compaction replaces many rows with one.
type Rollup struct {
	Start time.Time // bucket start, UTC, aligned to Res
	Res   Resolution
	Node  string // the writing node, for operators; not part of any key
	Dims

	Count       int64 // events
	Errors      int64 // status >= 500 (and realtime failures)
	RateLimited int64 // status 429
	Rejected    int64 // ended by a policy (any status)
	CacheHits   int64
	BytesIn     int64
	BytesOut    int64
	LatencySum  time.Duration // for means
	// Latency and Upstream are encoded Sketches (Sketch.MarshalBinary) of the events'
	// Latency and UpstreamLatency; nil when no event had one.
	Latency  []byte
	Upstream []byte
}

// RollupQuery selects rows: Start in [From, To) at Res, and, for each non-empty list, Dims
// whose field is one of the listed values.
type RollupQuery struct {
	Res           Resolution
	From, To      time.Time
	Kinds         []Kind
	APIs          []string
	Routes        []string
	Apps          []string
	Developers    []string
	Plans         []string
	StatusClasses []int
}

// RequestRecord is one request of the raw request log (sampled, with its own retention).
type RequestRecord struct {
	Event
	Node string
}

// RequestQuery selects raw request records, newest first.
type RequestQuery struct {
	From, To time.Time
	APIs     []string
	Apps     []string
	Statuses []int
	Limit    int    // 1..1000
	Before   string // cursor: the Next of the previous page
}

// Store persists rollups and the raw request log. internal/store/sqlstore implements it on
// SQLite and PostgreSQL (the node's store); MemoryStore is for tests.
type Store interface {
	// WriteRollups appends rows in one transaction.
	WriteRollups(ctx context.Context, rows []Rollup) error
	// ReadRollups returns the rows q selects, in no particular order.
	ReadRollups(ctx context.Context, q RollupQuery) ([]Rollup, error)
	// ReplaceRollups deletes the rows at res with Start in [from, to) and writes rows, in
	// one transaction (compaction: merged rows replace partial ones).
	ReplaceRollups(ctx context.Context, res Resolution, from, to time.Time, rows []Rollup) error
	// PruneRollups deletes rows at res with Start before t, returning how many.
	PruneRollups(ctx context.Context, res Resolution, before time.Time) (int64, error)

	// WriteRequests appends raw request records.
	WriteRequests(ctx context.Context, recs []RequestRecord) error
	// ReadRequests returns a page of records, newest first, and the cursor of the next.
	ReadRequests(ctx context.Context, q RequestQuery) ([]RequestRecord, string, error)
	// PruneRequests deletes records older than t.
	PruneRequests(ctx context.Context, before time.Time) (int64, error)
}
