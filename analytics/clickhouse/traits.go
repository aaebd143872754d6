package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

// TraitReader is the traits.Reader on the events table: a periodic
// job's two queries, safe on ClickHouse 18.16 (no materialized view, so
// replays and retried conversions are deduplicated by event id at query
// time, like every other count). It is safe for concurrent use.
//
// Cost: with Rollups set, an incremental refresh reads the events stored
// since its mark (only the parts written since, see tail) and the
// unit_activity rows of the units among them, sorted by unit: about the
// news, whatever the history. Without, or for a first full read, the
// activity queries filter events on unit, which is not in the table's sort
// key, so each reads the window's partitions. An incremental refresh reads
// whole only the units with a new event other than an exposure; units with
// only new exposures (most units, most of the time) take one cheaper query
// for their first and last day seen.
type TraitReader struct {
	conn driver.Conn
	// Rollups, when set, is the unit_activity rollup (NewActivityRollups)
	// that the activity of given units is read from, folded before each
	// read; nil reads the raw events.
	Rollups *Rollups
	// RowsPerPass bounds the events of a first read's passes (default
	// DefaultRowsPerPass; see firstActivity).
	RowsPerPass uint64
	// seenHint is the number of units seen by the last call: the margin
	// makes consecutive calls read mostly the same units, and sizing the
	// result from the start saves copying a slice of a million entries
	// several times over as it grows.
	seenHint atomic.Int64
	// Margin is how far back each incremental ChangedUnits looks before the
	// previous call's mark, to catch inserts that were in flight during it
	// (default DefaultTraitMargin). Reading a unit twice is harmless, but
	// costs: each unit is read about (Margin + the refresh interval) / the
	// interval times. Unless FixedMargin is set, the mark is also moved back
	// to the start of the oldest insert into events still running, which
	// makes a short Margin enough.
	Margin time.Duration
	// FixedMargin turns off the look at running inserts: set it on a
	// cluster, where a node sees only its own (then set Margin to
	// TraitMargin of the ingesters' write timeout).
	FixedMargin bool
}

// DefaultTraitMargin is TraitReader.Margin's default: 2 s, for the
// one-second resolution of received_at and of the marks. A row's
// received_at is stamped when ClickHouse takes its block, after its INSERT
// has started, and the row is visible once its part is written, before the
// INSERT ends. So a row not yet visible when a mark is taken belongs to an
// insert running then, which started at or after the mark (see markQuery),
// or to one that starts later.
const DefaultTraitMargin = 2 * time.Second

// TraitMargin is the Margin for a FixedMargin reader of ingesters writing
// with timeout writeTimeout: a longer insert counts as failed and its batch
// is written again, stamped anew, and read then. The two seconds over it
// also absorb clock steps and the skew between the node that stamps an
// insert and the one that gives the mark: keep the nodes' clocks
// synchronised well within that.
func TraitMargin(writeTimeout time.Duration) time.Duration {
	return writeTimeout + DefaultTraitMargin
}

// markQuery gives the server's time and how long the oldest INSERT into
// the table (the parameter, with a space after it) still running has been
// running (0 if none), from the same instant.
const markQuery = `SELECT now(), toFloat64(max(elapsed)) FROM system.processes WHERE startsWith(query, concat('INSERT INTO ', ?))`

// nextMark returns the mark the next incremental read starts from.
func (r *TraitReader) nextMark(ctx context.Context) (time.Time, error) {
	return nextMark(ctx, r.conn, r.Margin, r.FixedMargin)
}

// nextMark is a mark for reads of the rows of events received since it:
// margin before the server's time, or, unless fixed, before the start of
// the oldest insert into events still running (see DefaultTraitMargin).
func nextMark(ctx context.Context, conn driver.Conn, margin time.Duration, fixed bool) (time.Time, error) {
	return nextMarkOf(ctx, conn, "events", margin, fixed)
}

