-- Every exposure, open, click, conversion and fatigue signal, one row each.
-- Delivery is at least once, so the same event_id may arrive more than once
-- (spool replays, retried conversions). ReplacingMergeTree folds copies that
-- land in one partition during merges, but merges are eventual: every query
-- that counts deduplicates by event_id itself. A copy always carries the same
-- time, so it always lands in the same monthly partition.
-- splitcast:shard events cityHash64(unit)
CREATE TABLE IF NOT EXISTS events (
    event_id String,
    kind String,
    time DateTime,
    date Date DEFAULT toDate(time),
    experiment String,
    version UInt32,
    segment String,
    variant String,
    unit String,
    send_id String,
    channel String,
    name String,
    value Float64,
    url String,
    machine UInt8,
    machine_reason String,
    received_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(date)
ORDER BY (experiment, segment, variant, kind, unit, event_id);
