package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Rollups keeps rollup tables folded in from events: NewRollups the
// report's (unit_rollup, unit_state and rollup_arms, migrations 0005 and
// 0006), NewActivityRollups the trait refresh's (unit_activity, 0013). The
// report's are described here; unit_activity's states are idempotent too.
// It is safe for
// concurrent use, and any number of servers may fold the same database at
// once: every state of unit_rollup is idempotent, so an event folded twice,
// or two copies of one event, change nothing, and a unit_state row is
// versioned by the states it was computed from (see the migration).
//
// A fold reads the events received since the previous fold's mark into
// unit_rollup, then computes anew the unit_state row of each unit they
// belong to: deduplicating a unit's events is done there, once per fold
// that had news for the unit, and not by every report. The mark is taken,
// like the trait reader's, before the start of any insert into events
// still running, so that a row not yet visible to one fold is read by the
// next; the same rows may be read twice, which costs a little and changes
// nothing. The mark survives restarts in rollup_marks.
//
// A fold after the first reads only the parts of events written since the
// mark (see tail), so that it costs the news and not the history.
//
// Freshness: AggregateReader folds before it reads, so a report counts
// every event visible when it starts, exactly as a read of the raw events
// would, whoever wrote them (the ingester, an import, another pipeline).
type Rollups struct {
	conn driver.Conn
	// Margin and FixedMargin are the trait reader's (see TraitReader): how
	// far before the start of the oldest running insert the mark goes, and
	// whether to look at running inserts at all (not on a cluster).
	Margin      time.Duration
	FixedMargin bool
	// RowsPerFold bounds the events one fold query reads (default
	// DefaultRowsPerPass): a fold of more reads a hash bucket of units at a
	// time.
	RowsPerFold int

	// Nodes, when set (cluster mode), runs fn on a connection to each node
	// of the cluster, as ProfileStore.Nodes does: Compact optimizes each
	// node's local tables, as ClickHouse refuses to optimize a Distributed
	// one.
	Nodes func(ctx context.Context, fn func(Execer) error) error

	// name is the rollups' row in rollup_marks; foldWindow folds a window
	// of events into their tables (see window); tables are the tables it
	// folds into that lookups read (see Compact).
	name       string
	foldWindow func(ctx context.Context, w window) error
	tables     []string

	mu     sync.Mutex // one fold at a time in this process
	mark   time.Time  // what the next fold reads from; zero before the first
	loaded bool       // mark was read from rollup_marks
	// began is when the last successful fold began, by this process's
	// clock: a caller who asked before then needs no fold of its own.
	began time.Time
	// folded is a block number of events up to which every block was
	// folded (see tail.upTo), 0 when unknown; kept with the mark.
	folded uint64
}

// NewRollups returns the report rollups of conn's database, which must be
// migrated.
func NewRollups(conn driver.Conn) *Rollups {
	r := &Rollups{conn: conn, Margin: DefaultTraitMargin, name: rollupMarkName, tables: []string{"unit_rollup", "unit_state"}}
	r.foldWindow = r.foldReport
	return r
}

// NewActivityRollups returns the trait refresh's rollup of conn's
// database (unit_activity, migration 0013), which must be migrated: the
// same folds and marks as the report's, into other tables, under its own
// mark, so that a trait refresh folds only what it reads.
func NewActivityRollups(conn driver.Conn) *Rollups {
	r := &Rollups{conn: conn, Margin: DefaultTraitMargin, name: activityMarkName, tables: []string{"unit_activity"}}
	r.foldWindow = r.foldActivity
	return r
}

// Name is the rollups' name, their row in rollup_marks.
func (r *Rollups) Name() string { return r.name }

// window is a set of events to fold: those matching filter (with args),
// whose units (in unit_state's terms, uh) match units (with unitArgs).
type window struct {
	filter   string
	args     []any
	units    string
	unitArgs []any
}

// rollupMarkName is rollup_marks' row for the unit rollup, named for
// migration 0015 (report_sections): an earlier mark, under another name,
// says nothing of the tables 0015 made, so an upgraded deployment
// back-fills them. Marks are written by INSERT ... SELECT: over the native
// protocol an INSERT with VALUES waits for a data block that Exec never
// sends.
const rollupMarkName = "report_sections"

