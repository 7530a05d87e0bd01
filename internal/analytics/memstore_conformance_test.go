package analytics_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/analytics"
	"github.com/gatehouse-dev/gatehouse/internal/analytics/analyticstest"
)

// The in-memory store passes the same conformance suite as the SQL stores.
func TestMemoryStoreConformance(t *testing.T) {
	analyticstest.Run(t, func(t *testing.T) analytics.Store { return analytics.NewMemoryStore() })
}
