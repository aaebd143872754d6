-- The report's rollups with what the report's other sections need, so that
-- none of them reads the raw events: the per-channel section, the fatigue
-- section's messages and CUPED.
--
-- unit_rollup (0006) with each outcome's channel (the 7th element of an
-- outcome), and chans: the channel, order key, arm and id hash of each
-- exposure, so that a unit's arm on each channel it was reached on, and its
-- distinct exposures per arm, are known. Granules
-- of 32 rows: a fold reads the granules of the units with news in every
-- part, and deserializing their states is most of its cost (measured at
-- 10M events, 1,000 units looked up: 131k rows read and 155-165 ms of
-- ClickHouse CPU with 32, in 4 parts, against 1.03M rows and 330-390 ms
-- with 128, in 14 parts: the two differ in both).
--
-- unit_state (0014) with, per channel a unit was exposed on (ch_names), its
-- arm there (ch_arms, that of its first exposure on the channel) and what
-- it did there (ch_flags: 1 a human open, 2 a human click, 4 an
-- unsubscribe, 8 a complaint, on that channel), per arm it was exposed in
-- (ex_arms) its distinct exposures there (ex_counts, by event id: a
-- retried assignment is one message), and what each unit did
-- before its first exposure, in any experiment: the covariates of the report's CUPED estimates, so that
-- a report reads them from the unit's row instead of every event of the
-- window before. They do not depend on the window a report asks for
-- (RetirementPolicy.CupedDays, at most MaxCupedDays = 90): a unit had a
-- kind in the window iff its last such event before its first exposure is
-- in it, and a sum over the window is a sum over the conversions listed.
--   pre         per kind (open, click, conversion, unsubscribe, complaint),
--               the seconds from the unit's last human event of that kind
--               before its first exposure to that exposure, 0 when it had
--               none in the 90 days before
--   pre_gaps    the same for each human conversion of those 90 days, with
--   pre_values  its value
-- Granules of 32 rows, like unit_rollup's: a report's readers read the
-- rows of the units with rows written since their mark, a granule per unit
-- and part (at 10M events and 1,000 new ones, about 160k rows a reader with
-- granules of 128).
-- A unit's events of every experiment count (copies once), so a fold
-- recomputes the rows of a unit in every experiment it was exposed in when
-- it has news in any, and n counts the distinct elements of all of them
-- (see the fold), so that a row computed from more events still has the
-- larger n. The rest is 0014's. The table is made anew, with the report
-- sums kept of it, and the rollups' mark moves to a new name, so migrate
-- back-fills them.
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
    outcomes AggregateFunction(groupUniqArray, Tuple(UInt64, UInt32, UInt8, UInt8, UInt32, Float64, String)),
    chans AggregateFunction(groupUniqArray, Tuple(String, UInt64, UInt64, UInt64))
) ENGINE = AggregatingMergeTree
ORDER BY (experiment, uh)
SETTINGS index_granularity = 32;

DROP TABLE IF EXISTS unit_state;

CREATE TABLE IF NOT EXISTS unit_state (
    experiment String,
    uh UInt64,
    n UInt64,
    arm UInt64,
    p Array(UInt32),
    uvalue Float64,
    uvalue_days Array(UInt32),
    uvalue_values Array(Float64),
    ch_names Array(String),
    ch_arms Array(UInt64),
    ch_flags Array(UInt8),
    ex_arms Array(UInt64),
    ex_counts Array(UInt32),
    pre Array(UInt32),
    pre_gaps Array(UInt32),
    pre_values Array(Float64),
    at DateTime DEFAULT now(),
    keep UInt32 DEFAULT 4294967295 - toUInt32(at)
) ENGINE = ReplacingMergeTree(keep)
ORDER BY (experiment, uh, n)
SETTINGS index_granularity = 32;

DROP TABLE IF EXISTS report_sums;

-- report_sums (0014) with kind: '' for the report's sums, and the
-- sections' counts of units alike (analytics/clickhouse/unitsums.go) under
-- their name and window.
CREATE TABLE IF NOT EXISTS report_sums (
    experiment String,
    kind String DEFAULT '',
    mark DateTime,
    sums String,
    at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(mark)
ORDER BY (experiment, kind);