// foldUnits folds the events matching a filter ({filter}, with the
// parameters) into unit_rollup: one row of states per (experiment, unit)
// of them. Exposures give the first-exposure states; opens, clicks,
// conversions and the fatigue signals join the unit's set of outcomes,
// with their channel (custom events count in no report); each exposure's
// channel, order key, arm and id hash join the unit's set of channels
// (migration 0015). The order key o and the arm hash are rawUnits', so
// that the rollup picks the same first exposure as the raw query.
const foldUnits = `INSERT INTO unit_rollup (experiment, uh, first, arm, ver, arm_min, arm_max, xn, outcomes, chans)
SELECT experiment, cityHash64(unit) AS uh,
	minState(o), argMinState(a, o), argMinState(version, o),
	minState(if(x, a, 18446744073709551615)), maxState(if(x, a, 0)), uniqExactStateIf(cityHash64(event_id), x),
	groupUniqArrayStateIf(tuple(cityHash64(event_id), toUInt32(received_at), k, machine, toUInt32(time), value, channel), k > 0),
	groupUniqArrayStateIf(tuple(channel, o, a, cityHash64(event_id)), x)
FROM (
	SELECT experiment, unit, event_id, kind, machine, time, value, version, received_at, channel, kind = 'exposure' AS x,
		toUInt8(indexOf(['open', 'click', 'conversion', 'unsubscribe', 'complaint'], kind)) AS k,
		if(x, toUInt64(time) * 4294967296 + cityHash64(event_id) % 4294967296, 18446744073709551615) AS o,
		if(x, cityHash64(segment, variant), 0) AS a
	FROM events
	WHERE {filter}
)
GROUP BY experiment, uh`

// foldArms names the arms of the exposures matching the same filter.
const foldArms = `INSERT INTO rollup_arms (experiment, arm, segment, variant)
SELECT experiment, cityHash64(segment, variant) AS arm, any(segment), any(variant)
FROM events
WHERE kind = 'exposure' AND ({filter})
GROUP BY experiment, arm`

// Fold folds every event received since the last fold (all of them, the
// first time) and records the new mark. A fold that fails leaves the mark
// where it was: the next one reads the same events again.
//
// Callers waiting on a fold in progress share the next one: a fold that
// began after a caller asked covers every event the caller could see, so
// many reports at once cost one fold.
func (r *Rollups) Fold(ctx context.Context) error {
	asked := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.began.After(asked) {
		return nil
	}
	began := time.Now()
	if !r.loaded {
		if err := r.loadMark(ctx); err != nil {
			return err
		}
	}
	next, err := nextMark(ctx, r.conn, r.Margin, r.FixedMargin)
	if err != nil {
		return fmt.Errorf("fold rollups: %w", err)
	}
	var folded uint64
	if r.mark.IsZero() {
		// Every block visible now is in what the fold reads.
		var now tail
		if now, err = tailOf(ctx, r.conn, "events", next, 0); err != nil {
			return fmt.Errorf("fold rollups: %w", err)
		}
		err = r.foldEvents(ctx, "1", nil)
		folded = now.upTo
	} else {
		// Only the parts written since the mark can hold its news (see
		// tail), and of those not the parts folded whole already, by this
		// process or by the one that recorded the mark: the margin has
		// every fold within seconds of an insert read that insert's rows
		// again (three folds of the same 1,000 events in one retirement
		// pass over 20 experiments), where a part never changes once
		// written.
		var t tail
		t, err = readTailAfter(ctx, r.conn, "events", r.mark, r.folded, func(t tail) error {
			if t.empty() {
				return nil
			}
			return r.foldEvents(ctx, t.filter()+" AND received_at >= toDateTime(?)", []any{uint32(r.mark.Unix())})
		})
		if err == nil {
			folded = max(r.folded, t.upTo)
		}
	}
	if err != nil {
		return err
	}
	if err := r.recordMark(ctx, next, folded); err != nil {
		return fmt.Errorf("fold rollups: %w", err)
	}
	r.mark, r.began, r.folded = next, began, folded
	return nil
}

