package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// Web sessions and password accounts (migration 0005) are not configuration: they bump
// no revision, write no audit entry and send no change notice, and they do not queue
// behind configuration writes.

var _ session.Store = (*Store)(nil)

// timeCol scans a time column of either engine: SQLite returns TimeLayout text,
// PostgreSQL a time.Time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*c.t = v.UTC()
	case string:
		t, err := time.Parse(TimeLayout, v)
		if err != nil {
			return err
		}
		*c.t = t
	case []byte:
		return c.Scan(string(v))
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

func (s *Store) open() error {
	if s.closed.Load() {
		return gatehouse.Errorf(gatehouse.EUnavailable, "store is closed")
	}
	return nil
}

// CreateSession implements session.Store. Expired sessions are pruned now and then by
// the caller (PruneSessions), not here, so that signing in stays one insert.
func (s *Store) CreateSession(ctx context.Context, x *session.Session) error {
	if err := s.open(); err != nil {
		return err
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO web_sessions (id, kind, subject, role, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), x.ID, x.Kind, x.Subject, x.Role, x.CSRF,
		s.d.Time(*micro(&x.CreatedAt)), s.d.Time(*micro(&x.ExpiresAt)))
	if err != nil {
		return s.conflictOr(ctx, err, "session", "…") // the id is a credential's hash: not echoed
	}
	return nil
}

// Session implements session.Store: ENotFound when missing or expired.
func (s *Store) Session(ctx context.Context, id string) (*session.Session, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	x := &session.Session{ID: id}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT kind, subject, role, csrf, created_at, expires_at
		FROM web_sessions WHERE id = ? AND expires_at > ?`), id, s.d.Time(now())).
		Scan(&x.Kind, &x.Subject, &x.Role, &x.CSRF, timeCol{&x.CreatedAt}, timeCol{&x.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gatehouse.Errorf(gatehouse.ENotFound, "no such session")
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading session: %w", err))
	}
	return x, nil
}

// Sessions implements session.Store.
func (s *Store) Sessions(ctx context.Context, kind string, limit int) ([]*session.Session, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, subject, role, csrf, created_at, expires_at FROM web_sessions
		WHERE kind = ? AND expires_at > ? ORDER BY created_at DESC, id LIMIT ?`), kind, s.d.Time(now()), limit)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing sessions: %w", err))
	}
	defer rows.Close()
	out := []*session.Session{}
	for rows.Next() {
		x := &session.Session{Kind: kind}
		if err := rows.Scan(&x.ID, &x.Subject, &x.Role, &x.CSRF, timeCol{&x.CreatedAt}, timeCol{&x.ExpiresAt}); err != nil {
			return nil, s.fail(ctx, fmt.Errorf("listing sessions: %w", err))
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing sessions: %w", err))
	}
	return out, nil
}

// DeleteSession implements session.Store; deleting a missing session is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.sessionExec(ctx, "ending session", "DELETE FROM web_sessions WHERE id = ?", id)
}

// TakeSession implements session.Store: one DELETE ... RETURNING, so two concurrent
// takers cannot both get the row.
func (s *Store) TakeSession(ctx context.Context, id string) (*session.Session, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	x := &session.Session{ID: id}
	err := s.wdb.QueryRowContext(ctx, s.q(`DELETE FROM web_sessions WHERE id = ? AND expires_at > ?
		RETURNING kind, subject, role, csrf, created_at, expires_at`), id, s.d.Time(now())).
		Scan(&x.Kind, &x.Subject, &x.Role, &x.CSRF, timeCol{&x.CreatedAt}, timeCol{&x.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gatehouse.Errorf(gatehouse.ENotFound, "no such session")
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("taking session: %w", err))
	}
	return x, nil
}

// DeleteSessions implements session.Store.
func (s *Store) DeleteSessions(ctx context.Context, kind, subject string) error {
	return s.sessionExec(ctx, "ending sessions", "DELETE FROM web_sessions WHERE kind = ? AND subject = ?", kind, subject)
}

// PruneSessions implements session.Store.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	res, err := s.wdb.ExecContext(ctx, s.q("DELETE FROM web_sessions WHERE expires_at < ?"), s.d.Time(*micro(&before)))
	if err != nil {
		return 0, s.fail(ctx, fmt.Errorf("pruning sessions: %w", err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *Store) sessionExec(ctx context.Context, what, query string, args ...any) error {
	if err := s.open(); err != nil {
		return err
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(query), args...); err != nil {
		return s.fail(ctx, fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

// PutAccount implements session.Store: an upsert that keeps the creation time.
func (s *Store) PutAccount(ctx context.Context, a *session.Account) error {
	if err := s.open(); err != nil {
		return err
	}
	t := now()
	var created time.Time
	err := s.wdb.QueryRowContext(ctx, s.q(`INSERT INTO web_accounts (kind, subject, role, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, subject) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,
			updated_at = excluded.updated_at
		RETURNING created_at`), a.Kind, a.Subject, a.Role, a.PasswordHash, s.d.Time(t), s.d.Time(t)).
		Scan(timeCol{&created})
	if err != nil {
		return s.fail(ctx, fmt.Errorf("writing account: %w", err))
	}
	a.CreatedAt, a.UpdatedAt = created, t
	return nil
}

// Account implements session.Store.
func (s *Store) Account(ctx context.Context, kind, subject string) (*session.Account, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	a := &session.Account{Kind: kind, Subject: subject}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT role, password_hash, created_at, updated_at FROM web_accounts
		WHERE kind = ? AND subject = ?`), kind, subject).
		Scan(&a.Role, &a.PasswordHash, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gatehouse.Errorf(gatehouse.ENotFound, "no such account")
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading account: %w", err))
	}
	return a, nil
}

// Accounts implements session.Store, by subject.
func (s *Store) Accounts(ctx context.Context, kind string) ([]*session.Account, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT subject, role, password_hash, created_at, updated_at FROM web_accounts
		WHERE kind = ? ORDER BY subject`), kind)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing accounts: %w", err))
	}
	defer rows.Close()
	out := []*session.Account{}
	for rows.Next() {
		a := &session.Account{Kind: kind}
		if err := rows.Scan(&a.Subject, &a.Role, &a.PasswordHash, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}); err != nil {
			return nil, s.fail(ctx, fmt.Errorf("listing accounts: %w", err))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("listing accounts: %w", err))
	}
	return out, nil
}

// DeleteAccount implements session.Store: ENotFound when missing.
func (s *Store) DeleteAccount(ctx context.Context, kind, subject string) error {
	if err := s.open(); err != nil {
		return err
	}
	res, err := s.wdb.ExecContext(ctx, s.q("DELETE FROM web_accounts WHERE kind = ? AND subject = ?"), kind, subject)
	if err != nil {
		return s.fail(ctx, fmt.Errorf("deleting account: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return gatehouse.Errorf(gatehouse.ENotFound, "no such account")
	}
	return nil
}
