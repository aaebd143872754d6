-- unit_rollup (0015) sorted by unit first, in granules of 8 rows. A fold
-- recomputes the rows of each unit with news in every experiment the unit
-- has rows in, and finds them by the unit alone (uh IN the news' units). Sorted by experiment
-- first, each unit's lookup went to a granule in every experiment's range
-- of the table, so that a fold's cost grew with the number of experiments
-- ever stored: at 20 experiments of 500k events, 1,000 new events' units
-- read 1.37M rows of states, where the same units' own rows are 103k.
-- Sorted by (uh, experiment), a unit's rows of all experiments are one
-- run of the table. Nothing reads unit_rollup by experiment alone.
-- Granules of 8 rows (0015: 32), since a lookup reads a granule per unit
-- and part: at 10M events and 1,000 new ones, the fold's lookup read 15k
-- rows in 320 ms of ClickHouse CPU, against 115k rows and 512 ms.
--
-- The states are copied, not folded again from events: the rollups' mark
-- stays valid, and a deployment upgraded in place skips the back-fill. The
-- copy goes through unit_rollup_by_unit and back, since a table cannot be
-- renamed here on a cluster (the runner applies no RENAME): both copies
-- stream, in bounded memory. A migration interrupted anywhere and run
-- again copies some states twice, which changes nothing: every state is
-- idempotent.
-- splitcast:shard unit_rollup_by_unit uh
CREATE TABLE IF NOT EXISTS unit_rollup_by_unit (
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
ORDER BY (uh, experiment)
SETTINGS index_granularity = 8;

-- A run interrupted between the drop and the create below finds no
-- unit_rollup: an empty one then, so that the copy goes on.
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
ORDER BY (uh, experiment)
SETTINGS index_granularity = 8;

INSERT INTO unit_rollup_by_unit (experiment, uh, first, arm, ver, arm_min, arm_max, xn, outcomes, chans)
SELECT experiment, uh, first, arm, ver, arm_min, arm_max, xn, outcomes, chans FROM unit_rollup;

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
ORDER BY (uh, experiment)
SETTINGS index_granularity = 8;

INSERT INTO unit_rollup (experiment, uh, first, arm, ver, arm_min, arm_max, xn, outcomes, chans)
SELECT experiment, uh, first, arm, ver, arm_min, arm_max, xn, outcomes, chans FROM unit_rollup_by_unit;

DROP TABLE IF EXISTS unit_rollup_by_unit;

-- With each mark, a block number of events up to which every block was
-- folded (0: unknown), so that a process's first fold leaves out the parts
-- folded whole before it (analytics/clickhouse/tail.go): after a back-fill,
-- a new process's first fold otherwise read again every event its margin
-- covered and every merge of them.
ALTER TABLE rollup_marks ADD COLUMN block UInt64 DEFAULT 0;
