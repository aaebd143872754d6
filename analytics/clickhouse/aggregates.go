package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// AggregateReader is the results.AggregateReader of a report. It is safe
// for concurrent use.
//
// It folds the events received since the last fold into the rollups (see
// Rollups), then reads the per-unit report rows of unit_state: the first
// time an experiment is read, all of them, and then, keeping the per-arm
// sums of the rows written before a mark (see stateSums), only the rows of
// the units that had news since. A report thus counts every event visible
// when it starts, and costs about the units with news, however many events
// are stored. A reader without Rollups reads the raw events instead, the
// query the rollup is checked against: its memory is bounded by reading in
// passes, since it keeps a row per event to deduplicate them; an experiment
// with more than RowsPerPass rows is read a hash bucket of units at a time
// (a unit's events, copies included, all fall in one pass, so the passes
// add up).
type AggregateReader struct {
	conn driver.Conn
	// Rollups, when set, is where reports are read from (NewAggregateReader
	// sets it).
	Rollups *Rollups
	// RowsPerPass bounds the rows one pass deduplicates (default
	// DefaultRowsPerPass, about 1.5 GB of server memory).
	RowsPerPass int

	sumsMu sync.Mutex
	// sums holds, per experiment read, the per-arm sums of its unit states
	// as of a mark (see stateSums): a few hundred bytes per arm and day.
	sums map[string]*stateSums
}

// DefaultRowsPerPass keeps one pass of the aggregate query under ClickHouse's
// default per-query memory limit: measured on 18.16, 11M rows in one pass
// need more than 3.7 GB.
const DefaultRowsPerPass = 2_000_000

var _ results.AggregateReader = (*AggregateReader)(nil)

// NewAggregateReader returns a reader of conn's database, which must be
// migrated.
func NewAggregateReader(conn driver.Conn) *AggregateReader {
	return &AggregateReader{conn: conn, Rollups: NewRollups(conn)}
}

// aggregateKinds are the outcome kinds counted per unit, in the order of
// aggregateRow's fields. The column prefix is the kind itself.
var aggregateKinds = []analytics.Kind{analytics.KindOpen, analytics.KindClick, analytics.KindConversion,
	analytics.KindUnsubscribe, analytics.KindComplaint}

// aggregatesQuery reads everything a report needs in one round trip, in
// three nested levels (ClickHouse 18.16 has no CTE over subqueries and no
// window functions):
//
//  1. dedup: one row per event_id, the copy received first (README, "Event
//     identity"); copies of an event normally carry the same values. The table's ReplacingMergeTree folds
//     copies only when it merges, so the query cannot count on it. Only
//     numbers leave this level (the kind as its index in aggregateKinds plus
//     one, the arm as a 64-bit hash of segment and variant), because this is
//     the level with a row per event and its memory is what limits scale.
//  2. per unit: the arm and version of its first exposure and its day
//     (argMin over o, the time and then the low 32 bits of cityHash64 of the
//     event id: a tuple (time, event_id) would be exact too, but argMin over
//     a tuple is 8 times slower on 18.16, and ties in the same second only
//     need to be broken the same way every time), whether it
//     was exposed in more than one arm, and per kind its human and machine
//     event counts and the day of its first human event. HAVING drops units
//     never exposed.
//  3. per (arm, first version, first day): sums over units, and sumMap of
//     the days on which units first reached each count, so that one result
//     gives the totals, the per-version exposures and the daily series. The
//     arm's names come back by a join on the hash with the experiment's
//     distinct exposed arms.
//
// A day is whole UTC days since 1970, computed from the DateTime's seconds,
// so the server's time zone never enters.
var aggregatesQuery = buildAggregatesQuery(rawUnits(), rawArms)

