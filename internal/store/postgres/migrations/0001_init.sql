-- Gatehouse schema, PostgreSQL. The same tables as the SQLite schema: real columns for what
-- is filtered, joined or ordered on, and the full body in doc.
--
-- Identifiers are COLLATE "C" so that names sort by bytes, as in SQLite, whatever the
-- database's collation: both engines then page through lists in the same order.
--
-- doc is json, not jsonb: it keeps the text exactly as the store wrote it, so embedded raw
-- JSON (policy configs) and audit before/after read back byte for byte as on SQLite.
-- Nothing queries inside documents; what is queried is a column.

-- The global revision: every write bumps it (which also serialises writers on this row)
-- and stamps the rows it writes.
CREATE TABLE meta (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL
);
INSERT INTO meta (id, revision) VALUES (1, 0);

CREATE TABLE apis (
    name       text COLLATE "C" PRIMARY KEY,
    state      text NOT NULL,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX apis_state ON apis (state, name);

-- One row per tag of an API, for APIFilter.Tag.
CREATE TABLE api_tags (
    api text COLLATE "C" NOT NULL REFERENCES apis (name) ON DELETE CASCADE,
    tag text COLLATE "C" NOT NULL,
    PRIMARY KEY (api, tag)
);
CREATE INDEX api_tags_tag ON api_tags (tag, api);

CREATE TABLE plans (
    name       text COLLATE "C" PRIMARY KEY,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);

-- The APIs a plan offers. No cascade from apis: an API cannot go while a plan lists it.
CREATE TABLE plan_apis (
    plan text COLLATE "C" NOT NULL REFERENCES plans (name) ON DELETE CASCADE,
    api  text COLLATE "C" NOT NULL REFERENCES apis (name),
    PRIMARY KEY (plan, api)
);
CREATE INDEX plan_apis_api ON plan_apis (api, plan);

-- email is stored lower case (gatehouse.NormalizeEmail), which makes lookups
-- case-insensitive.
CREATE TABLE developers (
    email      text COLLATE "C" PRIMARY KEY,
    status     text NOT NULL,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX developers_status ON developers (status, email);

CREATE TABLE apps (
    name       text COLLATE "C" PRIMARY KEY,
    developer  text COLLATE "C" NOT NULL REFERENCES developers (email),
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX apps_developer ON apps (developer, name);

CREATE TABLE keys (
    id         text COLLATE "C" PRIMARY KEY,
    app        text COLLATE "C" NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    hash       text NOT NULL UNIQUE,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX keys_created ON keys (created_at, id);
CREATE INDEX keys_app ON keys (app, created_at, id);

CREATE TABLE subscriptions (
    id         text COLLATE "C" PRIMARY KEY,
    app        text COLLATE "C" NOT NULL REFERENCES apps (name),
    plan       text COLLATE "C" NOT NULL REFERENCES plans (name),
    status     text NOT NULL,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL,
    UNIQUE (app, plan)
);
CREATE INDEX subscriptions_created ON subscriptions (created_at, id);
CREATE INDEX subscriptions_plan ON subscriptions (plan, created_at, id);

CREATE TABLE admin_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    revision   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX admin_tokens_created ON admin_tokens (created_at, id);

-- Writers are serialised on meta before they insert here, so id order is commit order.
CREATE TABLE audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    resource   text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    revision   bigint NOT NULL,
    before_doc json,
    after_doc  json
);
CREATE INDEX audit_resource ON audit (resource, name, id);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_at ON audit (at);
