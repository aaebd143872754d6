package clickhouse_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/results"
)

// unitsSeed is an experiment "exp" whose units also had events in "other"
// before, around and after their first exposure: inside the pre-exposure
// window, outside it, and after the exposure (which must not count as
// pre-period), some machine-flagged, some copied.
func unitsSeed(seed uint64) []analytics.Event {
	r := rand.New(rand.NewPCG(seed, 5))
	t0 := time.Date(2025, 6, 10, 8, 0, 0, 0, time.UTC)
	var out []analytics.Event
	add := func(e analytics.Event) {
		e.ID = fmt.Sprintf("ue-%05d", len(out))
		out = append(out, e)
	}
	kinds := []analytics.Kind{analytics.KindOpen, analytics.KindClick, analytics.KindConversion, analytics.KindUnsubscribe, analytics.KindComplaint}
	for u := 0; u < 300; u++ {
		unit := fmt.Sprintf("u%d", u)
		seg := []string{"s1", "s2"}[u%2]
		v := []string{"a", "b", "c"}[r.IntN(3)]
		at := t0.Add(time.Duration(r.IntN(3*24*3600)) * time.Second)
		add(analytics.Event{Kind: analytics.KindExposure, Experiment: "exp", Time: at, Segment: seg, Variant: v, Unit: unit,
			Channel: []string{"email", "push"}[u%3/2]})
		if r.IntN(8) == 0 { // a later exposure in another arm: the first one decides
			add(analytics.Event{Kind: analytics.KindExposure, Experiment: "exp", Time: at.Add(time.Hour), Segment: seg, Variant: "a", Unit: unit})
		}
		for range r.IntN(4) {
			k := kinds[r.IntN(len(kinds))]
			e := analytics.Event{Kind: k, Experiment: "exp", Time: at.Add(time.Duration(1+r.IntN(48*3600)) * time.Second),
				Segment: seg, Variant: v, Unit: unit, Machine: r.IntN(6) == 0}
			if k == analytics.KindConversion {
				e.Value = float64(r.IntN(10000)) / 100
			}
			add(e)
		}
		for range r.IntN(6) {
			// -20 to +2 days around the first exposure, in another experiment.
			off := time.Duration(r.IntN(22*24*3600)-20*24*3600) * time.Second
			k := kinds[r.IntN(len(kinds))]
			e := analytics.Event{Kind: k, Experiment: "other", Time: at.Add(off), Segment: "x", Variant: "y", Unit: unit, Machine: r.IntN(6) == 0}
			if k == analytics.KindConversion {
				e.Value = float64(r.IntN(10000)) / 100
			}
			add(e)
		}
	}
	return out
}

// unitsWant computes Units from the raw events in plain Go.
func unitsWant(events []analytics.Event, key string, preDays int) []results.Unit {
	seen := map[string]bool{}
	var uniq []analytics.Event
	for _, e := range events {
		if !seen[e.ID] {
			seen[e.ID] = true
			uniq = append(uniq, e)
		}
	}
	first := map[string]analytics.Event{}
	for _, e := range uniq {
		if e.Experiment == key && e.Kind == analytics.KindExposure {
			if f, ok := first[e.Unit]; !ok || e.Time.Before(f.Time) {
				first[e.Unit] = e
			}
		}
	}
	units := map[string]*results.Unit{}
	for unit, f := range first {
		units[unit] = &results.Unit{Segment: f.Segment, Variant: f.Variant, N: 1}
	}
	mark := func(m *results.UnitMetrics, e analytics.Event) {
		if e.Machine {
			return
		}
		switch e.Kind {
		case analytics.KindOpen:
			m.Open = true
		case analytics.KindClick:
			m.Click = true
		case analytics.KindConversion:
			m.Conversion = true
			m.Revenue += e.Value
		case analytics.KindUnsubscribe:
			m.Unsubscribe = true
		case analytics.KindComplaint:
			m.Complaint = true
		}
	}
	window := time.Duration(preDays) * 24 * time.Hour
	for _, e := range uniq {
		u := units[e.Unit]
		if u == nil || e.Kind == analytics.KindExposure {
			continue
		}
		if e.Experiment == key {
			mark(&u.Outcome, e)
		}
		if f := first[e.Unit].Time; !e.Time.Before(f.Add(-window)) && e.Time.Before(f) {
			mark(&u.Pre, e)
		}
	}
	var out []results.Unit
	for _, u := range units {
		out = append(out, *u)
	}
	return sortUnits(out)
}