// nextMarkOf is nextMark for the rows of table, stamped at insert like
// events.received_at.
func nextMarkOf(ctx context.Context, conn driver.Conn, table string, margin time.Duration, fixed bool) (time.Time, error) {
	var now time.Time
	var running float64
	if fixed {
		if err := conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return time.Time{}, fmt.Errorf("server time: %w", translate(err))
		}
		return now.Add(-margin), nil
	}
	if err := conn.QueryRow(ctx, markQuery, table+" ").Scan(&now, &running); err != nil {
		return time.Time{}, fmt.Errorf("server time and running inserts: %w", translate(err))
	}
	return now.Add(-time.Duration(running*float64(time.Second)) - margin), nil
}

var _ traits.Reader = (*TraitReader)(nil)

// NewTraitReader returns a reader of conn's database, which must be
// migrated.
func NewTraitReader(conn driver.Conn) *TraitReader {
	return &TraitReader{conn: conn, Margin: DefaultTraitMargin}
}

// dayExpr is a DateTime's UTC day number, whatever the server's time zone.
const dayExpr = "toInt32(intDiv(toUInt32(time), 86400))"

// ChangedUnits returns the units with an event stored since the mark since
// (every unit with an event on or after day from when since is zero), and
// the next mark. received_at is the server's now() at insert, so the marks
// are the server's clock; each mark is before the start of any insert then
// in flight (see nextMark), so that its rows are read next time.
func (r *TraitReader) ChangedUnits(ctx context.Context, since time.Time, from int32) ([]string, time.Time, error) {
	mark, err := r.nextMark(ctx)
	if err != nil {
		return nil, since, err
	}
	// The date column is in the server's time zone: a day's margin keeps
	// partition pruning from cutting a UTC day short.
	args := []any{dateString(from), from}
	var units []string
	read := func(t tail) error {
		units = units[:0]
		q := changedUnitsQuery
		if !since.IsZero() {
			if t.empty() {
				return nil
			}
			q += " AND " + t.filter() + " AND received_at >= toDateTime(?)"
		}
		rows, err := r.conn.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("changed units: %w", translate(err))
		}
		defer rows.Close()
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				return fmt.Errorf("changed units: %w", translate(err))
			}
			units = append(units, u)
		}
		return translate(rows.Err())
	}
	if since.IsZero() {
		err = read(tail{})
	} else {
		args = append(args, uint32(since.Unix()))
		err = readTail(ctx, r.conn, "events", since, read)
	}
	if err != nil {
		return nil, since, err
	}
	return units, mark, nil
}

// activityQuery counts, per unit, UTC day and channel, the distinct human
// exposures, opens, clicks and conversions. Opens, clicks and conversions
// carry no channel: they take the one of the exposure with the same unit and
// send id (a send id a caller chose may repeat across units, hence the
// unit). Exposures are looked up 30 days before the window so that an open
// of an older message still finds its channel.
const activityQuery = `SELECT unit, day, channel,
	uniqExactIf(event_id, kind = 'exposure') AS exposures,
	uniqExactIf(event_id, kind = 'open') AS opens,
	uniqExactIf(event_id, kind = 'click') AS clicks,
	uniqExactIf(event_id, kind = 'conversion') AS conversions
FROM (
	SELECT unit, ` + dayExpr + ` AS day, kind, send_id, event_id
	FROM events
	WHERE unit %[1]s AND date >= toDate(?) - 1 AND ` + dayExpr + ` >= ? AND machine = 0
		AND kind IN ('exposure', 'open', 'click', 'conversion')
) ANY LEFT JOIN (
	SELECT unit, send_id, any(channel) AS channel
	FROM events
	WHERE unit %[1]s AND date >= toDate(?) - 31 AND kind = 'exposure' AND send_id != ''
	GROUP BY unit, send_id
) USING (unit, send_id)
GROUP BY unit, day, channel
ORDER BY unit, day, channel`

// activityRollupQuery is activityQuery on unit_activity: the same
// filters, the same join of a send's channel, the same distinct counts.
// The units' rows are looked up by unit and date alone (unitRows), the
// other filters applied to what that finds.
const activityRollupQuery = `SELECT unit, day, channel,
	uniqExactIf(h, kind = 1) AS exposures,
	uniqExactIf(h, kind = 2) AS opens,
	uniqExactIf(h, kind = 3) AS clicks,
	uniqExactIf(h, kind = 4) AS conversions
FROM (
	SELECT unit, day, kind, send_id, h
	FROM (` + unitRows + `unit %[1]s AND date >= toDate(?) - 1)
	WHERE day >= ? AND machine = 0 AND kind > 0
) ANY LEFT JOIN (
	SELECT unit, send_id, any(channel) AS channel
	FROM (` + unitRows + `unit %[1]s AND date >= toDate(?) - 31)
	WHERE kind = 1 AND send_id != ''
	GROUP BY unit, send_id
) USING (unit, send_id)
GROUP BY unit, day, channel
ORDER BY unit, day, channel` + localIn

