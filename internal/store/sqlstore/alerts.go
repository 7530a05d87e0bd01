package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/alerts"
)

// Alerting (internal/alerts) keeps its rules, webhooks, alert log and delivery log here,
// in tables of their own (migration 0004). Rules and webhooks are documents like the other
// resources, but they are not part of gatehouse.Store: their writes bump no revision,
// write no audit entry and send no change notice (engines reread rules periodically). The
// logs are append-only, ordered by an increasing seq, and paged newest first by it.

var _ alerts.Store = (*Store)(nil)

// alertDocs describes one of the two document tables.
type alertDocs struct {
	table, noun string
}

var (
	ruleDocs    = alertDocs{"alert_rules", "alert rule"}
	webhookDocs = alertDocs{"alert_webhooks", "webhook"}
)

// AlertRules implements alerts.Store.
func (s *Store) AlertRules(ctx context.Context) ([]*alerts.Rule, error) {
	return listAlertDocs[alerts.Rule](ctx, s, ruleDocs)
}

// AlertRule implements alerts.Store.
func (s *Store) AlertRule(ctx context.Context, id string) (*alerts.Rule, error) {
	return getAlertDoc[alerts.Rule](ctx, s, ruleDocs, id)
}

// CreateAlertRule implements alerts.Store.
func (s *Store) CreateAlertRule(ctx context.Context, r *alerts.Rule) (*alerts.Rule, error) {
	c := *r
	stampTimes(&c.CreatedAt, &c.UpdatedAt)
	if err := createAlertDoc(ctx, s, ruleDocs, c.ID, c.CreatedAt, c.UpdatedAt, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// UpdateAlertRule implements alerts.Store.
func (s *Store) UpdateAlertRule(ctx context.Context, r *alerts.Rule) (*alerts.Rule, error) {
	c := *r
	stampTimes(&c.UpdatedAt)
	if err := updateAlertDoc(ctx, s, ruleDocs, c.ID, c.UpdatedAt, &c.CreatedAt, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteAlertRule implements alerts.Store.
func (s *Store) DeleteAlertRule(ctx context.Context, id string) error {
	return deleteAlertDoc(ctx, s, ruleDocs, id, "")
}

// Webhooks implements alerts.Store.
func (s *Store) Webhooks(ctx context.Context) ([]*alerts.Webhook, error) {
	return listAlertDocs[alerts.Webhook](ctx, s, webhookDocs)
}

// Webhook implements alerts.Store.
func (s *Store) Webhook(ctx context.Context, id string) (*alerts.Webhook, error) {
	return getAlertDoc[alerts.Webhook](ctx, s, webhookDocs, id)
}

// CreateWebhook implements alerts.Store.
func (s *Store) CreateWebhook(ctx context.Context, w *alerts.Webhook) (*alerts.Webhook, error) {
	c := *w
	stampTimes(&c.CreatedAt, &c.UpdatedAt)
	if err := createAlertDoc(ctx, s, webhookDocs, c.ID, c.CreatedAt, c.UpdatedAt, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// UpdateWebhook implements alerts.Store.
func (s *Store) UpdateWebhook(ctx context.Context, w *alerts.Webhook) (*alerts.Webhook, error) {
	c := *w
	stampTimes(&c.UpdatedAt)
	if err := updateAlertDoc(ctx, s, webhookDocs, c.ID, c.UpdatedAt, &c.CreatedAt, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteWebhook implements alerts.Store: the webhook and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return deleteAlertDoc(ctx, s, webhookDocs, id, "DELETE FROM webhook_deliveries WHERE webhook_id = ?")
}

// AppendAlertEvent implements alerts.Store.
func (s *Store) AppendAlertEvent(ctx context.Context, e *alerts.Event) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	c := *e
	c.At, c.StartedAt = *micro(&c.At), *micro(&c.StartedAt)
	doc, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("encoding alert event: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO alert_events (id, rule_id, subject, api, state, at, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), c.ID, c.Rule, c.Subject, c.API, string(c.State), s.d.Time(c.At), string(doc))
	if err != nil {
		return s.conflictOr(ctx, err, "alert event", c.ID)
	}
	return nil
}

// AlertEvents implements alerts.Store. Since and Until compare with the stored
// microsecond times exactly (see ceilMicro).
func (s *Store) AlertEvents(ctx context.Context, f alerts.EventFilter) (gatehouse.Page[*alerts.Event], error) {
	l := listQuery{cols: "seq, doc", table: "alert_events", sort: []sortCol{{"seq", keyInt}}, desc: true}
	if f.Rule != "" {
		l.filter("rule_id = ?", f.Rule)
	}
	if f.State != "" {
		l.filter("state = ?", string(f.State))
	}
	if f.API != "" {
		l.filter("api = ?", f.API)
	}
	if !f.Since.IsZero() {
		l.filter("at >= ?", s.d.Time(ceilMicro(f.Since)))
	}
	if !f.Until.IsZero() {
		l.filter("at < ?", s.d.Time(ceilMicro(f.Until)))
	}
	return listLog[alerts.Event](ctx, s, l, f.ListOptions, "alert event")
}

// FiringAlerts implements alerts.Store, oldest first.
func (s *Store) FiringAlerts(ctx context.Context) ([]*alerts.Event, error) {
	if s.closed.Load() {
		return nil, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT doc FROM alert_events
		WHERE state = 'firing' AND seq IN (SELECT max(seq) FROM alert_events GROUP BY rule_id, subject)
		ORDER BY seq`)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading firing alerts: %w", err))
	}
	defer rows.Close()
	out := []*alerts.Event{}
	scan := scanDoc[alerts.Event]("alert event")
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, s.fail(ctx, fmt.Errorf("reading firing alerts: %w", err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading firing alerts: %w", err))
	}
	return out, nil
}

// AppendDelivery implements alerts.Store.
func (s *Store) AppendDelivery(ctx context.Context, d *alerts.Delivery) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	c := *d
	c.At = *micro(&c.At)
	c.NextRetry = micro(c.NextRetry)
	doc, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("encoding webhook delivery: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries (id, attempt, webhook_id, event_id, at, doc)
		VALUES (?, ?, ?, ?, ?, ?)`), c.ID, c.Attempt, c.Webhook, c.Event, s.d.Time(c.At), string(doc))
	if err != nil {
		return s.fail(ctx, fmt.Errorf("appending webhook delivery: %w", err))
	}
	return nil
}

// Deliveries implements alerts.Store.
func (s *Store) Deliveries(ctx context.Context, f alerts.DeliveryFilter) (gatehouse.Page[*alerts.Delivery], error) {
	l := listQuery{cols: "seq, doc", table: "webhook_deliveries", sort: []sortCol{{"seq", keyInt}}, desc: true}
	if f.Webhook != "" {
		l.filter("webhook_id = ?", f.Webhook)
	}
	if f.Event != "" {
		l.filter("event_id = ?", f.Event)
	}
	return listLog[alerts.Delivery](ctx, s, l, f.ListOptions, "webhook delivery")
}

// PruneAlertLog implements alerts.Store.
func (s *Store) PruneAlertLog(ctx context.Context, before time.Time) (int64, error) {
	if s.closed.Load() {
		return 0, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	at := s.d.Time(ceilMicro(before))
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("beginning alert log prune: %w", err))
	}
	defer tx.Rollback() // a no-op after Commit
	var n int64
	for _, q := range []string{
		// The latest event of each rule and subject stays: it says whether the alert fires.
		`DELETE FROM alert_events WHERE at < ? AND seq NOT IN (SELECT max(seq) FROM alert_events GROUP BY rule_id, subject)`,
		`DELETE FROM webhook_deliveries WHERE at < ?`,
	} {
		res, err := tx.ExecContext(ctx, s.q(q), at)
		if err != nil {
			return 0, s.fail(ctx, fmt.Errorf("pruning the alert log: %w", err))
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, s.fail(ctx, fmt.Errorf("pruning the alert log: %w", err))
		}
		n += k
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail(ctx, fmt.Errorf("committing alert log prune: %w", err))
	}
	return n, nil
}

// stampTimes sets each zero time to now and brings the others to the microsecond.
func stampTimes(ts ...*time.Time) {
	for _, t := range ts {
		if t.IsZero() {
			*t = now()
		} else {
			*t = *micro(t)
		}
	}
}

// conflictOr maps a unique violation to an EConflict naming the resource, and any other
// error as fail does.
func (s *Store) conflictOr(ctx context.Context, err error, noun, id string) error {
	if ctx.Err() == nil && !s.closed.Load() && s.d.Classify(err) == ErrUnique {
		return &gatehouse.Error{Code: gatehouse.EConflict, Message: fmt.Sprintf("%s %q already exists", noun, id), Err: err}
	}
	return s.fail(ctx, fmt.Errorf("writing %s %q: %w", noun, id, err))
}

func alertNotFound(noun, id string) error {
	return gatehouse.Errorf(gatehouse.ENotFound, "%s %q not found", noun, id)
}

func listAlertDocs[T any](ctx context.Context, s *Store, t alertDocs) ([]*T, error) {
	if s.closed.Load() {
		return nil, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	rows, err := s.db.QueryContext(ctx, "SELECT doc FROM "+t.table+" ORDER BY id")
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing %ss: %w", t.noun, err))
	}
	defer rows.Close()
	out := []*T{}
	scan := scanDoc[T](t.noun)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(ctx, fmt.Errorf("listing %ss: %w", t.noun, err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing %ss: %w", t.noun, err))
	}
	return out, nil
}

func getAlertDoc[T any](ctx context.Context, s *Store, t alertDocs, id string) (*T, error) {
	if s.closed.Load() {
		return nil, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	var doc []byte
	err := s.db.QueryRowContext(ctx, s.q("SELECT doc FROM "+t.table+" WHERE id = ?"), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertNotFound(t.noun, id)
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading %s %q: %w", t.noun, id, err))
	}
	v, err := decode[T](t.noun, doc)
	return v, s.fail(ctx, err)
}

func createAlertDoc(ctx context.Context, s *Store, t alertDocs, id string, created, updated time.Time, v any) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", t.noun, err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q("INSERT INTO "+t.table+" (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?)"),
		id, s.d.Time(created), s.d.Time(updated), string(doc))
	if err != nil {
		return s.conflictOr(ctx, err, t.noun, id)
	}
	return nil
}

// updateAlertDoc replaces the document of id, setting *created (a field of v) to the
// stored creation time first, in one transaction.
func updateAlertDoc(ctx context.Context, s *Store, t alertDocs, id string, updated time.Time, created *time.Time, v any) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("beginning %s update: %w", t.noun, err))
	}
	defer tx.Rollback() // a no-op after Commit
	var at dbTime
	err = tx.QueryRowContext(ctx, s.q("SELECT created_at FROM "+t.table+" WHERE id = ?"), id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return alertNotFound(t.noun, id)
	}
	if err != nil {
		return s.fail(ctx, fmt.Errorf("reading %s %q: %w", t.noun, id, err))
	}
	*created = at.t
	doc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", t.noun, err)
	}
	if _, err := tx.ExecContext(ctx, s.q("UPDATE "+t.table+" SET updated_at = ?, doc = ? WHERE id = ?"),
		s.d.Time(updated), string(doc), id); err != nil {
		return s.fail(ctx, fmt.Errorf("updating %s %q: %w", t.noun, id, err))
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, fmt.Errorf("committing %s update: %w", t.noun, err))
	}
	return nil
}

