package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
)

// UnitReader is the results.UnitReader of reports. With Rollups, a read
// without dimensions (the report's CUPED) reads unit_state as last folded
// (see readKept), which keeps each unit's outcomes and what it did before
// its first exposure (migration 0015), units alike counted together; a
// read with dimensions (a breakdown), or without Rollups, reads one row
// per exposed unit from the raw events. Safe for concurrent use.
type UnitReader struct {
	conn driver.Conn
	// Rollups, when set, are the report rollups a read without dimensions
	// reads, folded by the caller (a report folds them reading its
	// aggregates).
	Rollups *Rollups

	kept keptCounts[unitEntry]
	// UnitsPerPass bounds the exposures one query reads (default
	// DefaultUnitsPerPass): an experiment with more is read a hash bucket
	// of units at a time.
	UnitsPerPass uint64
}

var _ results.UnitReader = (*UnitReader)(nil)

// NewUnitReader returns a reader of conn's database, which must be migrated.
func NewUnitReader(conn driver.Conn) *UnitReader { return &UnitReader{conn: conn} }

// MaxDims is the most dimensions one read asks for (experiment.MaxDimensions).
const MaxDims = 5

// unitsQuery reads, per exposed unit of the experiment, its first exposure's
// segment, variant and dimension values, whether it had each human outcome,
// its human conversions' value, and the same over the window before its
// first exposure in every experiment's events. Events count once per id,
// the copy received first (argMin over received_at, as the aggregates'
// raw query); a unit's arm is that of its first exposure by (time, low 32
// bits of cityHash64(event_id)), as the aggregates order them. The
// pre-window's rows are limited to the dates it can span (arguments 2 and
// 3) and to the experiment's units, so that the query scans only those
// partitions of other experiments' events. dims are placeholders, two per
// dimension: "channel" is the exposure's channel column, any other name is
// looked up in the exposure's parallel dim_keys/dim_values arrays.
func unitsQuery(dims int) string {
	var d strings.Builder
	for i := range dims {
		fmt.Fprintf(&d, ", argMinIf(if(? = 'channel', ch, dv[indexOf(dk, ?)]), o, k = 'exposure') AS d%d", i)
	}
	outcomes := func(prefix, k, m, v string) string {
		var b strings.Builder
		for _, kind := range []string{"open", "click", "conversion", "unsubscribe", "complaint"} {
			fmt.Fprintf(&b, "max(%s = '%s' AND %s = 0) AS %s_%s, ", k, kind, m, prefix, kind)
		}
		fmt.Fprintf(&b, "sumIf(%s, %s = 'conversion' AND %s = 0) AS %s_value", v, k, m, prefix)
		return b.String()
	}
	dimCols := ""
	for i := range dims {
		dimCols += fmt.Sprintf(", d%d", i)
	}
	return `SELECT seg, var, y_open, y_click, y_conversion, y_unsubscribe, y_complaint, y_value,
		x_open, x_click, x_conversion, x_unsubscribe, x_complaint, x_value` + dimCols + `
	FROM (
		SELECT u, argMinIf(s, o, k = 'exposure') AS seg, argMinIf(va, o, k = 'exposure') AS var,
			` + outcomes("y", "k", "m", "val") + d.String() + `
		FROM (
			SELECT event_id, argMin(unit, received_at) AS u, argMin(kind, received_at) AS k,
				argMin(segment, received_at) AS s, argMin(variant, received_at) AS va,
				argMin(toUInt64(time) * 4294967296 + cityHash64(event_id) % 4294967296, received_at) AS o,
				argMin(machine, received_at) AS m, argMin(value, received_at) AS val, argMin(channel, received_at) AS ch,
				argMin(dim_keys, received_at) AS dk, argMin(dim_values, received_at) AS dv
			FROM events
			WHERE experiment = ? AND {bucket}
			GROUP BY event_id
		)
		GROUP BY u
		HAVING countIf(k = 'exposure') > 0
	) ANY LEFT JOIN (
		SELECT pu AS u, ` + outcomes("x", "pk", "pm", "pv") + `
		FROM (
			SELECT event_id, argMin(unit, received_at) AS pu, argMin(kind, received_at) AS pk,
				argMin(time, received_at) AS pt, argMin(machine, received_at) AS pm, argMin(value, received_at) AS pv
			FROM events
			WHERE date >= toDate(?) AND date <= toDate(?)
				AND kind IN ('open', 'click', 'conversion', 'unsubscribe', 'complaint')
				AND {bucket} AND unit IN (SELECT unit FROM events WHERE experiment = ? AND kind = 'exposure')
			GROUP BY event_id
		) ANY INNER JOIN (
			SELECT unit AS pu, min(time) AS first_at
			FROM events
			WHERE experiment = ? AND kind = 'exposure' AND {bucket}
			GROUP BY unit
		) USING pu
		WHERE pt >= first_at - ? AND pt < first_at
		GROUP BY pu
	) USING u`
}