// unitRows selects unit_activity's rows WHERE (what follows it) says,
// meant for the units and a date only, with any other filter applied
// outside to what it finds. On 18.16, conditions on the key's later
// columns (day, kind, machine) beside the set of units made the lookup
// itself several times dearer for the same rows: 1,000 units with news
// over 10M events, the activity read took 920 ms of ClickHouse CPU with
// every filter in it, 370 ms with only unit and date (210 ms with only
// unit, but the date prunes the months before the window, and the table
// keeps every month). Current ClickHouse pushes the outer filters down.
const unitRows = "SELECT unit, date, day, send_id, kind, machine, h, channel FROM unit_activity WHERE "

// firstSeenRollupQuery is firstSeenQuery on unit_activity.
const firstSeenRollupQuery = `SELECT unit, min(day) AS first, max(day) AS last
FROM unit_activity
WHERE unit %[1]s AND date >= toDate(?) - 1
GROUP BY unit` + localIn

// firstSeenQuery finds each unit's first and last day with any event,
// machine ones included (they still say the unit was there), within the
// horizon: the last keeps a unit whose latest events are machine ones held
// for as long as they are in the window.
const firstSeenQuery = `SELECT unit, toInt32(intDiv(toUInt32(min(time)), 86400)) AS first, toInt32(intDiv(toUInt32(max(time)), 86400)) AS last
FROM events
WHERE unit %[1]s AND date >= toDate(?) - 1
GROUP BY unit`

// maxQuerySize lets a batch of long unit ids through: the ids are inlined
// in the query text (18.16 has no array parameters), and ClickHouse's
// default limit is 256 KiB.
const maxQuerySize = 16 << 20

// Activity implements traits.Reader.
func (r *TraitReader) Activity(ctx context.Context, units []string, today int32) ([]traits.UnitActivity, error) {
	if len(units) == 0 {
		return nil, nil
	}
	set := make([]any, len(units))
	for i, u := range units {
		set[i] = u
	}
	in := ch.GroupSet{Value: set}
	rolled, err := r.fold(ctx)
	if err != nil {
		return nil, err
	}
	return r.activity(ctx, rolled, "IN ?", []any{in}, today)
}

// fold folds the activity rollup, if there is one, and reports whether
// the activity is to be read from it.
func (r *TraitReader) fold(ctx context.Context) (bool, error) {
	if r.Rollups == nil {
		return false, nil
	}
	if err := r.Rollups.Fold(ctx); err != nil {
		return false, fmt.Errorf("fold unit activity: %w", err)
	}
	return true, nil
}

// changedUnitsQuery selects the units of ChangedUnits; GLOBAL so that on a
// cluster the set is built once and sent to every shard.
const changedUnitsQuery = "SELECT DISTINCT unit FROM events WHERE date >= toDate(?) - 1 AND " + dayExpr + " >= ?"

