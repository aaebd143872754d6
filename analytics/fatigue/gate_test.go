package fatigue_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func on(ch experiment.Channel) assign.Target { return assign.Target{Channel: ch} }

func mustCap(tb testing.TB, s string) fatigue.Cap {
	tb.Helper()
	c, err := fatigue.ParseCap(s)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fakeReader hands out one batch per call: a stand-in for the event store
// in tests of the pure logic (the ClickHouse reader has its own test).
type fakeReader struct {
	mu      sync.Mutex
	batches []fatigue.Batch
	sinces  []time.Time
}

func (r *fakeReader) Fatigue(_ context.Context, since, _ time.Time) (fatigue.Batch, time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sinces = append(r.sinces, since)
	var b fatigue.Batch
	if len(r.batches) > 0 {
		b, r.batches = r.batches[0], r.batches[1:]
	}
	return b, t0.Add(time.Duration(len(r.sinces)) * time.Second), nil
}

func TestSuppression(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{})
	ev := func(kind analytics.Kind, ch experiment.Channel, at time.Duration) analytics.Event {
		return analytics.Event{Kind: kind, Unit: "u1", Channel: string(ch), Time: t0.Add(at * time.Second)}
	}
	check := func(step string, want map[experiment.Channel]string) {
		t.Helper()
		for _, ch := range experiment.AllChannels {
			if got := g.Admit("u1", on(ch), "x:"+step+string(ch), t0.Add(time.Hour)).Reason.String(); got != want[ch] {
				t.Errorf("%s: Admit(u1, %s).Reason = %q, want %q", step, ch, got, want[ch])
			}
		}
	}
	check("none", nil)
	g.Observe([]analytics.Event{ev(analytics.KindUnsubscribe, experiment.ChannelEmail, 1)})
	check("unsubscribe email", map[experiment.Channel]string{experiment.ChannelEmail: fatigue.ReasonUnsubscribed})
	g.Observe([]analytics.Event{ev(analytics.KindComplaint, "", 2)})
	all := map[experiment.Channel]string{}
	for _, ch := range experiment.AllChannels {
		all[ch] = fatigue.ReasonComplained
	}
	check("complaint all", all)
	g.Observe([]analytics.Event{ev(analytics.KindResubscribe, experiment.ChannelPush, 3)})
	delete(all, experiment.ChannelPush)
	check("resubscribe push", all)
	// An older signal arriving late changes nothing: the latest wins.
	g.Observe([]analytics.Event{ev(analytics.KindUnsubscribe, experiment.ChannelPush, 0)})
	check("late unsubscribe push", all)
	g.Observe([]analytics.Event{ev(analytics.KindResubscribe, "", 4)})
	check("resubscribe all", nil)
	// Conversions and exposures are no signals.
	g.Observe([]analytics.Event{ev(analytics.KindConversion, "", 5), ev(analytics.KindExposure, "", 5)})
	check("conversion", nil)
}

// TestSuppressionOrderFree applies the same signals in random orders, as
// refreshes and the server's own events may interleave them: the state is
// the same (latest wins; at one second, complaint > unsubscribe >
// resubscribe).
func TestSuppressionOrderFree(t *testing.T) {
	kinds := []analytics.Kind{analytics.KindUnsubscribe, analytics.KindComplaint, analytics.KindResubscribe}
	chans := []experiment.Channel{"", experiment.ChannelEmail, experiment.ChannelSMS}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var sig []analytics.Event
		for range 6 {
			sig = append(sig, analytics.Event{Kind: kinds[rng.IntN(3)], Unit: "u", Channel: string(chans[rng.IntN(3)]),
				Time: t0.Add(time.Duration(rng.IntN(4)) * time.Second)})
		}
		var first []string
		for perm := range 5 {
			rng.Shuffle(len(sig), func(i, j int) { sig[i], sig[j] = sig[j], sig[i] })
			g := fatigue.NewGate(fatigue.Config{})
			g.Observe(sig)
			var got []string
			for _, ch := range experiment.AllChannels {
				got = append(got, g.Admit("u", on(ch), "x", t0.Add(time.Minute)).Reason.String())
			}
			if perm == 0 {
				first = got
			} else if fmt.Sprint(got) != fmt.Sprint(first) {
				t.Fatalf("trial %d: signals %v give %v in one order and %v in another", trial, sig, first, got)
			}
		}
	}
}

