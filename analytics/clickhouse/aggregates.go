package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
)

// AggregateReader is the analytics.AggregateReader on the events table. It
// is safe for concurrent use.
type AggregateReader struct {
	conn driver.Conn
}

var _ analytics.AggregateReader = (*AggregateReader)(nil)

// NewAggregateReader returns a reader of conn's database, which must be
// migrated.
func NewAggregateReader(conn driver.Conn) *AggregateReader { return &AggregateReader{conn: conn} }

// aggregateKinds are the outcome kinds counted per unit, in the order of
// aggregateRow's fields. The column prefix is the kind itself.
var aggregateKinds = []analytics.Kind{analytics.KindOpen, analytics.KindClick, analytics.KindConversion,
	analytics.KindUnsubscribe, analytics.KindComplaint}

// aggregatesQuery reads everything a report needs in one round trip, in
// three nested levels (ClickHouse 18.16 has no CTE over subqueries and no
// window functions):
//
//  1. dedup: one row per event_id (copies carry the same values, so any()
//     picks them). The table's ReplacingMergeTree folds copies only when it
//     merges, so the query cannot count on it.
//  2. per unit: the arm, version and day of its first exposure (argMin over
//     (time, event_id), so ties go to the smaller id), the number of
//     distinct arms it was exposed in, and per kind its human and machine
//     event counts and the day of its first human event. HAVING drops units
//     never exposed.
//  3. per (arm, first version, first day): sums over units, and sumMap of
//     the days on which units first reached each count, so that one result
//     gives the totals, the per-version exposures and the daily series.
//
// A day is whole UTC days since 1970, computed from the DateTime's seconds,
// so the server's time zone never enters.
var aggregatesQuery = buildAggregatesQuery()

func buildAggregatesQuery() string {
	var unit, arm strings.Builder
	day := func(t string) string { return "toUInt32(intDiv(toUInt32(" + t + "), 86400))" }
	for _, k := range aggregateKinds {
		fmt.Fprintf(&unit, ",\n\t\tcountIf(k = '%[1]s' AND m = 0) AS h_%[1]s, countIf(k = '%[1]s' AND m != 0) AS m_%[1]s,"+
			" %[2]s AS d_%[1]s", k, day("minIf(t, k = '"+string(k)+"' AND m = 0)"))
		fmt.Fprintf(&arm, ",\n\tsum(h_%[1]s > 0) AS %[1]s_units, sum(h_%[1]s) AS %[1]s_events,"+
			" sum(h_%[1]s = 0 AND m_%[1]s > 0) AS %[1]s_machine_units, sum(m_%[1]s) AS %[1]s_machine_events,"+
			"\n\tsumMap([greatest(d_%[1]s, fday)], [toUInt64(h_%[1]s > 0)]) AS %[1]s_map", k)
	}
	return `SELECT seg, var, fver, fday, exposed, multi_arm, open_clickers, value, value_sum_sq` +
		mapColumns("open_clicker") + mapColumns("value") + kindColumns() + `
FROM (
SELECT seg, var, fver, fday,
	count() AS exposed, sum(arms > 1) AS multi_arm,
	sum(h_open > 0 AND h_click > 0) AS open_clickers,
	sumMap([greatest(greatest(d_open, d_click), fday)], [toUInt64(h_open > 0 AND h_click > 0)]) AS open_clicker_map,
	sum(uvalue) AS value, sum(uvalue * uvalue) AS value_sum_sq,
	sumMap(arrayMap(d -> greatest(d, fday), uvalue_days), uvalue_values) AS value_map` + arm.String() + `
FROM (
	SELECT u,
		argMinIf(s, (t, event_id), k = 'exposure') AS seg,
		argMinIf(v, (t, event_id), k = 'exposure') AS var,
		argMinIf(ver, (t, event_id), k = 'exposure') AS fver,
		` + day("minIf(t, k = 'exposure')") + ` AS fday,
		length(groupUniqArrayIf((s, v), k = 'exposure')) AS arms,
		countIf(k = 'exposure') AS exposures,
		sumIf(val, k = 'conversion' AND m = 0) AS uvalue,
		groupArrayIf(` + day("t") + `, k = 'conversion' AND m = 0) AS uvalue_days,
		groupArrayIf(val, k = 'conversion' AND m = 0) AS uvalue_values` + unit.String() + `
	FROM (
		SELECT event_id, any(kind) AS k, any(unit) AS u, any(segment) AS s, any(variant) AS v,
			any(version) AS ver, any(time) AS t, any(machine) AS m, any(value) AS val
		FROM events
		WHERE experiment = ?
		GROUP BY event_id
	)
	GROUP BY u
	HAVING exposures > 0
)
GROUP BY seg, var, fver, fday
)
ORDER BY seg, var, fver, fday`
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
	return []any{&r.Segment, &r.Variant, &r.Version, &r.Day, &r.Exposed, &r.MultiArm, &r.OpenClicker,
		&r.Value, &r.ValueSumSq, &r.OCDays, &r.OCCounts, &r.ValueDays, &r.ValueCounts,
		&r.OpenUnits, &r.OpenEvents, &r.OpenMachineUnits, &r.OpenMachineEvents, &r.OpenDays, &r.OpenCounts,
		&r.ClickUnits, &r.ClickEvents, &r.ClickMachineUnits, &r.ClickMachineEvents, &r.ClickDays, &r.ClickCounts,
		&r.ConvUnits, &r.ConvEvents, &r.ConvMachineUnits, &r.ConvMachineEvents, &r.ConvDays, &r.ConvCounts,
		&r.UnsubUnits, &r.UnsubEvents, &r.UnsubMachineUnits, &r.UnsubMachineEvents, &r.UnsubDays, &r.UnsubCounts,
		&r.ComplUnits, &r.ComplEvents, &r.ComplMachineUnits, &r.ComplMachineEvents, &r.ComplDays, &r.ComplCounts,
	}
}

