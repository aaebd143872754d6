package clickhouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/traits"
)

// TestRollupsEqualRawEvents is the differential test of the rollup: random
// streams of events (aggSeed's copies, units in two arms, machine events,
// events before their unit's exposure, several versions and days, other
// experiments) arrive in random order in random batches, with copies of a
// fifth of them replayed later, and a report is read after every batch.
// Each report read from the rollup (folded incrementally, batch by batch,
// by a reader that keeps its sums between reads while merges run, and by
// new readers) must equal the raw events' query and the plain Go
// computation, number for number; folding again or back-filling on top
// changes nothing.
func TestRollupsEqualRawEvents(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{11, 12, 13} {
		conn, _ := env.NewDatabase(t)
		events := aggSeed(seed)
		stream := append(append([]analytics.Event(nil), events...), aggReplays(events, seed+100)...)
		r := rand.New(rand.NewPCG(seed, 3))
		r.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		// A copy of a batch already written and folded, as a spool replay
		// after a timed-out write delivers it.
		stream = append(stream, stream[:50]...)

		reader := clickhouse.NewAggregateReader(conn)
		// No margin: the reader's marks follow the rows closely, so that
		// the sums it keeps cover most rows and replacing a unit's row is
		// exercised (the rows' times are whole seconds).
		reader.Rollups.Margin = 0
		// Folds of more than a few events go a bucket of units at a time.
		reader.Rollups.RowsPerFold = 60
		raw := rawReader(conn)
		for batch := 0; len(stream) > 0; batch++ {
			n := min(len(stream), 1+r.IntN(400))
			aggInsert(t, conn, stream[:n])
			stream = stream[n:]
			got := mustAggregates(t, reader, "exp")
			want, err := raw.RawAggregates(ctx, "exp")
			if err != nil {
				t.Fatal(err)
			}
			sameAggregates(t, "rollup after a batch", got, want)
			// Merges fold a unit's rows while a reader keeps sums of
			// some of them; a reader new to the experiment reads it
			// whole, from units of one row and of several.
			if batch%3 == 2 {
				time.Sleep(time.Second)
				for _, table := range []string{"unit_state", "unit_rollup"} {
					if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
						t.Fatal(err)
					}
				}
				sameAggregates(t, "a new reader", mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp"), want)
			}
		}
		sameAggregates(t, "rollup against Go", mustAggregates(t, reader, "exp"), aggWant(events, "exp"))
		sameAggregates(t, "the other experiment", mustAggregates(t, reader, "other"), aggWant(events, "other"))

		if err := reader.Rollups.Backfill(ctx, 3, nil); err != nil {
			t.Fatal(err)
		}
		sameAggregates(t, "rollup after a second back-fill", mustAggregates(t, reader, "exp"), aggWant(events, "exp"))
	}
}

// TestRollupsBackfillUpgrade: a deployment upgraded in place has events but
// no rollup yet. It is pending, the back-fill folds its history bucket by
// bucket with progress, and then reports equal the raw events' before and
// after new events arrive.
func TestRollupsBackfillUpgrade(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	events := aggSeed(21)
	aggInsert(t, conn, events, aggReplays(events, 22))
	before, err := rawReader(conn).RawAggregates(ctx, "exp")
	if err != nil {
		t.Fatal(err)
	}
	rollups := clickhouse.NewRollups(conn)
	if pending, err := rollups.Pending(ctx); err != nil || !pending {
		t.Fatalf("Pending before any fold = %v, %v; want true", pending, err)
	}
	var progress [][2]int
	if err := rollups.Backfill(ctx, 4, func(done, of int) { progress = append(progress, [2]int{done, of}) }); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{1, 4}, {2, 4}, {3, 4}, {4, 4}}; !reflect.DeepEqual(progress, want) {
		t.Errorf("progress = %v, want %v", progress, want)
	}
	if pending, err := clickhouse.NewRollups(conn).Pending(ctx); err != nil || pending {
		t.Errorf("Pending after the back-fill = %v, %v; want false", pending, err)
	}
	// migrate then saves each experiment's sums, once.
	primer := clickhouse.NewAggregateReader(conn)
	var primed []string
	for range 2 {
		if err := primer.PrimeSums(ctx, func(key string, done, of int) { primed = append(primed, fmt.Sprintf("%s %d/%d", key, done, of)) }); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"exp 1/2", "other 2/2"}; !reflect.DeepEqual(primed, want) {
		t.Errorf("PrimeSums twice told %v, want %v (the second run has nothing to save)", primed, want)
	}
	var saved uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM report_sums WHERE experiment = 'exp' AND kind = ''").Scan(&saved); err != nil || saved != 1 {
		t.Errorf("report_sums rows of exp after priming = %d, %v; want 1", saved, err)
	}
	// A new server starts from the recorded mark and the saved sums, and
	// reads the same.
	after := mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp")
	sameAggregates(t, "after the upgrade", after, before)

	followsNewEvents(t, conn, "after new events", aggSeedAs(23, "-later"))
}

