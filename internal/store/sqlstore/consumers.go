package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
)

// Developer returns the developer with this email (any case), or ENotFound.
func (s *Store) Developer(ctx context.Context, email string) (*gatehouse.Developer, error) {
	return getDoc[gatehouse.Developer](ctx, s, gatehouse.KindDeveloper,
		"SELECT doc FROM developers WHERE email = ?", gatehouse.NormalizeEmail(email))
}

// Developers lists developers by email.
func (s *Store) Developers(ctx context.Context, f gatehouse.DeveloperFilter) (gatehouse.Page[*gatehouse.Developer], error) {
	l := listQuery{cols: "doc", table: "developers", sort: []sortCol{{"email", keyText}}}
	if f.Status != "" {
		l.filter("status = ?", f.Status)
	}
	return list(ctx, s, l, f.ListOptions, scanDoc[gatehouse.Developer](gatehouse.KindDeveloper),
		func(d *gatehouse.Developer) []string { return []string{d.Email} })
}

// CreateDeveloper stores a new developer: EInvalid, or EConflict if the email is taken
// (in any case).
func (s *Store) CreateDeveloper(ctx context.Context, in *gatehouse.Developer) (*gatehouse.Developer, error) {
	return s.putDeveloper(ctx, in, gatehouse.ActionCreate, 0)
}

// UpdateDeveloper replaces the developer with d.Email: EInvalid, ENotFound or
// EPreconditionFailed.
func (s *Store) UpdateDeveloper(ctx context.Context, in *gatehouse.Developer, ifRevision int64) (*gatehouse.Developer, error) {
	return s.putDeveloper(ctx, in, gatehouse.ActionUpdate, ifRevision)
}

func (s *Store) putDeveloper(ctx context.Context, in *gatehouse.Developer, action string, ifRevision int64) (*gatehouse.Developer, error) {
	d := *in
	d.Normalize()
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return writeDoc[gatehouse.Developer](ctx, s, gatehouse.KindDeveloper, func(t *tx) ([]byte, error) {
		before, err := t.stamp(&d.Meta, action, "developers", "email", gatehouse.KindDeveloper, d.Email, ifRevision)
		if err != nil {
			return nil, err
		}
		doc, err := encode(gatehouse.KindDeveloper, &d)
		if err != nil {
			return nil, err
		}
		if action == gatehouse.ActionCreate {
			err = t.exec(`INSERT INTO developers (email, status, revision, created_at, updated_at, doc)
				VALUES (?, ?, ?, ?, ?, ?)`,
				d.Email, d.Status, t.rev, t.time(t.now), t.time(t.now), string(doc))
			if err != nil {
				return nil, t.conflictOnUnique(fmt.Errorf("inserting developer %q: %w", d.Email, err),
					"developer %q already exists", d.Email)
			}
		} else {
			err = t.exec(`UPDATE developers SET status = ?, revision = ?, updated_at = ?, doc = ? WHERE email = ?`,
				d.Status, t.rev, t.time(t.now), string(doc), d.Email)
			if err != nil {
				return nil, fmt.Errorf("updating developer %q: %w", d.Email, err)
			}
		}
		return doc, t.record(gatehouse.KindDeveloper, action, d.Email, before, doc)
	})
}

// DeleteDeveloper deletes a developer: ENotFound, EPreconditionFailed, or EConflict while
// the developer owns apps.
func (s *Store) DeleteDeveloper(ctx context.Context, email string, ifRevision int64) error {
	email = gatehouse.NormalizeEmail(email)
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("developers", "email", gatehouse.KindDeveloper, email, ifRevision)
		if err != nil {
			return err
		}
		app, err := t.firstString("SELECT name FROM apps WHERE developer = ? ORDER BY name LIMIT 1", email)
		if err != nil {
			return fmt.Errorf("checking apps of developer %q: %w", email, err)
		}
		if app != "" {
			return gatehouse.Errorf(gatehouse.EConflict, "developer %q owns app %q: delete the apps first", email, app)
		}
		return t.remove("developers", "email", gatehouse.KindDeveloper, email, before)
	})
}

// App returns the app named name, or ENotFound.
func (s *Store) App(ctx context.Context, name string) (*gatehouse.App, error) {
	return getDoc[gatehouse.App](ctx, s, gatehouse.KindApp, "SELECT doc FROM apps WHERE name = ?", name)
}