// unitRow is a row of unitsQuery.
type unitRow struct {
	seg, variant string
	y, x         [5]uint8
	yv, xv       float64
	dims         []string
}

func (r *unitRow) dest() []any {
	d := []any{&r.seg, &r.variant}
	for i := range r.y {
		d = append(d, &r.y[i])
	}
	d = append(d, &r.yv)
	for i := range r.x {
		d = append(d, &r.x[i])
	}
	d = append(d, &r.xv)
	for i := range r.dims {
		d = append(d, &r.dims[i])
	}
	return d
}

func metricsOf(flags [5]uint8, value float64) results.UnitMetrics {
	return results.UnitMetrics{Open: flags[0] != 0, Click: flags[1] != 0, Conversion: flags[2] != 0,
		Unsubscribe: flags[3] != 0, Complaint: flags[4] != 0, Revenue: value}
}

// Units implements results.UnitReader.
func (r *UnitReader) Units(ctx context.Context, experimentKey string, preDays int, dims []string) ([]results.Unit, error) {
	if len(dims) > MaxDims {
		return nil, fmt.Errorf("units: %d dimensions, at most %d", len(dims), MaxDims)
	}
	if len(dims) == 0 && r.Rollups != nil {
		return r.rolledUnits(ctx, experimentKey, preDays)
	}
	var first, last time.Time
	var n uint64
	if err := r.conn.QueryRow(ctx, `SELECT min(time), max(time), count() FROM events WHERE experiment = ? AND kind = 'exposure'`,
		experimentKey).Scan(&first, &last, &n); err != nil {
		return nil, fmt.Errorf("units: exposure span: %w", translate(err))
	}
	if n == 0 {
		return nil, nil
	}
	window := time.Duration(preDays) * 24 * time.Hour
	args := make([]any, 0, 2*len(dims)+6)
	for _, d := range dims {
		args = append(args, d, d)
	}
	args = append(args, experimentKey, first.Add(-window).UTC().Format(time.DateOnly), last.UTC().Format(time.DateOnly),
		experimentKey, experimentKey, int64(window/time.Second))
	// A row per unit of the experiment and per event of it: at 10M events
	// (6.1M units) the query wanted 3.8 GiB, over ClickHouse's default
	// limit, spilling or not. So it reads a hash bucket of units at a time,
	// UnitsPerPass exposures each.
	out := make([]results.Unit, 0, n)
	arms := map[[2]string][2]string{} // one copy of each arm's strings, not one per unit
	per := r.UnitsPerPass
	if per == 0 {
		per = DefaultUnitsPerPass
	}
	buckets := max(1, (n+per-1)/per)
	for b := range buckets {
		bucket := fmt.Sprintf("cityHash64(unit) %% %d = %d", buckets, b)
		var err error
		if out, err = r.units(ctx, strings.ReplaceAll(unitsQuery(len(dims)), "{bucket}", bucket), args, len(dims), out, arms); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DefaultUnitsPerPass is how many of an experiment's exposures one pass
// of unitsQuery reads: about 1.2 GiB of ClickHouse memory at the
// benchmark's mix (3.8 GiB for 6.1M).
const DefaultUnitsPerPass = 2_000_000

// units appends the rows of one pass of unitsQuery (q, with args) to out.
func (r *UnitReader) units(ctx context.Context, q string, args []any, dims int, out []results.Unit, arms map[[2]string][2]string) ([]results.Unit, error) {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("units: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		row := unitRow{dims: make([]string, dims)}
		if err := rows.Scan(row.dest()...); err != nil {
			return nil, fmt.Errorf("units: scan: %w", translate(err))
		}
		k := [2]string{row.seg, row.variant}
		if a, ok := arms[k]; ok {
			k = a
		} else {
			arms[k] = k
		}
		u := results.Unit{Segment: k[0], Variant: k[1], Outcome: metricsOf(row.y, row.yv), Pre: metricsOf(row.x, row.xv), N: 1}
		if dims > 0 {
			u.Dims = row.dims
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("units: %w", translate(err))
	}
	return out, nil
}
