package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestCounters(t *testing.T) {
	t.Parallel()
	storetest.RunCounters(t, func(t *testing.T) storetest.CounterStore {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}
