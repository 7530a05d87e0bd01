package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
)

// AuditEntries lists audit entries newest first. Since and Until compare with the stored
// microsecond times exactly (see ceilMicro).
func (s *Store) AuditEntries(ctx context.Context, f gatehouse.AuditFilter) (gatehouse.Page[*gatehouse.AuditEntry], error) {
	l := listQuery{
		cols:  "id, at, actor, action, resource, name, revision, before_doc, after_doc",
		table: "audit",
		sort:  []sortCol{{"id", keyInt}},
		desc:  true,
	}
	if f.Resource != "" {
		l.filter("resource = ?", f.Resource)
	}
	if f.Name != "" {
		l.filter("name = ?", f.Name)
	}
	if f.Actor != "" {
		l.filter("actor = ?", f.Actor)
	}
	if !f.Since.IsZero() {
		l.filter("at >= ?", s.d.Time(ceilMicro(f.Since)))
	}
	if !f.Until.IsZero() {
		l.filter("at < ?", s.d.Time(ceilMicro(f.Until)))
	}
	return list(ctx, s, l, f.ListOptions, scanAudit,
		func(e *gatehouse.AuditEntry) []string { return []string{strconv.FormatInt(e.ID, 10)} })
}

func scanAudit(rows *sql.Rows) (*gatehouse.AuditEntry, error) {
	var (
		e             gatehouse.AuditEntry
		at            dbTime
		before, after []byte
	)
	if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Resource, &e.Name, &e.Revision, &before, &after); err != nil {
		return nil, err
	}
	e.At = at.t
	if before != nil {
		e.Before = json.RawMessage(before)
	}
	if after != nil {
		e.After = json.RawMessage(after)
	}
	return &e, nil
}
