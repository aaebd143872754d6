package clickhouse_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/experiment"
)

// eventRow is a row of the events table, every column.
type eventRow struct {
	EventID       string    `ch:"event_id"`
	Kind          string    `ch:"kind"`
	Time          time.Time `ch:"time"`
	Date          time.Time `ch:"date"`
	Experiment    string    `ch:"experiment"`
	Version       uint32    `ch:"version"`
	Segment       string    `ch:"segment"`
	Variant       string    `ch:"variant"`
	Unit          string    `ch:"unit"`
	SendID        string    `ch:"send_id"`
	Channel       string    `ch:"channel"`
	Name          string    `ch:"name"`
	Value         float64   `ch:"value"`
	URL           string    `ch:"url"`
	Machine       uint8     `ch:"machine"`
	MachineReason string    `ch:"machine_reason"`
	ReceivedAt    time.Time `ch:"received_at"`
	DimKeys       []string  `ch:"dim_keys"`
	DimValues     []string  `ch:"dim_values"`
}

func TestEventSinkRoundTrip(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	if err := sink.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// Not UTC, and with nanoseconds: stored as UTC seconds.
	paris := time.FixedZone("CET", 3600)
	want := []analytics.Event{{
		ID: "ev-1", Kind: analytics.KindClick, Time: time.Date(2025, 3, 1, 0, 30, 15, 999_000_000, paris),
		Experiment: "welcome", Version: 3, Segment: "pro", Variant: "short", Unit: "user-42", SendID: "send-7",
		Channel: "email", Name: "", Value: 0, URL: "https://example.com/start?a=1&b=é",
		Machine: true, MachineReason: "scanner: clicked 2s after delivery",
	}, {
		ID: "ev-2", Kind: analytics.KindConversion, Time: time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC),
		Experiment: "welcome", Version: 3, Segment: "everyone", Variant: "control", Unit: "user-43",
		Channel: "push", Name: "purchase", Value: 49.95,
	}, {
		ID: "ev-3", Kind: analytics.KindExposure, Time: time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC),
		Experiment: "welcome", Version: 3, Segment: "pro", Variant: "short", Unit: "user-44", Channel: "email",
		Dims: analytics.EncodeDims([]string{"country", "channel"}, []string{"FR", "email"}),
	}}
	start := time.Now().Add(-time.Minute)
	if err := sink.Write(ctx, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := sink.Write(ctx, nil); err != nil {
		t.Errorf("Write(nil) = %v", err)
	}
	var got []eventRow
	if err := conn.Select(ctx, &got, "SELECT * FROM events ORDER BY event_id"); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("events has %d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		machine := uint8(0)
		if w.Machine {
			machine = 1
		}
		wantTime := w.Time.UTC().Truncate(time.Second)
		back := analytics.Event{ID: g.EventID, Kind: analytics.Kind(g.Kind), Time: g.Time.UTC(), Experiment: g.Experiment,
			Version: g.Version, Segment: g.Segment, Variant: g.Variant, Unit: g.Unit, SendID: g.SendID, Channel: g.Channel,
			Name: g.Name, Value: g.Value, URL: g.URL, Machine: g.Machine == 1, MachineReason: g.MachineReason,
			Dims: analytics.EncodeDims(g.DimKeys, g.DimValues)}
		w.Time = wantTime
		if back != w {
			t.Errorf("row %d = %+v, want %+v", i, back, w)
		}
		if g.Machine != machine {
			t.Errorf("row %d machine = %d, want %d", i, g.Machine, machine)
		}
		if y, m, d := g.Date.Date(); y != wantTime.Year() || m != wantTime.Month() || d != wantTime.Day() {
			t.Errorf("row %d date = %v, want the date of %v", i, g.Date, wantTime)
		}
		if g.ReceivedAt.Before(start) {
			t.Errorf("row %d received_at = %v, want about now", i, g.ReceivedAt)
		}
	}
}

