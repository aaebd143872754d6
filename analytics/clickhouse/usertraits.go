package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

var _ traits.UserReader = (*TraitReader)(nil)

// tableMarkQuery is markQuery for inserts into the table %s.
const tableMarkQuery = `SELECT now(), toFloat64(max(elapsed)) FROM system.processes WHERE startsWith(query, 'INSERT INTO %s')`

// userEventsQuery reads the user events of the units %s selects, on or
// after a day, each event id once (the copy received first, as the event
// identity rule of the README has it), in order of time. The date column is
// in the server's time zone: a day's margin keeps pruning from cutting a
// UTC day short.
const userEventsQuery = `SELECT unit, toInt64(toUInt32(time)) AS t, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals
FROM (
	SELECT event_id, unit, time, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals
	FROM user_events
	WHERE date >= toDate(?) - 1 AND ` + dayExpr + ` >= ? %s
	ORDER BY event_id, received_at
	LIMIT 1 BY event_id
)
ORDER BY unit, t, event_id`

// changedUserUnits selects the units with a user event received since a mark.
const changedUserUnits = `AND unit GLOBAL IN (SELECT DISTINCT unit FROM user_events WHERE date >= toDate(?) - 1 AND received_at >= toDateTime(?))`

// ChangedUserEvents implements traits.UserReader. Its mark is taken as
// ChangedActivity's is, on the inserts into user_events. Cost: a unit's
// whole year of user events each time it has a new one, and every unit's
// once a day (the cache's new-day read).
func (r *TraitReader) ChangedUserEvents(ctx context.Context, since time.Time, from int32) ([]traits.UnitEvents, time.Time, error) {
	mark, err := r.markOf(ctx, "user_events")
	if err != nil {
		return nil, since, err
	}
	q := fmt.Sprintf(userEventsQuery, "")
	args := []any{dateString(from), from}
	if !since.IsZero() {
		q = fmt.Sprintf(userEventsQuery, changedUserUnits)
		args = append(args, dateString(from), uint32(since.Unix()))
	}
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, since, fmt.Errorf("user events: %w", translate(err))
	}
	defer rows.Close()
	var out []traits.UnitEvents
	for rows.Next() {
		var row userEventRead
		if err := rows.Scan(&row.unit, &row.t, &row.name, &row.sk, &row.sv, &row.nk, &row.nv, &row.bk, &row.bv, &row.lk, &row.lv); err != nil {
			return nil, since, fmt.Errorf("user events: %w", translate(err))
		}
		if len(out) == 0 || out[len(out)-1].Unit != row.unit {
			out = append(out, traits.UnitEvents{Unit: row.unit})
		}
		u := &out[len(out)-1]
		u.Events = append(u.Events, traits.UserEvent{Time: row.t, Name: row.name, Props: row.props()})
	}
	if err := rows.Err(); err != nil {
		return nil, since, fmt.Errorf("user events: %w", translate(err))
	}
	return out, mark, nil
}

// markOf is nextMark for reads of table's rows received since it.
func (r *TraitReader) markOf(ctx context.Context, table string) (time.Time, error) {
	var now time.Time
	var running float64
	if r.FixedMargin {
		if err := r.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return time.Time{}, fmt.Errorf("server time: %w", translate(err))
		}
		return now.Add(-r.Margin), nil
	}
	if err := r.conn.QueryRow(ctx, fmt.Sprintf(tableMarkQuery, table)).Scan(&now, &running); err != nil {
		return time.Time{}, fmt.Errorf("server time and running inserts: %w", translate(err))
	}
	return now.Add(-time.Duration(running*float64(time.Second)) - r.Margin), nil
}

// userEventRead is one row of userEventsQuery.
type userEventRead struct {
	unit, name             string
	t                      int64
	sk, sv, nk, bk, lk, lv []string
	nv                     []float64
	bv                     []uint8
}

// props rebuilds the typed properties from the parallel arrays.
func (r *userEventRead) props() []analytics.Prop {
	var out []analytics.Prop
	for i := range min(len(r.sk), len(r.sv)) {
		out = append(out, analytics.Prop{Key: r.sk[i], Type: analytics.PropString, Str: r.sv[i]})
	}
	for i := range min(len(r.nk), len(r.nv)) {
		out = append(out, analytics.Prop{Key: r.nk[i], Type: analytics.PropNumber, Num: r.nv[i]})
	}
	for i := range min(len(r.bk), len(r.bv)) {
		out = append(out, analytics.Prop{Key: r.bk[i], Type: analytics.PropBool, Bool: r.bv[i] != 0})
	}
	for i := range min(len(r.lk), len(r.lv)) {
		if n := len(out); n > 0 && out[n-1].Type == analytics.PropList && out[n-1].Key == r.lk[i] {
			out[n-1].List = append(out[n-1].List, r.lv[i])
			continue
		}
		out = append(out, analytics.Prop{Key: r.lk[i], Type: analytics.PropList, List: []string{r.lv[i]}})
	}
	return out
}
