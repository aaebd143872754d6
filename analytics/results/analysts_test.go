package results_test

import (
	"math"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// TestCorrectionAndProbBest: under a policy with the BH correction the
// report's adjusted p-values are Benjamini–Hochberg's over the segment's
// variants and the Holm ones stay Holm's; every variant of a three-arm
// segment has its exact probability to be best on each rate (the lowest
// rate for lower-is-better metrics), and a two-arm segment has none.
func TestCorrectionAndProbBest(t *testing.T) {
	def := resultstest.Definition(t, 0)
	def.Retirement.Correction = experiment.CorrectionBH
	h := resultstest.Started(t, def)
	agg := resultstest.AggOf(2, resultstest.Arm("pro", "a", 5000, 500), resultstest.Arm("pro", "b", 5000, 560),
		resultstest.Arm("pro", "c", 5000, 540), resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 2000, 60))
	r := results.BuildReport(resultstest.Current(h), h, agg, resultstest.T0.Add(time.Hour))
	if r.Correction != experiment.CorrectionBH {
		t.Fatalf("Report.Correction = %q, want bh", r.Correction)
	}
	pro, rest := r.Segments[0], r.Segments[1]
	for _, m := range pro.Metrics {
		var raw []float64
		for _, row := range m.Rows[1:] {
			raw = append(raw, mustNum(t, "p", row.Comparison.FixedHorizon.PValue))
		}
		bh, holm := stats.BenjaminiHochberg(raw), stats.Holm(raw)
		for i, row := range m.Rows[1:] {
			if got := mustNum(t, "adjusted", row.Comparison.PValueAdjusted); got != bh[i] {
				t.Errorf("%s/%s p_value_adjusted = %v, want BH %v", m.Metric, row.Variant, got, bh[i])
			}
			if got := mustNum(t, "holm", row.Comparison.PValueHolm); got != holm[i] {
				t.Errorf("%s/%s p_value_holm = %v, want Holm %v", m.Metric, row.Variant, got, holm[i])
			}
		}
		if m.Mean {
			for _, row := range m.Rows {
				if row.ProbBest != nil {
					t.Errorf("%s/%s: a probability to be best on a mean", m.Metric, row.Variant)
				}
			}
			continue
		}
		var props []stats.Proportion
		for _, a := range pro.Arms {
			p := results.Proportion(m.Metric, a.Counts)
			if m.LowerIsBetter {
				p.Successes = p.Trials - p.Successes
			}
			props = append(props, p)
		}
		want, err := stats.ProbBest(props, stats.BetaPrior{})
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range m.Rows {
			if got := mustNum(t, string(m.Metric)+" prob best", row.ProbBest); math.Abs(got-want[i]) > 1e-15 {
				t.Errorf("%s/%s prob_best = %v, want %v", m.Metric, row.Variant, got, want[i])
			}
		}
	}
	for _, m := range rest.Metrics {
		for _, row := range m.Rows {
			if row.ProbBest != nil {
				t.Errorf("rest %s/%s: a probability to be best with two arms", m.Metric, row.Variant)
			}
		}
	}
}

// TestCorrectionValidated: a policy names Holm, BH or nothing.
func TestCorrectionValidated(t *testing.T) {
	def := resultstest.Definition(t, 0)
	def.Retirement.Correction = "bonferroni"
	if _, err := experiment.Create(def, "alice", "test", resultstest.T0); err == nil {
		t.Fatal("Create with correction bonferroni: no error")
	}
}
