package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestCounters(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	storetest.RunCounters(t, func(t *testing.T) storetest.CounterStore {
		return openStore(t, withSearchPath(t, base, freshSchema(t)))
	})
}
