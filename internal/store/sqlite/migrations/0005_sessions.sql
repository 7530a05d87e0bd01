-- Web sign-in (internal/webui/session). Not configuration: no revision, no audit, no
-- change notice. id is the SHA-256 of the cookie token; the token is never stored.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    role       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX web_sessions_subject ON web_sessions (kind, subject);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Passwords of developers (portal) and admin users (dashboard), argon2id PHC strings.
CREATE TABLE web_accounts (
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (kind, subject)
) STRICT, WITHOUT ROWID;
