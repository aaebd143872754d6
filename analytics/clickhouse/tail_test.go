package clickhouse_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// TestTail checks the pruning of incremental reads to the parts written
// since a mark: the listed parts are the new ones only, a count over them
// equals the rows stamped since the mark, and a merge between the listing
// and the read (the race tail.intact guards) makes the read go again
// rather than miss the merged rows.
func TestTail(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	batch := func(prefix string, n int) []analytics.Event {
		var b []analytics.Event
		for i := range n {
			b = append(b, analytics.Event{ID: fmt.Sprintf("%s%d", prefix, i), Kind: analytics.KindOpen, Experiment: "exp",
				Unit: fmt.Sprintf("u%d", i), Time: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)})
		}
		return b
	}
	aggInsert(t, conn, batch("old-a", 30), batch("old-b", 20))
	// Stamps and modification times are whole seconds: the mark is a
	// second after the old rows' and the new ones come a second later.
	time.Sleep(1100 * time.Millisecond)
	var mark time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	aggInsert(t, conn, batch("new-a", 7), batch("new-b", 5))

	parts, prunable, err := clickhouse.TailParts(ctx, conn, "events", mark)
	if err != nil {
		t.Fatal(err)
	}
	var all uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active").Scan(&all); err != nil {
		t.Fatal(err)
	}
	// Two new inserts of one month each: two new parts, unless a merge
	// already joined them (then one, or one with the old rows too).
	if !prunable || len(parts) == 0 || len(parts) > 2 || uint64(len(parts)) == all && all > 2 {
		t.Fatalf("tail parts %v (prunable %v) of %d active parts: want the new inserts' parts only", parts, prunable, all)
	}
	n, attempts, err := clickhouse.CountTail(ctx, conn, "events", mark, nil)
	if err != nil || n != 12 || attempts != 1 {
		t.Fatalf("count of the tail = %d in %d attempts, %v; want 12 in 1", n, attempts, err)
	}

	// Nothing written since a later mark: the tail is empty, and reads
	// nothing.
	time.Sleep(1100 * time.Millisecond)
	if parts, _, err := clickhouse.TailParts(ctx, conn, "events", time.Now().Add(time.Second)); err != nil || len(parts) != 0 {
		t.Fatalf("tail of the future = %v, %v; want none", parts, err)
	}

	// A merge of every part between the listing and the read: the listed
	// parts are gone, so the read goes again with the merged part, which
	// holds the old rows too, and the stamp keeps them out.
	n, attempts, err = clickhouse.CountTail(ctx, conn, "events", mark, func() {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
			t.Error(err)
		}
	})
	if err != nil || n != 12 || attempts < 2 {
		t.Fatalf("count of the tail across a merge = %d in %d attempts, %v; want 12 in 2 or more", n, attempts, err)
	}
}

// TestTailLeavesOutMergedHistory: parts written well before the mark and
// merged after it hold only old rows; the tail leaves the merged part out
// by its block numbers, where its modification time alone would have had
// every read after the merge read the whole history again. A merge that
// takes in a new part is read.
func TestTailLeavesOutMergedHistory(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	batch := func(prefix string, n int, month time.Month) []analytics.Event {
		var b []analytics.Event
		for i := range n {
			b = append(b, analytics.Event{ID: fmt.Sprintf("%s%d", prefix, i), Kind: analytics.KindOpen, Experiment: "exp",
				Unit: fmt.Sprintf("u%d", i), Time: time.Date(2026, month, 3, 10, 0, 0, 0, time.UTC)})
		}
		return b
	}
	aggInsert(t, conn, batch("old-a", 30, 10), batch("old-b", 20, 10))
	// Past the slack between a part's writing and its numbering, whole
	// seconds both.
	time.Sleep(clickhouse.VisibleSlack + 1100*time.Millisecond)
	var mark time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	aggInsert(t, conn, batch("new-a", 7, 11), batch("new-b", 5, 11))
	// The old month's parts merge after the mark.
	if err := conn.Exec(ctx, "OPTIMIZE TABLE events PARTITION 202610 FINAL"); err != nil {
		t.Fatal(err)
	}
	var merged string
	q := "SELECT name FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active AND partition_id = '202610' AND modification_time >= toDateTime(?)"
	if err := conn.QueryRow(ctx, q, uint32(mark.Unix())).Scan(&merged); err != nil {
		t.Fatalf("the old month's merged part, written after the mark: %v", err)
	}
	parts, prunable, err := clickhouse.TailParts(ctx, conn, "events", mark)
	if err != nil {
		t.Fatal(err)
	}
	if !prunable || len(parts) == 0 || slices.Contains(parts, merged) {
		t.Fatalf("tail parts %v (prunable %v): want the new month's only, not the merged history %s", parts, prunable, merged)
	}
	for _, p := range parts {
		if !strings.HasPrefix(p, "202611_") {
			t.Errorf("tail part %s: want the new month's (202611_) only", p)
		}
	}
	if n, _, err := clickhouse.CountTail(ctx, conn, "events", mark, nil); err != nil || n != 12 {
		t.Fatalf("count of the tail = %d, %v; want 12", n, err)
	}
	// A merge of the new parts with each other stays in the tail.
	if err := conn.Exec(ctx, "OPTIMIZE TABLE events PARTITION 202611 FINAL"); err != nil {
		t.Fatal(err)
	}
	if n, _, err := clickhouse.CountTail(ctx, conn, "events", mark, nil); err != nil || n != 12 {
		t.Fatalf("count of the tail after the new parts merged = %d, %v; want 12", n, err)
	}
}
