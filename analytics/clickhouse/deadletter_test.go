package clickhouse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/ingest"
)

// TestIngestDeadLettersRefusedRows: a batch that ClickHouse refuses for
// some of its rows is sifted: exactly those rows go to the dead-letter
// file, with a metric, and every other row lands; nothing stays spooled
// (issue 16, item 7: such a batch was retried from the spool for ever and
// blocked what came after it). The refusal is ClickHouse's own: a
// materialized view on events that throws for unit "poison" (the table
// keeps the rows it wrote before the view threw; the ingester cannot tell,
// and must not care).
func TestIngestDeadLettersRefusedRows(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	if err := conn.Exec(ctx, `CREATE MATERIALIZED VIEW poison ENGINE = Null AS SELECT throwIf(unit = 'poison') AS refused FROM events`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ing, err := ingest.Open(ingest.Config{Sink: clickhouse.NewEventSink(conn), Dir: dir, FlushInterval: 50 * time.Millisecond,
		RetryMin: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var events []analytics.Event
	var poisoned []string
	for i := range 1000 {
		ev := analytics.Event{ID: fmt.Sprintf("dl-%d", i), Kind: analytics.KindConversion, Time: now, Experiment: "dl",
			Segment: "s", Variant: "v", Unit: fmt.Sprintf("u-%d", i)}
		if i%333 == 7 {
			ev.Unit = "poison"
			poisoned = append(poisoned, ev.ID)
		}
		events = append(events, ev)
	}
	if err := ing.Log(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := ing.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := ing.Stats()
	if st.DeadLettered != int64(len(poisoned)) || st.SpoolBatches != 0 || st.EventsLost != 0 {
		t.Errorf("after Close: %d dead-lettered, %d batches spooled, %d lost; want %d, 0, 0",
			st.DeadLettered, st.SpoolBatches, st.EventsLost, len(poisoned))
	}
	var landed uint64
	if err := conn.QueryRow(ctx, `SELECT uniqExact(event_id) FROM events WHERE unit != 'poison'`).Scan(&landed); err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(events) - len(poisoned)); landed != want {
		t.Errorf("%d good events landed, want %d", landed, want)
	}
	f, err := os.Open(filepath.Join(dir, ingest.DeadLetterName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dead []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Error string
			Event analytics.Event
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Error == "" {
			t.Errorf("dead-letter line %s: %v, want an event and its error", sc.Bytes(), err)
		}
		dead = append(dead, line.Event.ID)
	}
	slices.Sort(dead)
	slices.Sort(poisoned)
	if !slices.Equal(dead, poisoned) {
		t.Errorf("dead-letter file holds %v, want %v", dead, poisoned)
	}
}
