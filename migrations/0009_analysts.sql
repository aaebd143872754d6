-- Issue 20 (analysts): imported experiments, and breakdown dimensions on
-- exposures.
--
-- One row per import request that inserted events: which experiment, when,
-- how many rows and events, the file's SHA-256 and who. An experiment with a
-- row here was assigned elsewhere: its report says so and judges its sample
-- ratio against the definition's weights alone.
-- splitcast:shard imports cityHash64(experiment)
CREATE TABLE IF NOT EXISTS imports (
    experiment String,
    imported_at DateTime,
    rows UInt64,
    events UInt64,
    sha256 String,
    author String
) ENGINE = MergeTree
ORDER BY (experiment, imported_at);

-- dim_keys and dim_values are parallel arrays (no Map type on 18.16): the
-- values, on an exposure, of the experiment's breakdown dimensions (caller
-- attribute keys such as country or plan, and channel), at most 5. Other
-- kinds leave them empty, and so do inserts that do not name them. 18.16 has
-- no ADD COLUMN IF NOT EXISTS: both columns are one statement, the file's
-- last, so that a run cut short before it leaves nothing to redo, and the
-- runner records the file right after it.
ALTER TABLE events ADD COLUMN dim_keys Array(String) DEFAULT emptyArrayString(), ADD COLUMN dim_values Array(String) DEFAULT emptyArrayString();
