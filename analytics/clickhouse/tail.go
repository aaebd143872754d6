package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Incremental reads (rollup folds, report readers, the trait refresh) want
// the rows stamped at insert (received_at, at) since a mark. Neither column
// is in its table's sort key, so a plain filter on it reads the column of
// every row ever stored: cheap per row, but it makes each read cost the
// whole history in rows read, and more with every event.
//
// A part's modification time is when it was written, which is after every
// row in it was stamped (a row is stamped when ClickHouse takes its block,
// a merge writes its part after reading its sources), by the same server's
// clock. So a part written before the mark holds no row stamped at or after
// it, and a read may leave it out: tail lists the parts written since, and
// the read names them in a `_part IN (...)` filter, which ClickHouse
// applies before it opens a part (checked on 18.16: read_rows is the listed
// parts' rows).
//
// The list is taken before the read, and a merge that ends between the two
// replaces listed parts by one not listed, whose rows the read would miss.
// So after the read the caller checks that every listed part is still
// active (tail.intact): then the read saw them all, since a query holds the
// parts it started with. If not, it reads again with a new list. A merged
// part written after the mark holds older rows too; they are read and
// filtered out by the stamp, once, in the read after that merge.

// tail is the parts of one table written since a mark.
type tail struct {
	table string
	parts []string
	// prunable is false when the table holds no parts of its own here (a
	// Distributed table over a cluster's shards): then every read filters
	// by the stamp alone.
	prunable bool
}

// tailOf lists table's active parts written at or after since.
func tailOf(ctx context.Context, conn driver.Conn, table string, since time.Time) (tail, error) {
	t := tail{table: table}
	var engine string
	q := "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = ?"
	if err := conn.QueryRow(ctx, q, table).Scan(&engine); err != nil {
		return t, fmt.Errorf("engine of %s: %w", table, translate(err))
	}
	if !strings.HasSuffix(engine, "MergeTree") {
		return t, nil
	}
	t.prunable = true
	rows, err := conn.Query(ctx, `SELECT name FROM system.parts
		WHERE database = currentDatabase() AND table = ? AND active AND modification_time >= toDateTime(?)`,
		table, uint32(since.Unix()))
	if err != nil {
		return t, fmt.Errorf("parts of %s: %w", table, translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return t, err
		}
		if !partName(name) {
			// Not a name this code can quote: read unpruned.
			t.prunable, t.parts = false, nil
			return t, nil
		}
		t.parts = append(t.parts, name)
	}
	return t, rows.Err()
}

// partName reports whether s looks like a MergeTree part's name
// (partition, block numbers, level, mutation: letters, digits, _ and -),
// safe inside quotes as it is.
func partName(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// empty reports whether the tail surely holds no row: no part was written
// since the mark.
func (t tail) empty() bool { return t.prunable && len(t.parts) == 0 }

// filter is the condition, ANDed to a stamp filter, that keeps a read to
// the tail's parts ("1" when it cannot).
func (t tail) filter() string {
	if !t.prunable {
		return "1"
	}
	if len(t.parts) == 0 {
		return "0"
	}
	return "_part IN ('" + strings.Join(t.parts, "', '") + "')"
}

// intact reports whether every part of the tail is still active, so that a
// read that began after tailOf and ended before intact saw all of them.
func (t tail) intact(ctx context.Context, conn driver.Conn) (bool, error) {
	if !t.prunable || len(t.parts) == 0 {
		return true, nil
	}
	var n uint64
	q := "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = ? AND active AND name IN (" +
		"'" + strings.Join(t.parts, "', '") + "')"
	if err := conn.QueryRow(ctx, q, t.table).Scan(&n); err != nil {
		return false, fmt.Errorf("parts of %s: %w", t.table, translate(err))
	}
	return n == uint64(len(t.parts)), nil
}

// tailAttempts is how many times a read retries with a new list when
// merges replaced listed parts, before it reads unpruned.
const tailAttempts = 3

// readTail runs read on the tail of table since the mark, with the tail's
// filter, until a read saw every part it listed; past tailAttempts it reads
// unpruned. read must be safe to run again (idempotent, or its results
// dropped when it is).
func readTail(ctx context.Context, conn driver.Conn, table string, since time.Time, read func(t tail) error) error {
	for attempt := 0; ; attempt++ {
		t := tail{table: table}
		if attempt < tailAttempts {
			var err error
			if t, err = tailOf(ctx, conn, table, since); err != nil {
				return err
			}
		}
		if err := read(t); err != nil {
			return err
		}
		ok, err := t.intact(ctx, conn)
		if err != nil || ok {
			return err
		}
	}
}
