package results

import (
	"context"
	"fmt"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// CustomAggregate is one arm's counts of one custom metric (see
// experiment.CustomMetric): of the arm's exposed units (each in the arm of
// its first exposure, as every count of the report), Converted had at
// least one of the metric's user events within the attribution window
// after that exposure; Sum and SumSq add up each unit's value (its
// property sum for a sum, its number of events for a count) and its
// square.
type CustomAggregate struct {
	Metric    experiment.Metric `json:"metric"`
	Segment   string            `json:"segment"`
	Variant   string            `json:"variant"`
	Units     int64             `json:"units"`
	Converted int64             `json:"converted"`
	Sum       float64           `json:"sum"`
	SumSq     float64           `json:"sum_sq"`
}

// CustomMetricReader reads an experiment's custom metrics per arm: a
// separate query from the report's main read, merged into
// Aggregates.Custom.
type CustomMetricReader interface {
	CustomMetrics(ctx context.Context, exp experiment.Experiment) ([]CustomAggregate, error)
}

// customOf returns the arm's counts of m, zero when it has none.
func (a Aggregates) customOf(m experiment.Metric, seg, arm string) CustomAggregate {
	for _, c := range a.Custom {
		if c.Metric == m && c.Segment == seg && c.Variant == arm {
			return c
		}
	}
	return CustomAggregate{Metric: m, Segment: seg, Variant: arm}
}

// customValue is what a custom metric compares for one arm of exposed
// units: a proportion, or the moments of a mean per recipient.
func customValue(c CustomAggregate, exposed int64) (stats.Proportion, stats.Moments) {
	return stats.Proportion{Successes: float64(c.Converted), Trials: float64(exposed)},
		stats.Moments{N: float64(exposed), Sum: c.Sum, SumSq: c.SumSq}
}

// CustomValue returns what custom metric m compares for the arm of segment
// seg with exposed units: the proportion of units converted (a conversion)
// and the moments of the units' values (a sum or a count), as the report
// tests them.
func (a Aggregates) CustomValue(m experiment.Metric, seg, arm string, exposed int64) (stats.Proportion, stats.Moments) {
	return customValue(a.customOf(m, seg, arm), exposed)
}

// buildCustomMetric is buildMetric for custom metric cm: the arms'
// denominators are their exposed units, as for every other metric.
func buildCustomMetric(exp experiment.Experiment, cm experiment.CustomMetric, sr SegmentReport, agg Aggregates, pol experiment.RetirementPolicy) MetricReport {
	alpha := pol.Alpha
	name := cm.Name()
	mr := MetricReport{Metric: name, Mean: cm.IsMean(), Primary: name == exp.PrimaryMetric, LowerIsBetter: cm.LowerIsBetter}
	for _, g := range exp.GuardrailMetrics {
		mr.Guardrail = mr.Guardrail || g == name
	}
	var cp stats.Proportion
	var cmo stats.Moments
	hasControl := false
	for _, a := range sr.Arms {
		if a.Control {
			cp, cmo = customValue(agg.customOf(name, sr.Key, a.Variant), a.Counts.Exposed)
			hasControl = true
		}
	}
	var family []int
	for _, a := range sr.Arms {
		p, mo := customValue(agg.customOf(name, sr.Key, a.Variant), a.Counts.Exposed)
		row := MetricRow{Variant: a.Variant}
		if cm.IsMean() {
			row.Numerator, row.Denominator, row.Value = mo.Sum, mo.N, mo.Mean()
		} else {
			row.Numerator, row.Denominator, row.Value = p.Successes, p.Trials, p.Rate()
		}
		if hasControl && !a.Control {
			var c MetricComparison
			if cm.IsMean() {
				c = compareMeans(cmo, mo, alpha)
			} else {
				c = compareRates(cp, p, cm.LowerIsBetter, alpha)
			}
			row.Comparison = &c
			if a.Status != ArmHoldout && a.Status != ArmUnknown {
				family = append(family, len(mr.Rows))
			}
		}
		mr.Rows = append(mr.Rows, row)
	}
	adjustFamily(mr.Rows, family, pol.Correction)
	return mr
}

// CustomMerged is the AggregateReader of reports with custom metrics: the
// main read's aggregates, with the experiment's custom metrics read by
// Custom merged in. Experiments gives the definition (the metrics).
type CustomMerged struct {
	Main        AggregateReader
	Custom      CustomMetricReader
	Experiments interface {
		Get(ctx context.Context, key string) (experiment.Experiment, error)
	}
}

// Aggregates implements AggregateReader.
func (r CustomMerged) Aggregates(ctx context.Context, key string) (Aggregates, error) {
	agg, err := r.Main.Aggregates(ctx, key)
	if err != nil {
		return agg, err
	}
	exp, err := r.Experiments.Get(ctx, key)
	if err != nil {
		return agg, fmt.Errorf("custom metrics of %s: %w", key, err)
	}
	if len(exp.CustomMetrics) == 0 {
		return agg, nil
	}
	agg.Custom, err = r.Custom.CustomMetrics(ctx, exp)
	return agg, err
}
