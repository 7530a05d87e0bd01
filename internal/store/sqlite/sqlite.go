// Package sqlite is Gatehouse's default store: one SQLite file, through the pure-Go driver
// modernc.org/sqlite (no cgo), in WAL mode. The domain logic is internal/store/sqlstore's;
// this package opens the file, applies the embedded migrations and says how SQLite differs.
//
// Connections: one writer (a *sql.DB capped at one connection, whose transactions begin
// IMMEDIATE) and a separate pool of query-only readers. SQLite allows one writer at a time
// anyway; queuing writers on our own connection rather than on the file lock means no
// SQLITE_BUSY between them, and WAL lets the readers carry on while a write is in progress.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a gatehouse.Store in one SQLite file. Changes are published to subscribers of
// this process only: SQLite serves a single node.
type Store struct {
	*sqlstore.Store
}

var _ gatehouse.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for a lock held by another process (another
// gatehouse, or a backup tool) before failing with EUnavailable.
const busyTimeout = 5 * time.Second

// Open opens (creating it and its directory if missing) the database file at path and
// brings its schema up to date. logger may be nil.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("opening sqlite store: empty path")
	}
	if strings.ContainsRune(path, '?') {
		// The driver reads everything after '?' as connection parameters.
		return nil, fmt.Errorf("opening sqlite store %q: the path must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("opening sqlite store: creating directory: %w", err)
	}

	// Parameters every connection gets; the driver applies busy_timeout first.
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		busyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	wdb.SetConnMaxLifetime(0)

	d := Dialect()
	// Connecting creates the file and switches it to WAL before any reader opens it.
	if err := wdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		return nil, &gatehouse.Error{Code: gatehouse.EUnavailable, Message: "cannot open the sqlite store",
			Err: fmt.Errorf("opening %q: %w", path, err)}
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	if err := sqlstore.Migrate(ctx, wdb, d, sub, logger); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("migrating sqlite store %q: %w", path, err)
	}

	rdb, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)

	s, err := sqlstore.New(sqlstore.Config{
		Dialect: d,
		DB:      rdb,
		WriteDB: wdb,
		Hub:     notify.New(),
	})
	if err != nil {
		_ = rdb.Close()
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store: %w", err)
	}
	logger.Debug("sqlite store open", "path", path)
	return &Store{Store: s}, nil
}

// Dialect describes SQLite to sqlstore: ? placeholders, times as fixed-width UTC text.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:     "sqlite",
		Classify: classify,
		Time:     func(t time.Time) any { return t.UTC().Format(sqlstore.TimeLayout) },
		TimeType: "TEXT",
	}
}

func classify(err error) sqlstore.ErrorClass {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		if errors.Is(err, driver.ErrBadConn) {
			return sqlstore.ErrUnavailable
		}
		return sqlstore.ErrOther
	}
	switch e.Code() { // extended result codes are on in this driver
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.ErrUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ErrForeignKey
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
		return sqlstore.ErrUnavailable
	}
	return sqlstore.ErrOther
}
