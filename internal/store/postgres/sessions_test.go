package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session/sessiontest"
)

func TestSessionStore(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	sessiontest.RunStore(t, func(t *testing.T) session.Store {
		return openStore(t, withSearchPath(t, base, freshSchema(t)))
	})
}
