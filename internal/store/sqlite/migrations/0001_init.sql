-- Gatehouse schema, SQLite. Each resource has real columns for what is filtered, joined or
-- ordered on, and its full body in doc (JSON text, exactly as the store wrote it). Times
-- are TEXT in sqlstore.TimeLayout (UTC, microseconds, fixed width), so text order is time
-- order. STRICT makes SQLite enforce the declared types.

-- The global revision: every write bumps it and stamps the rows it writes.
CREATE TABLE meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO meta (id, revision) VALUES (1, 0);

CREATE TABLE apis (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX apis_state ON apis (state, name);

-- One row per tag of an API, for APIFilter.Tag.
CREATE TABLE api_tags (
    api TEXT NOT NULL REFERENCES apis (name) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (api, tag)
) STRICT;
CREATE INDEX api_tags_tag ON api_tags (tag, api);

CREATE TABLE plans (
    name       TEXT PRIMARY KEY,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;

-- The APIs a plan offers. No cascade from apis: an API cannot go while a plan lists it.
CREATE TABLE plan_apis (
    plan TEXT NOT NULL REFERENCES plans (name) ON DELETE CASCADE,
    api  TEXT NOT NULL REFERENCES apis (name),
    PRIMARY KEY (plan, api)
) STRICT;
CREATE INDEX plan_apis_api ON plan_apis (api, plan);

-- email is stored lower case (gatehouse.NormalizeEmail), which makes lookups
-- case-insensitive.
CREATE TABLE developers (
    email      TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX developers_status ON developers (status, email);

CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    developer  TEXT NOT NULL REFERENCES developers (email),
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX apps_developer ON apps (developer, name);

CREATE TABLE keys (
    id         TEXT PRIMARY KEY,
    app        TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX keys_created ON keys (created_at, id);
CREATE INDEX keys_app ON keys (app, created_at, id);

CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY,
    app        TEXT NOT NULL REFERENCES apps (name),
    plan       TEXT NOT NULL REFERENCES plans (name),
    status     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL,
    UNIQUE (app, plan)
) STRICT;
CREATE INDEX subscriptions_created ON subscriptions (created_at, id);
CREATE INDEX subscriptions_plan ON subscriptions (plan, created_at, id);

CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX admin_tokens_created ON admin_tokens (created_at, id);

-- AUTOINCREMENT: ids are never reused, so "newest first" is "id descending" for good.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    name       TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    before_doc TEXT,
    after_doc  TEXT
) STRICT;
CREATE INDEX audit_resource ON audit (resource, name, id);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_at ON audit (at);
