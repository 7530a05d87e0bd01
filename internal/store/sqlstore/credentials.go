package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Keys and admin tokens keep their hash in a column of its own: the document is what the
// API shows and the audit log records, and hashes are json:"-".

func setKeyHash(k *gatehouse.Key, hash string)          { k.Hash = hash }
func setTokenHash(t *gatehouse.AdminToken, hash string) { t.Hash = hash }

// noSuchHash is ENotFound for a lookup by hash. The hash is not echoed: it fingerprints a
// credential.
func noSuchHash(kind string) error {
	return gatehouse.Errorf(gatehouse.ENotFound, "no %s has this hash", noun(kind))
}

// Key returns the key with this id, or ENotFound.
func (s *Store) Key(ctx context.Context, id string) (*gatehouse.Key, error) {
	return getHashed(ctx, s, gatehouse.KindKey, "SELECT doc, hash FROM keys WHERE id = ?", id,
		notFound(gatehouse.KindKey, id), setKeyHash)
}

// KeyByHash returns the key with this hash, whatever its status, or ENotFound.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*gatehouse.Key, error) {
	return getHashed(ctx, s, gatehouse.KindKey, "SELECT doc, hash FROM keys WHERE hash = ?", hash,
		noSuchHash(gatehouse.KindKey), setKeyHash)
}

// Keys lists keys by creation.
func (s *Store) Keys(ctx context.Context, f gatehouse.KeyFilter) (gatehouse.Page[*gatehouse.Key], error) {
	l := listQuery{cols: "doc, hash", table: "keys", sort: []sortCol{{"created_at", keyTime}, {"id", keyText}}}
	if f.App != "" {
		l.filter("app = ?", f.App)
	}
	return list(ctx, s, l, f.ListOptions,
		scanHashed(gatehouse.KindKey, setKeyHash),
		func(k *gatehouse.Key) []string { return []string{cursorTime(k.CreatedAt), k.ID} })
}

