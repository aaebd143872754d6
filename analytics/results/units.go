package results

import (
	"context"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// UnitReader reads one experiment's exposed units, one entry each: what the
// report's CUPED estimates and breakdowns are computed from, beside the
// aggregates. It keeps the Aggregates contract (each event counts once, a
// unit in the arm of its first exposure, human events only) so that each
// arm's units add up to its Counts. Implementation: analytics/clickhouse.
type UnitReader interface {
	// Units returns the units of experimentKey with their outcomes, their
	// metrics over the preDays days before their first exposure (from every
	// experiment's events), and the values of dims on their first exposure.
	Units(ctx context.Context, experimentKey string, preDays int, dims []string) ([]Unit, error)
}

// Unit is one exposed unit.
type Unit struct {
	Segment string
	Variant string // a variant key or experiment.HoldoutArm
	// Outcome is what the unit did in the experiment; Pre what it did in
	// the window before its first exposure, in any experiment.
	Outcome, Pre UnitMetrics
	// Dims are the values of the dimensions asked for, in their order
	// ("" when the exposure carried none).
	Dims []string
	// N is how many units the entry stands for: 1 when read unit by unit;
	// a read without dimensions may count units alike as one entry.
	N int64
}

// UnitMetrics are one unit's human events: whether it had each kind, and
// the sum of its conversions' values.
type UnitMetrics struct {
	Open, Click, Conversion, Unsubscribe, Complaint bool
	Revenue                                         float64
}

// Value returns the unit's value of metric m, 0 or 1 for a rate, and false
// for click-to-open, whose denominator (openers) is not every unit: it is a
// ratio of two per-unit means, which this per-unit regression does not
// cover.
func (u UnitMetrics) Value(m experiment.Metric) (float64, bool) {
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	switch m {
	case experiment.MetricOpenRate:
		return b(u.Open), true
	case experiment.MetricClickRate:
		return b(u.Click), true
	case experiment.MetricConversionRate:
		return b(u.Conversion), true
	case experiment.MetricUnsubscribeRate:
		return b(u.Unsubscribe), true
	case experiment.MetricComplaintRate:
		return b(u.Complaint), true
	case experiment.MetricRevenuePerRecipient:
		return u.Revenue, true
	}
	return 0, false
}

// AddCUPED sets, on every comparison of r whose metric has a per-unit
// value, the CUPED estimate (stats.CUPED) with each unit's same metric over
// the pre-exposure window as covariate, beside the unadjusted one. preDays
// is the window the units were read with; it is shown in the report.
func AddCUPED(r *Report, units []Unit, preDays int) {
	r.CupedDays = preDays
	byArm := map[[2]string][]int{}
	for i, u := range units {
		k := [2]string{u.Segment, u.Variant}
		byArm[k] = append(byArm[k], i)
	}
	for si := range r.Segments {
		s := &r.Segments[si]
		for mi := range s.Metrics {
			m := &s.Metrics[mi]
			if _, ok := (UnitMetrics{}).Value(m.Metric); !ok {
				continue
			}
			control := cupedArm(units, byArm[[2]string{s.Key, s.Control}], m.Metric)
			for ri := range m.Rows {
				row := &m.Rows[ri]
				if row.Comparison == nil || row.Comparison.Error != "" {
					continue
				}
				treat := cupedArm(units, byArm[[2]string{s.Key, row.Variant}], m.Metric)
				if c, err := stats.CUPED(control, treat, r.Alpha); err == nil {
					row.Comparison.CUPED = &c
				}
			}
		}
	}
}

func cupedArm(units []Unit, idx []int, m experiment.Metric) stats.CUPEDArm {
	a := stats.CUPEDArm{Y: make([]float64, len(idx)), X: make([]float64, len(idx)), W: make([]float64, len(idx))}
	for k, i := range idx {
		a.Y[k], _ = units[i].Outcome.Value(m)
		a.X[k], _ = units[i].Pre.Value(m)
		a.W[k] = float64(units[i].N)
	}
	return a
}
