package retire_test

import (
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/experiment"
)

// TestDecideBanditStratified: in a bandit segment whose weights moved to c
// while the baseline fell from 30% to 10%, the retirement loop tests on the
// phase-stratified estimates. With the arms equal in each phase, c is far
// worse pooled (the pooled test would retire it, as it does when the
// per-version counts are missing) and nothing is retired; with c worse in
// each phase, it is retired, and the segment can still end in a winner.
func TestDecideBanditStratified(t *testing.T) {
	def := experiment.Experiment{
		Key: "welcome", Channel: experiment.ChannelEmail, Allocation: experiment.Full,
		PrimaryMetric: experiment.MetricConversionRate, GuardrailMetrics: []experiment.Metric{},
		Retirement: experiment.RetirementPolicy{Auto: true, Alpha: 0.05, MinSamplePerArm: 1000, MinRuntime: experiment.Duration(time.Hour)},
		Segments: []experiment.Segment{{Key: "all", Allocation: experiment.AllocationBandit, Variants: []experiment.Variant{
			{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}}}},
	}
	h := resultstest.Started(t, def)
	v, err := experiment.Reweight(resultstest.Current(h), "all", []int{1000, 1000, 8000}, "bandit-loop", "evidence", resultstest.T0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, v)
	now := resultstest.T0.Add(48 * time.Hour)
	// conv[phase][arm] converters of n[phase][arm] units.
	n := [2][3]int64{{3000, 3000, 3000}, {1000, 1000, 8000}}
	aggOf := func(conv [2][3]int64, perVersion bool) results.Aggregates {
		var agg results.Aggregates
		for k, arm := range []string{"a", "b", "c"} {
			var total results.Counts
			for p := range 2 {
				c := results.Counts{Exposed: n[p][k], Conversions: results.KindCounts{Units: conv[p][k], Events: conv[p][k]}}
				total.Add(c)
				agg.Versions = append(agg.Versions, results.VersionExposure{Segment: "all", Variant: arm, Version: uint32(2 + p), Exposed: c.Exposed})
				if perVersion {
					agg.ByVersion = append(agg.ByVersion, results.VersionCounts{Segment: "all", Variant: arm, Version: uint32(2 + p), Counts: c})
				}
			}
			agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: "all", Variant: arm, Counts: total})
		}
		agg.Sort()
		return agg
	}
	kinds := func(ds []results.Decision) []string {
		var out []string
		for _, d := range ds {
			out = append(out, string(d.Kind)+":"+d.Variant)
		}
		return out
	}
	equal := [2][3]int64{{900, 900, 900}, {100, 100, 800}}
	if got := retire.Decide(resultstest.Current(h), h, aggOf(equal, false), now); len(got) == 0 {
		t.Fatalf("pooled, equal arms: no decision; the fixture does not show the bias it is for")
	}
	if got := retire.Decide(resultstest.Current(h), h, aggOf(equal, true), now); len(got) != 0 {
		t.Errorf("stratified, equal arms in each phase: Decide = %v, want nothing", kinds(got))
	}
	worse := [2][3]int64{{900, 900, 720}, {100, 100, 560}}
	got := retire.Decide(resultstest.Current(h), h, aggOf(worse, true), now)
	if ks := kinds(got); len(ks) != 1 || ks[0] != "retire:c" {
		t.Fatalf("stratified, c worse in each phase: Decide = %v, want c retired", ks)
	}
	if !strings.Contains(got[0].Reason, "phase-stratified over 2 phases") {
		t.Errorf("retirement reason %q does not say its tests were stratified", got[0].Reason)
	}
	r, err := experiment.Retire(resultstest.Current(h), "all", "c", "retirement-loop", got[0].Reason, now)
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, r)
	// Then the control is worse than b in both phases: b wins the segment.
	n[1] = [3]int64{1000, 1000, 8000}
	better := [2][3]int64{{900, 1050, 720}, {100, 130, 560}}
	if ks := kinds(retire.Decide(resultstest.Current(h), h, aggOf(better, true), now.Add(time.Hour))); len(ks) != 1 || ks[0] != "conclude:b" {
		t.Errorf("after c retired, b better than the control: Decide = %v, want b to win", ks)
	}
}
