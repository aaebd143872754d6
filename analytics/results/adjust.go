package results

import (
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// Adjust returns p adjusted for multiple comparisons by the correction c
// (Holm unless c is BH): the one place a policy's choice picks the method,
// for the report and the retirement loop alike.
func Adjust(c experiment.Correction, p []float64) []float64 {
	if c == experiment.CorrectionBH {
		return stats.BenjaminiHochberg(p)
	}
	return stats.Holm(p)
}

// probBestMinArms is the fewest arms for which a report shows each arm's
// probability to be best: with two, it is the probability to beat control.
const probBestMinArms = 3

// setProbBest sets, on a rate metric's rows, each arm's posterior
// probability to be the best (highest rate, or lowest for LowerIsBetter
// metrics) among the segment's variants that have trials, uniform priors,
// when there are at least probBestMinArms of them. The holdout and unknown
// arms are not candidates.
func setProbBest(m experiment.Metric, arms []ArmReport, rows []MetricRow) {
	if m.IsMean() {
		return
	}
	var idx []int
	var props []stats.Proportion
	for i, a := range arms {
		p := Proportion(m, a.Counts)
		if a.Status == ArmHoldout || a.Status == ArmUnknown || p.Trials == 0 {
			continue
		}
		if m.LowerIsBetter() {
			// The best arm has the highest rate of the opposite outcome.
			p.Successes = p.Trials - p.Successes
		}
		idx, props = append(idx, i), append(props, p)
	}
	if len(idx) < probBestMinArms {
		return
	}
	pb, err := stats.ProbBest(props, stats.BetaPrior{})
	if err != nil {
		return // inconsistent counts: the comparisons say so in their Error
	}
	for k, i := range idx {
		p := pb[k]
		rows[i].ProbBest = &p
	}
}