func TestCaps(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "3/168h"), PerChannel: mustCap(t, "1/24h")}})
	admit := func(id string, ch experiment.Channel, at time.Duration) fatigue.Verdict {
		return g.Admit("u", on(ch), id, t0.Add(at))
	}
	if v := admit("a", experiment.ChannelEmail, 0); v.Suppressed() {
		t.Fatalf("first email: %+v", v)
	}
	// The same send again (a retry) is admitted, and not counted twice.
	if v := admit("a", experiment.ChannelEmail, time.Minute); v.Suppressed() {
		t.Fatalf("retry of the first email: %+v", v)
	}
	v := admit("b", experiment.ChannelEmail, time.Hour)
	if v.Reason != fatigue.FrequencyCap || v.Cap != fatigue.PerChannelCap || v.Limit != 1 ||
		!v.Eligible().Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("second email within a day = %+v, want per_channel cap, eligible at %v", v, t0.Add(24*time.Hour))
	}
	if v := admit("c", experiment.ChannelPush, time.Hour); v.Suppressed() {
		t.Fatalf("first push: %+v", v)
	}
	if v := admit("d", experiment.ChannelEmail, 25*time.Hour); v.Suppressed() {
		t.Fatalf("email the next day: %+v", v)
	}
	v = admit("e", experiment.ChannelSMS, 26*time.Hour)
	if v.Reason != fatigue.FrequencyCap || v.Cap != fatigue.TotalCap || v.Limit != 3 ||
		!v.Eligible().Equal(t0.Add(168*time.Hour)) {
		t.Fatalf("fourth message in a week = %+v, want the total cap, eligible at %v", v, t0.Add(168*time.Hour))
	}
	if v := admit("f", experiment.ChannelSMS, 168*time.Hour); v.Suppressed() {
		t.Fatalf("sms once the first left the week: %+v", v)
	}
	// The override narrows: a second push of the day for an experiment
	// allowing 0 per channel is refused, never eligible.
	zero := 0
	v = g.Admit("w", assign.Target{Channel: experiment.ChannelPush, Cap: &experiment.CapOverride{PerChannel: &zero}}, "z", t0)
	if v.Cap != fatigue.PerChannelCap || v.Limit != 0 || v.EligibleAt != 0 {
		t.Fatalf("override 0 per channel = %+v", v)
	}
	// and never widens: 5 total over the deployment's 3 is 3.
	five := 5
	wide := assign.Target{Channel: experiment.ChannelInApp, Cap: &experiment.CapOverride{Total: &five}}
	n := 0
	for i := range 6 {
		if !g.Admit("x", wide, fmt.Sprint(i), t0.Add(time.Duration(i)*25*time.Hour)).Suppressed() {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("an override of 5 over a deployment cap of 3 admitted %d in a week, want 3", n)
	}
}

func TestCheckOverride(t *testing.T) {
	p := fatigue.Policy{Total: mustCap(t, "3/168h")}
	two, four := 2, 4
	for _, c := range []struct {
		o     *experiment.CapOverride
		field string
	}{
		{nil, ""},
		{&experiment.CapOverride{Total: &two}, ""},
		{&experiment.CapOverride{Total: &four}, "frequency_cap.total"},
		{&experiment.CapOverride{PerChannel: &two}, "frequency_cap.per_channel"},
	} {
		err := p.CheckOverride(c.o)
		if got := experiment.ErrorField(err); got != c.field || (err == nil) != (c.field == "") {
			t.Errorf("CheckOverride(%+v) = %v, want field %q", c.o, err, c.field)
		}
	}
	if err := (fatigue.Policy{Total: mustCap(t, "3/24h"), PerChannel: mustCap(t, "1/48h")}).Validate(); err == nil {
		t.Error("Validate accepted a per-channel window longer than the total one")
	}
	for _, bad := range []string{"3", "x/24h", "3/0s", "3/500ms", "9/24h", "-1/24h"} {
		if _, err := fatigue.ParseCap(bad); err == nil {
			t.Errorf("ParseCap(%q) accepted", bad)
		}
	}
}

// Exposure ids as analytics makes them.
const (
	x1 = "x:0123456789abcdef0123456789abcdef"
	x2 = "x:fedcba9876543210fedcba9876543210"
)