// TestRollupsCompact: a back-fill in buckets and a fold leave the rollups
// in several parts; Compact merges each table into one part per
// partition, and every report number and every unit's activity read
// afterwards is what it was, and still follows new events.
func TestRollupsCompact(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	events := aggSeed(31)
	aggInsert(t, conn, events, aggReplays(events, 32))
	reports, activity := clickhouse.NewRollups(conn), clickhouse.NewActivityRollups(conn)
	for _, r := range []*clickhouse.Rollups{reports, activity} {
		if err := r.Backfill(ctx, 4, nil); err != nil {
			t.Fatal(err)
		}
	}
	more := aggSeedAs(33, "-later")
	aggInsert(t, conn, more)
	if err := reports.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	tables := []string{"unit_rollup", "unit_state", "unit_activity"}
	// Parts per partition, at most, of each table.
	parts := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, table := range tables {
			var n uint64
			q := "SELECT max(c) FROM (SELECT count() AS c FROM system.parts WHERE database = currentDatabase() AND table = ? AND active GROUP BY partition_id)"
			if err := conn.QueryRow(ctx, q, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	// Background merges may have taken some parts in already; the back-fill
	// and the fold write five to each table, so a table in one part here is
	// rare, and then the check after Compact says less about it.
	before := parts()
	for _, table := range tables {
		if before[table] < 2 {
			t.Logf("%s is already in one part a partition before Compact (background merges)", table)
		}
	}
	units := make([]string, 0, len(events))
	for _, e := range events {
		units = append(units, e.Unit)
	}
	today := analytics.Day(time.Date(2025, 5, 10, 0, 0, 0, 0, time.UTC)) // after aggSeed's events
	activityOf := func() []traits.UnitActivity {
		got, err := newTraitReader(conn, true).Activity(ctx, units, today)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	wantAgg := mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp")
	wantAct := activityOf()
	days := 0
	for _, a := range wantAct {
		days += len(a.Days)
	}
	if days == 0 {
		t.Fatal("no unit has a day of activity before Compact: the comparison would say nothing")
	}

	var told []string
	for _, r := range []*clickhouse.Rollups{reports, activity} {
		if err := r.Compact(ctx, func(table string) { told = append(told, table) }); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(told, tables) {
		t.Errorf("Compact told %v, want %v", told, tables)
	}
	for table, n := range parts() {
		if n != 1 {
			t.Errorf("%s: %d parts in a partition after Compact, want 1 (%d before)", table, n, before[table])
		}
	}
	sameAggregates(t, "after Compact", mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp"), wantAgg)
	sameActivity(t, "after Compact", activityOf(), wantAct)

	followsNewEvents(t, conn, "new events after Compact", aggSeedAs(34, "-after"))
}

// followsNewEvents inserts events and requires exp's aggregates, read
// through the rollups, to be the raw events' then.
func followsNewEvents(t *testing.T, conn driver.Conn, what string, events []analytics.Event) {
	t.Helper()
	aggInsert(t, conn, events)
	raw, err := rawReader(conn).RawAggregates(context.Background(), "exp")
	if err != nil {
		t.Fatal(err)
	}
	sameAggregates(t, what, mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp"), raw)
}

func rawReader(conn driver.Conn) *clickhouse.AggregateReader {
	r := clickhouse.NewAggregateReader(conn)
	r.Rollups = nil
	return r
}

func mustAggregates(t *testing.T, r *clickhouse.AggregateReader, key string) results.Aggregates {
	t.Helper()
	a, err := r.Aggregates(context.Background(), key)
	if err != nil {
		t.Fatalf("Aggregates(%s): %v", key, err)
	}
	return a
}

func sameAggregates(t *testing.T, what string, got, want results.Aggregates) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	t.Fatalf("%s: aggregates differ\ngot:\n%s\nwant:\n%s", what, g, w)
}

// TestRollupsFirstCopyCounts: of two copies of one event id that differ in
// content, sent in requests a second apart, the copy received first is the
// event (README, "Event identity"), in the rollup and in the raw query
// alike, even when the later copy arrives after a fold.
func TestRollupsFirstCopyCounts(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	exposure := analytics.Event{ID: "x-1", Kind: analytics.KindExposure, Experiment: "exp", Segment: "s", Variant: "a", Version: 1, Unit: "u1", Time: at}
	first := analytics.Event{ID: "e-1", Kind: analytics.KindConversion, Experiment: "exp", Unit: "u1", Time: at.Add(time.Hour), Value: 10}
	aggInsert(t, conn, []analytics.Event{exposure, first})
	reader := clickhouse.NewAggregateReader(conn)
	mustAggregates(t, reader, "exp")    // folds the first copy
	time.Sleep(1100 * time.Millisecond) // received_at has whole seconds
	later := first
	later.Value, later.Machine = 99, true
	aggInsert(t, conn, []analytics.Event{later})

	got := mustAggregates(t, reader, "exp")
	raw, err := rawReader(conn).RawAggregates(ctx, "exp")
	if err != nil {
		t.Fatal(err)
	}
	sameAggregates(t, "rollup against raw", got, raw)
	if len(got.Arms) != 1 || got.Arms[0].Value != 10 || got.Arms[0].Conversions.Units != 1 || got.Arms[0].Conversions.MachineEvents != 0 {
		t.Errorf("arms = %+v, want one conversion of value 10, human, counted once", got.Arms)
	}
}

// TestRollupsFoldEachPartOnce: folds within the mark's margin of an insert
// would read its rows again; a part folded whole is left out, so the
// second of two folds in a row folds nothing, nor does a new process's
// first fold (the block is kept with the mark), and the report is still
// the raw events'.
func TestRollupsFoldEachPartOnce(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	events := aggSeed(31)
	half := len(events) / 2
	aggInsert(t, conn, events[:half])
	rollups := clickhouse.NewRollups(conn)
	// A margin no fold here outlives: every mark stays before every row.
	rollups.Margin = time.Hour
	var folds int
	rollups.CountFolds(&folds)
	if err := rollups.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	aggInsert(t, conn, events[half:])
	for range 2 {
		if err := rollups.Fold(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first fold and the news once; a fold that read the news again
	// would be a third.
	if folds != 2 {
		t.Errorf("windows folded = %d, want 2: the first fold and the new events once", folds)
	}
	// A new process starts from the recorded mark and block: nothing to
	// fold either.
	restarted := clickhouse.NewRollups(conn)
	restarted.Margin = time.Hour
	folds = 0
	restarted.CountFolds(&folds)
	if err := restarted.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	if folds != 0 {
		t.Errorf("windows folded by a new process = %d, want 0: every part was folded whole", folds)
	}
	reader := clickhouse.NewAggregateReader(conn)
	reader.Rollups = rollups
	raw, err := rawReader(conn).RawAggregates(ctx, "exp")
	if err != nil {
		t.Fatal(err)
	}
	sameAggregates(t, "rollup against raw", mustAggregates(t, reader, "exp"), raw)
}

// TestRollupByUnitUpgrade: a deployment whose unit_rollup is sorted by
// experiment first (migration 0015) and folded takes migration 0016, which
// copies the states into the table sorted by unit, leaves unit_state as it
// was, and reports the same numbers before and after, from the same mark,
// and after new events.
func TestRollupByUnitUpgrade(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	const upgrade = "0016_unit_rollup_by_unit.sql"
	// Back to 0015: its unit_rollup, and 0016 not applied.
	undoMigration(t, conn, upgrade, "0015_report_sections.sql", "unit_rollup", "ORDER BY (experiment, uh)")
	events := aggSeed(41)
	for i := range events {
		if i%3 == 0 {
			events[i].Experiment = "other" // units in two experiments
		}
	}
	aggInsert(t, conn, events, aggReplays(events, 42))
	before := mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp")
	raw, err := rawReader(conn).RawAggregates(ctx, "exp")
	if err != nil {
		t.Fatal(err)
	}
	sameAggregates(t, "before the upgrade, against raw", before, raw)

	// Every state, merged per unit, as text: the copy must keep them all.
	states := func() string {
		var out string
		q := `SELECT toString(groupArray((experiment, uh, fo, a, v, amin, amax, x, o, c))) FROM (
			SELECT experiment, uh, minMerge(first) AS fo, argMinMerge(arm) AS a, argMinMerge(ver) AS v, minMerge(arm_min) AS amin,
				maxMerge(arm_max) AS amax, uniqExactMerge(xn) AS x, arraySort(groupUniqArrayMerge(outcomes)) AS o, arraySort(groupUniqArrayMerge(chans)) AS c
			FROM unit_rollup GROUP BY experiment, uh ORDER BY experiment, uh)`
		if err := conn.QueryRow(ctx, q).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	kept := states()
	// unit_state stays row for row, stamps and versions too.
	stateRows := func() (n, sum uint64) {
		q := "SELECT count(), sum(cityHash64(experiment, uh, n, arm, toString(p), toString(ch_names), toString(pre), at, keep)) FROM unit_state"
		if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		return n, sum
	}
	rowsBefore, sumBefore := stateRows()
	applyUpgrade(t, conn, upgrade, "unit_rollup", "ORDER BY (uh, experiment)")
	if n, sum := stateRows(); n != rowsBefore || sum != sumBefore || n < 100 {
		t.Errorf("unit_state after the upgrade: %d rows (sum %x), want the %d rows (sum %x) of before", n, sum, rowsBefore, sumBefore)
	}
	if got := states(); got != kept || len(kept) < 1000 {
		t.Errorf("unit_rollup's states after the upgrade differ from before (%d and %d bytes as text)", len(got), len(kept))
	}
	if pending, err := clickhouse.NewRollups(conn).Pending(ctx); err != nil || pending {
		t.Errorf("Pending after the upgrade = %v, %v; want false: the mark stays", pending, err)
	}
	sameAggregates(t, "after the upgrade", mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp"), before)

	followsNewEvents(t, conn, "after new events", aggSeedAs(43, "-later"))
}