// rawUnits is levels 1 and 2 of aggregatesQuery over the raw events: one
// row per exposed unit of the experiment (the first parameter) in the hash
// bucket of the pass (the next two), with the columns perArm sums: u, arm,
// fver, fday, multi, uvalue, uvalue_days, uvalue_values and per kind h_, m_
// and d_.
func rawUnits() string {
	var unit, kinds strings.Builder
	for i, k := range aggregateKinds {
		kinds.WriteString(",'" + string(k) + "'")
		fmt.Fprintf(&unit, ",\n\t\tcountIf(k = %[2]d AND m = 0) AS h_%[1]s, countIf(k = %[2]d AND m != 0) AS m_%[1]s,"+
			" %[3]s AS d_%[1]s", k, i+1, dayOf(fmt.Sprintf("minIf(t, k = %d AND m = 0)", i+1)))
	}
	conv := fmt.Sprintf("k = %d AND m = 0", 1+indexOfKind(analytics.KindConversion))
	return `
	SELECT u, materialize(toUInt8(0)) AS tag,
		argMinIf(a, o, k = 0) AS arm,
		argMinIf(ver, o, k = 0) AS fver,
		` + dayOf("minIf(t, k = 0)") + ` AS fday,
		minIf(a, k = 0) != maxIf(a, k = 0) AS multi,
		countIf(k = 0) AS exposures,
		sumIf(val, ` + conv + `) AS uvalue,
		groupArrayIf(` + dayOf("t") + `, ` + conv + `) AS uvalue_days,
		groupArrayIf(val, ` + conv + `) AS uvalue_values` + unit.String() + `
	FROM (
		SELECT event_id, argMin(unit, received_at) AS u,
			argMin(indexOf(['exposure'` + kinds.String() + `], kind) - 1, received_at) AS k,
			argMin(if(kind = 'exposure', cityHash64(segment, variant), 0), received_at) AS a,
			argMin(version, received_at) AS ver, argMin(time, received_at) AS t,
			argMin(toUInt64(time) * 4294967296 + cityHash64(event_id) % 4294967296, received_at) AS o,
			argMin(machine, received_at) AS m, argMin(value, received_at) AS val
		FROM events
		WHERE experiment = ? AND cityHash64(unit) % ? = ?
		GROUP BY event_id
	)
	GROUP BY u
	HAVING exposures > 0`
}

// rawArms names the arms of the experiment (the parameter) by the hash
// that rawUnits gives them, from its exposures.
const rawArms = `SELECT cityHash64(segment, variant) AS arm, any(segment) AS seg, any(variant) AS var
	FROM events
	WHERE experiment = ? AND kind = 'exposure'
	GROUP BY arm`

// dayOf is the UTC day number of DateTime t, from its seconds, so that the
// server's time zone never enters.
func dayOf(t string) string { return "toUInt32(intDiv(toUInt32(" + t + "), 86400))" }

// buildAggregatesQuery is level 3 of aggregatesQuery (see there) over the
// per-unit rows of units, its arms named by the rows of arms (arm, seg,
// var). The sums are kept apart per tag, a column of units (0 for the raw
// events; see stateUnits).
func buildAggregatesQuery(units, arms string) string {
	var arm strings.Builder
	for _, k := range aggregateKinds {
		fmt.Fprintf(&arm, ",\n\tsum(h_%[1]s > 0) AS %[1]s_units, sum(h_%[1]s) AS %[1]s_events,"+
			" sum(h_%[1]s = 0 AND m_%[1]s > 0) AS %[1]s_machine_units, sum(m_%[1]s) AS %[1]s_machine_events,"+
			"\n\tsumMap([greatest(d_%[1]s, fday)], [toUInt64(h_%[1]s > 0)]) AS %[1]s_map", k)
	}
	return `SELECT tag, seg, var, fver, fday, exposed, multi_arm, open_clickers, value, value_sum_sq` +
		mapColumns("open_clicker") + mapColumns("value") + kindColumns() + `
FROM (
SELECT tag, arm, fver, fday,
	count() AS exposed, sum(multi) AS multi_arm,
	sum(h_open > 0 AND h_click > 0) AS open_clickers,
	sumMap([greatest(greatest(d_open, d_click), fday)], [toUInt64(h_open > 0 AND h_click > 0)]) AS open_clicker_map,
	sum(uvalue) AS value, sum(uvalue * uvalue) AS value_sum_sq,
	sumMap(arrayMap(d -> greatest(d, fday), uvalue_days), uvalue_values) AS value_map` + arm.String() + `
FROM (` + units + `
)
GROUP BY tag, arm, fver, fday
) ANY LEFT JOIN (
	` + arms + `
) USING arm
ORDER BY tag, seg, var, fver, fday`
}

func indexOfKind(k analytics.Kind) int {
	for i, x := range aggregateKinds {
		if x == k {
			return i
		}
	}
	panic("no kind " + k)
}