// TestRefresh counts the sends of other servers read from the store, and
// each send once however often it is read (this server's own included).
func TestRefresh(t *testing.T) {
	r := &fakeReader{batches: []fatigue.Batch{
		{Sends: []fatigue.Send{{Unit: fatigue.KeyOf("u"), Channel: experiment.ChannelEmail, ID: fatigue.SendKey(x1), Time: t0}},
			Signals: []fatigue.Signal{{Unit: fatigue.KeyOf("v"), Kind: analytics.KindUnsubscribe, Time: t0}}},
		{Sends: []fatigue.Send{{Unit: fatigue.KeyOf("u"), Channel: experiment.ChannelEmail, ID: fatigue.SendKey(x1), Time: t0},
			{Unit: fatigue.KeyOf("u"), Channel: experiment.ChannelEmail, ID: fatigue.SendKey(x2), Time: t0}}},
	}}
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "3/24h")}, Reader: r, Now: func() time.Time { return t0 }})
	ctx := context.Background()
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v := g.Admit("v", on(experiment.ChannelSMS), "s", t0); v.Reason != fatigue.Unsubscribed {
		t.Fatalf("unit unsubscribed on another server: %+v", v)
	}
	if v := g.Admit("u", on(experiment.ChannelPush), x2, t0); v.Suppressed() { // this server's own send, 2 of 3
		t.Fatalf("second send: %+v", v)
	}
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v := g.Admit("u", on(experiment.ChannelPush), "x:3", t0); v.Suppressed() {
		t.Fatalf("third send, after reading sends 1 and 2 again: %+v", v)
	}
	if v := g.Admit("u", on(experiment.ChannelPush), "x:4", t0); v.Cap != fatigue.TotalCap {
		t.Fatalf("fourth send: %+v, want the total cap", v)
	}
	if !r.sinces[0].IsZero() || !r.sinces[1].Equal(t0.Add(time.Second)) {
		t.Fatalf("reads since %v, want zero then the first mark", r.sinces)
	}
}

// TestAdmitConcurrent races sends of one unit: a cap of 3 admits exactly 3.
func TestAdmitConcurrent(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "3/24h")}})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if !g.Admit("hot", on(experiment.ChannelEmail), fmt.Sprint(w, ":", i), t0).Suppressed() {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 3 {
		t.Fatalf("%d concurrent sends admitted under a cap of 3", n)
	}
}

// TestGlobalControl: the group is the hash's, the same for every
// experiment, about its share, and never admitted.
func TestGlobalControl(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{GlobalControl: 1000}})
	n := 0
	for i := range 20000 {
		u := fmt.Sprint("u", i)
		v := g.Admit(u, on(experiment.ChannelEmail), "x", t0)
		in := assign.InGlobalControl(fatigue.DefaultGlobalControlSalt, u, 1000)
		if (v.Reason == fatigue.GlobalControl) != in {
			t.Fatalf("Admit(%s) = %+v, InGlobalControl = %v", u, v, in)
		}
		if in {
			n++
		}
	}
	if n < 1800 || n > 2200 {
		t.Fatalf("%d of 20000 units in a 10%% global control", n)
	}
}

func TestAdmitAllocatesNothing(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "3/168h"), PerChannel: mustCap(t, "1/24h")}})
	i := 0
	ids := []string{"x:1", "x:2", "x:3", "x:4"}
	if n := testing.AllocsPerRun(1000, func() {
		g.Admit("u-12345", on(experiment.ChannelEmail), ids[i%4], t0)
		i++
	}); n != 0 {
		t.Fatalf("Admit allocates %v times", n)
	}
}

// TestTable grows and sweeps the cap table: every unit keeps its sends
// through growth, and a sweep keeps exactly the units with a send from
// its time on.
func TestTable(t *testing.T) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "1/24h")}})
	const n = 5000
	for i := range n {
		if v := g.Admit(fmt.Sprint("u", i), on(experiment.ChannelEmail), "x:a", t0.Add(time.Duration(i)*time.Second)); v.Suppressed() {
			t.Fatalf("first send of u%d: %+v", i, v)
		}
	}
	for i := range n {
		if v := g.Admit(fmt.Sprint("u", i), on(experiment.ChannelEmail), "x:b", t0.Add(time.Duration(i)*time.Second)); v.Cap != fatigue.TotalCap {
			t.Fatalf("second send of u%d: %+v, want capped", i, v)
		}
	}
	// A refresh a day and 2500 seconds later sweeps the first 2500 units.
	now := t0.Add(24*time.Hour + 2500*time.Second)
	g2 := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(t, "1/24h")}, Reader: &fakeReader{batches: []fatigue.Batch{{}}},
		Now: func() time.Time { return now }})
	for i := range n {
		g2.Admit(fmt.Sprint("u", i), on(experiment.ChannelEmail), "x:a", t0.Add(time.Duration(i)*time.Second))
	}
	if err := g2.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v := g2.Admit(fmt.Sprint("u", i), on(experiment.ChannelEmail), "x:c", now)
		if capped := i > 2500; v.Suppressed() != capped {
			t.Fatalf("u%d after the sweep: %+v, capped want %v", i, v, capped)
		}
	}
}

// TestReasonsInReport: the report's CSV and page columns name every reason
// an answer gives, in Reason's order.
func TestReasonsInReport(t *testing.T) {
	var ours []string
	for r := fatigue.Unsubscribed; r <= fatigue.GlobalControl; r++ {
		ours = append(ours, r.String())
	}
	if fmt.Sprint(ours) != fmt.Sprint(results.SuppressionReasons) {
		t.Fatalf("results.SuppressionReasons = %v, want fatigue's %v", results.SuppressionReasons, ours)
	}
}
