package clickhouse

import (
	"context"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/traits"
)

// ChangedUserEvents is every unit EachChangedUser hands over, copied (it
// reuses their memory), for tests that compare whole reads.
func (r *TraitReader) ChangedUserEvents(ctx context.Context, since time.Time, from int32) ([]traits.UnitEvents, time.Time, error) {
	var out []traits.UnitEvents
	mark, err := r.EachChangedUser(ctx, since, from, func(u *traits.UnitEvents) {
		c := traits.UnitEvents{Unit: u.Unit, Events: slices.Clone(u.Events)}
		for i := range c.Events {
			c.Events[i].Props = slices.Clone(c.Events[i].Props)
		}
		out = append(out, c)
	})
	return out, mark, err
}

// SetBeforeInsert makes s call f between its version check and its insert,
// where a rival process could write the same version.
func (s *ExperimentStore) SetBeforeInsert(f func()) { s.beforeInsert = f }

// RawAggregates reads the aggregates from the raw events, the query the
// rollup is checked against.
func (r *AggregateReader) RawAggregates(ctx context.Context, key string) (results.Aggregates, error) {
	return r.rawAggregates(ctx, key)
}

// CountTail counts table's rows stamped (received_at) at or after since
// the way incremental reads do (readTail), calling between, if set, after
// the parts are listed and before the count, and returns the attempts the
// read took.
func CountTail(ctx context.Context, conn driver.Conn, table string, since time.Time, between func()) (n uint64, attempts int, err error) {
	err = readTail(ctx, conn, table, since, func(t tail) error {
		attempts++
		if between != nil && attempts == 1 {
			between()
		}
		n = 0
		if t.empty() {
			return nil
		}
		q := "SELECT count() FROM " + table + " WHERE " + t.filter() + " AND received_at >= toDateTime(?)"
		return conn.QueryRow(ctx, q, uint32(since.Unix())).Scan(&n)
	})
	return n, attempts, err
}

// TailParts lists the parts of table readTail would read since since.
func TailParts(ctx context.Context, conn driver.Conn, table string, since time.Time) ([]string, bool, error) {
	t, err := tailOf(ctx, conn, table, since, 0)
	return t.parts, t.prunable, err
}

// VisibleSlack is how long after its modification time a part is taken to
// be numbered in its table.
const VisibleSlack = visibleSlack

// CountFolds has r count in *n the windows of events it folds.
func (r *Rollups) CountFolds(n *int) {
	fold := r.foldWindow
	r.foldWindow = func(ctx context.Context, w window) error {
		*n++
		return fold(ctx, w)
	}
}

// OverMemoryLimit is overMemoryLimit, what a first trait read splits its
// buckets on.
var OverMemoryLimit = overMemoryLimit
