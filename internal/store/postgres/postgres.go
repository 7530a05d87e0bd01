// Package postgres is Gatehouse's store for several nodes: PostgreSQL through pgx v5. The
// domain logic is internal/store/sqlstore's; this package connects, applies the embedded
// migrations, says how PostgreSQL differs, and carries change notices between nodes.
//
// Change notices: each write transaction calls pg_notify('gatehouse_changes', ...), which
// PostgreSQL delivers only if and when the transaction commits, in commit order. Every node,
// the writer included, hears them on one dedicated LISTEN connection that feeds its local
// notify.Hub, so each node sees each change exactly once and through one path. If that
// connection drops, the listener reconnects with backoff and publishes a Resync, since
// changes committed meanwhile went unheard.
//
// The schema lives in the first schema of the search path, which the DSN may set
// (`?search_path=gatehouse`, or `options=-csearch_path=gatehouse`); notices carry that
// schema's name, so installations sharing a database in different schemas do not hear each
// other.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Channel is the NOTIFY channel of change notices.
const Channel = "gatehouse_changes"

// Store is a gatehouse.Store in a PostgreSQL schema.
type Store struct {
	*sqlstore.Store
	lis *listener
}

var _ gatehouse.Store = (*Store)(nil)

// Pool bounds. Writes are serialised, so connections serve reads and one writer.
const (
	maxOpenConns    = 16
	maxIdleConns    = 4
	connMaxIdleTime = 5 * time.Minute
)

// Open connects to the database named by dsn (postgres:// or postgresql://, or key=value
// form), brings the schema up to date and starts listening for changes. logger may be nil.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err) // pgx redacts the password
	}
	db := stdlib.OpenDB(*cfg.Copy())
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)

	s, err := open(ctx, db, cfg, logger)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, db *sql.DB, cfg *pgx.ConnConfig, logger *slog.Logger) (*Store, error) {
	if err := db.PingContext(ctx); err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "cannot reach the postgres store",
			Err: fmt.Errorf("connecting to %s/%s: %w", cfg.Host, cfg.Database, err)}
	}
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("opening postgres store: reading current schema: %w", err)
	}
	if !schema.Valid {
		return nil, errors.New("opening postgres store: no schema of the search path exists; create it first")
	}
	d := Dialect()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, d, sub, logger); err != nil {
		return nil, fmt.Errorf("migrating postgres store (schema %q): %w", schema.String, err)
	}

	hub := notify.New()
	// Listen before serving, so that no change committed after Open returns goes unheard.
	lis, err := listen(ctx, cfg, schema.String, hub, logger)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.New(sqlstore.Config{
		Dialect:  d,
		DB:       db,
		WriteDB:  db,
		Hub:      hub,
		Announce: announcer(schema.String),
	})
	if err != nil {
		lis.close()
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	logger.Debug("postgres store open", "host", cfg.Host, "database", cfg.Database, "schema", schema.String)
	return &Store{Store: st, lis: lis}, nil
}

// Close stops the listener, then closes the hub and the pool.
func (s *Store) Close() error {
	s.lis.close()
	return s.Store.Close()
}

// notice is the NOTIFY payload: a change and the schema it happened in.
type notice struct {
	Schema string `json:"schema"`
	gatehouse.Change
}

// announcer returns the sqlstore Announce hook: pg_notify inside the write transaction, so
// the notice goes out on commit and never for a rolled-back write.
func announcer(schema string) func(ctx context.Context, tx *sql.Tx, changes []gatehouse.Change) error {
	return func(ctx context.Context, tx *sql.Tx, changes []gatehouse.Change) error {
		for _, c := range changes {
			payload, err := json.Marshal(notice{Schema: schema, Change: c})
			if err != nil {
				return fmt.Errorf("encoding change notice: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, string(payload)); err != nil {
				return fmt.Errorf("notifying %s: %w", Channel, err)
			}
		}
		return nil
	}
}

// Dialect describes PostgreSQL to sqlstore.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:     "postgres",
		Numbered: true,
		Classify: classify,
		Time:     func(t time.Time) any { return t.UTC() },
		TimeType: "timestamptz",
		// Per schema, so that installations in separate schemas do not wait on each other.
		MigrationLock: "SELECT pg_advisory_xact_lock(hashtext('gatehouse.migrate.' || current_schema()))",
	}
}

func classify(err error) sqlstore.ErrorClass {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return sqlstore.ErrUnique
		case pe.Code == "23503": // foreign_key_violation
			return sqlstore.ErrForeignKey
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources (too many connections)
			strings.HasPrefix(pe.Code, "57"),       // operator intervention (shutdown, canceled)
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock: retry later
			return sqlstore.ErrUnavailable
		}
		return sqlstore.ErrOther
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return sqlstore.ErrUnavailable
	}
	return sqlstore.ErrOther
}
