-- Usage counters of quotas: one count per key and calendar period, added to by each
-- node's periodic flush. Not configuration: no revision, no audit.
CREATE TABLE usage_counters (
    key          text COLLATE "C" NOT NULL,
    period_start timestamptz NOT NULL,
    count        bigint NOT NULL,
    PRIMARY KEY (key, period_start)
);
CREATE INDEX usage_counters_period ON usage_counters (period_start);