// mapColumns splits a sumMap's tuple into its key and value arrays.
func mapColumns(name string) string {
	return fmt.Sprintf(",\n\ttupleElement(%[1]s_map, 1) AS %[1]s_days, tupleElement(%[1]s_map, 2) AS %[1]s_counts", name)
}

func kindColumns() string {
	var b strings.Builder
	for _, k := range aggregateKinds {
		fmt.Fprintf(&b, ",\n\t%[1]s_units, %[1]s_events, %[1]s_machine_units, %[1]s_machine_events", k)
		b.WriteString(mapColumns(string(k)))
	}
	return b.String()
}

// aggregateRow is one row of aggregatesQuery: the units of one arm whose
// first exposure had one version and one day.
type aggregateRow struct {
	Tag         uint8
	Segment     string
	Variant     string
	Version     uint32
	Day         uint32
	Exposed     uint64
	MultiArm    uint64
	OpenClicker uint64
	Value       float64
	ValueSumSq  float64
	OCDays      []uint32
	OCCounts    []uint64
	ValueDays   []uint32
	ValueCounts []float64

	OpenUnits, OpenEvents, OpenMachineUnits, OpenMachineEvents uint64
	OpenDays                                                   []uint32
	OpenCounts                                                 []uint64

	ClickUnits, ClickEvents, ClickMachineUnits, ClickMachineEvents uint64
	ClickDays                                                      []uint32
	ClickCounts                                                    []uint64

	ConvUnits, ConvEvents, ConvMachineUnits, ConvMachineEvents uint64
	ConvDays                                                   []uint32
	ConvCounts                                                 []uint64

	UnsubUnits, UnsubEvents, UnsubMachineUnits, UnsubMachineEvents uint64
	UnsubDays                                                      []uint32
	UnsubCounts                                                    []uint64

	ComplUnits, ComplEvents, ComplMachineUnits, ComplMachineEvents uint64
	ComplDays                                                      []uint32
	ComplCounts                                                    []uint64
}

// dest lists the scan destinations of r in the query's column order.
func (r *aggregateRow) dest() []any {
	return []any{&r.Tag, &r.Segment, &r.Variant, &r.Version, &r.Day, &r.Exposed, &r.MultiArm, &r.OpenClicker,
		&r.Value, &r.ValueSumSq, &r.OCDays, &r.OCCounts, &r.ValueDays, &r.ValueCounts,
		&r.OpenUnits, &r.OpenEvents, &r.OpenMachineUnits, &r.OpenMachineEvents, &r.OpenDays, &r.OpenCounts,
		&r.ClickUnits, &r.ClickEvents, &r.ClickMachineUnits, &r.ClickMachineEvents, &r.ClickDays, &r.ClickCounts,
		&r.ConvUnits, &r.ConvEvents, &r.ConvMachineUnits, &r.ConvMachineEvents, &r.ConvDays, &r.ConvCounts,
		&r.UnsubUnits, &r.UnsubEvents, &r.UnsubMachineUnits, &r.UnsubMachineEvents, &r.UnsubDays, &r.UnsubCounts,
		&r.ComplUnits, &r.ComplEvents, &r.ComplMachineUnits, &r.ComplMachineEvents, &r.ComplDays, &r.ComplCounts,
	}
}

// Aggregates implements results.AggregateReader: a fold and the per-arm
// sums of the unit states (see fromStates), or, without Rollups, the raw
// events' (see AggregateReader).
func (r *AggregateReader) Aggregates(ctx context.Context, experimentKey string) (results.Aggregates, error) {
	if r.Rollups == nil {
		return r.rawAggregates(ctx, experimentKey)
	}
	if err := r.Rollups.Fold(ctx); err != nil {
		return results.Aggregates{Experiment: experimentKey}, fmt.Errorf("aggregates of %s: %w", experimentKey, err)
	}
	a, err := r.fromStates(ctx, experimentKey)
	if err != nil {
		return results.Aggregates{Experiment: experimentKey}, fmt.Errorf("aggregates of %s: %w", experimentKey, err)
	}
	return a, nil
}

