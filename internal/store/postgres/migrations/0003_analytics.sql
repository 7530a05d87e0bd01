-- Analytics (internal/analytics): per-bucket rollups and the raw request log. Records of
-- what happened, not configuration: no revision, no audit, no change notice, like
-- usage_counters. Durations are bigint nanoseconds (time.Duration). Text that is filtered
-- on is COLLATE "C", as elsewhere: byte comparison, whatever the database's collation.

-- Partial aggregates, append-only: each node flushes what it counted since its last flush,
-- so one (start, res, dimensions) has many rows, which readers add up; compaction replaces
-- them with one. Hence no key across rows (and no primary key, which would only cost every
-- insert an index entry). Dimensions are '' (or 0) when absent, never NULL, so that
-- filters compare with =. latency and upstream are encoded sketches, NULL when no event
-- had one.
CREATE TABLE analytics_rollups (
    start        timestamptz NOT NULL,
    res          text COLLATE "C" NOT NULL,
    node         text NOT NULL,
    kind         integer NOT NULL,
    api          text COLLATE "C" NOT NULL,
    route        text COLLATE "C" NOT NULL,
    app          text COLLATE "C" NOT NULL,
    developer    text COLLATE "C" NOT NULL,
    plan         text COLLATE "C" NOT NULL,
    status_class integer NOT NULL,
    count        bigint NOT NULL,
    errors       bigint NOT NULL,
    rate_limited bigint NOT NULL,
    rejected     bigint NOT NULL,
    cache_hits   bigint NOT NULL,
    bytes_in     bigint NOT NULL,
    bytes_out    bigint NOT NULL,
    latency_sum  bigint NOT NULL,
    latency      bytea,
    upstream     bytea
);
-- Every read, replacement and prune is "res = ? AND start in a range"; most queries also
-- filter on api, which the index then checks without visiting the rows it rejects.
CREATE INDEX analytics_rollups_res_start ON analytics_rollups (res, start, api);

-- One row per sampled request (or connection, or message), newest first by (time, id),
-- which is also the page cursor.
CREATE TABLE analytics_requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time             timestamptz NOT NULL,
    node             text NOT NULL,
    kind             integer NOT NULL,
    api              text COLLATE "C" NOT NULL,
    route            text NOT NULL,
    method           text NOT NULL,
    status           integer NOT NULL,
    app              text COLLATE "C" NOT NULL,
    developer        text NOT NULL,
    key_id           text NOT NULL,
    plan             text NOT NULL,
    client_ip        text NOT NULL,
    user_agent       text NOT NULL,
    channel          text NOT NULL,
    bytes_in         bigint NOT NULL,
    bytes_out        bigint NOT NULL,
    latency          bigint NOT NULL,
    upstream_latency bigint NOT NULL,
    cache            text NOT NULL,
    rejected_by      text NOT NULL,
    reject_code      text NOT NULL,
    trace_id         text NOT NULL
);
CREATE INDEX analytics_requests_time ON analytics_requests (time, id);
