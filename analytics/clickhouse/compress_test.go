package clickhouse_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// TestLookupsDecompressLittle: the ClickHouse Splitcast starts compresses
// in blocks of clickhouse.LookupBlockBytes, also when it merges, so that
// looking up one unit's row in a merged unit_rollup decompresses a few
// kilobytes per column rather than the 64 KB blocks of ClickHouse's
// default, which made a fold's and a report's lookups of the units with
// news several times slower.
func TestLookupsDecompressLittle(t *testing.T) {
	if env.Server == nil {
		t.Skip("an external ClickHouse: its profile is its operator's (README, Using an external ClickHouse)")
	}
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	if n, err := clickhouse.CompressBlockBytes(ctx, conn); err != nil || n != clickhouse.LookupBlockBytes {
		t.Fatalf("min_compress_block_size = %d, %v; want %d", n, err, clickhouse.LookupBlockBytes)
	}
	// 40,000 units' states: each column holds hundreds of kilobytes, so a
	// lookup in 64 KB blocks would decompress at least 64 KB a column.
	// OPTIMIZE merges them into one part, written with the server's
	// setting as it was at start.
	for _, q := range []string{
		`INSERT INTO unit_rollup (experiment, uh, first, xn, outcomes)
		SELECT 'exp', cityHash64(number), minState(number), uniqExactState(number),
			groupUniqArrayState(tuple(number, toUInt32(1), toUInt8(1), toUInt8(0), toUInt32(number), toFloat64(1), 'a conversion'))
		FROM numbers(40000) GROUP BY number`,
		"OPTIMIZE TABLE unit_rollup FINAL",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	id := fmt.Sprintf("lookup-%d", time.Now().UnixNano())
	lookup := ch.Context(ctx, ch.WithQueryID(id), ch.WithSettings(ch.Settings{"log_queries": 1, "use_uncompressed_cache": 0}))
	var xn uint64
	var outcomes uint64
	if err := conn.QueryRow(lookup, `SELECT uniqExactMerge(xn), length(groupUniqArrayMerge(outcomes))
		FROM unit_rollup WHERE uh = cityHash64(toUInt64(777))`).Scan(&xn, &outcomes); err != nil {
		t.Fatal(err)
	}
	if xn != 1 || outcomes != 1 {
		t.Fatalf("the unit's states: %d exposures, %d outcomes; want 1 and 1", xn, outcomes)
	}
	// The server logs a query once it has sent the last of its answer, so
	// the client may flush the logs before the entry is queued: it looks
	// again, for up to five seconds (a run under load found no entry).
	var decompressed, blocks uint64
	for try := 0; ; try++ {
		if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		err := conn.QueryRow(ctx, `SELECT ProfileEvents.Values[indexOf(ProfileEvents.Names, 'CompressedReadBufferBytes')],
				ProfileEvents.Values[indexOf(ProfileEvents.Names, 'CompressedReadBufferBlocks')]
			FROM system.query_log WHERE query_id = ? AND type = 2`, id).Scan(&decompressed, &blocks)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) || try == 50 {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Three columns (uh, xn, outcomes), a block or two each.
	if blocks == 0 || decompressed > 3*2*clickhouse.LookupBlockBytes+16<<10 {
		t.Fatalf("a lookup of one unit decompressed %d bytes in %d blocks; want at most %d", decompressed, blocks, 3*2*clickhouse.LookupBlockBytes+16<<10)
	}
	t.Logf("a lookup of one unit decompressed %d bytes in %d blocks", decompressed, blocks)
}
