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
//
// Unless every row in it is old: merges go on for minutes after a bulk
// load or a back-fill, and a read after them would read their parts, the
// whole history, only to filter every row out (a new process's first
// retirement pass after a back-fill of 10M events took 25 s of such
// reads). Block numbers tell those parts apart. A MergeTree table numbers
// its inserts' blocks in the order they become visible, one counter over
// every partition, and a merged part's name carries the range of block
// numbers it holds. A part written before the mark (less a slack, for the
// moment between writing a part and making it visible) became visible
// before it, and so did every block numbered up to its highest one, whose
// rows were stamped before that. So a part whose highest block number is
// at most the highest of the parts written before the mark holds only rows
// stamped before the mark, however recently it was merged, and the tail
// leaves it out.

// tail is the parts of one table written since a mark.
type tail struct {
	table string
	parts []string
	// prunable is false when the table holds no parts of its own here (a
	// Distributed table over a cluster's shards): then every read filters
	// by the stamp alone.
	prunable bool
	// upTo is the highest block number of the table's active parts when
	// the tail was listed, 0 when unknown: once a read of the tail saw
	// every part listed (intact), every row of every block up to it was
	// read, by it or by the reads before it.
	upTo uint64
}

// tailOf lists table's active parts written at or after since, less
// those whose every block is at most folded (a block number every block
// up to which a caller has read already: see Rollups.Fold) or at most the
// highest of the parts written before since (see above).
func tailOf(ctx context.Context, conn driver.Conn, table string, since time.Time, folded uint64) (tail, error) {
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
	// One look at every part, inactive ones too (a part merged away still
	// tells which blocks were visible when it was written), so that the
	// tail, the highest block written before since and the highest of all
	// come from one state of the table.
	rows, err := conn.Query(ctx, `SELECT name, active, toUInt32(modification_time), toUInt64(max_block_number) FROM system.parts
		WHERE database = currentDatabase() AND table = ?`, table)
	if err != nil {
		return t, fmt.Errorf("parts of %s: %w", table, translate(err))
	}
	defer rows.Close()
	type part struct {
		name  string
		mtime uint32
		block uint64
	}
	var active []part
	before := uint32(since.Add(-visibleSlack).Unix())
	// A replicated table numbers blocks per partition: there the order of
	// numbers says nothing across partitions, and only the modification
	// times prune.
	numbered := !strings.HasPrefix(engine, "Replicated")
	bound := folded
	if !numbered {
		bound = 0
	}
	for rows.Next() {
		var p part
		var on uint8
		if err := rows.Scan(&p.name, &on, &p.mtime, &p.block); err != nil {
			return t, err
		}
		if numbered && p.mtime < before {
			bound = max(bound, p.block)
		}
		if on == 1 {
			active = append(active, p)
			if numbered {
				t.upTo = max(t.upTo, p.block)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("parts of %s: %w", table, translate(err))
	}
	from := uint32(since.Unix())
	for _, p := range active {
		if p.mtime < from || p.block <= bound {
			continue
		}
		if !partName(p.name) {
			// Not a name this code can quote: read unpruned.
			return tail{table: table}, nil
		}
		t.parts = append(t.parts, p.name)
	}
	return t, nil
}

// visibleSlack is how long after a part's modification time it surely
// became visible, numbered, in the table: ClickHouse renames a written
// part into the table at once, so seconds are ample (the time is in whole
// seconds, the slack keeps the truncation out too).
const visibleSlack = 3 * time.Second

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
	_, err := readTailAfter(ctx, conn, table, since, 0, read)
	return err
}

// readTailAfter is readTail leaving out the parts whose every block is at
// most folded, and it returns the tail the read saw whole: its upTo is the
// folded of the next read (0 when the read went unpruned).
func readTailAfter(ctx context.Context, conn driver.Conn, table string, since time.Time, folded uint64, read func(t tail) error) (tail, error) {
	for attempt := 0; ; attempt++ {
		t := tail{table: table}
		if attempt < tailAttempts {
			var err error
			if t, err = tailOf(ctx, conn, table, since, folded); err != nil {
				return t, err
			}
		}
		if err := read(t); err != nil {
			return t, err
		}
		ok, err := t.intact(ctx, conn)
		if err != nil || ok {
			return t, err
		}
	}
}