// ChangedActivity implements traits.Reader: ChangedUnits and
// Activity in one pass, the changed units selected by a subquery inside each
// query, so that a refresh costs the same few scans however many units
// changed; the scans of whole activity only when a unit has a new event
// other than an exposure, and seen's otherwise. The first read (since
// zero) reads the raw events whole; later ones the parts written since
// the mark, and with Rollups the changed units' rows of unit_activity.
func (r *TraitReader) ChangedActivity(ctx context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	mark, err := r.nextMark(ctx)
	if err != nil {
		return nil, since, err
	}
	from := today - (traits.WindowDays - 1)
	args := []any{dateString(from), from}
	if since.IsZero() {
		acts, err := r.firstActivity(ctx, args, today)
		if err != nil {
			return nil, since, err
		}
		return acts, mark, nil
	}
	// After the mark: every event visible now is folded.
	rolled, err := r.fold(ctx)
	if err != nil {
		return nil, since, err
	}
	args = append(args, uint32(since.Unix()))
	var acts []traits.UnitActivity
	err = readTail(ctx, r.conn, "events", since, func(t tail) error {
		acts = nil
		if t.empty() {
			return nil
		}
		engaged := changedUnitsQuery + " AND " + t.filter() + " AND received_at >= toDateTime(?) AND kind != 'exposure'"
		// The raw activity queries scan the window and the horizon
		// whatever the set of units: first see whether it has any (most
		// refreshes of a send's exposures have none).
		var n uint64
		if err := r.conn.QueryRow(ctx, "SELECT count() FROM ("+engaged+")", args...).Scan(&n); err != nil {
			return fmt.Errorf("changed units: %w", translate(err))
		}
		if n > 0 {
			var err error
			in := "GLOBAL IN ("
			if rolled {
				// unit_activity's rows of a unit are on the shard of its
				// events: a set made on each shard is the whole set for
				// its units, and uses the table's index (localIn).
				in = "IN ("
			}
			if acts, err = r.activity(ctx, rolled, in+engaged+")", args, today); err != nil {
				return err
			}
		}
		seen, err := r.seen(ctx, t, rolled, since, today)
		if err != nil {
			return err
		}
		if len(acts) == 0 {
			acts = seen // no copy of a long list
		} else {
			acts = append(acts, seen...)
		}
		return nil
	})
	if err != nil {
		return nil, since, err
	}
	return acts, mark, nil
}

// firstActivity is a first read: the activity of every unit with events in
// the window (args: the window's first date and day), from the raw
// events, a hash bucket of units at a time, RowsPerPass events each
// (at 10M events in one pass the activity query wanted 3.8 GiB, over
// ClickHouse's default limit, spilling or not). A bucket over the limit
// all the same (at 50M events, buckets of the same 2M events did) is read
// again as two (see eachBucket).
func (r *TraitReader) firstActivity(ctx context.Context, args []any, today int32) ([]traits.UnitActivity, error) {
	var n uint64
	q := "SELECT count() FROM events WHERE date >= toDate(?) - 1 AND " + dayExpr + " >= ?"
	if err := r.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return nil, fmt.Errorf("events in the window: %w", translate(err))
	}
	per := r.RowsPerPass
	if per == 0 {
		per = DefaultRowsPerPass
	}
	var out []traits.UnitActivity
	err := eachBucket(max(1, (n+per-1)/per), func(mod, rem uint64) error {
		in := fmt.Sprintf("GLOBAL IN (%s AND cityHash64(unit) %% %d = %d)", changedUnitsQuery, mod, rem)
		acts, err := r.activity(ctx, false, in, args, today)
		if err == nil {
			out = append(out, acts...)
		}
		return err
	}, overMemoryLimit)
	return out, err
}

// maxBuckets bounds eachBucket's splitting: a bucket of a 1/65536th of the
// units over the memory limit is not a matter of buckets.
const maxBuckets = 1 << 16

