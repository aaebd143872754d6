package results_test

import (
	"math"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/experiment"
)

// TestBanditReportStratifies: a bandit segment whose weights moved from
// 50/50 to 10/90 while the baseline fell from 20% to 10%, with b 2 points
// above a in both phases. Pooled, b looks worse (Simpson's paradox); the
// report's phase-stratified estimate is +2 points, with phase weights
// proportional to each phase's traffic.
func TestBanditReportStratifies(t *testing.T) {
	def := experiment.Experiment{
		Key: "welcome", Channel: experiment.ChannelEmail, Allocation: experiment.Full,
		PrimaryMetric: experiment.MetricConversionRate,
		Segments: []experiment.Segment{{Key: "all", Allocation: experiment.AllocationBandit,
			Variants: []experiment.Variant{{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}}}},
	}
	h := resultstest.Started(t, def)
	v, err := experiment.Reweight(resultstest.Current(h), "all", []int{1000, 9000}, "bandit-loop", "evidence", resultstest.T0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, v)
	conv := func(n, c int64) results.Counts {
		return results.Counts{Exposed: n, Conversions: results.KindCounts{Units: c, Events: c}}
	}
	cells := []results.VersionCounts{
		{Segment: "all", Variant: "a", Version: 2, Counts: conv(5000, 1000)}, // 20%
		{Segment: "all", Variant: "b", Version: 2, Counts: conv(5000, 1100)}, // 22%
		{Segment: "all", Variant: "a", Version: 3, Counts: conv(1000, 100)},  // 10%
		{Segment: "all", Variant: "b", Version: 3, Counts: conv(9000, 1080)}, // 12%
	}
	agg := results.Aggregates{Experiment: "welcome", ByVersion: cells}
	for _, arm := range []string{"a", "b"} {
		var total results.Counts
		for _, c := range cells {
			if c.Variant == arm {
				total.Add(c.Counts)
				agg.Versions = append(agg.Versions, results.VersionExposure{Segment: "all", Variant: arm, Version: c.Version, Exposed: c.Exposed})
			}
		}
		agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: "all", Variant: arm, Counts: total})
	}
	agg.Sort()
	r := results.BuildReport(resultstest.Current(h), h, agg, resultstest.T0.Add(48*time.Hour))
	s := r.Segments[0]
	if s.Allocation != experiment.AllocationBandit || s.Bandit == nil || s.Bandit.Estimator != results.Estimator || s.Bandit.Error != "" {
		t.Fatalf("segment allocation %q, bandit %+v: want the stratified estimates", s.Allocation, s.Bandit)
	}
	pooled := s.Metrics[3].Rows[1].Comparison.FixedHorizon.AbsLift
	if s.Metrics[3].Metric != experiment.MetricConversionRate || pooled >= 0 {
		t.Errorf("pooled lift of b = %v, want negative (the paradox this test is about)", pooled)
	}
	var est *results.BanditRow
	for i := range s.Bandit.Metrics {
		if s.Bandit.Metrics[i].Metric == experiment.MetricConversionRate {
			est = &s.Bandit.Metrics[i].Rows[0]
		}
	}
	if est == nil || est.Variant != "b" || !est.Estimate.Defined || math.Abs(est.Estimate.Diff-0.02) > 1e-12 || est.Estimate.Strata != 2 {
		t.Fatalf("stratified estimate of b = %+v, want +0.02 over 2 phases", est)
	}
	// Equal phase traffic: weights 1/2 each; the variance is the phases'
	// binomial variances, each weighted by 1/4.
	v2 := 0.2*0.8/5000 + 0.22*0.78/5000
	v3 := 0.1*0.9/1000 + 0.12*0.88/9000
	if se := math.Sqrt((v2 + v3) / 4); math.Abs(est.Estimate.StdErr-se) > 1e-12 {
		t.Errorf("stratified s.e. = %v, want %v", est.Estimate.StdErr, se)
	}
}