// CreateKey stores a new key of an existing app (else ENotFound); the caller sets Prefix
// and Hash. The store sets ID and CreatedAt.
func (s *Store) CreateKey(ctx context.Context, in *gatehouse.Key) (*gatehouse.Key, error) {
	k := *in
	k.ID = gatehouse.NewID("key")
	k.CreatedAt = now()
	k.ExpiresAt = micro(k.ExpiresAt)
	k.RevokedAt, k.LastUsedAt = nil, nil
	if err := validateHashed(k.Validate(), k.Hash, "key"); err != nil {
		return nil, err
	}
	out, err := writeDoc[gatehouse.Key](ctx, s, gatehouse.KindKey, func(t *tx) ([]byte, error) {
		ok, err := t.exists("SELECT 1 FROM apps WHERE name = ?", k.App)
		if err != nil {
			return nil, fmt.Errorf("checking app %q: %w", k.App, err)
		}
		if !ok {
			return nil, notFound(gatehouse.KindApp, k.App)
		}
		k.CreatedAt = t.now
		doc, err := encode(gatehouse.KindKey, &k)
		if err != nil {
			return nil, err
		}
		err = t.exec(`INSERT INTO keys (id, app, hash, revision, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.App, k.Hash, t.rev, t.time(t.now), string(doc))
		if err != nil {
			return nil, t.conflictOnUnique(fmt.Errorf("inserting key: %w", err), "a key with this hash already exists")
		}
		return doc, t.record(gatehouse.KindKey, gatehouse.ActionCreate, k.ID, nil, doc)
	})
	if err != nil {
		return nil, err
	}
	out.Hash = k.Hash
	return out, nil
}

// RevokeKey marks a key revoked and returns it. Revoking a revoked key changes nothing:
// no revision, no audit entry, no notice.
func (s *Store) RevokeKey(ctx context.Context, id string) (*gatehouse.Key, error) {
	return s.changeKey(ctx, id, gatehouse.ActionRevoke, func(k *gatehouse.Key, now time.Time) bool {
		if k.RevokedAt != nil {
			return false
		}
		k.RevokedAt = &now
		return true
	})
}

// ExpireKey sets a key's expiry to at unless it is revoked or already expires sooner
// (then nothing changes: no revision, no audit entry, no notice).
func (s *Store) ExpireKey(ctx context.Context, id string, at time.Time) (*gatehouse.Key, error) {
	at = at.UTC().Truncate(time.Microsecond)
	return s.changeKey(ctx, id, gatehouse.ActionUpdate, func(k *gatehouse.Key, _ time.Time) bool {
		if k.RevokedAt != nil || (k.ExpiresAt != nil && !at.Before(*k.ExpiresAt)) {
			return false
		}
		k.ExpiresAt = &at
		return true
	})
}

// changeKey applies change to a stored key in one write; change reports whether it
// changed anything.
func (s *Store) changeKey(ctx context.Context, id, action string, change func(k *gatehouse.Key, now time.Time) bool) (*gatehouse.Key, error) {
	var out *gatehouse.Key
	err := s.write(ctx, func(t *tx) error {
		var (
			before []byte
			hash   string
		)
		err := t.queryRow("SELECT doc, hash FROM keys WHERE id = ?", id).Scan(&before, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(gatehouse.KindKey, id)
		}
		if err != nil {
			return fmt.Errorf("reading key %q: %w", id, err)
		}
		if out, err = decode[gatehouse.Key](gatehouse.KindKey, before); err != nil {
			return err
		}
		out.Hash = hash
		if !change(out, t.now) {
			return nil
		}
		doc, err := encode(gatehouse.KindKey, out)
		if err != nil {
			return err
		}
		if err := t.exec("UPDATE keys SET revision = ?, doc = ? WHERE id = ?", t.rev, string(doc), id); err != nil {
			return fmt.Errorf("%s key %q: %w", action, id, err)
		}
		return t.record(gatehouse.KindKey, action, id, before, doc)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteKey deletes a key, or returns ENotFound.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("keys", "id", gatehouse.KindKey, id, 0)
		if err != nil {
			return err
		}
		return t.remove("keys", "id", gatehouse.KindKey, id, before)
	})
}

// Subscription returns the subscription with this id, or ENotFound.
func (s *Store) Subscription(ctx context.Context, id string) (*gatehouse.Subscription, error) {
	return getDoc[gatehouse.Subscription](ctx, s, gatehouse.KindSubscription, "SELECT doc FROM subscriptions WHERE id = ?", id)
}

// Subscriptions lists subscriptions by creation.
func (s *Store) Subscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) (gatehouse.Page[*gatehouse.Subscription], error) {
	l := listQuery{cols: "doc", table: "subscriptions", sort: []sortCol{{"created_at", keyTime}, {"id", keyText}}}
	if f.App != "" {
		l.filter("app = ?", f.App)
	}
	if f.Plan != "" {
		l.filter("plan = ?", f.Plan)
	}
	if f.Status != "" {
		l.filter("status = ?", string(f.Status))
	}
	return list(ctx, s, l, f.ListOptions, scanDoc[gatehouse.Subscription](gatehouse.KindSubscription),
		func(sub *gatehouse.Subscription) []string { return []string{cursorTime(sub.CreatedAt), sub.ID} })
}

// CreateSubscription subscribes an app to a plan: EInvalid if either is missing, EConflict
// if the app already subscribes to the plan. An empty status becomes active when the plan
// approves automatically, else pending.
func (s *Store) CreateSubscription(ctx context.Context, in *gatehouse.Subscription) (*gatehouse.Subscription, error) {
	sub := *in
	if err := sub.Validate(); err != nil {
		return nil, err
	}
	sub.ID = gatehouse.NewID("sub")
	return writeDoc[gatehouse.Subscription](ctx, s, gatehouse.KindSubscription, func(t *tx) ([]byte, error) {
		var p gatehouse.Problems
		ok, err := t.exists("SELECT 1 FROM apps WHERE name = ?", sub.App)
		if err != nil {
			return nil, fmt.Errorf("checking app %q: %w", sub.App, err)
		}
		if !ok {
			p.Addf("app", "no such app %q", sub.App)
		}
		var planDoc []byte
		err = t.queryRow("SELECT doc FROM plans WHERE name = ?", sub.Plan).Scan(&planDoc)
		if errors.Is(err, sql.ErrNoRows) {
			p.Addf("plan", "no such plan %q", sub.Plan)
		} else if err != nil {
			return nil, fmt.Errorf("reading plan %q: %w", sub.Plan, err)
		}
		if err := p.Err("subscription"); err != nil {
			return nil, err
		}
		if sub.Status == "" {
			plan, err := decode[gatehouse.Plan](gatehouse.KindPlan, planDoc)
			if err != nil {
				return nil, err
			}
			sub.Status = gatehouse.SubPending
			if plan.Approval == gatehouse.ApprovalAuto {
				sub.Status = gatehouse.SubActive
			}
		}
		sub.Meta = gatehouse.Meta{Revision: t.rev, CreatedAt: t.now, UpdatedAt: t.now}
		doc, err := encode(gatehouse.KindSubscription, &sub)
		if err != nil {
			return nil, err
		}
		err = t.exec(`INSERT INTO subscriptions (id, app, plan, status, revision, created_at, updated_at, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.ID, sub.App, sub.Plan, string(sub.Status), t.rev, t.time(t.now), t.time(t.now), string(doc))
		if err != nil {
			return nil, t.conflictOnUnique(fmt.Errorf("inserting subscription: %w", err),
				"app %q already subscribes to plan %q", sub.App, sub.Plan)
		}
		return doc, t.record(gatehouse.KindSubscription, gatehouse.ActionCreate, sub.ID, nil, doc)
	})
}

// UpdateSubscription changes a subscription's status: EInvalid, ENotFound or
// EPreconditionFailed.
func (s *Store) UpdateSubscription(ctx context.Context, id string, status gatehouse.SubscriptionStatus, ifRevision int64) (*gatehouse.Subscription, error) {
	if !status.Valid() {
		var p gatehouse.Problems
		p.Addf("status", "must be one of pending, active, rejected, revoked")
		return nil, p.Err("subscription")
	}
	return writeDoc[gatehouse.Subscription](ctx, s, gatehouse.KindSubscription, func(t *tx) ([]byte, error) {
		before, err := t.current("subscriptions", "id", gatehouse.KindSubscription, id, ifRevision)
		if err != nil {
			return nil, err
		}
		sub, err := decode[gatehouse.Subscription](gatehouse.KindSubscription, before)
		if err != nil {
			return nil, err
		}
		sub.Status, sub.Revision, sub.UpdatedAt = status, t.rev, t.now
		doc, err := encode(gatehouse.KindSubscription, sub)
		if err != nil {
			return nil, err
		}
		err = t.exec(`UPDATE subscriptions SET status = ?, revision = ?, updated_at = ?, doc = ? WHERE id = ?`,
			string(status), t.rev, t.time(t.now), string(doc), id)
		if err != nil {
			return nil, fmt.Errorf("updating subscription %q: %w", id, err)
		}
		return doc, t.record(gatehouse.KindSubscription, gatehouse.ActionUpdate, id, before, doc)
	})
}

// DeleteSubscription deletes a subscription: ENotFound or EPreconditionFailed.
func (s *Store) DeleteSubscription(ctx context.Context, id string, ifRevision int64) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("subscriptions", "id", gatehouse.KindSubscription, id, ifRevision)
		if err != nil {
			return err
		}
		return t.remove("subscriptions", "id", gatehouse.KindSubscription, id, before)
	})
}