func sortUnits(us []results.Unit) []results.Unit {
	sort.Slice(us, func(i, j int) bool { return fmt.Sprint(us[i]) < fmt.Sprint(us[j]) })
	return us
}

// TestUnitsEqualGo: the per-unit read equals the Go computation from the
// raw events, copies and all, for two pre-exposure windows.
func TestUnitsEqualGo(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	events := unitsSeed(1)
	aggInsert(t, conn, events, aggReplays(events, 2))
	reader := clickhouse.NewUnitReader(conn)
	// A reader of a few units a pass (a hash bucket of them at a time)
	// reads the same units.
	small := clickhouse.NewUnitReader(conn)
	small.UnitsPerPass = 7
	for _, c := range []struct {
		days   int
		reader *clickhouse.UnitReader
	}{{14, reader}, {3, reader}, {14, small}} {
		days := c.days
		got, err := c.reader.Units(context.Background(), "exp", days, nil)
		if err != nil {
			t.Fatalf("Units: %v", err)
		}
		want := unitsWant(events, "exp", days)
		got = sortUnits(got)
		if len(got) != len(want) {
			t.Fatalf("Units(%d days) = %d units, want %d", days, len(got), len(want))
		}
		pre := 0
		for i := range got {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				t.Errorf("Units(%d days)[%d] = %+v, want %+v", days, i, got[i], want[i])
			}
			if want[i].Pre != (results.UnitMetrics{}) {
				pre++
			}
		}
		if pre == 0 {
			t.Errorf("no unit with a pre-exposure event in a %d-day window: the test checks nothing of it", days)
		}
	}
	// Each arm's units add up to the report's aggregates.
	units, err := reader.Units(context.Background(), "exp", 14, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := map[[2]string]*results.Counts{}
	for _, u := range units {
		k := [2]string{u.Segment, u.Variant}
		if sum[k] == nil {
			sum[k] = &results.Counts{}
		}
		c, o := sum[k], u.Outcome
		c.Exposed++
		c.Value += o.Revenue
		for _, f := range []struct {
			has bool
			n   *int64
		}{{o.Open, &c.Opens.Units}, {o.Click, &c.Clicks.Units}, {o.Conversion, &c.Conversions.Units},
			{o.Unsubscribe, &c.Unsubscribes.Units}, {o.Complaint, &c.Complaints.Units}} {
			if f.has {
				*f.n++
			}
		}
	}
	agg := mustAggregates(t, clickhouse.NewAggregateReader(conn), "exp")
	for _, a := range agg.Arms {
		c := sum[[2]string{a.Segment, a.Variant}]
		if c == nil || c.Exposed != a.Exposed || c.Opens.Units != a.Opens.Units || c.Clicks.Units != a.Clicks.Units ||
			c.Conversions.Units != a.Conversions.Units || c.Unsubscribes.Units != a.Unsubscribes.Units ||
			c.Complaints.Units != a.Complaints.Units || math.Abs(c.Value-a.Value) > 1e-9*math.Abs(a.Value) {
			t.Errorf("arm %s/%s: units add up to %+v, aggregates say %+v", a.Segment, a.Variant, c, a.Counts)
		}
	}
	// Breakdown dimensions: the first exposure's channel; an attribute no
	// exposure stored reads "".
	withDims, err := reader.Units(context.Background(), "exp", 14, []string{"channel", "country"})
	if err != nil {
		t.Fatal(err)
	}
	firstChannel := map[[2]string]map[string]int{}
	for _, u := range withDims {
		k := [2]string{u.Segment, u.Variant}
		if firstChannel[k] == nil {
			firstChannel[k] = map[string]int{}
		}
		if len(u.Dims) != 2 || u.Dims[1] != "" || (u.Dims[0] != "email" && u.Dims[0] != "push") {
			t.Fatalf("unit dims %q, want [email|push, \"\"]", u.Dims)
		}
		firstChannel[k][u.Dims[0]]++
	}
	wantChannel := map[[2]string]map[string]int{}
	seenUnit := map[string]bool{}
	for _, e := range events {
		if e.Kind == analytics.KindExposure && e.Experiment == "exp" && !seenUnit[e.Unit] {
			seenUnit[e.Unit] = true // unitsSeed writes each unit's first exposure first
			k := [2]string{e.Segment, e.Variant}
			if wantChannel[k] == nil {
				wantChannel[k] = map[string]int{}
			}
			wantChannel[k][e.Channel]++
		}
	}
	if fmt.Sprint(firstChannel) != fmt.Sprint(wantChannel) {
		t.Errorf("units per arm and channel = %v, want %v", firstChannel, wantChannel)
	}
	if got, err := reader.Units(context.Background(), "none", 14, nil); err != nil || len(got) != 0 {
		t.Errorf("Units(an experiment without events) = %v, %v", got, err)
	}
}