// TestEventSinkDuplicates writes the same events more than once, as spool
// replays and retried conversions do. The sink keeps every copy; queries
// count distinct event ids, and ReplacingMergeTree folds the copies when it
// merges (see the events table). Both must give the distinct count.
func TestEventSinkDuplicates(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	events := make([]analytics.Event, 100)
	for i := range events {
		events[i] = testEvent(i)
	}
	for _, batch := range [][]analytics.Event{events, events[:50], events[25:75], events} {
		if err := sink.Write(ctx, batch); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	count := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT count() FROM events"); n != 300 {
		t.Errorf("count() = %d rows, want all 300 copies before a merge", n)
	}
	if n := count("SELECT count(DISTINCT event_id) FROM events"); n != 100 {
		t.Errorf("count(DISTINCT event_id) = %d, want 100", n)
	}
	if n := count("SELECT uniqExact(event_id) FROM events WHERE kind = 'click'"); n != uint64(100/len(kinds)) {
		t.Errorf("uniqExact(event_id) of clicks = %d, want %d", n, 100/len(kinds))
	}
	if err := conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count() FROM events"); n != 100 {
		t.Errorf("count() after OPTIMIZE FINAL = %d, want 100", n)
	}
}

var kinds = []analytics.Kind{analytics.KindExposure, analytics.KindOpen, analytics.KindClick, analytics.KindConversion}

func testEvent(i int) analytics.Event {
	return analytics.Event{
		ID:         fmt.Sprintf("ev-%07d", i),
		Kind:       kinds[i%len(kinds)],
		Time:       time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Experiment: "welcome",
		Version:    uint32(1 + i%3),
		Segment:    []string{"pro", "everyone"}[i%2],
		Variant:    []string{"control", "short", "personal"}[i%3],
		Unit:       fmt.Sprintf("user-%d", i/4),
		SendID:     fmt.Sprintf("send-%d", i/4),
		Channel:    "email",
		URL:        "https://example.com/start",
		Value:      float64(i%10) * 1.5,
		Machine:    i%17 == 0,
	}
}

// deadConn returns a connection to a port where nothing listens.
func deadConn(t *testing.T) driver.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	conn := deadConn(t)
	sink := clickhouse.NewEventSink(conn)
	if err := sink.Write(ctx, []analytics.Event{testEvent(1)}); experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		t.Errorf("Write to a down server = %v, want EUNAVAILABLE", err)
	}
	if err := sink.Ping(ctx); experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		t.Errorf("Ping of a down server = %v, want EUNAVAILABLE", err)
	}
	s := clickhouse.NewExperimentStore(conn)
	if _, err := s.Get(ctx, "welcome"); experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		t.Errorf("Get from a down server = %v, want EUNAVAILABLE", err)
	}
	if _, err := s.List(ctx, experiment.Filter{}); experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		t.Errorf("List from a down server = %v, want EUNAVAILABLE", err)
	}
}

// TestEventSinkLargeBatch writes a batch of the ingester's default size,
// which the sink sends as several blocks: every row arrives, with its
// values, and ClickHouse stores the INSERT as one part (it squashes an
// INSERT's blocks), as it would one big block.
func TestEventSinkLargeBatch(t *testing.T) {
	ctx := context.Background()
	conn, db := env.NewDatabase(t)
	events := make([]analytics.Event, ingest.DefaultMaxBatch+123)
	for i := range events {
		events[i] = testEvent(i)
	}
	if err := clickhouse.NewEventSink(conn).Write(ctx, events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var rows, ids, parts uint64
	var sum float64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id), sum(value) FROM events").Scan(&rows, &ids, &sum); err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, e := range events {
		want += e.Value
	}
	if rows != uint64(len(events)) || ids != uint64(len(events)) || sum != want {
		t.Errorf("events holds %d rows, %d ids, sum(value) %v; want %d, %d, %v", rows, ids, sum, len(events), len(events), want)
	}
	var last eventRow
	if err := conn.QueryRow(ctx, "SELECT * FROM events WHERE event_id = ?", events[len(events)-1].ID).ScanStruct(&last); err != nil {
		t.Fatal(err)
	}
	if w := events[len(events)-1]; last.Unit != w.Unit || last.Variant != w.Variant || !last.Time.Equal(w.Time) || (last.Machine == 1) != w.Machine {
		t.Errorf("last row = %+v, want %+v", last, w)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = 'events' AND active", db).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 1 {
		t.Errorf("the INSERT made %d parts, want 1", parts)
	}
}