// AdminTokens lists admin tokens by creation. Token names are labels, not identifiers, so
// they are neither unique nor the order.
func (s *Store) AdminTokens(ctx context.Context, o gatehouse.ListOptions) (gatehouse.Page[*gatehouse.AdminToken], error) {
	l := listQuery{cols: "doc, hash", table: "admin_tokens", sort: []sortCol{{"created_at", keyTime}, {"id", keyText}}}
	return list(ctx, s, l, o,
		scanHashed(gatehouse.KindAdminToken, setTokenHash),
		func(t *gatehouse.AdminToken) []string { return []string{cursorTime(t.CreatedAt), t.ID} })
}

// AdminTokenByHash returns the admin token with this hash, or ENotFound.
func (s *Store) AdminTokenByHash(ctx context.Context, hash string) (*gatehouse.AdminToken, error) {
	return getHashed(ctx, s, gatehouse.KindAdminToken, "SELECT doc, hash FROM admin_tokens WHERE hash = ?", hash,
		noSuchHash(gatehouse.KindAdminToken), setTokenHash)
}

// CreateAdminToken stores a new admin token; the caller sets Prefix and Hash. The store
// sets ID and CreatedAt.
func (s *Store) CreateAdminToken(ctx context.Context, in *gatehouse.AdminToken) (*gatehouse.AdminToken, error) {
	tok := *in
	tok.ID = gatehouse.NewID("tok")
	tok.ExpiresAt = micro(tok.ExpiresAt)
	tok.LastUsedAt = nil
	if err := validateHashed(tok.Validate(), tok.Hash, "admin token"); err != nil {
		return nil, err
	}
	out, err := writeDoc[gatehouse.AdminToken](ctx, s, gatehouse.KindAdminToken, func(t *tx) ([]byte, error) {
		tok.CreatedAt = t.now
		doc, err := encode(gatehouse.KindAdminToken, &tok)
		if err != nil {
			return nil, err
		}
		err = t.exec(`INSERT INTO admin_tokens (id, name, role, hash, revision, created_at, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			tok.ID, tok.Name, tok.Role, tok.Hash, t.rev, t.time(t.now), string(doc))
		if err != nil {
			return nil, t.conflictOnUnique(fmt.Errorf("inserting admin token: %w", err), "an admin token with this hash already exists")
		}
		return doc, t.record(gatehouse.KindAdminToken, gatehouse.ActionCreate, tok.ID, nil, doc)
	})
	if err != nil {
		return nil, err
	}
	out.Hash = tok.Hash
	return out, nil
}

// DeleteAdminToken deletes an admin token, or returns ENotFound.
func (s *Store) DeleteAdminToken(ctx context.Context, id string) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("admin_tokens", "id", gatehouse.KindAdminToken, id, 0)
		if err != nil {
			return err
		}
		return t.remove("admin_tokens", "id", gatehouse.KindAdminToken, id, before)
	})
}

// validateHashed adds "hash is required" to a credential's validation result. A valid
// credential with a hash returns nil; otherwise the EInvalid error names every problem.
func validateHashed(verr error, hash, what string) error {
	if hash != "" {
		return verr
	}
	var p gatehouse.Problems
	p.Merge("", verr)
	p.Addf("hash", "is required (see gatehouse.NewSecret)")
	return p.Err(what)
}

// getHashed reads one credential (doc and hash columns) from the read pool, or returns
// missing.
func getHashed[T any](ctx context.Context, s *Store, kind, query, key string, missing error, setHash func(*T, string)) (*T, error) {
	var (
		doc  []byte
		hash string
	)
	err := s.db.QueryRowContext(ctx, s.q(query), key).Scan(&doc, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, missing
	}
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("reading %s: %w", noun(kind), err))
	}
	v, err := decode[T](kind, doc)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	setHash(v, hash)
	return v, nil
}

func scanHashed[T any](kind string, setHash func(*T, string)) func(*sql.Rows) (*T, error) {
	return func(rows *sql.Rows) (*T, error) {
		var (
			doc  []byte
			hash string
		)
		if err := rows.Scan(&doc, &hash); err != nil {
			return nil, err
		}
		v, err := decode[T](kind, doc)
		if err != nil {
			return nil, err
		}
		setHash(v, hash)
		return v, nil
	}
}