// weightedUnits counts units alike, as a read from the rollups returns
// them (results.Unit.N), revenue to 9 digits (sums in another order).
func weightedUnits(us []results.Unit) map[string]int64 {
	out := map[string]int64{}
	key := func(m results.UnitMetrics) string {
		return fmt.Sprintf("%v %v %v %v %v %.9g", m.Open, m.Click, m.Conversion, m.Unsubscribe, m.Complaint, m.Revenue)
	}
	for _, u := range us {
		out[u.Segment+"/"+u.Variant+" y "+key(u.Outcome)+" x "+key(u.Pre)] += u.N
	}
	return out
}

// TestUnitsRolledEqualGo: a read from the rollups (unit_state, migration
// 0015) counts the same units as the Go computation from the raw events,
// for two windows, copies and all, and still after history arrives late:
// events of another experiment from before units' first exposures,
// received after those exposures were folded, must reach their
// covariates.
func TestUnitsRolledEqualGo(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	all := unitsSeed(2)
	first := map[string]time.Time{}
	for _, e := range all {
		if e.Kind == analytics.KindExposure && (first[e.Unit].IsZero() || e.Time.Before(first[e.Unit])) {
			first[e.Unit] = e.Time
		}
	}
	var early, late []analytics.Event
	for i, e := range all {
		if e.Experiment == "other" && e.Time.Before(first[e.Unit]) && i%2 == 0 {
			late = append(late, e)
		} else {
			early = append(early, e)
		}
	}
	if len(late) == 0 {
		t.Fatal("no late history: the test checks nothing of it")
	}
	reader := clickhouse.NewUnitReader(conn)
	reader.Rollups = clickhouse.NewRollups(conn)
	// No margin, and a second between the early events, the first fold
	// and the late history: the late fold reads none of the early events
	// again, so only the late events, of "other", make their units' rows
	// of "exp" anew.
	reader.Rollups.Margin = 0
	check := func(stage string, events []analytics.Event) {
		t.Helper()
		// A reader new to the counts starts from those the first saved
		// (report_sums) and reads the news since.
		fresh := clickhouse.NewUnitReader(conn)
		fresh.Rollups = reader.Rollups
		// The report folds when it reads its aggregates; the units
		// reader reads what that fold wrote.
		if err := reader.Rollups.Fold(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			days   int
			reader *clickhouse.UnitReader
		}{{14, reader}, {3, reader}, {14, fresh}} {
			days := c.days
			got, err := c.reader.Units(ctx, "exp", days, nil)
			if err != nil {
				t.Fatalf("%s: Units: %v", stage, err)
			}
			g, w := weightedUnits(got), weightedUnits(unitsWant(events, "exp", days))
			if len(got) >= len(unitsWant(events, "exp", days)) {
				t.Errorf("%s: %d entries for as many units: units alike are not counted together", stage, len(got))
			}
			withPre := 0
			for k, n := range w {
				if g[k] != n {
					t.Errorf("%s, %d days: %d units %s, want %d", stage, days, g[k], k, n)
				}
				if !strings.HasSuffix(k, " x false false false false false 0") {
					withPre += int(n)
				}
			}
			for k, n := range g {
				if _, ok := w[k]; !ok {
					t.Errorf("%s, %d days: %d units %s, want none", stage, days, n, k)
				}
			}
			if withPre == 0 {
				t.Errorf("%s: no unit with a pre-exposure event in a %d-day window: the test checks nothing of it", stage, days)
			}
		}
	}
	aggInsert(t, conn, early, aggReplays(early, 3))
	time.Sleep(1500 * time.Millisecond)
	check("before the late history", early)
	time.Sleep(1500 * time.Millisecond)
	aggInsert(t, conn, late, aggReplays(late, 4))
	check("after it", all)
}
