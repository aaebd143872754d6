package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// CustomMetricReader reads experiments' custom metrics (user events after
// exposure) per arm: a query of its own beside the report's main read,
// which results.CustomMerged merges into the aggregates.
type CustomMetricReader struct {
	conn driver.Conn
}

var _ results.CustomMetricReader = (*CustomMetricReader)(nil)

// NewCustomMetricReader returns a reader of conn's database, which must be
// migrated.
func NewCustomMetricReader(conn driver.Conn) *CustomMetricReader {
	return &CustomMetricReader{conn: conn}
}

// customMetricQuery gives, per arm, the exposed units, those with at least
// one user event of the metric's name within the window after their first
// exposure, and the sums of each unit's event count and property sum in
// that window, and of their squares. Both sides keep, per event id, the
// copy received first (README, "Event identity"); a unit's arm and first
// exposure are the report's (argMin over the exposure's time and the low 32
// bits of cityHash64 of its id). Parameters: window seconds (twice),
// experiment, property (twice), event name, experiment.
const customMetricQuery = `SELECT seg, var, count() AS units, countIf(n > 0) AS converted,
	sum(n) AS n_sum, sum(n * n) AS n_sq, sum(v) AS v_sum, sum(v * v) AS v_sq
FROM (
	SELECT u, any(seg) AS seg, any(var) AS var,
		toFloat64(countIf(ut >= ft AND ut < ft + ?)) AS n,
		sumIf(uv, ut >= ft AND ut < ft + ?) AS v
	FROM (
		SELECT u, argMin(s, o) AS seg, argMin(vr, o) AS var, toUInt32(intDiv(min(o), 4294967296)) AS ft
		FROM (
			SELECT event_id, argMin(unit, received_at) AS u, argMin(segment, received_at) AS s,
				argMin(variant, received_at) AS vr,
				argMin(toUInt64(time) * 4294967296 + cityHash64(event_id) % 4294967296, received_at) AS o
			FROM events
			WHERE experiment = ? AND kind = 'exposure'
			GROUP BY event_id
		)
		GROUP BY u
	) ALL LEFT JOIN (
		SELECT argMin(unit, received_at) AS u, toUInt32(argMin(time, received_at)) AS ut,
			argMin(if(has(n_keys, ?), n_vals[indexOf(n_keys, ?)], 0), received_at) AS uv
		FROM user_events
		WHERE name = ? AND unit GLOBAL IN (SELECT unit FROM events WHERE experiment = ? AND kind = 'exposure')
		GROUP BY event_id
	) USING u
	GROUP BY u
)
GROUP BY seg, var
ORDER BY seg, var`

// CustomMetrics implements results.CustomMetricReader.
func (r *CustomMetricReader) CustomMetrics(ctx context.Context, exp experiment.Experiment) ([]results.CustomAggregate, error) {
	var out []results.CustomAggregate
	for _, cm := range exp.CustomMetrics {
		window := uint32(cm.Window() * 3600)
		prop := cm.Property
		rows, err := r.conn.Query(ctx, customMetricQuery, window, window, exp.Key, prop, prop, cm.Event, exp.Key)
		if err != nil {
			return nil, fmt.Errorf("custom metric %s: %w", cm.Key, translate(err))
		}
		for rows.Next() {
			a := results.CustomAggregate{Metric: cm.Name()}
			var units, converted uint64
			var nSum, nSq, vSum, vSq float64
			if err := rows.Scan(&a.Segment, &a.Variant, &units, &converted, &nSum, &nSq, &vSum, &vSq); err != nil {
				rows.Close()
				return nil, fmt.Errorf("custom metric %s: %w", cm.Key, translate(err))
			}
			a.Units, a.Converted = int64(units), int64(converted)
			a.Sum, a.SumSq = nSum, nSq
			if cm.Kind == experiment.CustomSum {
				a.Sum, a.SumSq = vSum, vSq
			}
			out = append(out, a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("custom metric %s: %w", cm.Key, translate(err))
		}
	}
	return out, nil
}
