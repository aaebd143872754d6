-- User events (POST /v1/track): what a unit did, with no experiment attached
-- (orders, tickets, page views, onboarding steps), with typed properties.
-- Kept apart from events, whose sort key leads with the experiment: these
-- are read per unit (computed traits, a unit's deletion) and per name
-- (custom metrics). No Map type on 18.16: each property type has a pair of
-- parallel arrays, keys and values; a list property is flattened, its key
-- repeated for each of its strings (so an empty list is stored as absent).
-- Delivery is at least once: copies share event_id and time, and every
-- read deduplicates by event_id (ReplacingMergeTree folds them eventually).
-- splitcast:shard user_events cityHash64(unit)
CREATE TABLE IF NOT EXISTS user_events (
    event_id String,
    time DateTime,
    date Date DEFAULT toDate(time),
    unit String,
    name String,
    s_keys Array(String),
    s_vals Array(String),
    n_keys Array(String),
    n_vals Array(Float64),
    b_keys Array(String),
    b_vals Array(UInt8),
    l_keys Array(String),
    l_vals Array(String),
    received_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(date)
ORDER BY (unit, name, event_id);

-- Stored profiles (POST /v1/units/{unit}/attributes): each write is a row
-- of the attributes it set, as a JSON object (null removes one); a unit's
-- profile is its rows folded in order of at (nanoseconds of the write), so
-- writes from several servers never overwrite each other's keys.
-- splitcast:shard unit_profiles cityHash64(unit)
CREATE TABLE IF NOT EXISTS unit_profiles (
    unit String,
    at UInt64,
    attrs String,
    received_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(received_at)
ORDER BY (unit, at);
