package admin

import (
	"context"
	_ "embed"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/problem"
)

// openAPIDoc describes every route of routes.go; the tests keep the two in step.
//
//go:embed openapi.json
var openAPIDoc string // a string, so nothing can change it

// readyTimeout bounds each readiness check, so that a hung store makes /readyz answer 503
// instead of hanging the orchestrator's probe.
const readyTimeout = 2 * time.Second

// statusBody is the answer of GET /v1/status.
type statusBody struct {
	Version  string `json:"version"`
	Revision int64  `json:"revision"` // of the latest write to the store
}

func (s *server) status(w http.ResponseWriter, r *http.Request) error {
	rev, err := s.store.Revision(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, statusBody{Version: s.version, Revision: rev})
	return nil
}

// healthBody is the answer of /healthz and of /readyz when ready.
type healthBody struct {
	Status   string   `json:"status"`
	Warnings []string `json:"warnings,omitempty"`
}

// healthz answers while the process can serve HTTP at all; it checks nothing else, so an
// orchestrator restarts the process only when restarting can help.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, healthBody{Status: "ok"})
	return nil
}

// readyz answers 200 when the store and the extra checks pass, else 503 naming the check
// that failed. Causes go to the log; the answer carries only their safe messages.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	checks := []struct {
		name string
		fn   func(context.Context) error
	}{{"store", s.store.Ping}}
	if s.ready != nil {
		checks = append(checks, struct {
			name string
			fn   func(context.Context) error
		}{"ready", s.ready})
	}
	var failed []gatehouse.FieldError
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := c.fn(ctx)
		cancel()
		if err != nil {
			s.log.WarnContext(r.Context(), "admin api: not ready", "check", c.name, "err", err)
			failed = append(failed, gatehouse.FieldError{Field: c.name, Message: readyMessage(err)})
		}
	}
	if len(failed) > 0 {
		detail := "not ready: check " + strconv.Quote(failed[0].Field) + " failed"
		if len(failed) > 1 {
			detail = "not ready: " + strconv.Itoa(len(failed)) + " checks failed"
		}
		problem.WriteDoc(w, problem.Document{Status: http.StatusServiceUnavailable, Code: gatehouse.EUnavailable,
			Detail: detail, Errors: failed})
		return nil
	}
	if s.degraded != nil {
		if warn := s.degraded(); len(warn) > 0 {
			s.writeJSON(w, r, http.StatusOK, healthBody{Status: "degraded", Warnings: warn})
			return nil
		}
	}
	s.writeJSON(w, r, http.StatusOK, healthBody{Status: "ok"})
	return nil
}

func (s *server) openapi(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, openAPIDoc)
	return nil
}

// readyMessage is what /readyz, which needs no token, shows of a failed check: the message
// of a *gatehouse.Error (written to be shown), else nothing of the cause, which may name
// internal hosts; the log has it.
func readyMessage(err error) string {
	if _, ok := asError(err); ok {
		return gatehouse.ErrorMessage(err)
	}
	return "failed; see the server log"
}

// gatewayStatus reports what this node's data plane serves: the revision of its route
// table, why a newer configuration was not applied, and every target's health.
func (s *server) gatewayStatus(w http.ResponseWriter, r *http.Request) error {
	if s.gateway == nil {
		return gatehouse.Errorf(gatehouse.ENotFound, "this node runs no gateway")
	}
	s.writeJSON(w, r, http.StatusOK, s.gateway())
	return nil
}
