-- API keys issued with `splitcast keys create`. The secret is never stored:
-- hash is the hex SHA-256 of the whole key, which holds 256 random bits, so
-- the table is no use to a thief. Keys are never updated in place: revoking
-- one inserts its row again with revoked_at set and a higher version, and
-- ReplacingMergeTree keeps that row when it merges. Readers do not wait for
-- merges: they take max(revoked_at) per id (0 while valid).
-- splitcast:shard api_keys cityHash64(id)
CREATE TABLE IF NOT EXISTS api_keys (
    id String,
    name String,
    hash String,
    scopes Array(String),
    created_at DateTime,
    revoked_at DateTime,
    version UInt32
) ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY id;