// Apps lists apps by name.
func (s *Store) Apps(ctx context.Context, f gatehouse.AppFilter) (gatehouse.Page[*gatehouse.App], error) {
	l := listQuery{cols: "doc", table: "apps", sort: []sortCol{{"name", keyText}}}
	if f.Developer != "" {
		l.filter("developer = ?", gatehouse.NormalizeEmail(f.Developer))
	}
	return list(ctx, s, l, f.ListOptions, scanDoc[gatehouse.App](gatehouse.KindApp),
		func(a *gatehouse.App) []string { return []string{a.Name} })
}

// CreateApp stores a new app: EInvalid (also when the developer does not exist), or
// EConflict if the name is taken.
func (s *Store) CreateApp(ctx context.Context, in *gatehouse.App) (*gatehouse.App, error) {
	return s.putApp(ctx, in, gatehouse.ActionCreate, 0)
}

// UpdateApp replaces the app named a.Name: EInvalid, ENotFound or EPreconditionFailed.
func (s *Store) UpdateApp(ctx context.Context, in *gatehouse.App, ifRevision int64) (*gatehouse.App, error) {
	return s.putApp(ctx, in, gatehouse.ActionUpdate, ifRevision)
}

func (s *Store) putApp(ctx context.Context, in *gatehouse.App, action string, ifRevision int64) (*gatehouse.App, error) {
	a := *in
	a.Normalize()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return writeDoc[gatehouse.App](ctx, s, gatehouse.KindApp, func(t *tx) ([]byte, error) {
		before, err := t.stamp(&a.Meta, action, "apps", "name", gatehouse.KindApp, a.Name, ifRevision)
		if err != nil {
			return nil, err
		}
		ok, err := t.exists("SELECT 1 FROM developers WHERE email = ?", a.Developer)
		if err != nil {
			return nil, fmt.Errorf("checking developer %q: %w", a.Developer, err)
		}
		if !ok {
			var p gatehouse.Problems
			p.Addf("developer", "no such developer %q", a.Developer)
			return nil, p.Err("app")
		}
		doc, err := encode(gatehouse.KindApp, &a)
		if err != nil {
			return nil, err
		}
		if action == gatehouse.ActionCreate {
			err = t.exec(`INSERT INTO apps (name, developer, revision, created_at, updated_at, doc)
				VALUES (?, ?, ?, ?, ?, ?)`,
				a.Name, a.Developer, t.rev, t.time(t.now), t.time(t.now), string(doc))
			if err != nil {
				return nil, t.conflictOnUnique(fmt.Errorf("inserting app %q: %w", a.Name, err), "app %q already exists", a.Name)
			}
		} else {
			err = t.exec(`UPDATE apps SET developer = ?, revision = ?, updated_at = ?, doc = ? WHERE name = ?`,
				a.Developer, t.rev, t.time(t.now), string(doc), a.Name)
			if err != nil {
				return nil, fmt.Errorf("updating app %q: %w", a.Name, err)
			}
		}
		return doc, t.record(gatehouse.KindApp, action, a.Name, before, doc)
	})
}

// DeleteApp deletes an app and its keys: ENotFound, EPreconditionFailed, or EConflict while
// it has subscriptions. Each deleted key gets its own audit entry and change notice.
func (s *Store) DeleteApp(ctx context.Context, name string, ifRevision int64) error {
	return s.write(ctx, func(t *tx) error {
		before, err := t.current("apps", "name", gatehouse.KindApp, name, ifRevision)
		if err != nil {
			return err
		}
		plan, err := t.firstString("SELECT plan FROM subscriptions WHERE app = ? ORDER BY plan LIMIT 1", name)
		if err != nil {
			return fmt.Errorf("checking subscriptions of app %q: %w", name, err)
		}
		if plan != "" {
			return gatehouse.Errorf(gatehouse.EConflict, "app %q subscribes to plan %q: delete its subscriptions first", name, plan)
		}
		keys, err := t.appKeys(name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := t.record(gatehouse.KindKey, gatehouse.ActionDelete, k.id, k.doc, nil); err != nil {
				return err
			}
		}
		return t.remove("apps", "name", gatehouse.KindApp, name, before) // keys cascade
	})
}

type storedKey struct {
	id  string
	doc []byte
}

// appKeys reads every key of an app, fully, so the connection is free for what follows.
func (t *tx) appKeys(app string) (keys []storedKey, err error) {
	rows, err := t.tx.QueryContext(t.ctx, t.s.q("SELECT id, doc FROM keys WHERE app = ? ORDER BY created_at, id"), app)
	if err != nil {
		return nil, fmt.Errorf("reading keys of app %q: %w", app, err)
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	for rows.Next() {
		var k storedKey
		if err := rows.Scan(&k.id, &k.doc); err != nil {
			return nil, fmt.Errorf("reading keys of app %q: %w", app, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading keys of app %q: %w", app, err)
	}
	return keys, nil
}
