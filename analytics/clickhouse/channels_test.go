package clickhouse_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// channelSeed is an experiment "exp" sent on several channels: units
// reached on one or two (some on a channel left empty), some later in
// another arm on another channel, with opens, clicks, unsubscribes and
// complaints on one of their channels, another or none, some
// machine-flagged, and conversions (no channel) with values.
func channelSeed(seed uint64, units int) []analytics.Event {
	r := rand.New(rand.NewPCG(seed, 11))
	t0 := time.Date(2025, 6, 10, 8, 0, 0, 0, time.UTC)
	var out []analytics.Event
	add := func(e analytics.Event) {
		e.ID = fmt.Sprintf("ce-%d-%05d", seed, len(out))
		e.Experiment = "exp"
		out = append(out, e)
	}
	channels := []string{"email", "push", "sms", ""}
	kinds := []analytics.Kind{analytics.KindOpen, analytics.KindClick, analytics.KindConversion, analytics.KindUnsubscribe, analytics.KindComplaint}
	for u := range units {
		unit := fmt.Sprintf("cu%d-%d", seed, u)
		seg := []string{"s1", "s2"}[u%2]
		v := []string{"a", "b"}[r.IntN(2)]
		at := t0.Add(time.Duration(r.IntN(2*24*3600)) * time.Second)
		ch := channels[r.IntN(len(channels))]
		add(analytics.Event{Kind: analytics.KindExposure, Time: at, Segment: seg, Variant: v, Unit: unit, Channel: ch})
		if r.IntN(3) == 0 { // another channel later, sometimes in another arm
			v2 := v
			if r.IntN(2) == 0 {
				v2 = "c"
			}
			add(analytics.Event{Kind: analytics.KindExposure, Time: at.Add(time.Duration(1+r.IntN(3600)) * time.Second),
				Segment: seg, Variant: v2, Unit: unit, Channel: channels[r.IntN(len(channels))]})
		}
		for range r.IntN(5) {
			k := kinds[r.IntN(len(kinds))]
			e := analytics.Event{Kind: k, Time: at.Add(time.Duration(1+r.IntN(48*3600)) * time.Second),
				Segment: seg, Variant: v, Unit: unit, Machine: r.IntN(5) == 0}
			if k == analytics.KindConversion {
				e.Value = float64(r.IntN(10000)) / 100
			} else {
				e.Channel = channels[r.IntN(len(channels))]
			}
			add(e)
		}
	}
	return out
}

// TestChannelsRolledEqualRaw: the per-channel counts read from the
// rollups equal those of the raw events' query, copies and all, and still
// after more events (the kept counts updated, not read whole).
func TestChannelsRolledEqualRaw(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	raw := clickhouse.NewChannelReader(conn)
	rolled := clickhouse.NewChannelReader(conn)
	rolled.Rollups = clickhouse.NewRollups(conn)
	rolled.Rollups.Margin = 0
	check := func(stage string) {
		t.Helper()
		want, err := raw.ChannelCounts(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: raw: %v", stage, err)
		}
		if err := rolled.Rollups.Fold(ctx); err != nil { // as the report's aggregates do
			t.Fatal(err)
		}
		got, err := rolled.ChannelCounts(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: rolled: %v", stage, err)
		}
		// A reader new to the counts starts from those saved and must
		// agree.
		fresh := clickhouse.NewChannelReader(conn)
		fresh.Rollups = rolled.Rollups
		again, err := fresh.ChannelCounts(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: a new reader: %v", stage, err)
		}
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Errorf("%s: a new reader read\n%+v\nthe first\n%+v", stage, again, got)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d arm-channels from the rollups, %d from the raw events:\n%+v\n%+v", stage, len(got), len(want), got, want)
		}
		withAll := false
		for i := range want {
			g, w := got[i], want[i]
			gv, wv := g.Counts.Value, w.Counts.Value
			gs, ws := g.Counts.ValueSumSq, w.Counts.ValueSumSq
			g.Counts.Value, w.Counts.Value, g.Counts.ValueSumSq, w.Counts.ValueSumSq = 0, 0, 0, 0
			if fmt.Sprint(g) != fmt.Sprint(w) || math.Abs(gv-wv) > 1e-9*math.Abs(wv) || math.Abs(gs-ws) > 1e-9*math.Abs(ws) {
				t.Errorf("%s: %s/%s on %q: rolled %+v (value %v, %v), raw %+v (value %v, %v)", stage, w.Segment, w.Variant, w.Channel,
					g.Counts, gv, gs, w.Counts, wv, ws)
			}
			c := w.Counts
			withAll = withAll || (c.Opens.Units > 0 && c.Clicks.Units > 0 && c.OpenClickers > 0 && c.Conversions.Units > 0 &&
				c.Unsubscribes.Units > 0 && c.Complaints.Units > 0)
		}
		if !withAll {
			t.Errorf("%s: no arm-channel with every count: the test checks too little", stage)
		}
	}
	early := channelSeed(1, 400)
	aggInsert(t, conn, early, aggReplays(early, 5))
	time.Sleep(1500 * time.Millisecond) // the next fold's mark after these
	check("first read")
	more := channelSeed(1, 600)[len(early):]
	// Copies of early events and news for early units: an open on a
	// channel of theirs, a conversion.
	news := append(aggReplays(early, 6), more...)
	for i, e := range early[:100] {
		if e.Kind == analytics.KindExposure {
			news = append(news, analytics.Event{ID: fmt.Sprintf("late-%d", i), Kind: analytics.KindOpen, Experiment: "exp",
				Time: e.Time.Add(time.Hour), Segment: e.Segment, Variant: e.Variant, Unit: e.Unit, Channel: e.Channel},
				analytics.Event{ID: fmt.Sprintf("late-c-%d", i), Kind: analytics.KindConversion, Experiment: "exp",
					Time: e.Time.Add(2 * time.Hour), Segment: e.Segment, Variant: e.Variant, Unit: e.Unit, Value: 3.5})
		}
	}
	aggInsert(t, conn, news)
	check("after more events")
}

