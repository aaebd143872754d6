package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/experiment"
)

// TestFatigueReader stores sends and signals and reads them back: each
// send's key is fatigue.SendKey of its event id (so the gate knows a send
// it counted itself), its channel and time as stored; a signal by its
// latest time per unit, channel and kind; an incremental read since the
// mark gets only what was stored after it; sends before from are left out.
func TestFatigueReader(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := context.Background()
	ids := analytics.NewIDs()
	now := time.Now().UTC().Truncate(time.Second)
	exp := func(unit, send, ch string, at time.Time) analytics.Event {
		return analytics.Exposure(ids, analytics.Arm{Experiment: "e", Segment: "s", Variant: "a", Unit: unit, SendID: send}, ch, at)
	}
	old := exp("u1", "", "email", now.Add(-48*time.Hour))
	events := []analytics.Event{
		exp("u1", "s1", "email", now.Add(-time.Hour)), exp("u1", "", "push", now.Add(-time.Minute)), old,
		{ID: "e:1", Kind: analytics.KindUnsubscribe, Experiment: "e", Unit: "u2", Channel: "sms", Time: now.Add(-3 * time.Minute)},
		{ID: "e:2", Kind: analytics.KindUnsubscribe, Experiment: "e", Unit: "u2", Channel: "sms", Time: now.Add(-2 * time.Minute)},
		{ID: "e:3", Kind: analytics.KindResubscribe, Experiment: "e", Unit: "u2", Time: now.Add(-time.Minute)},
	}
	sink := clickhouse.NewEventSink(conn)
	if err := sink.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	r := clickhouse.NewFatigueReader(conn)
	b, mark, err := r.Fatigue(ctx, time.Time{}, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]fatigue.Send{}
	for _, e := range events[:2] {
		want[fatigue.SendKey(e.ID)] = fatigue.Send{Unit: fatigue.KeyOf(e.Unit), Channel: experiment.Channel(e.Channel), ID: fatigue.SendKey(e.ID), Time: e.Time}
	}
	if len(b.Sends) != 2 {
		t.Fatalf("read %d sends %+v, want the 2 within the day", len(b.Sends), b.Sends)
	}
	for _, s := range b.Sends {
		w, ok := want[s.ID]
		if !ok || s.Unit != w.Unit || s.Channel != w.Channel || !s.Time.Equal(w.Time) {
			t.Errorf("read send %+v, want one of %+v", s, want)
		}
	}
	latest := map[analytics.Kind]time.Time{}
	for _, s := range b.Signals {
		latest[s.Kind] = s.Time
		if s.Unit != fatigue.KeyOf("u2") {
			t.Errorf("signal %+v of another unit", s)
		}
	}
	if !latest[analytics.KindUnsubscribe].Equal(now.Add(-2*time.Minute)) || !latest[analytics.KindResubscribe].Equal(now.Add(-time.Minute)) || len(b.Signals) != 2 {
		t.Errorf("signals %+v, want the latest unsubscribe (sms) and the resubscribe", b.Signals)
	}

	// Incremental: a read since a later mark gets only the newer rows.
	time.Sleep(time.Until(mark.Add(clickhouse.DefaultTraitMargin + 1100*time.Millisecond)))
	late := exp("u3", "s9", "in_app", now)
	lateSignal := analytics.Event{ID: "e:4", Kind: analytics.KindComplaint, Experiment: "e", Unit: "u3", Channel: "push", Time: now}
	if err := sink.Write(ctx, []analytics.Event{late, lateSignal}); err != nil {
		t.Fatal(err)
	}
	b2, _, err := r.Fatigue(ctx, mark.Add(clickhouse.DefaultTraitMargin+time.Second), now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Sends) != 1 || b2.Sends[0].ID != fatigue.SendKey(late.ID) || b2.Sends[0].Channel != experiment.ChannelInApp || len(b2.Signals) != 1 ||
		b2.Signals[0] != (fatigue.Signal{Unit: fatigue.KeyOf("u3"), Channel: experiment.ChannelPush, Kind: analytics.KindComplaint, Time: b2.Signals[0].Time}) ||
		!b2.Signals[0].Time.Equal(now) {
		t.Fatalf("incremental read = %+v, want only %s and the complaint", b2, late.ID)
	}
}

// TestFatigueKeys holds fatigue.KeyOf to ClickHouse's murmurHash2_64, which the
// reader gives units as: ids of every length around the hash's 8-byte
// blocks, and not only ASCII.
func TestFatigueKeys(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := context.Background()
	units := []string{"", "u", "user-0000001", "ユーザー", strings.Repeat("x", 64) + "é"}
	for n := 1; n <= 24; n++ {
		units = append(units, strings.Repeat("ab3", 8)[:n])
	}
	for _, u := range units {
		var got uint64
		if err := conn.QueryRow(ctx, "SELECT murmurHash2_64(?)", u).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := uint64(fatigue.KeyOf(u)); got != want {
			t.Errorf("murmurHash2_64(%q) = %#x in ClickHouse, fatigue.KeyOf = %#x", u, got, want)
		}
	}
}
