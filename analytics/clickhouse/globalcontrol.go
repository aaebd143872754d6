package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
)

// GlobalControlReader is the results.GlobalControlReader on the events
// table.
//
// Cost: it reads every exposure, suppression and conversion of the
// deployment (the sort key starts with experiment, so there is no
// shortcut), once per report: an occasional report, not a dashboard's.
type GlobalControlReader struct{ conn driver.Conn }

var _ results.GlobalControlReader = GlobalControlReader{}

// NewGlobalControlReader returns a reader of conn's database.
func NewGlobalControlReader(conn driver.Conn) GlobalControlReader {
	return GlobalControlReader{conn: conn}
}

// globalControl groups units: x, sent a message somewhere (an exposure in
// a variant: a held-out unit got none, and a unit only ever held out is in
// neither group); gc, answered
// global_control somewhere; their human conversions (one per event id,
// whatever its copies) and values, from every experiment.
const globalControl = `SELECT multiIf(x AND NOT gc, 'exposed', gc AND NOT x, 'control', 'mixed') AS g,
	count(), countIf(conv > 0), sum(val), sum(val * val)
FROM (
	SELECT unit, max(k = 1) AS x, max(k = 2) AS gc, countIf(k = 3) AS conv, sumIf(v, k = 3) AS val
	FROM (
		SELECT event_id, any(unit) AS unit, any(value) AS v,
			any(multiIf(kind = 'exposure' AND variant != 'holdout', 1, kind = 'suppressed' AND name = 'global_control', 2,
				kind = 'conversion' AND machine = 0, 3, 0)) AS k
		FROM events WHERE kind IN ('exposure', 'suppressed', 'conversion')
		GROUP BY event_id
	)
	GROUP BY unit
)
WHERE x OR gc
GROUP BY g`

// GlobalControl reads the deployment's exposed and global control groups.
func (r GlobalControlReader) GlobalControl(ctx context.Context) (results.GlobalControlCounts, error) {
	var out results.GlobalControlCounts
	rows, err := r.conn.Query(ctx, globalControl)
	if err != nil {
		return out, fmt.Errorf("global control: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		var units, conv uint64
		var val, sq float64
		if err := rows.Scan(&g, &units, &conv, &val, &sq); err != nil {
			return out, fmt.Errorf("global control: %w", translate(err))
		}
		c := results.GroupCounts{Units: int64(units), Converters: int64(conv), Value: val, ValueSumSq: sq}
		switch g {
		case "exposed":
			out.Exposed = c
		case "control":
			out.Control = c
		default:
			out.Mixed = int64(units)
		}
	}
	return out, translate(rows.Err())
}
