package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/alerts/alertstest"
)

func TestAlertsStore(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	alertstest.RunStore(t, func(t *testing.T) alerts.Store {
		return openStore(t, withSearchPath(t, base, freshSchema(t)))
	})
}
