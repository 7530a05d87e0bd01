package admin

import (
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// auditKinds are the values of the resource filter.
func auditKinds() []string {
	return []string{gatehouse.KindAPI, gatehouse.KindPlan, gatehouse.KindDeveloper, gatehouse.KindApp,
		gatehouse.KindKey, gatehouse.KindSubscription, gatehouse.KindAdminToken}
}

// listAudit lists audit entries, newest first.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o, err := listOptions(q, "resource", "name", "actor", "since", "until")
	if err != nil {
		return err
	}
	f := gatehouse.AuditFilter{ListOptions: o, Resource: q.Get("resource"), Name: q.Get("name"), Actor: q.Get("actor")}
	var p gatehouse.Problems
	if f.Resource != "" && !slices.Contains(auditKinds(), f.Resource) {
		p.Addf("resource", "must be one of %v", auditKinds())
	}
	f.Since = timeParam(&p, q.Get("since"), "since")
	f.Until = timeParam(&p, q.Get("until"), "until")
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		p.Addf("until", "must be after since")
	}
	if err := p.Err("query"); err != nil {
		return err
	}
	pg, err := s.store.AuditEntries(r.Context(), f)
	if err != nil {
		return err
	}
	s.writePage(w, r, items(pg.Items), pg.Next)
	return nil
}

func timeParam(p *gatehouse.Problems, v, name string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		p.Addf(name, "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z")
	}
	return t
}
