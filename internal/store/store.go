// Package store opens the gatehouse.Store named by a DSN: `sqlite:PATH` for the default
// single-node store in one file, `postgres://...` or `postgresql://...` for PostgreSQL.
// The engines live in the sqlite and postgres packages below; sqlstore holds the domain
// logic they share, and storetest the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// Engines Open knows.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Open opens the store named by dsn and brings its schema up to date. logger may be nil.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (gatehouse.Store, error) {
	engine, target, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	// Each branch returns its own nil on error: a nil *Store in the interface would not be nil.
	if engine == EngineSQLite {
		s, err := sqlite.Open(ctx, target, logger)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := postgres.Open(ctx, target, logger)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ParseDSN splits a store DSN into its engine and what that engine opens: a file path for
// sqlite (relative paths are relative to the working directory), the DSN itself for
// postgres. Errors never repeat the DSN, which may hold a password.
func ParseDSN(dsn string) (engine, target string, err error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	switch {
	case ok && scheme == "sqlite":
		if rest == "" {
			return "", "", errors.New("store DSN sqlite:PATH needs a path, such as sqlite:gatehouse-data/gatehouse.db")
		}
		if strings.HasPrefix(rest, "//") {
			return "", "", errors.New("store DSN: write sqlite:PATH (sqlite:data/g.db, sqlite:/var/lib/g.db), not sqlite://")
		}
		return EngineSQLite, rest, nil
	case ok && (scheme == "postgres" || scheme == "postgresql") && strings.HasPrefix(rest, "//"):
		return EnginePostgres, dsn, nil
	}
	return "", "", errors.New("unsupported store DSN: want sqlite:PATH, postgres://... or postgresql://...")
}
