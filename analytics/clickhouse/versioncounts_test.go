package clickhouse_test

import (
	"context"
	"testing"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// humanCounts are the fields VersionCounts fills: Counts without the
// machine counts.
func humanCounts(c results.Counts) results.Counts {
	for _, k := range []*results.KindCounts{&c.Opens, &c.Clicks, &c.Conversions, &c.Unsubscribes, &c.Complaints} {
		k.MachineUnits, k.MachineEvents = 0, 0
	}
	return c
}

// TestVersionCounts holds the per-version counts of the bandit strata to
// the report's own read and to the Go computation of the same seed (with
// replays, units in two arms, machine traffic): cut by version they add up
// to each arm's totals, and each version's exposures are the report's
// Versions.
func TestVersionCounts(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	events := aggSeed(5)
	aggInsert(t, conn, events[:len(events)/2], aggReplays(events, 2), events[len(events)/2:])
	got, err := clickhouse.VersionCounts(ctx, conn, "exp")
	if err != nil {
		t.Fatalf("VersionCounts: %v", err)
	}
	want := aggWant(events, "exp")
	sums := map[[2]string]results.Counts{}
	exposures := map[results.VersionExposure]bool{}
	for _, vc := range got {
		c := sums[[2]string{vc.Segment, vc.Variant}]
		c.Add(vc.Counts)
		sums[[2]string{vc.Segment, vc.Variant}] = c
		exposures[results.VersionExposure{Segment: vc.Segment, Variant: vc.Variant, Version: vc.Version, Exposed: vc.Exposed}] = true
	}
	if len(sums) != len(want.Arms) || len(got) != len(want.Versions) {
		t.Fatalf("VersionCounts: %d arms in %d rows, want %d arms in %d rows", len(sums), len(got), len(want.Arms), len(want.Versions))
	}
	for _, a := range want.Arms {
		if g, w := sums[[2]string{a.Segment, a.Variant}], humanCounts(a.Counts); g != w {
			t.Errorf("arm %s/%s summed over versions = %+v, want %+v", a.Segment, a.Variant, g, w)
		}
	}
	for _, v := range want.Versions {
		if !exposures[v] {
			t.Errorf("no version row %+v", v)
		}
	}

	// The reader adds them only for an experiment with a bandit segment.
	store := experimenttest.NewStore()
	reader := clickhouse.NewBanditAggregates(conn, clickhouse.NewAggregateReader(conn), store)
	if agg, err := reader.Aggregates(ctx, "exp"); err != nil || agg.ByVersion != nil || len(agg.Arms) != len(want.Arms) {
		t.Errorf("Aggregates(experiment not in the store) = %d arms, ByVersion %v, %v; want the base's only", len(agg.Arms), agg.ByVersion, err)
	}
	def := experiment.Experiment{Key: "exp", Channel: experiment.ChannelEmail, Allocation: experiment.Full, PrimaryMetric: experiment.MetricClickRate,
		Segments: []experiment.Segment{{Key: "s1", Allocation: experiment.AllocationBandit, Variants: []experiment.Variant{
			{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}}}}}
	v, err := experiment.Create(def, "t", "", want.Daily[0].Day)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	agg, err := reader.Aggregates(ctx, "exp")
	if err != nil || len(agg.ByVersion) != len(got) {
		t.Errorf("Aggregates(bandit experiment).ByVersion = %d rows, %v; want %d", len(agg.ByVersion), err, len(got))
	}
}
