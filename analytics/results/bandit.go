package results

import (
	"fmt"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// VersionCounts are the counts of the units of one arm whose first exposure
// carried one experiment version (intent to treat, as Aggregates.Arms, cut
// by version).
type VersionCounts struct {
	Segment string `json:"segment"`
	Variant string `json:"variant"`
	Version uint32 `json:"version"`
	Counts
}

// Estimator names the estimator of bandit segments in reports.
const Estimator = "phase-stratified: per phase (version span with fixed weights) the arm's mean minus the control's, " +
	"combined with phase weights proportional to the phase's units in the segment (all arms), which do not depend on the allocation; " +
	"variance the sum of squared weights times the phases' variances, normal interval"

// BanditEstimates are a bandit segment's estimates: the pooled per-arm
// numbers of a report are biased when weights move while the baseline
// drifts (more of the leader's units come from the later phases), so its
// comparisons with the control are made within phases and combined.
type BanditEstimates struct {
	Estimator string `json:"estimator"`
	// Error says why there are no estimates (no per-version counts).
	Error   string         `json:"error,omitempty"`
	Metrics []BanditMetric `json:"metrics,omitempty"`
}

// BanditMetric is one metric's stratified comparisons, one row per arm
// other than the control.
type BanditMetric struct {
	Metric experiment.Metric `json:"metric"`
	Rows   []BanditRow       `json:"rows"`
}

// BanditRow is one arm's stratified comparison with the control.
type BanditRow struct {
	Variant  string                   `json:"variant"`
	Estimate stats.StratifiedEstimate `json:"estimate"`
	Error    string                   `json:"error,omitempty"`
}

// PhaseStrata returns the strata of metric m for arm against control in
// segment seg: one per phase, weighted by the phase's units in the segment
// (every arm), with each arm's summary of the units first exposed in the
// phase. ok is false when agg has no per-version counts for the segment.
func PhaseStrata(phases []Phase, seg string, m experiment.Metric, control, arm string, agg Aggregates) (strata []stats.Stratum, ok bool) {
	traffic := make([]float64, len(phases))
	c := make([]Counts, len(phases))
	t := make([]Counts, len(phases))
	for _, vc := range agg.ByVersion {
		if vc.Segment != seg {
			continue
		}
		ok = true
		p := phaseOf(phases, vc.Version)
		traffic[p] += float64(vc.Exposed)
		switch vc.Variant {
		case control:
			c[p].Add(vc.Counts)
		case arm:
			t[p].Add(vc.Counts)
		}
	}
	for p := range phases {
		strata = append(strata, stats.Stratum{Weight: traffic[p], Control: summary(m, c[p]), Treatment: summary(m, t[p])})
	}
	return strata, ok
}

// summary is an arm's summary of metric m.
func summary(m experiment.Metric, c Counts) stats.ArmSummary {
	if m.IsMean() {
		return stats.SummaryOfMoments(Moments(c))
	}
	return stats.SummaryOfProportion(Proportion(m, c))
}

// StratifiedCompare is the phase-stratified estimate of arm minus control
// on metric m in segment seg, at level alpha.
func StratifiedCompare(phases []Phase, seg string, m experiment.Metric, control, arm string, agg Aggregates, alpha float64) (stats.StratifiedEstimate, error) {
	strata, ok := PhaseStrata(phases, seg, m, control, arm, agg)
	if !ok {
		return stats.StratifiedEstimate{PValue: 1, Alpha: alpha}, fmt.Errorf("no per-version counts for segment %s", seg)
	}
	return stats.StratifiedDiff(strata, alpha)
}

// banditEstimates computes the estimates of bandit segment s (sr holds its
// arms) for every report metric.
func banditEstimates(s experiment.Segment, sr SegmentReport, phases []Phase, agg Aggregates, alpha float64) *BanditEstimates {
	b := &BanditEstimates{Estimator: Estimator}
	if sr.Control == "" {
		b.Error = "the segment has no control"
		return b
	}
	for _, m := range ReportMetrics {
		bm := BanditMetric{Metric: m}
		for _, a := range sr.Arms {
			if a.Control || a.Status == ArmHoldout || a.Status == ArmUnknown {
				continue
			}
			row := BanditRow{Variant: a.Variant}
			var err error
			if row.Estimate, err = StratifiedCompare(phases, s.Key, m, sr.Control, a.Variant, agg, alpha); err != nil {
				b.Error = err.Error()
				return b
			}
			bm.Rows = append(bm.Rows, row)
		}
		b.Metrics = append(b.Metrics, bm)
	}
	return b
}

// StratifiedMean is arm's phase-stratified value of metric m in segment
// seg: Σ w_p x_p over the phases in which the arm has units, with w_p the
// phase's units in the segment, normalised over those phases. It is 0 when
// the arm has no unit in any phase.
func StratifiedMean(phases []Phase, seg string, m experiment.Metric, arm string, agg Aggregates) float64 {
	traffic := make([]float64, len(phases))
	c := make([]Counts, len(phases))
	for _, vc := range agg.ByVersion {
		if vc.Segment != seg {
			continue
		}
		p := phaseOf(phases, vc.Version)
		traffic[p] += float64(vc.Exposed)
		if vc.Variant == arm {
			c[p].Add(vc.Counts)
		}
	}
	var sum, w float64
	for p := range phases {
		if c[p].Exposed == 0 {
			continue
		}
		_, _, x := MetricValue(m, c[p])
		sum += traffic[p] * x
		w += traffic[p]
	}
	if w == 0 {
		return 0
	}
	return sum / w
}
