-- Alerting (internal/alerts). Rules and webhooks are documents, like the resources of
-- 0001, but not configuration of gatehouse.Store: no revision, no audit, no change notice.
-- The alert log and the webhook delivery log are append-only; seq (AUTOINCREMENT, never
-- reused) orders them, so "newest first" is "seq descending". Times are TEXT in
-- sqlstore.TimeLayout. Webhook secrets are in doc in clear: deliveries are signed with them.

CREATE TABLE alert_rules (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;

CREATE TABLE alert_webhooks (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;

-- One row per alert that fired or resolved. rule_id is not a foreign key: the log outlives
-- the rules it mentions.
CREATE TABLE alert_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    rule_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    api     TEXT NOT NULL,
    state   TEXT NOT NULL,
    at      TEXT NOT NULL,
    doc     TEXT NOT NULL
) STRICT;
-- The latest event of each rule and subject (FiringAlerts, pruning) and the rule filter.
CREATE INDEX alert_events_rule ON alert_events (rule_id, subject, seq);
CREATE INDEX alert_events_state ON alert_events (state, seq);
CREATE INDEX alert_events_api ON alert_events (api, seq);
CREATE INDEX alert_events_at ON alert_events (at);

-- One row per delivery attempt; id names the delivery (one event to one webhook) and
-- repeats across its attempts.
CREATE TABLE webhook_deliveries (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    doc        TEXT NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, seq);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
