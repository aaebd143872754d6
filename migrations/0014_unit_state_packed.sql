-- unit_state (0006) with its per-unit numbers packed into one array
-- column, so that reading a unit's row costs a few column streams instead
-- of 25. A report reader reads the rows of the units with news since its
-- last read, a few hundred here and there in a table of millions: each is
-- a granule read (a seek and a block decompressed) per column stream, and
-- that is what a warm report's read of them cost (about 12 microseconds a
-- stream per unit on 18.16 here; the rows read hardly matter). Packed, the
-- same read took about two thirds of the time (measured at 10M events, 2,011
-- units).
--   p   fver, fday, multi, then per kind (open, click, conversion,
--       unsubscribe, complaint) the human count, the machine count and
--       the day of the first human event: stateColumns' order
-- The rest is 0006's (see there). The table is made anew, and so are the
-- report sums kept of it: the rollups' mark moves to a new name, so migrate
-- back-fills them.
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
    at DateTime DEFAULT now(),
    keep UInt32 DEFAULT 4294967295 - toUInt32(at)
) ENGINE = ReplacingMergeTree(keep)
ORDER BY (experiment, uh, n)
SETTINGS index_granularity = 128;

DROP TABLE IF EXISTS report_sums;

CREATE TABLE IF NOT EXISTS report_sums (
    experiment String,
    mark DateTime,
    sums String,
    at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(mark)
ORDER BY experiment;
