package clickhouse_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// userEventRow is a row of user_events, every column the sink writes.
type userEventRow struct {
	EventID string    `ch:"event_id"`
	Time    time.Time `ch:"time"`
	Unit    string    `ch:"unit"`
	Name    string    `ch:"name"`
	SKeys   []string  `ch:"s_keys"`
	SVals   []string  `ch:"s_vals"`
	NKeys   []string  `ch:"n_keys"`
	NVals   []float64 `ch:"n_vals"`
	BKeys   []string  `ch:"b_keys"`
	BVals   []uint8   `ch:"b_vals"`
	LKeys   []string  `ch:"l_keys"`
	LVals   []string  `ch:"l_vals"`
}

// TestEventSinkUserEvents: a batch mixing message and user events puts each
// in its table, the properties in their typed parallel arrays.
func TestEventSinkUserEvents(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	at := time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)
	props := analytics.EncodeProps([]analytics.Prop{
		{Key: "total", Type: analytics.PropNumber, Num: 49.5},
		{Key: "category", Type: analytics.PropString, Str: "shoes"},
		{Key: "gift", Type: analytics.PropBool, Bool: true},
		{Key: "tags", Type: analytics.PropList, List: []string{"sale", "new"}},
	})
	batch := []analytics.Event{
		{ID: "t:1", Kind: analytics.KindTrack, Time: at, Unit: "u-1", Name: "order_completed", Props: props},
		{ID: "ev-1", Kind: analytics.KindOpen, Time: at, Experiment: "welcome", Unit: "u-1"},
		{ID: "t:2", Kind: analytics.KindTrack, Time: at.Add(time.Hour), Unit: "u-2", Name: "ticket_opened"},
	}
	if err := sink.Write(ctx, batch); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var rows []userEventRow
	if err := conn.Select(ctx, &rows, "SELECT event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals FROM user_events ORDER BY event_id"); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("user_events has %d rows, want 2: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.EventID != "t:1" || !r.Time.Equal(at) || r.Unit != "u-1" || r.Name != "order_completed" ||
		!slices.Equal(r.SKeys, []string{"category"}) || !slices.Equal(r.SVals, []string{"shoes"}) ||
		!slices.Equal(r.NKeys, []string{"total"}) || !slices.Equal(r.NVals, []float64{49.5}) ||
		!slices.Equal(r.BKeys, []string{"gift"}) || !slices.Equal(r.BVals, []uint8{1}) ||
		!slices.Equal(r.LKeys, []string{"tags", "tags"}) || !slices.Equal(r.LVals, []string{"sale", "new"}) {
		t.Errorf("user_events row = %+v", r)
	}
	if r := rows[1]; r.EventID != "t:2" || len(r.SKeys)+len(r.NKeys)+len(r.BKeys)+len(r.LKeys) != 0 {
		t.Errorf("user_events row = %+v, want t:2 with no properties", r)
	}
	var kinds string
	if err := conn.QueryRow(ctx, "SELECT arrayStringConcat(groupArray(kind), ',') FROM events").Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	if kinds != "open" {
		t.Errorf("events kinds = %v, want the one open", kinds)
	}
}
