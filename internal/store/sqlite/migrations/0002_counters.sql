-- Usage counters of quotas: one count per key and calendar period, added to by each
-- node's periodic flush. Not configuration: no revision, no audit. period_start is TEXT in
-- sqlstore.TimeLayout like every time here, so pruning by period compares text.
CREATE TABLE usage_counters (
    key          TEXT NOT NULL,
    period_start TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, period_start)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_counters_period ON usage_counters (period_start);
