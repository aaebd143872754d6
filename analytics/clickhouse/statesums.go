package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/splitcast/splitcast/analytics/results"
)

// A report's sums come from unit_state (migrations 0006 and 0014), which holds a row
// per exposed unit and fold that had news for it, computed at fold time.
// Summing each unit's latest row per arm on every read would cost a row per
// unit, several times the flat aggregate of the raw events. So the reader keeps, per experiment, the
// per-arm sums of the rows written before a mark, and a read sums only the
// rows of the units with a row written since: the new row of such a unit
// replaces its old one in the kept sums (its old row's sums are taken off,
// its new row's added). A read then costs about the units with news since
// the last read; a reader new to an experiment starts from the sums last
// saved in report_sums, or reads it whole once.
//
// A unit's row as of a mark is its row of largest n among those written
// before the mark. Each mark is before the start of any insert into
// unit_state still running (nextMarkOf), so no row written before it
// becomes visible later and the sums kept for a mark never go stale.

// The tags of stateUnits' rows: which rows of a unit it took. Old is the
// unit as of the kept sums' mark, mid as of the new mark, now as of now
// (every row visible).
const (
	tagOld uint8 = 1 + iota
	tagMid
	tagNow
	stateTagCount
)

// wholeUnits' tags.
const (
	tagAll uint8 = 1 + iota
	tagSeveral
	tagLatest
)

// stateUnits is rawUnits read from unit_state, once per tag (touchedRows).
func stateUnits() string { return touchedRows(stateUnpack(), stateColumns()) }

// wholeUnits is rawUnits read from unit_state as of a mark (wholeRows).
func wholeUnits() string { return wholeRows(stateUnpack(), stateColumns()) }

// touchedRows reads, for each unit of the experiment with rows written
// since the kept sums' mark, its row as of each tag (see stateTags): u,
// tag and names, from cols, expressions over unit_state's columns that
// name them. Parameters: the kept mark, the new mark, the experiment, the
// experiment and the kept mark again. {tail} is the filter of
// unit_state's parts written since the kept mark (see tail).
func touchedRows(cols string, names []string) string {
	return fmt.Sprintf(`
	SELECT u, tag, %s
	FROM (
		SELECT u, tag, %s
		FROM (
			SELECT uh AS u, n, %s,
				arrayJoin(multiIf(at < toDateTime(?), [%d, %d, %d], at < toDateTime(?), [%d, %d], [%d])) AS tag
			FROM unit_state
			WHERE experiment = ? AND uh IN (SELECT uh FROM unit_state WHERE {tail} AND experiment = ? AND at >= toDateTime(?))
		)
		GROUP BY u, tag
	)`, latestOuter(names), latestOf(names), cols,
		tagOld, tagMid, tagNow, tagMid, tagNow, tagNow)
}

// wholeRows reads unit_state's rows of the experiment as of a mark, as
// touchedRows' columns, in three tags (materialized: a constant column
// from several shards is refused): tagAll, every row written before the
// mark; and for the units with several such rows, tagSeveral, those rows
// again, and tagLatest, each unit's row of largest n. All - several +
// latest is then each unit's row as of the mark. Most units have one row
// (the rows of equal n merge, and most units get all their events in a
// fold or two), and summing rows costs several times less than choosing
// one per unit, so only the units with several rows are grouped, found by
// the table's index. Parameters: five times the experiment and the mark.
func wholeRows(cols string, names []string) string {
	several := "uh IN (SELECT uh FROM unit_state WHERE experiment = ? AND at < toDateTime(?) GROUP BY uh HAVING count() > 1)"
	return fmt.Sprintf(`
	SELECT uh AS u, materialize(toUInt8(%[1]d)) AS tag, %[4]s
	FROM unit_state
	WHERE experiment = ? AND at < toDateTime(?)
	UNION ALL
	SELECT uh AS u, materialize(toUInt8(%[2]d)) AS tag, %[4]s
	FROM unit_state
	WHERE experiment = ? AND at < toDateTime(?) AND %[5]s
	UNION ALL
	SELECT u, materialize(toUInt8(%[3]d)) AS tag, %[6]s
	FROM (
		SELECT u, %[7]s
		FROM (
			SELECT uh AS u, n, %[4]s
			FROM unit_state
			WHERE experiment = ? AND at < toDateTime(?) AND %[5]s
		)
		GROUP BY u
	)`, tagAll, tagSeveral, tagLatest, cols, several, latestOuter(names), latestOf(names))
}

// latestOf picks each of names of the row of largest n, as s_ columns.
func latestOf(names []string) string {
	var cols []string
	for _, c := range names {
		cols = append(cols, fmt.Sprintf("argMax(%[1]s, n) AS s_%[1]s", c))
	}
	return strings.Join(cols, ", ")
}

