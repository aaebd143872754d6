package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// TestCustomMetricsByHand: custom metrics of user events after exposure,
// per arm, against counts worked out by hand: only events within the
// window after a unit's first exposure count, in the arm of that exposure;
// a duplicated event counts once; units never exposed count nowhere.
func TestCustomMetricsByHand(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	var evs []analytics.Event
	expose := func(id, unit, variant string, at time.Time) {
		evs = append(evs, analytics.Event{ID: id, Kind: analytics.KindExposure, Time: at, Experiment: "promo",
			Version: 1, Segment: "all", Variant: variant, Unit: unit})
	}
	order := func(id, unit string, at time.Time, total float64) {
		evs = append(evs, analytics.Event{ID: id, Kind: analytics.KindTrack, Time: at, Unit: unit, Name: "order_completed",
			Props: analytics.EncodeProps([]analytics.Prop{{Key: "total", Type: analytics.PropNumber, Num: total}})})
	}
	// Arm a: u1 orders twice in the window (10 + 30), and once after it;
	// u2 orders before its exposure only; u3 never.
	expose("x1", "u1", "a", t0)
	order("o1", "u1", t0.Add(time.Hour), 10)
	order("o2", "u1", t0.Add(24*time.Hour), 30)
	order("o2", "u1", t0.Add(24*time.Hour), 30) // a copy: once
	order("o3", "u1", t0.Add(8*24*time.Hour), 99)
	expose("x2", "u2", "a", t0)
	order("o4", "u2", t0.Add(-time.Hour), 50)
	expose("x3", "u3", "a", t0)
	// Arm b: u4 first exposed in b, later in a: counts in b; one order 5.
	// u5 orders 7 within the window of its first exposure.
	expose("x4", "u4", "b", t0)
	expose("x4b", "u4", "a", t0.Add(time.Hour))
	order("o5", "u4", t0.Add(2*time.Hour), 5)
	expose("x5", "u5", "b", t0.Add(time.Hour))
	order("o6", "u5", t0.Add(167*time.Hour), 7)
	// Never exposed.
	order("o7", "u9", t0, 1000)
	if err := sink.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	exp := experiment.Experiment{Key: "promo", CustomMetrics: []experiment.CustomMetric{
		{Key: "buyers", Kind: experiment.CustomConversion, Event: "order_completed"},
		{Key: "revenue", Kind: experiment.CustomSum, Event: "order_completed", Property: "total"},
		{Key: "orders", Kind: experiment.CustomCount, Event: "order_completed"},
	}}
	got, err := clickhouse.NewCustomMetricReader(conn).CustomMetrics(ctx, exp)
	if err != nil {
		t.Fatal(err)
	}
	want := []results.CustomAggregate{
		{Metric: "custom.buyers", Segment: "all", Variant: "a", Units: 3, Converted: 1, Sum: 2, SumSq: 4},
		{Metric: "custom.buyers", Segment: "all", Variant: "b", Units: 2, Converted: 2, Sum: 2, SumSq: 2},
		{Metric: "custom.revenue", Segment: "all", Variant: "a", Units: 3, Converted: 1, Sum: 40, SumSq: 1600},
		{Metric: "custom.revenue", Segment: "all", Variant: "b", Units: 2, Converted: 2, Sum: 12, SumSq: 74},
		{Metric: "custom.orders", Segment: "all", Variant: "a", Units: 3, Converted: 1, Sum: 2, SumSq: 4},
		{Metric: "custom.orders", Segment: "all", Variant: "b", Units: 2, Converted: 2, Sum: 2, SumSq: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("CustomMetrics = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("CustomMetrics[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
