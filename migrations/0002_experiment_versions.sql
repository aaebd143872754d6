-- The audit log of experiments: one immutable row per version, never
-- updated. The current definition is the row with the highest version.
CREATE TABLE IF NOT EXISTS experiment_versions (
    experiment String,
    version UInt32,
    created_at DateTime,
    author String,
    action String,
    reason String,
    status String,
    definition String
) ENGINE = ReplacingMergeTree
PARTITION BY tuple()
ORDER BY (experiment, version);
