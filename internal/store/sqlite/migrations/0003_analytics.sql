-- Analytics (internal/analytics): per-bucket rollups and the raw request log. Records of
-- what happened, not configuration: no revision, no audit, no change notice, like
-- usage_counters. Times are TEXT in sqlstore.TimeLayout (UTC, microseconds, fixed width),
-- so text order is time order. Durations are INTEGER nanoseconds (time.Duration).

-- Partial aggregates, append-only: each node flushes what it counted since its last flush,
-- so one (start, res, dimensions) has many rows, which readers add up; compaction replaces
-- them with one. Hence no key across rows. Dimensions are '' (or 0) when absent, never
-- NULL, so that filters compare with =. latency and upstream are encoded sketches, NULL
-- when no event had one. The implicit rowid is the only key.
CREATE TABLE analytics_rollups (
    start        TEXT NOT NULL,
    res          TEXT NOT NULL,
    node         TEXT NOT NULL,
    kind         INTEGER NOT NULL,
    api          TEXT NOT NULL,
    route        TEXT NOT NULL,
    app          TEXT NOT NULL,
    developer    TEXT NOT NULL,
    plan         TEXT NOT NULL,
    status_class INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    errors       INTEGER NOT NULL,
    rate_limited INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,
    cache_hits   INTEGER NOT NULL,
    bytes_in     INTEGER NOT NULL,
    bytes_out    INTEGER NOT NULL,
    latency_sum  INTEGER NOT NULL,
    latency      BLOB,
    upstream     BLOB
) STRICT;
-- Every read, replacement and prune is "res = ? AND start in a range"; most queries also
-- filter on api, which the index then checks without visiting the rows it rejects.
CREATE INDEX analytics_rollups_res_start ON analytics_rollups (res, start, api);

-- One row per sampled request (or connection, or message), newest first by (time, id).
-- id is the rowid: the time index carries it as its last column, which makes the index
-- serve the page order and the (time, id) cursor.
CREATE TABLE analytics_requests (
    id               INTEGER PRIMARY KEY,
    time             TEXT NOT NULL,
    node             TEXT NOT NULL,
    kind             INTEGER NOT NULL,
    api              TEXT NOT NULL,
    route            TEXT NOT NULL,
    method           TEXT NOT NULL,
    status           INTEGER NOT NULL,
    app              TEXT NOT NULL,
    developer        TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    plan             TEXT NOT NULL,
    client_ip        TEXT NOT NULL,
    user_agent       TEXT NOT NULL,
    channel          TEXT NOT NULL,
    bytes_in         INTEGER NOT NULL,
    bytes_out        INTEGER NOT NULL,
    latency          INTEGER NOT NULL,
    upstream_latency INTEGER NOT NULL,
    cache            TEXT NOT NULL,
    rejected_by      TEXT NOT NULL,
    reject_code      TEXT NOT NULL,
    trace_id         TEXT NOT NULL
) STRICT;
CREATE INDEX analytics_requests_time ON analytics_requests (time);