// TestArmFatigueRolledEqualRaw: the fatigue section's messages and
// suppressions per arm read with the rollups equal those of the raw
// events, copies, units exposed in two arms and all, and still after more
// events.
func TestArmFatigueRolledEqualRaw(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	raw := clickhouse.NewFatigueReader(conn)
	rolled := clickhouse.NewFatigueReader(conn)
	rolled.Rollups = clickhouse.NewRollups(conn)
	rolled.Rollups.Margin = 0
	withSuppressed := func(events []analytics.Event, seed uint64) []analytics.Event {
		r := rand.New(rand.NewPCG(seed, 3))
		out := events[:len(events):len(events)]
		for i, e := range events {
			if e.Kind == analytics.KindExposure && r.IntN(4) == 0 {
				out = append(out, analytics.Event{ID: fmt.Sprintf("sup-%d-%d", seed, i), Kind: analytics.KindSuppressed, Experiment: "exp",
					Time: e.Time.Add(time.Hour), Segment: e.Segment, Variant: e.Variant, Unit: e.Unit,
					Name: []string{"unsubscribed", "frequency_cap"}[r.IntN(2)]})
			}
		}
		return out
	}
	check := func(stage string) {
		t.Helper()
		want, err := raw.ArmFatigue(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: raw: %v", stage, err)
		}
		if err := rolled.Rollups.Fold(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := rolled.ArmFatigue(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: rolled: %v", stage, err)
		}
		fresh := clickhouse.NewFatigueReader(conn)
		fresh.Rollups = rolled.Rollups
		again, err := fresh.ArmFatigue(ctx, "exp")
		if err != nil {
			t.Fatalf("%s: a new reader: %v", stage, err)
		}
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Errorf("%s: a new reader read\n%+v\nthe first\n%+v", stage, again, got)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: rolled\n%+v\nraw\n%+v", stage, got, want)
		}
		several := false
		for _, a := range want {
			several = several || (a.Messages > a.MessagedUnits && a.SuppressedUnits > 0)
		}
		if !several {
			t.Errorf("%s: no arm with units sent several messages and suppressions: the test checks too little", stage)
		}
	}
	early := withSuppressed(channelSeed(2, 400), 1)
	aggInsert(t, conn, early, aggReplays(early, 7))
	time.Sleep(1500 * time.Millisecond)
	check("first read")
	more := withSuppressed(channelSeed(2, 600)[len(channelSeed(2, 400)):], 2)
	var again []analytics.Event
	for i, e := range early[:200] {
		if e.Kind == analytics.KindExposure {
			// A retried assignment: the same id, stamped a few seconds
			// later (analytics.Exposure), is one message.
			retry := e
			retry.Time = e.Time.Add(3 * time.Second)
			e.ID, e.Time = fmt.Sprintf("again-%d", i), e.Time.Add(24*time.Hour)
			again = append(again, e, retry)
		}
	}
	aggInsert(t, conn, append(append(aggReplays(early, 8), more...), again...))
	check("after more events")
}

// TestSavedCountsPastQueryLimit: counts whose JSON is longer than
// ClickHouse's default max_query_size (256 KiB: every converter's value is
// an entry) are saved, and a new reader starts from them.
func TestSavedCountsPastQueryLimit(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	t0 := time.Date(2025, 6, 10, 8, 0, 0, 0, time.UTC)
	var events []analytics.Event
	for u := range 4000 {
		unit := fmt.Sprintf("big-%d", u)
		events = append(events,
			analytics.Event{ID: unit + "-x", Kind: analytics.KindExposure, Experiment: "exp", Time: t0, Segment: "s", Variant: []string{"a", "b"}[u%2], Unit: unit, Channel: "email"},
			analytics.Event{ID: unit + "-c", Kind: analytics.KindConversion, Experiment: "exp", Time: t0.Add(time.Hour), Segment: "s", Variant: []string{"a", "b"}[u%2], Unit: unit, Value: 1 + float64(u)/1000})
	}
	aggInsert(t, conn, events)
	rolled := clickhouse.NewChannelReader(conn)
	rolled.Rollups = clickhouse.NewRollups(conn)
	rolled.Rollups.Margin = 0
	if err := rolled.Rollups.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	// The counts saved are those as of a mark before the rows' insert
	// ended: a second later, they are all of them.
	time.Sleep(1500 * time.Millisecond)
	if err := rolled.Rollups.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := rolled.ChannelCounts(ctx, "exp")
	if err != nil {
		t.Fatalf("ChannelCounts: %v", err)
	}
	var size uint64
	if err := conn.QueryRow(ctx, "SELECT max(length(sums)) FROM report_sums WHERE kind = 'channels/0'").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size <= 256<<10 {
		t.Fatalf("saved counts of %d bytes: the test needs more than 256 KiB", size)
	}
	fresh := clickhouse.NewChannelReader(conn)
	fresh.Rollups = rolled.Rollups
	again, err := fresh.ChannelCounts(ctx, "exp")
	if err != nil {
		t.Fatalf("a new reader: %v", err)
	}
	if len(got) != 2 || got[0].Counts.Exposed != 2000 || got[0].Counts.Conversions.Units != 2000 || fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("counts %+v, a new reader's %+v; want 2000 converted units in each arm, the same", got, again)
	}
}