// rawAggregates reads the aggregates from the raw events: a count, then one
// query per pass (see RowsPerPass).
func (r *AggregateReader) rawAggregates(ctx context.Context, experimentKey string) (results.Aggregates, error) {
	out := results.Aggregates{Experiment: experimentKey}
	var total uint64
	if err := r.conn.QueryRow(ctx, "SELECT count() FROM events WHERE experiment = ?", experimentKey).Scan(&total); err != nil {
		return out, fmt.Errorf("aggregates of %s: %w", experimentKey, translate(err))
	}
	perPass := uint64(r.RowsPerPass)
	if perPass == 0 {
		perPass = DefaultRowsPerPass
	}
	passes := (total + perPass - 1) / perPass
	var acc aggregateAcc
	for pass := uint64(0); pass < passes; pass++ {
		if err := r.read(ctx, func(uint8) *aggregateAcc { return &acc }, aggregatesQuery, experimentKey, passes, pass, experimentKey); err != nil {
			return out, fmt.Errorf("aggregates of %s: %w", experimentKey, err)
		}
	}
	return acc.aggregates(experimentKey), nil
}

// aggregates is what acc summed, sorted.
func (acc *aggregateAcc) aggregates(experimentKey string) results.Aggregates {
	out := results.Aggregates{Experiment: experimentKey}
	// Sums taken off again (a unit's old row, in the kept state sums) leave
	// zero entries, which the raw query never has.
	for a, c := range acc.arms {
		if *c == (results.Counts{}) {
			continue
		}
		out.Arms = append(out.Arms, results.ArmAggregate{Segment: a.seg, Variant: a.v, Counts: *c})
		for v, n := range acc.versions[a] {
			if n != 0 {
				out.Versions = append(out.Versions, results.VersionExposure{Segment: a.seg, Variant: a.v, Version: v, Exposed: n})
			}
		}
	}
	for _, d := range acc.daily {
		if *d != (results.DailyAggregate{Segment: d.Segment, Variant: d.Variant, Day: d.Day}) {
			out.Daily = append(out.Daily, *d)
		}
	}
	out.Sort()
	return out
}

// merge adds o's sums to acc's, times sign (1 or -1).
func (acc *aggregateAcc) merge(o *aggregateAcc, sign int64) {
	acc.init()
	for a, c := range o.arms {
		acc.arm(a).Add(scaleCounts(*c, sign))
		for v, n := range o.versions[a] {
			acc.versions[a][v] += sign * n
		}
	}
	for k, d := range o.daily {
		x := acc.day(k.arm, k.day)
		x.Exposed += sign * d.Exposed
		x.Openers += sign * d.Openers
		x.Clickers += sign * d.Clickers
		x.OpenClickers += sign * d.OpenClickers
		x.Converters += sign * d.Converters
		x.Unsubscribers += sign * d.Unsubscribers
		x.Complainers += sign * d.Complainers
		x.Value += float64(sign) * d.Value
	}
}

// clone is a copy of acc that shares nothing with it.
func (acc *aggregateAcc) clone() *aggregateAcc {
	var c aggregateAcc
	c.merge(acc, 1)
	return &c
}

// scaleCounts is c times s.
func scaleCounts(c results.Counts, s int64) results.Counts {
	k := func(x results.KindCounts) results.KindCounts {
		return results.KindCounts{Units: s * x.Units, Events: s * x.Events, MachineUnits: s * x.MachineUnits, MachineEvents: s * x.MachineEvents}
	}
	return results.Counts{Exposed: s * c.Exposed, MultiArm: s * c.MultiArm,
		Opens: k(c.Opens), Clicks: k(c.Clicks), Conversions: k(c.Conversions), Unsubscribes: k(c.Unsubscribes), Complaints: k(c.Complaints),
		OpenClickers: s * c.OpenClickers, Value: float64(s) * c.Value, ValueSumSq: float64(s) * c.ValueSumSq}
}

// read adds each row of query (aggregatesQuery or a stateQuery) to the
// sums its tag picks.
func (r *AggregateReader) read(ctx context.Context, acc func(tag uint8) *aggregateAcc, query string, args ...any) error {
	rows, err := r.conn.Query(ctx, query, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var row aggregateRow
		if err := rows.Scan(row.dest()...); err != nil {
			return fmt.Errorf("scan: %w", translate(err))
		}
		acc(row.Tag).add(&row)
	}
	return translate(rows.Err())
}

type armKey struct{ seg, v string }

type dayKey struct {
	arm armKey
	day uint32
}

