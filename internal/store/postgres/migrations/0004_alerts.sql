-- Alerting (internal/alerts): the same tables as the SQLite schema. Rules and webhooks are
-- documents but not configuration of gatehouse.Store: no revision, no audit, no change
-- notice. The alert log and the delivery log are append-only, ordered by seq ("newest
-- first" is "seq descending"). Webhook secrets are in doc in clear: deliveries are signed
-- with them.

CREATE TABLE alert_rules (
    id         text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);

CREATE TABLE alert_webhooks (
    id         text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc        json NOT NULL
);

-- One row per alert that fired or resolved. rule_id is not a foreign key: the log outlives
-- the rules it mentions.
CREATE TABLE alert_events (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      text COLLATE "C" NOT NULL UNIQUE,
    rule_id text COLLATE "C" NOT NULL,
    subject text COLLATE "C" NOT NULL,
    api     text COLLATE "C" NOT NULL,
    state   text NOT NULL,
    at      timestamptz NOT NULL,
    doc     json NOT NULL
);
-- The latest event of each rule and subject (FiringAlerts, pruning) and the rule filter.
CREATE INDEX alert_events_rule ON alert_events (rule_id, subject, seq);
CREATE INDEX alert_events_state ON alert_events (state, seq);
CREATE INDEX alert_events_api ON alert_events (api, seq);
CREATE INDEX alert_events_at ON alert_events (at);

-- One row per delivery attempt; id names the delivery (one event to one webhook) and
-- repeats across its attempts.
CREATE TABLE webhook_deliveries (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text COLLATE "C" NOT NULL,
    attempt    integer NOT NULL,
    webhook_id text COLLATE "C" NOT NULL,
    event_id   text COLLATE "C" NOT NULL,
    at         timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, seq);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
