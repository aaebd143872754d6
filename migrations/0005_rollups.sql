-- Rollups that reports read instead of the raw events: one row per
-- (experiment, unit) once merged, folded in from events by Splitcast itself
-- (analytics/clickhouse Rollups.Fold), never by a materialized view, whose
-- upkeep on every insert costs ingest about 4x on 18.16.
--
-- Every state is idempotent: min, max, argMin and the set of a unit's
-- distinct outcome events. Folding an event twice, or two copies of it
-- (spool replays, retried conversions, a batch written twice), changes no
-- state, so folds may overlap, any number of servers may fold at once, and a
-- fold cut short by a crash is simply folded again.
--
-- uh is cityHash64(unit), the events' sharding key, so a unit's rollup rows
-- live on the shard of its events.
--   first    the order key of the unit's first exposure: time * 2^32 + the
--            low 32 bits of cityHash64(event_id); 2^64-1 when none
--   arm, ver that exposure's arm (cityHash64(segment, variant)) and version
--   arm_min, arm_max  the least and greatest arm hash of its exposures: they
--            differ for a unit exposed in more than one arm
--   outcomes (cityHash64(event_id), received_at, kind index 1..5 in open,
--            click, conversion, unsubscribe, complaint, machine, time, value)
--            of each copy of a non-exposure event: identical copies are one
--            element, and a report counts, per event id, the copy received
--            first (README, "Event identity")
-- splitcast:shard unit_rollup uh
CREATE TABLE IF NOT EXISTS unit_rollup (
    experiment String,
    uh UInt64,
    first AggregateFunction(min, UInt64),
    arm AggregateFunction(argMin, UInt64, UInt64),
    ver AggregateFunction(argMin, UInt32, UInt64),
    arm_min AggregateFunction(min, UInt64),
    arm_max AggregateFunction(max, UInt64),
    outcomes AggregateFunction(groupUniqArray, Tuple(UInt64, UInt32, UInt8, UInt8, UInt32, Float64))
) ENGINE = AggregatingMergeTree
ORDER BY (experiment, uh);

-- The names of the arms whose hashes unit_rollup keeps.
-- splitcast:shard rollup_arms arm
CREATE TABLE IF NOT EXISTS rollup_arms (
    experiment String,
    arm UInt64,
    segment String,
    variant String
) ENGINE = ReplacingMergeTree
ORDER BY (experiment, arm);

-- How far the folds got: every row of events received at or after the
-- latest mark is still to be folded (rows before it may be too, harmlessly).
-- splitcast:shard rollup_marks cityHash64(name)
CREATE TABLE IF NOT EXISTS rollup_marks (
    name String,
    mark DateTime,
    at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(at)
ORDER BY name;
