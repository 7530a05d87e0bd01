// Package sqlstore implements gatehouse.Store once, over database/sql, for every SQL engine.
//
// An engine package (internal/store/sqlite, internal/store/postgres) opens the connections,
// applies its embedded migrations with Migrate, and passes a Dialect describing the few
// things engines disagree on: placeholder style, how to recognise constraint violations
// and connection failures, and how time columns are bound. The domain rules (validation,
// references, revisions, audit, change notices) live here only.
//
// Every write runs in one transaction that first bumps the global revision in the one-row
// meta table. That UPDATE takes the engine's write lock before anything is read, so the
// existence and reference checks that follow see every earlier write, and revisions follow
// commit order on every engine.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
)

// ErrorClass sorts driver errors into the kinds the store maps to error codes.
type ErrorClass int

// Error classes a Dialect reports.
const (
	ErrOther       ErrorClass = iota // anything else: EInternal
	ErrUnique                        // unique or primary key violation: EConflict
	ErrForeignKey                    // foreign key violation: EConflict
	ErrUnavailable                   // the database cannot be reached or is busy: EUnavailable
)

// TimeLayout is how times appear in cursors and in engines without a native time type:
// UTC with a fixed number of fractional digits, so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Dialect is what differs between SQL engines. Queries in this package are written with
// ? placeholders and portable SQL (row values, UPDATE ... RETURNING, LIMIT).
type Dialect struct {
	// Name names the engine in errors and logs.
	Name string
	// Numbered is true when the driver wants $1, $2... rather than ?.
	Numbered bool
	// Classify sorts a driver error (already unwrapped by errors.As as needed).
	Classify func(err error) ErrorClass
	// Time converts a UTC, microsecond-truncated time to the value bound to time columns.
	Time func(t time.Time) any
	// TimeType is the SQL type of time columns, used for the schema_migrations table.
	TimeType string
	// MigrationLock, if set, is run first in every migration transaction, so that nodes
	// starting together apply each migration once.
	MigrationLock string
}

// Config is what an engine hands to New.
type Config struct {
	Dialect Dialect
	// DB serves reads; WriteDB runs write transactions. They may be the same pool.
	DB, WriteDB *sql.DB
	// Hub receives changes: Subscribe reads from it and Close closes it.
	Hub *notify.Hub
	// Announce, when set, is called inside each write transaction with that write's
	// changes, and the store does not publish them itself: the engine broadcasts them on
	// commit and feeds Hub from its own listener (PostgreSQL NOTIFY/LISTEN). When nil,
	// changes are published to Hub right after commit.
	Announce func(ctx context.Context, tx *sql.Tx, changes []gatehouse.Change) error
}

// Store is a gatehouse.Store over database/sql. Engine packages embed it.
type Store struct {
	d        Dialect
	db, wdb  *sql.DB
	hub      *notify.Hub
	announce func(ctx context.Context, tx *sql.Tx, changes []gatehouse.Change) error

	// writeSem serialises this node's writes: the engine would serialise them anyway (on
	// the meta row), and holding it through the publish keeps local changes in revision
	// order. A channel rather than a mutex so that waiting respects the caller's ctx.
	writeSem chan struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ gatehouse.Store = (*Store)(nil)

// New returns a Store over already migrated databases.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.DB == nil || cfg.WriteDB == nil:
		return nil, errors.New("sqlstore: DB and WriteDB are required")
	case cfg.Hub == nil:
		return nil, errors.New("sqlstore: Hub is required")
	case cfg.Dialect.Classify == nil || cfg.Dialect.Time == nil:
		return nil, errors.New("sqlstore: Dialect.Classify and Dialect.Time are required")
	}
	return &Store{
		d:        cfg.Dialect,
		db:       cfg.DB,
		wdb:      cfg.WriteDB,
		hub:      cfg.Hub,
		announce: cfg.Announce,
		writeSem: make(chan struct{}, 1),
	}, nil
}

// Subscribe implements gatehouse.Notifier.
func (s *Store) Subscribe(ctx context.Context) <-chan gatehouse.Change {
	return s.hub.Subscribe(ctx)
}

// Revision returns the revision of the latest write.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, "SELECT revision FROM meta WHERE id = 1").Scan(&rev); err != nil {
		return 0, s.fail(ctx, fmt.Errorf("reading revision: %w", err))
	}
	return rev, nil
}

// Ping reports EUnavailable when the database cannot be reached.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	for _, db := range s.pools() {
		if err := db.PingContext(ctx); err != nil {
			return &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "store unavailable", Err: err}
		}
	}
	return nil
}

// Close closes the hub (ending every subscription) and the databases. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.hub.Close()
		var errs []error
		for _, db := range s.pools() {
			errs = append(errs, db.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Store) pools() []*sql.DB {
	if s.db == s.wdb {
		return []*sql.DB{s.db}
	}
	return []*sql.DB{s.wdb, s.db}
}

// q rewrites a query written with ? placeholders for the engine.
func (s *Store) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	return numberPlaceholders(query)
}

// numberPlaceholders turns each ? outside quotes into $1, $2...
func numberPlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quote := 0, byte(0)
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// fail maps an error from the database layer to a *gatehouse.Error. Domain errors pass
// through unchanged; driver errors keep their cause in Err.
func (s *Store) fail(ctx context.Context, err error) error {
	var ge *gatehouse.Error
	if err == nil || errors.As(err, &ge) {
		return err
	}
	code, msg := gatehouse.EInternal, "internal store error"
	switch {
	case s.closed.Load():
		code, msg = gatehouse.EUnavailable, "store is closed"
	case ctx.Err() != nil:
		// Drivers report an interrupted call in their own words (SQLITE_INTERRUPT, a
		// closed connection): the context says what really happened.
		code, msg = gatehouse.EUnavailable, "store call canceled or timed out"
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	default:
		switch s.d.Classify(err) {
		case ErrUnique:
			code, msg = gatehouse.EConflict, "resource already exists"
		case ErrForeignKey:
			code, msg = gatehouse.EConflict, "resource is referenced by, or references, another"
		case ErrUnavailable:
			code, msg = gatehouse.EUnavailable, "store unavailable"
		}
	}
	return &gatehouse.Error{Code: code, Message: msg, Err: fmt.Errorf("%s: %w", s.d.Name, err)}
}

// noun is how a resource kind reads in messages.
func noun(kind string) string {
	if kind == gatehouse.KindAdminToken {
		return "admin token"
	}
	return kind
}

func notFound(kind, key string) error {
	return gatehouse.Errorf(gatehouse.ENotFound, "%s %q not found", noun(kind), key)
}

// now is the store's clock: UTC, truncated to what every engine stores exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// micro brings a caller-supplied time to the same form as now.
func micro(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// decode reads a stored document.
func decode[T any](kind string, doc []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(doc, v); err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", noun(kind), err)
	}
	return v, nil
}

// getDoc reads one document by key from the read pool.
func getDoc[T any](ctx context.Context, s *Store, kind, query, key string) (*T, error) {
	var doc []byte
	err := s.db.QueryRowContext(ctx, s.q(query), key).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kind, key)
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading %s %q: %w", noun(kind), key, err))
	}
	v, err := decode[T](kind, doc)
	return v, s.fail(ctx, err)
}

// nullable binds an optional JSON document.
func nullable(doc []byte) any {
	if doc == nil {
		return nil
	}
	return string(doc)
}
