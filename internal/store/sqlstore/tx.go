package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// tx is one write in progress: its transaction, the revision it will commit as, its clock
// reading and actor, and the changes it has recorded so far.
type tx struct {
	s       *Store
	ctx     context.Context
	tx      *sql.Tx
	rev     int64
	now     time.Time
	actor   string
	changes []gatehouse.Change
}

// write runs fn in a write transaction. If fn records no change (revoking a revoked key),
// the transaction rolls back and the revision is not bumped. After commit, the changes
// reach subscribers (directly, or through the engine's Announce).
func (s *Store) write(ctx context.Context, fn func(*tx) error) error {
	select {
	case s.writeSem <- struct{}{}:
		defer func() { <-s.writeSem }()
	case <-ctx.Done():
		return s.fail(ctx, ctx.Err())
	}
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	sqlTx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("beginning write: %w", err))
	}
	defer sqlTx.Rollback() // a no-op after Commit; on failure, the cause is what we return

	t := &tx{s: s, ctx: ctx, tx: sqlTx, actor: gatehouse.ActorFrom(ctx)}
	err = sqlTx.QueryRowContext(ctx, "UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision").Scan(&t.rev)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("bumping revision: %w", err))
	}
	// Read the clock only now, holding the engine's write lock, so that timestamps (audit
	// entries, creation order of keys) follow revision order across nodes too.
	t.now = now()
	if err := fn(t); err != nil {
		return s.fail(ctx, err)
	}
	if len(t.changes) == 0 {
		return nil
	}
	if s.announce != nil {
		if err := s.announce(ctx, sqlTx, t.changes); err != nil {
			return s.fail(ctx, fmt.Errorf("announcing changes: %w", err))
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return s.fail(ctx, fmt.Errorf("committing: %w", err))
	}
	if s.announce == nil {
		for _, c := range t.changes {
			s.hub.Publish(c)
		}
	}
	return nil
}

// writeDoc runs fn in a write transaction and returns the document fn stored, decoded as a
// read would return it. fn returns that document once it has recorded the change.
func writeDoc[T any](ctx context.Context, s *Store, kind string, fn func(*tx) ([]byte, error)) (*T, error) {
	var out *T
	err := s.write(ctx, func(t *tx) error {
		doc, err := fn(t)
		if err != nil {
			return err
		}
		out, err = decode[T](kind, doc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) exec(query string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, t.s.q(query), args...)
	return err
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...)
}

// time binds a time for the engine.
func (t *tx) time(v time.Time) any { return t.s.d.Time(v) }

// exists reports whether query returns a row.
func (t *tx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// firstString returns the first column of the first row of query, or "" if none.
func (t *tx) firstString(query string, args ...any) (string, error) {
	var v string
	err := t.queryRow(query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// current reads the stored document of the resource whose keyCol is key, enforcing
// ifRevision (0 means any).
func (t *tx) current(table, keyCol, kind, key string, ifRevision int64) ([]byte, error) {
	var (
		rev int64
		doc []byte
	)
	err := t.queryRow("SELECT revision, doc FROM "+table+" WHERE "+keyCol+" = ?", key).Scan(&rev, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kind, key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %q: %w", noun(kind), key, err)
	}
	if ifRevision != 0 && rev != ifRevision {
		return nil, gatehouse.Errorf(gatehouse.EPreconditionFailed,
			"%s %q is at revision %d, not %d", noun(kind), key, rev, ifRevision)
	}
	return doc, nil
}

// stamp sets m for a resource about to be written by action (create or update). A new
// resource is created at this revision; an updated one keeps its creation time and must
// exist at ifRevision (see current), and its stored document is returned for the audit.
func (t *tx) stamp(m *gatehouse.Meta, action, table, keyCol, kind, key string, ifRevision int64) ([]byte, error) {
	*m = gatehouse.Meta{Revision: t.rev, CreatedAt: t.now, UpdatedAt: t.now}
	if action != gatehouse.ActionUpdate {
		return nil, nil
	}
	before, err := t.current(table, keyCol, kind, key, ifRevision)
	if err != nil {
		return nil, err
	}
	old, err := decode[gatehouse.Meta](kind, before)
	if err != nil {
		return nil, err
	}
	m.CreatedAt = old.CreatedAt
	return before, nil
}

// remove deletes the row whose keyCol is key and records the deletion of before, the
// document current returned.
func (t *tx) remove(table, keyCol, kind, key string, before []byte) error {
	if err := t.exec("DELETE FROM "+table+" WHERE "+keyCol+" = ?", key); err != nil {
		return fmt.Errorf("deleting %s %q: %w", noun(kind), key, err)
	}
	return t.record(kind, gatehouse.ActionDelete, key, before, nil)
}

// record writes the audit entry of one change and queues its notice. Documents are the
// stored ones, which never hold secrets (hashes are json:"-").
func (t *tx) record(kind, action, name string, before, after []byte) error {
	err := t.exec(`INSERT INTO audit (at, actor, action, resource, name, revision, before_doc, after_doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.time(t.now), t.actor, action, kind, name, t.rev, nullable(before), nullable(after))
	if err != nil {
		return fmt.Errorf("writing audit entry: %w", err)
	}
	t.changes = append(t.changes, gatehouse.Change{Kind: kind, Name: name, Action: action, Revision: t.rev})
	return nil
}

// conflictOnUnique turns a unique violation from an insert into a clear EConflict.
func (t *tx) conflictOnUnique(err error, format string, args ...any) error {
	if err != nil && t.s.d.Classify(err) == ErrUnique {
		return &gatehouse.Error{Code: gatehouse.EConflict, Message: fmt.Sprintf(format, args...), Err: err}
	}
	return err
}

// encode marshals a resource for storage.
func encode(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", noun(kind), err)
	}
	return b, nil
}
