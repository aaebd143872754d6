-- The report's per-unit rows, computed at fold time so that a report reads
-- plain numbers, about a row per exposed unit, and nothing per event.
--
-- unit_rollup (0005) keeps each unit's idempotent states, with the set of
-- its distinct outcome events: deduplicating them by event id is what costs,
-- so a fold does it once for each unit that had news, and writes the
-- result here. A report then reads this table alone.
--
-- n is the version of a row: the number of distinct elements in the unit's
-- states when the row was computed (outcome copies plus distinct exposure
-- ids, xn below). States only grow, so a row computed from more of a
-- unit's events has a larger n, and a unit's row is its row of largest n;
-- rows of equal n were computed from the same events and are equal. So
-- folds may overlap, any number of servers may fold at once, and a fold cut
-- short is folded again.
--
-- A unit's older rows stay (n is in the key), because a report reader
-- keeps per-arm sums as of a mark and replaces a unit's row of then by its
-- row of now: the row of then must still be there. Merges only fold rows of
-- equal n, keeping the one written first (keep), so no row a reader counted
-- moves. A unit has a row per fold that found news for it.
--
-- The columns are rawUnits' (analytics/clickhouse): arm and fver of the
-- first exposure, fday its UTC day, multi if exposed in two arms, uvalue the
-- unit's human conversion value with its per-day split, and per kind the
-- human and machine event counts and the day of the first human event.
-- at is when the row was written, by the server's clock: a report reader
-- keeps the per-arm sums of every row written before a mark, and reads only
-- the units with rows written since (AggregateReader).
-- splitcast:shard unit_state uh
CREATE TABLE IF NOT EXISTS unit_state (
    experiment String,
    uh UInt64,
    n UInt64,
    arm UInt64,
    fver UInt32,
    fday UInt32,
    multi UInt8,
    uvalue Float64,
    uvalue_days Array(UInt32),
    uvalue_values Array(Float64),
    h_open UInt64, m_open UInt64, d_open UInt32,
    h_click UInt64, m_click UInt64, d_click UInt32,
    h_conversion UInt64, m_conversion UInt64, d_conversion UInt32,
    h_unsubscribe UInt64, m_unsubscribe UInt64, d_unsubscribe UInt32,
    h_complaint UInt64, m_complaint UInt64, d_complaint UInt32,
    at DateTime DEFAULT now(),
    keep UInt32 DEFAULT 4294967295 - toUInt32(at)
) ENGINE = ReplacingMergeTree(keep)
ORDER BY (experiment, uh, n)
SETTINGS index_granularity = 128;

-- unit_rollup again, with two changes, so that its rows are folded anew
-- (the rollups' mark moves to a new name, so migrate back-fills them):
--   xn       the distinct exposure event ids of the unit, so that a new
--            exposure raises unit_state's n as a new outcome does
--   index_granularity 128 (like unit_state's): a fold looks up the units
--            that had news by uh, and small granules keep the rows it reads
--            for a trickle of events near the number of units that had them
--            (measured at 2M events and 1,000 new ones: 366k rows read with
--            granules of 256, 39k with 64; the CPU time is about the same,
--            since the analysis of the query dominates it)
-- The rest is 0005's (see there).
DROP TABLE IF EXISTS unit_rollup;

CREATE TABLE IF NOT EXISTS unit_rollup (
    experiment String,
    uh UInt64,
    first AggregateFunction(min, UInt64),
    arm AggregateFunction(argMin, UInt64, UInt64),
    ver AggregateFunction(argMin, UInt32, UInt64),
    arm_min AggregateFunction(min, UInt64),
    arm_max AggregateFunction(max, UInt64),
    xn AggregateFunction(uniqExact, UInt64),
    outcomes AggregateFunction(groupUniqArray, Tuple(UInt64, UInt32, UInt8, UInt8, UInt32, Float64))
) ENGINE = AggregatingMergeTree
ORDER BY (experiment, uh)
SETTINGS index_granularity = 128;