// storedEvents reads back every row of the events table as events, ordered
// by id, failing if an id is stored twice.
func storedEvents(t *testing.T, conn driver.Conn) []analytics.Event {
	t.Helper()
	var rows []eventRow
	if err := conn.Select(context.Background(), &rows, "SELECT * FROM events ORDER BY event_id"); err != nil {
		t.Fatal(err)
	}
	events := make([]analytics.Event, len(rows))
	for i, g := range rows {
		if i > 0 && g.EventID == rows[i-1].EventID {
			t.Fatalf("event %s is stored twice", g.EventID)
		}
		events[i] = analytics.Event{ID: g.EventID, Kind: analytics.Kind(g.Kind), Time: g.Time.UTC(), Experiment: g.Experiment,
			Version: g.Version, Segment: g.Segment, Variant: g.Variant, Unit: g.Unit, SendID: g.SendID, Channel: g.Channel,
			Name: g.Name, Value: g.Value, URL: g.URL, Machine: g.Machine == 1, MachineReason: g.MachineReason}
	}
	return events
}

// checkStored fails unless the events table holds exactly want, every
// column of every row, times as UTC seconds.
func checkStored(t *testing.T, conn driver.Conn, want []analytics.Event) {
	t.Helper()
	want = slices.Clone(want)
	for i := range want {
		want[i].Time = want[i].Time.UTC().Truncate(time.Second)
	}
	slices.SortFunc(want, func(a, b analytics.Event) int { return strings.Compare(a.ID, b.ID) })
	got := storedEvents(t, conn)
	if len(got) != len(want) {
		t.Fatalf("events holds %d rows, want %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
			if bad++; bad == 5 {
				t.FailNow()
			}
		}
	}
}

// TestEventSinkReusesColumns writes batches of decreasing size, with
// longer and then shorter strings, through one sink, which keeps its
// column storage from one Write to the next: no row of a Write may carry
// anything of an earlier one.
func TestEventSinkReusesColumns(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	var all []analytics.Event
	next := 0
	batch := func(n int, edit func(e *analytics.Event)) []analytics.Event {
		events := make([]analytics.Event, n)
		for i := range events {
			events[i] = testEvent(next)
			edit(&events[i])
			next++
		}
		return events
	}
	long := strings.Repeat("é-long-", 40)
	for _, events := range [][]analytics.Event{
		// Two blocks, the second partly filled.
		batch(2*8192+7, func(e *analytics.Event) {}),
		// Fewer rows, with strings longer than any before.
		batch(300, func(e *analytics.Event) { e.URL, e.Name, e.MachineReason = long+e.ID, "purchase", long }),
		// Fewer still, with the optional strings empty.
		batch(3, func(e *analytics.Event) { e.URL, e.SendID, e.Segment = "", "", "" }),
		batch(1, func(e *analytics.Event) { e.Machine, e.MachineReason = true, "bot" }),
	} {
		if err := sink.Write(ctx, events); err != nil {
			t.Fatalf("Write of %d events: %v", len(events), err)
		}
		all = append(all, events...)
	}
	checkStored(t, conn, all)
}

// TestEventSinkConcurrent writes through one sink from several goroutines
// at once, as the ingester does with the parts of a large batch: each Write
// borrows column storage that no other may use meanwhile.
func TestEventSinkConcurrent(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	const writers, writes = 4, 3
	var all []analytics.Event
	batches := make([][][]analytics.Event, writers)
	for w := range batches {
		for k := range writes {
			events := make([]analytics.Event, 500+1000*k+w)
			for i := range events {
				events[i] = testEvent(len(all))
				events[i].Channel = fmt.Sprintf("writer-%d", w)
				all = append(all, events[i])
			}
			batches[w] = append(batches[w], events)
		}
	}
	var wg sync.WaitGroup
	for w := range batches {
		wg.Go(func() {
			for _, events := range batches[w] {
				if err := sink.Write(ctx, events); err != nil {
					t.Errorf("writer %d: Write of %d events: %v", w, len(events), err)
				}
			}
		})
	}
	wg.Wait()
	checkStored(t, conn, all)
}

// TestEventSinkColumnTypeChanged writes to an events table whose version
// column is not the UInt32 that the sink appends: Write must fail, as an
// internal error that names the column, and write nothing.
func TestEventSinkColumnTypeChanged(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	for _, q := range []string{
		"RENAME TABLE events TO events_old",
		"CREATE TABLE events AS events_old",
		"ALTER TABLE events MODIFY COLUMN version UInt64",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	err := clickhouse.NewEventSink(conn).Write(ctx, []analytics.Event{testEvent(1)})
	if err == nil || experiment.ErrorCode(err) == experiment.EUNAVAILABLE || !strings.Contains(err.Error(), "version") {
		t.Fatalf("Write to an events table with version UInt64 = %v, want an internal error naming version", err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the failed Write stored %d rows, want none", n)
	}
}
