package pages

import (
	"github.com/splitcast/splitcast/analytics/results"
)

// breakdownView is the page's breakdown section: per segment and metric, a
// row per value of the dimension and arm.
type breakdownView struct {
	Dimension, Warning string
	Comparisons        int
	Tables             []breakdownTable
}

type breakdownTable struct {
	Segment, Metric string
	Rows            []breakdownRowView
}

type breakdownRowView struct {
	Value, Variant   string
	Units            int64
	Rate, Fraction   string
	Lift, CI, P, PBH string
}

func newBreakdownView(b *results.Breakdown) *breakdownView {
	if b == nil {
		return nil
	}
	v := &breakdownView{Dimension: b.Dimension, Warning: b.Warning, Comparisons: b.Comparisons}
	for _, s := range b.Segments {
		if len(s.Values) == 0 {
			continue
		}
		for mi, m := range s.Values[0].Metrics {
			t := breakdownTable{Segment: s.Key, Metric: metricLabel(m.Metric)}
			mean := m.Metric.IsMean()
			for _, val := range s.Values {
				for _, row := range val.Metrics[mi].Rows {
					rv := breakdownRowView{Value: val.Value, Variant: row.Variant, Units: val.Units,
						Rate: results.FormatValue(mean, row.Value), Fraction: results.FormatFraction(mean, row.Numerator, row.Denominator)}
					if val.Value == "" {
						rv.Value = "(none)"
					}
					if c := row.Comparison; c != nil {
						cells := metricRowView{}
						fixedCells(&cells, mean, c)
						rv.Lift, rv.CI, rv.P = cells.AbsLift, cells.AbsCI, cells.P
						rv.PBH = optP(row.PValueBH, results.FormatNA(results.TestReason(c.FixedHorizon.Status)))
					}
					t.Rows = append(t.Rows, rv)
				}
			}
			v.Tables = append(v.Tables, t)
		}
	}
	return v
}
