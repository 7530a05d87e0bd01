-- Web sign-in (internal/webui/session): the same tables as the SQLite schema. Not
-- configuration: no revision, no audit, no change notice. id is the SHA-256 of the cookie
-- token; the token is never stored.
CREATE TABLE web_sessions (
    id         text COLLATE "C" PRIMARY KEY,
    kind       text NOT NULL,
    subject    text COLLATE "C" NOT NULL,
    role       text NOT NULL,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_subject ON web_sessions (kind, subject);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE web_accounts (
    kind          text NOT NULL,
    subject       text COLLATE "C" NOT NULL,
    role          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (kind, subject)
);
