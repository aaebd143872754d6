-- The trait refresh's per-unit daily rollup: what TraitReader.activity
-- needs of a unit's events, kept sorted by unit, so that a refresh reads the
-- rows of the units that had news and not a scan of the window's events.
-- Folded in from events by Splitcast itself (Rollups.Fold, like
-- unit_rollup, with its own mark "unit_activity"), never by a view.
--
-- A row per event (every kind, machine events included: any event says
-- the unit was there, for first and last seen), with only the columns the
-- trait reader reads, and the event id as cityHash64(event_id). A fold is
-- then a plain copy of the news: aggregate states (a set of event ids per
-- unit and day) cost about 20 times the insert of the events to build,
-- measured here. Copies of an event fold into one row when parts merge;
-- until then the reads count distinct ids (uniqExact), as the raw queries
-- do, so copies and refolds change nothing.
--   kind     1..4 for exposure, open, click, conversion; 0 for any other
--   channel  an exposure's channel: opens, clicks and conversions carry
--            none and take their exposure's (unit and send id), as the raw
--            query's join does
-- date is kept beside day so that the reads filter exactly as the raw
-- queries do (partitions by date, windows by UTC day).
-- splitcast:shard unit_activity cityHash64(unit)
CREATE TABLE IF NOT EXISTS unit_activity (
    unit String,
    date Date,
    day Int32,
    send_id String,
    kind UInt8,
    machine UInt8,
    h UInt64,
    channel String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(date)
ORDER BY (unit, date, day, send_id, kind, machine, h)
SETTINGS index_granularity = 16;