// latestOuter names latestOf's columns back.
func latestOuter(names []string) string {
	var cols []string
	for _, c := range names {
		cols = append(cols, fmt.Sprintf("s_%[1]s AS %[1]s", c))
	}
	return strings.Join(cols, ", ")
}

// The query of a reader new to an experiment, and of one keeping its
// sums. Their last parameter is the experiment, for the arms' names.
var (
	wholeStatesQuery   = buildAggregatesQuery(wholeUnits(), rollupArms) + localIn
	touchedStatesQuery = buildAggregatesQuery(stateUnits(), rollupArms) + localIn
)

// localIn ends a query whose IN subqueries read Distributed tables: each
// shard reads its own table for them. A unit's rows of events, unit_rollup
// and unit_state all live on the shard of cityHash64(unit), so the shard's
// own rows are the whole set for its units, and a set made on one node may
// use the table's index (ClickHouse 18.16 uses none for a GLOBAL IN's set).
// On one server it changes nothing. It is in the query's text because the
// driver sends no string setting to a server as old as 18.16.
const localIn = "\nSETTINGS distributed_product_mode = 'local'"

// stateSums are the per-arm sums of one experiment's unit_state rows
// written before mark.
type stateSums struct {
	mark time.Time
	acc  aggregateAcc
	// saved is the mark of the sums last written to report_sums by this
	// reader.
	saved time.Time
}

// saveEvery is how often a reader writes its sums to report_sums: a
// reader new to the experiment then has at most that much news to read
// on top of them.
const saveEvery = time.Minute

// savedSums returns the latest sums any reader saved for the experiment,
// nil if none.
func (r *AggregateReader) savedSums(ctx context.Context, experimentKey string) (*stateSums, error) {
	var sums string
	var mark time.Time
	var n uint64
	q := "SELECT argMax(sums, mark), max(mark), count() FROM report_sums WHERE experiment = ? AND kind = ''"
	if err := r.conn.QueryRow(ctx, q, experimentKey).Scan(&sums, &mark, &n); err != nil {
		return nil, fmt.Errorf("read saved report sums: %w", translate(err))
	}
	if n == 0 {
		return nil, nil
	}
	var a results.Aggregates
	if err := json.Unmarshal([]byte(sums), &a); err != nil {
		return nil, fmt.Errorf("read saved report sums: %w", err)
	}
	kept := &stateSums{mark: mark, saved: mark}
	kept.acc.init()
	for _, arm := range a.Arms {
		*kept.acc.arm(armKey{arm.Segment, arm.Variant}) = arm.Counts
	}
	for _, v := range a.Versions {
		kept.acc.arm(armKey{v.Segment, v.Variant})
		kept.acc.versions[armKey{v.Segment, v.Variant}][v.Version] = v.Exposed
	}
	for _, d := range a.Daily {
		*kept.acc.day(armKey{d.Segment, d.Variant}, uint32(d.Day.Unix()/86400)) = d
	}
	return kept, nil
}

// saveSums writes kept to report_sums if the last save is older than
// saveEvery.
func (r *AggregateReader) saveSums(ctx context.Context, experimentKey string, kept *stateSums) error {
	if kept.mark.Sub(kept.saved) < saveEvery {
		return nil
	}
	b, err := json.Marshal(kept.acc.aggregates(experimentKey))
	if err != nil {
		return err
	}
	// Inlined in the query's text, as the sections' counts are (saveEntries).
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_query_size": len(b) + 1<<16}))
	q := "INSERT INTO report_sums (experiment, mark, sums) SELECT ?, toDateTime(?), ?"
	if err := r.conn.Exec(ctx, q, experimentKey, uint32(kept.mark.Unix()), string(b)); err != nil {
		return fmt.Errorf("save report sums: %w", translate(err))
	}
	kept.saved = kept.mark
	return nil
}