// deleteAlertDoc deletes the document of id and, with also, the rows also deletes (its
// one parameter is id), in one transaction.
func deleteAlertDoc(ctx context.Context, s *Store, t alertDocs, id, also string) error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("beginning %s delete: %w", t.noun, err))
	}
	defer tx.Rollback() // a no-op after Commit
	res, err := tx.ExecContext(ctx, s.q("DELETE FROM "+t.table+" WHERE id = ?"), id)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("deleting %s %q: %w", t.noun, id, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, fmt.Errorf("deleting %s %q: %w", t.noun, id, err))
	}
	if n == 0 {
		return alertNotFound(t.noun, id)
	}
	if also != "" {
		if _, err := tx.ExecContext(ctx, s.q(also), id); err != nil {
			return s.fail(ctx, fmt.Errorf("deleting %s %q: %w", t.noun, id, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, fmt.Errorf("committing %s delete: %w", t.noun, err))
	}
	return nil
}

// seqDoc is one row of a log: its order and its document.
type seqDoc[T any] struct {
	seq int64
	v   *T
}

// listLog pages through a log table (cols "seq, doc") newest first.
func listLog[T any](ctx context.Context, s *Store, l listQuery, o gatehouse.ListOptions, noun string) (gatehouse.Page[*T], error) {
	if s.closed.Load() {
		return gatehouse.Page[*T]{}, gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	page, err := list(ctx, s, l, o, func(rows *sql.Rows) (seqDoc[T], error) {
		var (
			r   seqDoc[T]
			doc []byte
		)
		if err := rows.Scan(&r.seq, &doc); err != nil {
			return r, err
		}
		v, err := decode[T](noun, doc)
		r.v = v
		return r, err
	}, func(r seqDoc[T]) []string { return []string{strconv.FormatInt(r.seq, 10)} })
	if err != nil {
		return gatehouse.Page[*T]{}, err
	}
	out := gatehouse.Page[*T]{Items: make([]*T, len(page.Items)), Next: page.Next}
	for i, r := range page.Items {
		out.Items[i] = r.v
	}
	return out, nil
}
