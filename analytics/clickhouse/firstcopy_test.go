package clickhouse_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/traits"
)

// TestUserEventsFirstCopyUpgrade: migration 0017 rebuilds a user_events of
// 0007's engine, which a merge left holding the copy of an id received
// last, into one whose merges keep the copy received first; the events
// read the same before and after it, and after a merge of the new table,
// also when a run of it was cut short after its rename.
func TestUserEventsFirstCopyUpgrade(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	const upgrade = "0017_user_events_first_copy.sql"
	// Back to 0016: 0007's user_events, and 0017 not applied.
	notApplied := undoMigration(t, conn, upgrade, "0007_user_events.sql", "user_events", "ReplacingMergeTree(received_at)")
	exec := func(q string, args ...any) {
		t.Helper()
		if err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Two requests sent t:order with other content, ten seconds apart,
	// each copy in a part of its own; t:page came twice as one copy.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	first := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	type copyOf struct {
		id, unit, name, category string
		received                 time.Time
	}
	insert := func(table string, c copyOf) {
		t.Helper()
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals, received_at)")
		if err != nil {
			t.Fatal(err)
		}
		if err := batch.Append(c.id, day.Add(time.Hour), c.unit, c.name, []string{"category"}, []string{c.category}, []string{}, []float64{},
			[]string{}, []uint8{}, []string{}, []string{}, c.received); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
	}
	copies := []copyOf{
		{"t:order", "u:1", "order_completed", "shoes", first},
		{"t:order", "u:1", "order_completed", "hats", first.Add(10 * time.Second)},
		{"t:page", "u:2", "page_viewed", "news", first},
		{"t:page", "u:2", "page_viewed", "news", first.Add(5 * time.Second)},
	}
	for _, c := range copies {
		insert("user_events", c)
	}
	// The gap this migration closes, shown on a table of 0007's engine
	// holding the same copies: merged, the copy received last is left.
	exec("CREATE TABLE merged_as_before AS user_events")
	for _, c := range copies {
		insert("merged_as_before", c)
	}
	exec("OPTIMIZE TABLE merged_as_before FINAL")
	if got := categories(t, conn, "merged_as_before", "t:order"); !reflect.DeepEqual(got, []string{"hats"}) {
		t.Fatalf("0007's engine, merged: t:order's copies %v, want the later one alone [hats]", got)
	}

	read := func() []traits.UnitEvents {
		t.Helper()
		got, _, err := clickhouse.NewTraitReader(conn).ChangedUserEvents(ctx, time.Time{}, analytics.Day(day)-365)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := read()
	if len(before) != 2 || before[0].Unit != "u:1" || len(before[0].Events) != 1 || before[0].Events[0].Props[0].Str != "shoes" {
		t.Fatalf("before the upgrade: %+v, want u:1's order with its first copy's category (shoes), and u:2's page", before)
	}
	rowsOf := func() uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM user_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	applyUpgrade(t, conn, upgrade, "user_events", "ReplacingMergeTree(first_copy)")
	if n := rowsOf(); n != uint64(len(copies)) {
		t.Errorf("after the upgrade: %d rows, want the %d copies", n, len(copies))
	}
	if after := read(); !sameUnitEvents(after, before) {
		t.Errorf("after the upgrade: %+v, want %+v", after, before)
	}
	exec("OPTIMIZE TABLE user_events FINAL")
	if got := categories(t, conn, "user_events", "t:order"); !reflect.DeepEqual(got, []string{"shoes"}) {
		t.Errorf("merged after the upgrade: t:order's copies %v, want the first alone [shoes]", got)
	}
	if after := read(); !sameUnitEvents(after, before) {
		t.Errorf("merged after the upgrade: %+v, want %+v", after, before)
	}

	// A run cut short after its rename goes on where it stopped.
	exec("RENAME TABLE user_events TO user_events_replaced")
	notApplied()
	applyUpgrade(t, conn, upgrade, "user_events", "ReplacingMergeTree(first_copy)")
	if after := read(); !sameUnitEvents(after, before) {
		t.Errorf("after a run cut short: %+v, want %+v", after, before)
	}
	var left uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'user_events_replaced'").Scan(&left); err != nil || left != 0 {
		t.Errorf("user_events_replaced left behind (%d, %v)", left, err)
	}
}

// categories is the category of each row of id in table, in order of
// receipt.
func categories(t *testing.T, conn driver.Conn, table, id string) []string {
	t.Helper()
	var out []string
	q := "SELECT groupArray(c) FROM (SELECT s_vals[1] AS c FROM " + table + " WHERE event_id = ? ORDER BY received_at)"
	if err := conn.QueryRow(context.Background(), q, id).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
