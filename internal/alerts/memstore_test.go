package alerts_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/alerts/alertstest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	alertstest.RunStore(t, func(t *testing.T) alerts.Store { return alerts.NewMemoryStore() })
}