// Aggregates implements analytics.AggregateReader in one query.
func (r *AggregateReader) Aggregates(ctx context.Context, experimentKey string) (analytics.Aggregates, error) {
	out := analytics.Aggregates{Experiment: experimentKey}
	rows, err := r.conn.Query(ctx, aggregatesQuery, experimentKey)
	if err != nil {
		return out, fmt.Errorf("aggregates of %s: %w", experimentKey, translate(err))
	}
	defer rows.Close()
	type armKey struct{ seg, v string }
	type dayKey struct {
		arm armKey
		day uint32
	}
	arms := map[armKey]*analytics.Counts{}
	versions := map[armKey]map[uint32]int64{}
	daily := map[dayKey]*analytics.DailyAggregate{}
	dayOf := func(a armKey, d uint32) *analytics.DailyAggregate {
		k := dayKey{a, d}
		if daily[k] == nil {
			daily[k] = &analytics.DailyAggregate{Segment: a.seg, Variant: a.v,
				Day: time.Unix(int64(d)*86400, 0).UTC()}
		}
		return daily[k]
	}
	addDays := func(a armKey, days []uint32, counts []uint64, field func(*analytics.DailyAggregate) *int64) {
		for i, d := range days {
			*field(dayOf(a, d)) += int64(counts[i])
		}
	}
	for rows.Next() {
		var row aggregateRow
		if err := rows.Scan(row.dest()...); err != nil {
			return out, fmt.Errorf("aggregates of %s: scan: %w", experimentKey, translate(err))
		}
		a := armKey{row.Segment, row.Variant}
		c := arms[a]
		if c == nil {
			c = &analytics.Counts{}
			arms[a] = c
			versions[a] = map[uint32]int64{}
		}
		c.Add(row.counts())
		versions[a][row.Version] += int64(row.Exposed)
		dayOf(a, row.Day).Exposed += int64(row.Exposed)
		addDays(a, row.OpenDays, row.OpenCounts, func(d *analytics.DailyAggregate) *int64 { return &d.Openers })
		addDays(a, row.ClickDays, row.ClickCounts, func(d *analytics.DailyAggregate) *int64 { return &d.Clickers })
		addDays(a, row.OCDays, row.OCCounts, func(d *analytics.DailyAggregate) *int64 { return &d.OpenClickers })
		addDays(a, row.ConvDays, row.ConvCounts, func(d *analytics.DailyAggregate) *int64 { return &d.Converters })
		addDays(a, row.UnsubDays, row.UnsubCounts, func(d *analytics.DailyAggregate) *int64 { return &d.Unsubscribers })
		addDays(a, row.ComplDays, row.ComplCounts, func(d *analytics.DailyAggregate) *int64 { return &d.Complainers })
		for i, d := range row.ValueDays {
			dayOf(a, d).Value += row.ValueCounts[i]
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("aggregates of %s: %w", experimentKey, translate(err))
	}
	for a, c := range arms {
		out.Arms = append(out.Arms, analytics.ArmAggregate{Segment: a.seg, Variant: a.v, Counts: *c})
		for v, n := range versions[a] {
			out.Versions = append(out.Versions, analytics.VersionExposure{Segment: a.seg, Variant: a.v, Version: v, Exposed: n})
		}
	}
	for _, d := range daily {
		out.Daily = append(out.Daily, *d)
	}
	out.Sort()
	return out, nil
}

func (r *aggregateRow) counts() analytics.Counts {
	kc := func(units, events, mUnits, mEvents uint64) analytics.KindCounts {
		return analytics.KindCounts{Units: int64(units), Events: int64(events),
			MachineUnits: int64(mUnits), MachineEvents: int64(mEvents)}
	}
	return analytics.Counts{
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