// foldEvents folds the events matching filter (with args). A fold holds a row per unit it folds: a large window (the
// first fold, an import, a backlog after an outage) is folded a hash bucket
// of units at a time, like a back-fill, so that its memory stays bounded.
func (r *Rollups) foldEvents(ctx context.Context, filter string, args []any) error {
	var n uint64
	if err := r.conn.QueryRow(ctx, "SELECT count() FROM events WHERE "+filter, args...).Scan(&n); err != nil {
		return fmt.Errorf("fold rollups: count the events to fold: %w", translate(err))
	}
	if n == 0 {
		return nil
	}
	per := uint64(r.RowsPerFold)
	if per == 0 {
		per = DefaultRowsPerPass
	}
	buckets := max(1, (n+per-1)/per)
	for b := range buckets {
		bucketFilter := filter + " AND cityHash64(unit) % ? = ?"
		bucketArgs := append(args[:len(args):len(args)], buckets, b)
		w := window{bucketFilter, bucketArgs, strings.Replace(touched, "{filter}", bucketFilter, 1), bucketArgs}
		if err := r.foldWindow(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// foldStates computes the unit_state rows (see rollupStates) of the
// unit_rollup rows matching {where}.
var foldStates = "INSERT INTO unit_state (experiment, uh, n, arm, p, uvalue, uvalue_days, uvalue_values, ch_names, ch_arms, ch_flags, ex_arms, ex_counts, pre, pre_gaps, pre_values)\n" +
	"SELECT experiment, u, n, arm, " + statePack() + ", uvalue, uvalue_days, uvalue_values, ch_names, ch_arms, ch_flags, ex_arms, ex_counts, pre, pre_gaps, pre_values FROM (" +
	rollupStates("{where}") + ")" + localIn

// touched is foldStates' {where} for the units with events matching
// {filter}: the units a fold of those events changed, in every experiment
// (an event of one is history before the exposures of the others, see
// migration 0015). foldStates ends in localIn, so that ClickHouse finds
// them by unit_rollup's index, and on a cluster each shard takes its own
// units.
const touched = "uh IN (SELECT cityHash64(unit) FROM events WHERE {filter})"

// foldReport folds a window into the report's tables: the events' states
// into unit_rollup, their arms' names, then the report's rows of the
// window's units.
func (r *Rollups) foldReport(ctx context.Context, w window) error {
	if err := r.conn.Exec(ctx, strings.Replace(foldUnits, "{filter}", w.filter, 1), w.args...); err != nil {
		return fmt.Errorf("fold unit rollup: %w", translate(err))
	}
	if err := r.conn.Exec(ctx, strings.Replace(foldArms, "{filter}", w.filter, 1), w.args...); err != nil {
		return fmt.Errorf("fold arm names: %w", translate(err))
	}
	if err := r.conn.Exec(ctx, strings.Replace(foldStates, "{where}", w.units, 1), w.unitArgs...); err != nil {
		return fmt.Errorf("fold unit states: %w", translate(err))
	}
	return nil
}

// activityMarkName is rollup_marks' row for unit_activity.
const activityMarkName = "unit_activity"

// foldUnitActivity copies the events matching {filter} into
// unit_activity (see migration 0013).
const foldUnitActivity = `INSERT INTO unit_activity (unit, date, day, send_id, kind, machine, h, channel)
SELECT unit, date, ` + dayExpr + `, send_id,
	toUInt8(indexOf(['exposure', 'open', 'click', 'conversion'], kind)), machine, cityHash64(event_id), channel
FROM events
WHERE {filter}`

// foldActivity folds a window into unit_activity.
func (r *Rollups) foldActivity(ctx context.Context, w window) error {
	if err := r.conn.Exec(ctx, strings.Replace(foldUnitActivity, "{filter}", w.filter, 1), w.args...); err != nil {
		return fmt.Errorf("fold unit activity: %w", translate(err))
	}
	return nil
}

// loadMark reads the latest mark any server recorded: its folds covered
// every event received before it.
func (r *Rollups) loadMark(ctx context.Context) error {
	var mark time.Time
	var n, block uint64
	// Every row's block was folded when it was written, by whichever
	// process wrote it: the highest holds.
	q := "SELECT max(mark), count(), max(block) FROM rollup_marks WHERE name = ?"
	if err := r.conn.QueryRow(ctx, q, r.name).Scan(&mark, &n, &block); err != nil {
		return fmt.Errorf("read the rollups' mark: %w", translate(err))
	}
	if n > 0 {
		r.mark, r.folded = mark, block
	}
	r.loaded = true
	return nil
}

// recordMark writes the mark the next fold reads from, with folded (see
// Rollups.folded). Marks are written by INSERT ... SELECT (see
// rollupMarkName).
func (r *Rollups) recordMark(ctx context.Context, mark time.Time, folded uint64) error {
	q := "INSERT INTO rollup_marks (name, mark, block) SELECT ?, toDateTime(?), ?"
	if err := r.conn.Exec(ctx, q, r.name, uint32(mark.Unix()), folded); err != nil {
		return fmt.Errorf("record the mark: %w", translate(err))
	}
	return nil
}

// Backfill folds every event already stored, a share of the units at a
// time (buckets of cityHash64(unit), so that each query's memory is a
// bucket's units), telling progress after each, and then records a mark
// before the first bucket, so that later folds start from there. It is
// what migrate runs once after creating the rollups, and it is idempotent:
// running it again changes nothing.
func (r *Rollups) Backfill(ctx context.Context, buckets int, progress func(done, of int)) error {
	if buckets < 1 {
		buckets = 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	start, err := nextMark(ctx, r.conn, r.Margin, r.FixedMargin)
	if err != nil {
		return fmt.Errorf("backfill rollups: %w", err)
	}
	// Every block visible now is in what each bucket reads.
	now, err := tailOf(ctx, r.conn, "events", start, 0)
	if err != nil {
		return fmt.Errorf("backfill rollups: %w", err)
	}
	for b := range buckets {
		bucket := []any{uint64(buckets), uint64(b)}
		if err := r.foldWindow(ctx, window{"cityHash64(unit) % ? = ?", bucket, "uh % ? = ?", bucket}); err != nil {
			return fmt.Errorf("backfill rollups, bucket %d of %d: %w", b+1, buckets, err)
		}
		if progress != nil {
			progress(b+1, buckets)
		}
	}
	if err := r.recordMark(ctx, start, now.upTo); err != nil {
		return fmt.Errorf("backfill rollups: %w", err)
	}
	r.mark, r.loaded, r.folded = start, true, now.upTo
	return nil
}

// Compact merges each of the rollups' tables into one part per partition
// (OPTIMIZE ... FINAL), telling progress before each. A back-fill leaves
// them in several large parts, which ClickHouse's merges leave apart for
// good (they merge parts of like size), and every fold and every report
// reader then looks each unit with news up once in every part: at 10M
// events, the fold of 1,000 units took 245 ms of ClickHouse CPU over the 8
// parts of unit_rollup left 30 minutes after a back-fill, 145 ms over one,
// and the trait refresh's lookup of 1,000 units in unit_activity 112 ms
// against 46. It rewrites the tables once: 21 s for unit_rollup, 13 s for
// unit_state and 8 s for unit_activity at 10M, with room on disk for a
// second copy of the largest until it is done. The merged rows are what
// background merges would make of them, so nothing read changes.
func (r *Rollups) Compact(ctx context.Context, progress func(table string)) error {
	optimize := func(conn Execer, suffix string) error {
		for _, t := range r.tables {
			if progress != nil {
				progress(t)
			}
			if err := conn.Exec(ctx, "OPTIMIZE TABLE "+t+suffix+" FINAL"); err != nil {
				return fmt.Errorf("compact %s: %w", t, translate(err))
			}
		}
		return nil
	}
	if r.Nodes != nil {
		return r.Nodes(ctx, func(conn Execer) error { return optimize(conn, localSuffix) })
	}
	return optimize(r.conn, "")
}

// Pending reports whether the rollups were never folded here: no mark in
// rollup_marks, so a deployment upgraded in place has its history still
// to back-fill.
func (r *Rollups) Pending(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.loadMark(ctx); err != nil {
		return false, err
	}
	return r.mark.IsZero(), nil
}

// BackfillPending back-fills the rollups if they were never folded (see
// Pending), in buckets of about DefaultRowsPerPass events, and reports
// whether it did.
func (r *Rollups) BackfillPending(ctx context.Context, progress func(done, of int)) (bool, error) {
	pending, err := r.Pending(ctx)
	if err != nil || !pending {
		return false, err
	}
	var total uint64
	if err := r.conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&total); err != nil {
		return false, fmt.Errorf("count events: %w", translate(err))
	}
	buckets := int((total + DefaultRowsPerPass - 1) / DefaultRowsPerPass)
	return true, r.Backfill(ctx, buckets, progress)
}
