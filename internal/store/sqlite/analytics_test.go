package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/analyticstest"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

var _ analytics.Store = (*sqlite.Store)(nil)

func TestAnalytics(t *testing.T) {
	t.Parallel()
	analyticstest.Run(t, func(t *testing.T) analytics.Store {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

// BenchmarkWriteRollups: rollup flushes into a file store (rows/s).
func BenchmarkWriteRollups(b *testing.B) {
	analyticstest.BenchWriteRollups(b, func(b *testing.B) analytics.Store {
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
