-- The audit log of experiments: one immutable row per version, never
-- updated. The current definition is the row with the highest version.
-- A plain MergeTree, not a Replacing one: if two processes race to save the
-- same version, both rows stay and every reader picks the same winner by a
-- fixed tie-break (see analytics/clickhouse/store.go); a merge that kept
-- the last inserted row would switch readers to the loser.
-- splitcast:shard experiment_versions cityHash64(experiment)
CREATE TABLE IF NOT EXISTS experiment_versions (
    experiment String,
    version UInt32,
    created_at DateTime,
    author String,
    action String,
    reason String,
    status String,
    definition String
) ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (experiment, version);