// aggregateAcc sums the rows of every pass.
type aggregateAcc struct {
	arms     map[armKey]*results.Counts
	versions map[armKey]map[uint32]int64
	daily    map[dayKey]*results.DailyAggregate
}

func (acc *aggregateAcc) day(a armKey, d uint32) *results.DailyAggregate {
	k := dayKey{a, d}
	if acc.daily[k] == nil {
		acc.daily[k] = &results.DailyAggregate{Segment: a.seg, Variant: a.v, Day: time.Unix(int64(d)*86400, 0).UTC()}
	}
	return acc.daily[k]
}

func (acc *aggregateAcc) init() {
	if acc.arms == nil {
		acc.arms = map[armKey]*results.Counts{}
		acc.versions = map[armKey]map[uint32]int64{}
		acc.daily = map[dayKey]*results.DailyAggregate{}
	}
}

// arm is a's totals, created empty if need be.
func (acc *aggregateAcc) arm(a armKey) *results.Counts {
	c := acc.arms[a]
	if c == nil {
		c = &results.Counts{}
		acc.arms[a] = c
		acc.versions[a] = map[uint32]int64{}
	}
	return c
}

func (acc *aggregateAcc) add(row *aggregateRow) {
	acc.init()
	a := armKey{row.Segment, row.Variant}
	acc.arm(a).Add(row.counts())
	acc.versions[a][row.Version] += int64(row.Exposed)
	acc.day(a, row.Day).Exposed += int64(row.Exposed)
	days := func(days []uint32, counts []uint64, field func(*results.DailyAggregate) *int64) {
		for i, d := range days {
			*field(acc.day(a, d)) += int64(counts[i])
		}
	}
	days(row.OpenDays, row.OpenCounts, func(d *results.DailyAggregate) *int64 { return &d.Openers })
	days(row.ClickDays, row.ClickCounts, func(d *results.DailyAggregate) *int64 { return &d.Clickers })
	days(row.OCDays, row.OCCounts, func(d *results.DailyAggregate) *int64 { return &d.OpenClickers })
	days(row.ConvDays, row.ConvCounts, func(d *results.DailyAggregate) *int64 { return &d.Converters })
	days(row.UnsubDays, row.UnsubCounts, func(d *results.DailyAggregate) *int64 { return &d.Unsubscribers })
	days(row.ComplDays, row.ComplCounts, func(d *results.DailyAggregate) *int64 { return &d.Complainers })
	for i, d := range row.ValueDays {
		acc.day(a, d).Value += row.ValueCounts[i]
	}
}

func (r *aggregateRow) counts() results.Counts {
	kc := func(units, events, mUnits, mEvents uint64) results.KindCounts {
		return results.KindCounts{Units: int64(units), Events: int64(events),
			MachineUnits: int64(mUnits), MachineEvents: int64(mEvents)}
	}
	return results.Counts{
		Exposed:      int64(r.Exposed),
		MultiArm:     int64(r.MultiArm),
		Opens:        kc(r.OpenUnits, r.OpenEvents, r.OpenMachineUnits, r.OpenMachineEvents),
		Clicks:       kc(r.ClickUnits, r.ClickEvents, r.ClickMachineUnits, r.ClickMachineEvents),
		Conversions:  kc(r.ConvUnits, r.ConvEvents, r.ConvMachineUnits, r.ConvMachineEvents),
		Unsubscribes: kc(r.UnsubUnits, r.UnsubEvents, r.UnsubMachineUnits, r.UnsubMachineEvents),
		Complaints:   kc(r.ComplUnits, r.ComplEvents, r.ComplMachineUnits, r.ComplMachineEvents),
		OpenClickers: int64(r.OpenClicker),
		Value:        r.Value,
		ValueSumSq:   r.ValueSumSq,
	}
}

// stateColumns are rawUnits' per-unit columns, in its order: what
// unit_state holds of a unit after its key and version.
func stateColumns() []string {
	return append([]string{"arm", "uvalue", "uvalue_days", "uvalue_values"}, packedColumns()...)
}

// packedColumns are the columns unit_state packs into its array p
// (migration 0014), in p's order.
func packedColumns() []string {
	cols := []string{"fver", "fday", "multi"}
	for _, k := range aggregateKinds {
		cols = append(cols, "h_"+string(k), "m_"+string(k), "d_"+string(k))
	}
	return cols
}

