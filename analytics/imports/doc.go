// Package imports brings in a campaign sent by another tool: a file of its
// events, one row per event, read as the experiment's own events so that its
// report, CSV, page, CLI and notebooks work on it.
//
// # Format
//
// CSV with a header row, or NDJSON (one JSON object per line), with the
// columns (keys):
//
//	unit      required: the unit (recipient) id
//	kind      required: exposure, open, click, conversion, unsubscribe or complaint
//	time      required: RFC 3339 ("2025-05-01T09:30:00Z") or Unix seconds
//	segment   on exposures, required: a segment key of the definition
//	variant   on exposures, required: a variant key of that segment (or
//	          "holdout" when the experiment has a holdout)
//	value     on conversions, optional: the revenue, 0 to analytics.MaxValue
//	event_id  optional: the event's id in the other tool
//	channel   optional: email, push, sms or in_app (default: the experiment's)
//	machine   optional: true or false (CSV also 1 or 0): machine traffic
//
// # Invariants
//
//   - All or nothing per request: the whole stream is read and checked
//     before the first event is written; the first bad row is the error,
//     naming its line (1 is the CSV header or the first NDJSON line) and
//     field, and nothing is written.
//   - Importing the same file twice changes nothing: a row without event_id
//     gets one derived from its content (experiment, unit, kind, time,
//     segment, variant, value, channel, machine), and reports count each id
//     once. Two identical rows are the same event (a duplicated line counts
//     once); two real events that agree on all of those need event ids.
//   - Streamed: the file is read once, into a spool of checked events (in
//     memory up to 32 MB, then a temporary file), and written from there in
//     batches; memory does not grow with the file. A write that fails
//     mid-way (ClickHouse down) is safe to retry: every id is the same the
//     second time.
//   - Cheap per row: CSV (RFC 4180, read as encoding/csv reads it) and
//     NDJSON (flat objects) are scanned by hand, without reflection, and a
//     row costs one allocation for its line and one for its derived id,
//     and reading and checking run as a two-goroutine pipeline;
//     BenchmarkImport here (client alone) and in analytics/clickhouse
//     (against a bare insert of the same events) measure it.
package imports
