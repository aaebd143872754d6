package results

import (
	"context"

	"github.com/splitcast/splitcast/experiment"
)

// GlobalControlReader reads the deployment-wide counts of messaged units
// and of the global control group (analytics/clickhouse's
// GlobalControlReader).
type GlobalControlReader interface {
	GlobalControl(ctx context.Context) (GlobalControlCounts, error)
}

// GroupCounts are one group's units and their human conversions, from
// every experiment: Converters have at least one, Value is the sum of
// their values and ValueSumSq the sum over units of each unit's total
// squared (for Welch's test).
type GroupCounts struct {
	Units      int64   `json:"units"`
	Converters int64   `json:"converters"`
	Value      float64 `json:"value"`
	ValueSumSq float64 `json:"value_sum_sq"`
}

// GlobalControlCounts are the two groups of the deployment. Exposed units
// got at least one message (an exposure in a variant, not a holdout) from
// some experiment and were never answered global_control; Control units were answered global_control and never
// got a message. Mixed units were both (the share or the salt changed
// while experiments ran) and are in neither group.
type GlobalControlCounts struct {
	Exposed GroupCounts `json:"exposed"`
	Control GroupCounts `json:"control"`
	Mixed   int64       `json:"mixed"`
}

// GlobalControlReport is messaging's overall effect: exposed units against
// the global control group on conversion rate and revenue per unit, each
// exposed minus control with its interval and p-value at level Alpha.
type GlobalControlReport struct {
	GlobalControlCounts
	// Share is the deployment's global control share (0 when the caller
	// does not know it).
	Share          experiment.BasisPoints `json:"share"`
	Alpha          float64                `json:"alpha"`
	ConversionRate GroupComparison        `json:"conversion_rate"`
	RevenuePerUnit GroupComparison        `json:"revenue_per_unit"`
}

// GroupComparison is one metric in both groups and the comparison, as a
// report's arm against its control (fixed horizon, sequential, and for the
// rate the probability to beat the control).
type GroupComparison struct {
	Exposed float64 `json:"exposed"`
	Control float64 `json:"control"`
	MetricComparison
}

// BuildGlobalControl compares the exposed units with the global control
// group at level alpha, by the report's own comparison.
func BuildGlobalControl(c GlobalControlCounts, alpha float64) GlobalControlReport {
	r := GlobalControlReport{GlobalControlCounts: c, Alpha: alpha}
	exposed, control := c.Exposed.counts(), c.Control.counts()
	for _, m := range []struct {
		metric experiment.Metric
		out    *GroupComparison
	}{{experiment.MetricConversionRate, &r.ConversionRate}, {experiment.MetricRevenuePerRecipient, &r.RevenuePerUnit}} {
		_, _, m.out.Exposed = MetricValue(m.metric, exposed)
		_, _, m.out.Control = MetricValue(m.metric, control)
		m.out.MetricComparison = compare(m.metric, control, exposed, alpha)
	}
	return r
}

// counts are g as an arm's Counts, for the report's metric functions.
func (g GroupCounts) counts() Counts {
	return Counts{Exposed: g.Units, Conversions: KindCounts{Units: g.Converters}, Value: g.Value, ValueSumSq: g.ValueSumSq}
}

// ReadGlobalControl reads the groups with r and compares them at the
// default alpha, for a deployment whose group is share; a nil r is
// EUNAVAILABLE.
func ReadGlobalControl(ctx context.Context, r GlobalControlReader, share experiment.BasisPoints) (GlobalControlReport, error) {
	if r == nil {
		return GlobalControlReport{}, experiment.Errorf(experiment.EUNAVAILABLE, "this server has no global control report")
	}
	counts, err := r.GlobalControl(ctx)
	if err != nil {
		return GlobalControlReport{}, err
	}
	rep := BuildGlobalControl(counts, experiment.DefaultAlpha)
	rep.Share = share
	return rep, nil
}