// eachBucket calls read for each bucket (mod, rem) of the units whose hash
// modulo mod is rem, mod = buckets at first. A bucket whose read fails with
// an error tooBig accepts is read again as its two halves, (2 mod, rem) and
// (2 mod, rem + mod), which together hold its units and no other, and so
// is every bucket of its size still to be read: they hold as many units,
// and a read refused costs as much as one that succeeds. Any other error
// stops it. read must add nothing when it fails.
func eachBucket(buckets uint64, read func(mod, rem uint64) error, tooBig func(error) bool) error {
	type bucket struct{ mod, rem uint64 }
	todo := make([]bucket, 0, buckets)
	for b := range buckets {
		todo = append(todo, bucket{buckets, b})
	}
	for len(todo) > 0 {
		b := todo[0]
		todo = todo[1:]
		err := read(b.mod, b.rem)
		if err != nil && tooBig(err) && 2*b.mod <= maxBuckets {
			next := []bucket{{2 * b.mod, b.rem}, {2 * b.mod, b.rem + b.mod}}
			for _, o := range todo {
				if o.mod == b.mod {
					next = append(next, bucket{2 * o.mod, o.rem}, bucket{2 * o.mod, o.rem + o.mod})
				} else {
					next = append(next, o)
				}
			}
			todo = next
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// overMemoryLimit reports whether err is ClickHouse's refusal of a query
// over its memory limit (code 241, MEMORY_LIMIT_EXCEEDED).
func overMemoryLimit(err error) bool {
	var exc *ch.Exception
	return errors.As(err, &exc) && exc.Code == 241
}

// seenQuery reads, for each unit whose events stored since the mark are all
// exposures, the first and last day of those events: all a refresh needs
// of a unit whose counts did not change (see traits.UnitActivity.Seen),
// but its first day if it has events from before the window, which
// oldFirstQuery finds. Both scan only what they must: this one the rows
// stored since the mark ({tail}: the parts written since), that one the
// partitions before the window. The single query they replace read every
// row of the horizon of every unit seen, and grouped them all by unit:
// 4.1-4.5 s of ClickHouse for 1.75M units seen, where these two took
// 1.7-2.3 s.
const seenQuery = `SELECT unit, toInt32(intDiv(toUInt32(min(time)), 86400)) AS first, toInt32(intDiv(toUInt32(max(time)), 86400)) AS last
FROM events
WHERE date >= toDate(?) - 1 AND ` + dayExpr + ` >= ? AND {tail} AND received_at >= toDateTime(?)
GROUP BY unit
HAVING max(kind != 'exposure') = 0`

// oldEventsQuery tells whether any event is stored from before the window
// (within the horizon): it stops at the first. When there is none,
// oldFirstQuery, whose set of units costs as much to build as seenQuery,
// is skipped. Once the table holds more than the window's days, there
// always is one, and oldFirstQuery on the raw events reads the unit column
// of the months before the window on every refresh that sees a unit; on
// unit_activity (oldFirstRollupQuery) it reads the units' rows.
const oldEventsQuery = `SELECT count() FROM (SELECT 1 FROM events WHERE date >= toDate(?) - 1 AND date <= toDate(?) AND ` + dayExpr + ` < ? LIMIT 1)`

// oldFirstQuery reads the first day, within the horizon and before the
// window, of the units with exposures stored since the mark.
const oldFirstQuery = `SELECT unit, toInt32(intDiv(toUInt32(min(time)), 86400)) AS first
FROM events
WHERE date >= toDate(?) - 1 AND date <= toDate(?) AND ` + dayExpr + ` >= ? AND ` + dayExpr + ` < ?
	AND unit GLOBAL IN (SELECT unit FROM events WHERE date >= toDate(?) - 1 AND {tail} AND received_at >= toDateTime(?) AND kind = 'exposure')
GROUP BY unit`

// oldFirstRollupQuery is oldFirstQuery on unit_activity.
const oldFirstRollupQuery = `SELECT unit, min(day) AS first
FROM (` + unitRows + `date >= toDate(?) - 1 AND date <= toDate(?)
	AND unit IN (SELECT unit FROM events WHERE date >= toDate(?) - 1 AND {tail} AND received_at >= toDateTime(?) AND kind = 'exposure'))
WHERE day >= ? AND day < ?
GROUP BY unit` + localIn

func (r *TraitReader) seen(ctx context.Context, t tail, rolled bool, since time.Time, today int32) ([]traits.UnitActivity, error) {
	from := today - (traits.WindowDays - 1)
	horizon := today - (traits.FirstSeenHorizonDays - 1)
	mark := uint32(since.Unix())
	// The whole window, not just the days since the mark: an exposure
	// replayed from the spool after an outage is stored now with the time
	// it was made.
	rows, err := r.conn.Query(ctx, strings.Replace(seenQuery, "{tail}", t.filter(), 1), dateString(from), from, mark)
	if err != nil {
		return nil, fmt.Errorf("units seen: %w", translate(err))
	}
	defer rows.Close()
	hint := r.seenHint.Load()
	out := make([]traits.UnitActivity, 0, hint+hint/8)
	for rows.Next() {
		var u string
		var first, last int32
		if err := rows.Scan(&u, &first, &last); err != nil {
			return nil, fmt.Errorf("units seen: %w", translate(err))
		}
		out = append(out, traits.UnitActivity{Unit: u, FirstSeen: first, LastSeen: last, Seen: true})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("units seen: %w", translate(err))
	}
	r.seenHint.Store(int64(len(out)))
	if len(out) == 0 {
		return nil, nil
	}
	var old uint64
	if err := r.conn.QueryRow(ctx, oldEventsQuery, dateString(horizon), dateString(from), from).Scan(&old); err != nil {
		return nil, fmt.Errorf("events before the window: %w", translate(err))
	}
	if old == 0 {
		return out, nil
	}
	firsts := map[string]int32{}
	q, args := oldFirstQuery, []any{dateString(horizon), dateString(from), horizon, from, dateString(from), mark}
	if rolled {
		q, args = oldFirstRollupQuery, []any{dateString(horizon), dateString(from), dateString(from), mark, horizon, from}
	}
	rows, err = r.conn.Query(ctx, strings.Replace(q, "{tail}", t.filter(), 1), args...)
	if err != nil {
		return nil, fmt.Errorf("units seen before the window: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var first int32
		if err := rows.Scan(&u, &first); err != nil {
			return nil, fmt.Errorf("units seen before the window: %w", translate(err))
		}
		firsts[u] = max(first, horizon)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("units seen before the window: %w", translate(err))
	}
	for i := range out {
		if f, ok := firsts[out[i].Unit]; ok {
			out[i].FirstSeen = min(out[i].FirstSeen, f)
		}
	}
	return out, nil
}

// activity reads the activity of the units matching filter, from
// unit_activity if rolled, else from the raw events.
func (r *TraitReader) activity(ctx context.Context, rolled bool, filter string, filterArgs []any, today int32) ([]traits.UnitActivity, error) {
	// Activity's unit ids are inlined in the query (maxQuerySize). A
	// first read's pass groups a bucket of the window's units: past a GiB
	// the GROUP BYs go to disk rather than over ClickHouse's memory limit.
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_query_size": maxQuerySize, "max_bytes_before_external_group_by": maxGroupByBytes}))
	firstSeen, act := firstSeenQuery, activityQuery
	if rolled {
		firstSeen, act = firstSeenRollupQuery, activityRollupQuery
	}
	from := today - (traits.WindowDays - 1)
	byUnit := map[string]*traits.UnitActivity{}
	var order []string
	get := func(u string) *traits.UnitActivity {
		a, ok := byUnit[u]
		if !ok {
			a = &traits.UnitActivity{Unit: u}
			byUnit[u] = a
			order = append(order, u)
		}
		return a
	}
	params := func(rest ...any) []any { return append(append([]any(nil), filterArgs...), rest...) }

	horizon := today - (traits.FirstSeenHorizonDays - 1)
	rows, err := r.conn.Query(ctx, fmt.Sprintf(firstSeen, filter), params(dateString(horizon))...)
	if err != nil {
		return nil, fmt.Errorf("first seen: %w", translate(err))
	}
	for rows.Next() {
		var u string
		var first, last int32
		if err := rows.Scan(&u, &first, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("first seen: %w", translate(err))
		}
		a := get(u)
		a.FirstSeen, a.LastSeen = max(first, horizon), last
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("first seen: %w", translate(err))
	}

	args := append(params(dateString(from), from), params(dateString(from))...)
	rows, err = r.conn.Query(ctx, fmt.Sprintf(act, filter), args...)
	if err != nil {
		return nil, fmt.Errorf("activity: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var d traits.DayActivity
		var u string
		var exp, opens, clicks, convs uint64
		if err := rows.Scan(&u, &d.Day, &d.Channel, &exp, &opens, &clicks, &convs); err != nil {
			return nil, fmt.Errorf("activity: %w", translate(err))
		}
		d.Exposures, d.Opens, d.Clicks, d.Conversions = uint32(exp), uint32(opens), uint32(clicks), uint32(convs)
		a := get(u)
		a.Days = append(a.Days, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activity: %w", translate(err))
	}
	out := make([]traits.UnitActivity, 0, len(order))
	for _, u := range order {
		out = append(out, *byUnit[u])
	}
	return out, nil
}

func dateString(day int32) string { return analytics.DayTime(day).Format("2006-01-02") }