// packedType is the type rawUnits gives one of packedColumns, which
// unpacking it restores.
func packedType(col string) string {
	switch {
	case col == "multi":
		return "UInt8"
	case strings.HasPrefix(col, "h_"), strings.HasPrefix(col, "m_"):
		return "UInt64"
	default: // fver, fday and the days
		return "UInt32"
	}
}

// statePack is the expression of p from rawUnits' columns.
func statePack() string {
	var elems []string
	for _, c := range packedColumns() {
		elems = append(elems, "toUInt32("+c+")")
	}
	return "[" + strings.Join(elems, ", ") + "] AS p"
}

// stateUnpack reads stateColumns back from a unit_state row.
func stateUnpack() string {
	cols := []string{"arm", "uvalue", "uvalue_days", "uvalue_values"}
	for i, c := range packedColumns() {
		cols = append(cols, fmt.Sprintf("to%s(p[%d]) AS %s", packedType(c), i+1, c))
	}
	return strings.Join(cols, ", ")
}

// rollupStates computes unit_state's rows from the unit_rollup rows
// matching where (with its parameters): per (experiment,
// unit), rawUnits' columns from the unit's merged states, what the unit
// did on each channel and before its first exposure (migration 0015), and n, the number of
// distinct elements in all the states they come from (see the
// migrations). Counts come from the unit's set of outcome events, sorted
// by event id and then by when each copy was received and kept first per
// id: a copy of an event, or an event folded twice, counts once, and of
// copies with different content the one received first counts (README,
// "Event identity"). The pre-exposure columns come the same way from the
// unit's outcome events of every experiment, so where must match all of a
// unit's rows or none (the fold's touched units, a back-fill's bucket).
// Units never exposed have no row.
func rollupStates(where string) string {
	var unit strings.Builder
	for i, k := range aggregateKinds {
		human := fmt.Sprintf("x -> tupleElement(x, 3) = %d AND tupleElement(x, 4) = 0", i+1)
		fmt.Fprintf(&unit, ",\n\t\tarrayCount(%[2]s, oc) AS h_%[1]s,"+
			" arrayCount(x -> tupleElement(x, 3) = %[3]d AND tupleElement(x, 4) != 0, oc) AS m_%[1]s,"+
			" toUInt32(intDiv(arrayReduce('min', arrayMap(x -> tupleElement(x, 5), arrayFilter(%[2]s, oc))), 86400)) AS d_%[1]s",
			k, human, i+1)
	}
	conv := fmt.Sprintf("arrayFilter(x -> tupleElement(x, 3) = %d AND tupleElement(x, 4) = 0, oc)", 1+indexOfKind(analytics.KindConversion))
	// The unit's human outcome events of every experiment in the 90 days
	// before its first exposure (fs, in seconds).
	before := fmt.Sprintf("arrayFilter(x -> tupleElement(x, 4) = 0 AND tupleElement(x, 5) < fs AND tupleElement(x, 5) >= fs - %d, allc)",
		experiment.MaxCupedDays*86400)
	var pre []string
	for i := range aggregateKinds {
		last := fmt.Sprintf("arrayReduce('max', arrayMap(x -> tupleElement(x, 5), arrayFilter(x -> tupleElement(x, 3) = %d, pre_events)))", i+1)
		pre = append(pre, fmt.Sprintf("toUInt32(if(%[1]s = 0, 0, fs - %[1]s))", last))
	}
	preConv := fmt.Sprintf("arrayFilter(x -> tupleElement(x, 3) = %d, pre_events)", 1+indexOfKind(analytics.KindConversion))
	// A unit's channels in the order of its first exposure on each (cs is
	// sorted by order key, then arm, channel and id, so that copies with
	// one order key in two arms come out the same every fold, and rows of
	// equal n stay equal), and what it did on each (the flags of migration
	// 0015).
	var flags []string
	for _, f := range []struct {
		kind  analytics.Kind
		human bool
		bit   int
	}{{analytics.KindOpen, true, 1}, {analytics.KindClick, true, 2}, {analytics.KindUnsubscribe, false, 4}, {analytics.KindComplaint, false, 8}} {
		cond := fmt.Sprintf("tupleElement(x, 3) = %d AND tupleElement(x, 7) = c", 1+indexOfKind(f.kind))
		if f.human {
			cond += " AND tupleElement(x, 4) = 0"
		}
		flags = append(flags, fmt.Sprintf("%d * arrayExists(x -> %s, oc)", f.bit, cond))
	}
	firstPerID := func(sorted string) string {
		return "arrayFilter((x, i) -> i = 1 OR tupleElement(x, 1) != tupleElement(" + sorted + "[i - 1], 1), " + sorted + ", arrayEnumerate(" + sorted + "))"
	}
	return `
	SELECT experiment, u, n0 + length(all_sorted) AS n, arm, fver, toUInt32(intDiv(intDiv(fo, 4294967296), 86400)) AS fday, toUInt8(amin != amax) AS multi,
		arraySum(arrayMap(x -> tupleElement(x, 6), ` + conv + `)) AS uvalue,
		arrayMap(x -> toUInt32(intDiv(tupleElement(x, 5), 86400)), ` + conv + `) AS uvalue_days,
		arrayMap(x -> tupleElement(x, 6), ` + conv + `) AS uvalue_values` + unit.String() + `,
		arrayFilter((x, i) -> indexOf(arrayMap(y -> tupleElement(y, 1), cs), tupleElement(x, 1)) = i, cs, arrayEnumerate(cs)) AS ch_first,
		arrayMap(x -> tupleElement(x, 1), ch_first) AS ch_names, arrayMap(x -> tupleElement(x, 3), ch_first) AS ch_arms,
		arrayMap(c -> toUInt8(` + strings.Join(flags, " + ") + `), ch_names) AS ch_flags,
		arrayDistinct(arrayMap(x -> tupleElement(x, 3), cs)) AS ex_arms,
		arrayMap(a -> toUInt32(length(arrayDistinct(arrayMap(x -> tupleElement(x, 4), arrayFilter(x -> tupleElement(x, 3) = a, cs))))), ex_arms) AS ex_counts,
		intDiv(fo, 4294967296) AS fs, ` + before + ` AS pre_events,
		[` + strings.Join(pre, ", ") + `] AS pre,
		arrayMap(x -> toUInt32(fs - tupleElement(x, 5)), ` + preConv + `) AS pre_gaps,
		arrayMap(x -> tupleElement(x, 6), ` + preConv + `) AS pre_values
	FROM (
		SELECT tupleElement(r, 1) AS experiment, u, tupleElement(r, 2) AS fo, tupleElement(r, 3) AS arm, tupleElement(r, 4) AS fver,
			tupleElement(r, 5) AS amin, tupleElement(r, 6) AS amax, tupleElement(r, 7) AS n0, tupleElement(r, 8) AS cs,
			tupleElement(r, 9) AS sorted, ` + firstPerID("sorted") + ` AS oc, all_sorted, ` + firstPerID("all_sorted") + ` AS allc
		FROM (
			-- Each unit's rows of every experiment, and its outcomes of all of them.
			SELECT u, groupArray(tuple(experiment, fo, arm, fver, amin, amax, n0, cs, sorted)) AS rows,
				arraySort(groupUniqArrayArray(sorted)) AS all_sorted
			FROM (
				SELECT experiment, uh AS u, minMerge(first) AS fo, argMinMerge(arm) AS arm, argMinMerge(ver) AS fver,
					minMerge(arm_min) AS amin, maxMerge(arm_max) AS amax, arraySort(groupUniqArrayMerge(outcomes)) AS sorted,
					arraySort(x -> (tupleElement(x, 2), tupleElement(x, 3), tupleElement(x, 1), tupleElement(x, 4)), groupUniqArrayMerge(chans)) AS cs,
					length(sorted) + uniqExactMerge(xn) + length(cs) AS n0
				FROM unit_rollup
				WHERE ` + where + `
				GROUP BY experiment, uh
			)
			GROUP BY u
		)
		ARRAY JOIN rows AS r
		WHERE fo != 18446744073709551615
	)`
}

// rollupArms names the arms of the experiment (the parameter) from the
// arm names the folds keep.
const rollupArms = `SELECT arm, any(segment) AS seg, any(variant) AS var
	FROM rollup_arms
	WHERE experiment = ?
	GROUP BY arm`

// maxGroupByBytes is where the rollup read's GROUP BY starts spilling to
// disk: measured on 18.16 at 2M events, results are the same either way,
// and a forced spill costs about 1.4x the time.
const maxGroupByBytes = 1 << 30
