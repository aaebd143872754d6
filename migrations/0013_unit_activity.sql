-- The trait refresh's per-unit daily rollup: what TraitReader.activity
-- needs of a unit's events, kept sorted by unit, so that a refresh reads the
-- rows of the units that had news and not a scan of the window's events.
-- Folded in from events by Splitcast itself (Rollups.Fold, like
-- unit_rollup, with its own mark "unit_activity"), never by a view.
--
-- A row per unit, server-time-zone date, UTC day and send id of its
-- events, every kind and machine events included (any event says the unit
-- was there: first and last seen). The states are idempotent, so copies
-- and refolds change nothing:
--   exposures, opens, clicks, conversions  the distinct cityHash64(event_id)
--            of the human events of that kind
--   channel  the channel of an exposure with that send id, if any: opens,
--            clicks and conversions carry none and take their exposure's
--            (unit and send id), as the raw query's join does
-- date is kept beside day so that the reads filter exactly as the raw
-- queries do (partitions by date, windows by UTC day).
-- splitcast:shard unit_activity cityHash64(unit)
CREATE TABLE IF NOT EXISTS unit_activity (
    unit String,
    date Date,
    day Int32,
    send_id String,
    exposures AggregateFunction(uniqExact, UInt64),
    opens AggregateFunction(uniqExact, UInt64),
    clicks AggregateFunction(uniqExact, UInt64),
    conversions AggregateFunction(uniqExact, UInt64),
    channel AggregateFunction(any, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(date)
ORDER BY (unit, date, day, send_id)
SETTINGS index_granularity = 32;
