-- user_events (0007) keeps, of an event id's copies, the one received first
-- also once a merge has folded them. 0007's ReplacingMergeTree(received_at)
-- kept the copy received last: until a merge every read keeps the first
-- copy (by received_at), after it only the later one was left, so that a
-- second request sending an id with other content changed computed traits
-- and custom metrics once its part was merged with the first's. A merge
-- keeps the row of the greatest version: first_copy falls as received_at
-- rises. Copies received in the same second have one version; which of
-- them a read or a merge keeps is not defined (README, "Event identity").
--
-- An engine cannot be altered: the table is moved aside and copied into a
-- new one (migrations/rename.go says why this way, and how a run cut short
-- goes on). Writes in between fail and are retried from the ingest spool;
-- the copy keeps every column, received_at too, so the trait refresh's
-- marks stay valid and copied rows are not news to it.
-- splitcast:shard user_events_replaced cityHash64(unit)
RENAME TABLE user_events TO user_events_replaced;

CREATE TABLE IF NOT EXISTS user_events (
    event_id String,
    time DateTime,
    date Date DEFAULT toDate(time),
    unit String,
    name String,
    s_keys Array(String),
    s_vals Array(String),
    n_keys Array(String),
    n_vals Array(Float64),
    b_keys Array(String),
    b_vals Array(UInt8),
    l_keys Array(String),
    l_vals Array(String),
    received_at DateTime DEFAULT now(),
    first_copy UInt32 MATERIALIZED toUInt32(4294967295 - toUInt32(received_at))
) ENGINE = ReplacingMergeTree(first_copy)
PARTITION BY toYYYYMM(date)
ORDER BY (unit, name, event_id);

CREATE TABLE IF NOT EXISTS user_events_replaced (
    event_id String,
    time DateTime,
    date Date DEFAULT toDate(time),
    unit String,
    name String,
    s_keys Array(String),
    s_vals Array(String),
    n_keys Array(String),
    n_vals Array(Float64),
    b_keys Array(String),
    b_vals Array(UInt8),
    l_keys Array(String),
    l_vals Array(String),
    received_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(date)
ORDER BY (unit, name, event_id);

INSERT INTO user_events (event_id, time, date, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals, received_at)
SELECT event_id, time, date, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals, received_at
FROM user_events_replaced;

DROP TABLE IF EXISTS user_events_replaced;
