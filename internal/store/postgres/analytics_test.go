package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/analyticstest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

var _ analytics.Store = (*Store)(nil)

// TestAnalytics runs the analytics conformance suite, each test in a fresh schema (skipped
// without GATEHOUSE_TEST_POSTGRES, as every test here).
func TestAnalytics(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	analyticstest.Run(t, func(t *testing.T) analytics.Store {
		return openStore(t, withSearchPath(t, base, freshSchema(t)))
	})
}

// BenchmarkWriteRollups: rollup flushes into a fresh schema (rows/s). The helpers above
// take a *testing.T, so the benchmark opens its schema by hand.
func BenchmarkWriteRollups(b *testing.B) {
	analyticstest.BenchWriteRollups(b, func(b *testing.B) analytics.Store {
		return benchStore(b)
	})
}

// benchStore opens a store in a schema of its own, dropped when b ends.
func benchStore(b *testing.B) *Store {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("GATEHOUSE_TEST_POSTGRES not set: skipping PostgreSQL benchmark")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	schema := fmt.Sprintf("gh_bench_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(b.Context(), "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			b.Errorf("dropping %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		dsn += " search_path=" + schema // key=value form
	} else {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	s, err := Open(b.Context(), dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
