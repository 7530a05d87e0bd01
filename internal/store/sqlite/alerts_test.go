package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/alerts"
	"github.com/gatehouse-dev/gatehouse/internal/alerts/alertstest"
)

func TestAlertsStore(t *testing.T) {
	t.Parallel()
	alertstest.RunStore(t, func(t *testing.T) alerts.Store {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}