// fromStates reads experimentKey's aggregates from unit_state, keeping the
// sums as of a new mark for the next read (see stateSums).
func (r *AggregateReader) fromStates(ctx context.Context, experimentKey string) (results.Aggregates, error) {
	r.sumsMu.Lock()
	defer r.sumsMu.Unlock()
	next, err := nextMarkOf(ctx, r.conn, "unit_state", r.Rollups.Margin, r.Rollups.FixedMargin)
	if err != nil {
		return results.Aggregates{}, err
	}
	// Marks are whole seconds, like the rows' times, taken down.
	next = next.Truncate(time.Second)
	kept := r.sums[experimentKey]
	if kept == nil {
		if kept, err = r.savedSums(ctx, experimentKey); err != nil {
			return results.Aggregates{}, err
		}
	}
	if kept == nil {
		if kept, err = r.wholeSums(ctx, experimentKey, next); err != nil {
			return results.Aggregates{}, err
		}
	}
	// A mark earlier than the kept one (an insert started since) would
	// drop rows the kept sums already hold; the kept mark is safe still.
	if next.Before(kept.mark) {
		next = kept.mark
	}
	var tagged [stateTagCount]aggregateAcc
	old := uint32(kept.mark.Unix())
	args := []any{old, uint32(next.Unix()), experimentKey, experimentKey, old, experimentKey}
	err = readTail(ctx, r.conn, "unit_state", kept.mark, func(t tail) error {
		tagged = [stateTagCount]aggregateAcc{}
		if t.empty() {
			return nil
		}
		q := strings.Replace(touchedStatesQuery, "{tail}", t.filter(), 1)
		return r.read(ctx, func(t uint8) *aggregateAcc { return &tagged[t] }, q, args...)
	})
	if err != nil {
		return results.Aggregates{}, err
	}
	if r.sums == nil {
		r.sums = map[string]*stateSums{}
	}
	r.sums[experimentKey] = kept
	kept.acc.merge(&tagged[tagOld], -1)
	kept.acc.merge(&tagged[tagMid], 1)
	kept.mark = next
	if err := r.saveSums(ctx, experimentKey, kept); err != nil {
		return results.Aggregates{}, err
	}
	now := kept.acc.clone()
	now.merge(&tagged[tagMid], -1)
	now.merge(&tagged[tagNow], 1)
	return now.aggregates(experimentKey), nil
}

// wholeSums reads the per-arm sums of every unit of the experiment as of
// mark.
func (r *AggregateReader) wholeSums(ctx context.Context, experimentKey string, mark time.Time) (*stateSums, error) {
	// The units with several rows are grouped: past a GiB that goes to
	// disk rather than over ClickHouse's memory limit.
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_bytes_before_external_group_by": maxGroupByBytes}))
	m := uint32(mark.Unix())
	var tagged [stateTagCount]aggregateAcc
	args := []any{experimentKey, m, experimentKey, m, experimentKey, m, experimentKey, m, experimentKey, m, experimentKey}
	if err := r.read(ctx, func(t uint8) *aggregateAcc { return &tagged[t] }, wholeStatesQuery, args...); err != nil {
		return nil, err
	}
	sums := &stateSums{mark: mark}
	sums.acc.merge(&tagged[tagAll], 1)
	sums.acc.merge(&tagged[tagSeveral], -1)
	sums.acc.merge(&tagged[tagLatest], 1)
	return sums, nil
}

// PrimeSums sums whole, and saves to report_sums, the unit states of every
// experiment that has some and no saved sums yet, telling progress after
// each. A reader new to an experiment then starts from the saved sums
// rather than summing it whole on its first read. migrate runs it after a
// back-fill, which is when experiments with a long history meet readers
// that never saw them: otherwise the first retirement pass of a new
// process sums every running experiment whole (at 20 experiments of 500k
// events, scripts/bench-retire.sh, about 0.65 s each). Running it again
// saves nothing new.
func (r *AggregateReader) PrimeSums(ctx context.Context, progress func(experimentKey string, done, of int)) error {
	// Two lists rather than a NOT IN: on a cluster report_sums is sharded
	// by experiment and unit_state by unit, so neither shard's own rows
	// answer the other's.
	have, err := r.experimentsOf(ctx, "SELECT DISTINCT experiment FROM report_sums WHERE kind = ''")
	if err != nil {
		return fmt.Errorf("prime report sums: %w", err)
	}
	all, err := r.experimentsOf(ctx, "SELECT DISTINCT experiment FROM unit_state ORDER BY experiment")
	if err != nil {
		return fmt.Errorf("prime report sums: %w", err)
	}
	keys := slices.DeleteFunc(all, func(k string) bool { return slices.Contains(have, k) })
	for i, k := range keys {
		// fromStates sums a new experiment whole and saves at once (its
		// saved mark is zero); no fold: the caller has just folded.
		if _, err := r.fromStates(ctx, k); err != nil {
			return fmt.Errorf("prime report sums of %s: %w", k, err)
		}
		if progress != nil {
			progress(k, i+1, len(keys))
		}
	}
	return nil
}

// experimentsOf returns the one String column of q's rows.
func (r *AggregateReader) experimentsOf(ctx context.Context, q string) ([]string, error) {
	rows, err := r.conn.Query(ctx, q)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, translate(rows.Err())
}
