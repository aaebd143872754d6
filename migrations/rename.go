package migrations

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// A table's engine cannot be altered, so a migration that changes one
// moves the table aside and fills a new one from it:
//
//	RENAME TABLE t TO t_replaced;
//	CREATE TABLE IF NOT EXISTS t (...);  -- the new engine
//	CREATE TABLE IF NOT EXISTS t_replaced (...);  -- see below
//	INSERT INTO t (...) SELECT ... FROM t_replaced;
//	DROP TABLE IF EXISTS t_replaced;
//
// Between the rename and the create, writes to t fail and the ingest spool
// keeps them for a retry; once t exists again they land there, so nothing
// written while the copy runs is lost, which a copy out and back (0016)
// cannot promise while other servers write. The copy must be of rows whose
// copies are harmless: every table that a migration rebuilds so is read
// deduplicated.
//
// RENAME has no IF EXISTS, so the runner makes it idempotent: RENAME TABLE
// a TO b runs only when b does not exist. A run cut short after the rename
// finds b and goes on with the create and the copy, which copies again what
// it had copied (harmless, as above). A run cut short after the drop finds
// no b and renames the new t aside, to be copied back in full: slower, and
// still right. The second CREATE makes the copy's source exist in that case
// too (empty, when the run was cut short between the drop and the record),
// and on a cluster it is what creates the Distributed t_replaced the
// copy reads all shards through.

var reRename = regexp.MustCompile("(?is)^RENAME\\s+TABLE\\s+([`\"]?\\w+[`\"]?)\\s+TO\\s+([`\"]?\\w+[`\"]?)\\s*$")

// pendingRename reports whether stmt is to run: false when it renames one
// table to a name that exists already on conn's database. Any other
// statement runs; a RENAME of more than one table is refused, since the
// runner could not tell which of its renames had run.
func pendingRename(ctx context.Context, conn Conn, stmt string) (bool, error) {
	stmt = strings.TrimSpace(stmt)
	if !strings.HasPrefix(strings.ToUpper(stmt), "RENAME") {
		return true, nil
	}
	m := reRename.FindStringSubmatch(stmt)
	if m == nil {
		return false, fmt.Errorf("%q: the runner applies RENAME TABLE of one table only (RENAME TABLE a TO b)", stmt)
	}
	var have []struct {
		N uint64 `ch:"n"`
	}
	target := strings.Trim(m[2], "`\"")
	if err := conn.Select(ctx, &have, `SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = ?`, target); err != nil {
		return false, fmt.Errorf("look for table %s: %w", target, err)
	}
	return len(have) == 1 && have[0].N == 0, nil
}
