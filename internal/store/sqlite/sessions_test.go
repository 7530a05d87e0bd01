package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session/sessiontest"
)

func TestSessionStore(t *testing.T) {
	t.Parallel()
	sessiontest.RunStore(t, func(t *testing.T) session.Store {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}
