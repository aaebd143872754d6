package results

import (
	"sort"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// BreakdownWarning is what every breakdown says first.
const BreakdownWarning = "A breakdown is many comparisons: with enough values and metrics some look significant by chance. " +
	"Trust the BH-adjusted p-values (Benjamini–Hochberg over every comparison of the metric in this breakdown), " +
	"and confirm a finding in a test of its own."

// Breakdown is every metric of a report broken down by one exposure
// dimension: per segment and value of the dimension, the arms' values and
// their comparisons with the segment's control among the units of that
// value.
type Breakdown struct {
	Dimension string `json:"dimension"`
	Warning   string `json:"warning"`
	// Comparisons is the number of comparisons per metric: the size of
	// each metric's BH family.
	Comparisons int                `json:"comparisons"`
	Segments    []BreakdownSegment `json:"segments"`
}

// BreakdownSegment is one segment's values of the dimension, in order of
// their units, most first ("" is units whose exposure carried none).
type BreakdownSegment struct {
	Key    string           `json:"key"`
	Values []BreakdownValue `json:"values"`
}

// BreakdownValue is one value of the dimension in one segment.
type BreakdownValue struct {
	Value   string            `json:"value"`
	Units   int64             `json:"units"`
	Metrics []BreakdownMetric `json:"metrics"`
}

// BreakdownMetric is one metric among the units of one value: a row per
// arm of the segment, as in MetricReport.
type BreakdownMetric struct {
	Metric experiment.Metric `json:"metric"`
	Rows   []BreakdownRow    `json:"rows"`
}

// BreakdownRow is one arm's value of a metric and, but for the control,
// its comparison with the control and the BH-adjusted p-value.
type BreakdownRow struct {
	Variant     string            `json:"variant"`
	Numerator   float64           `json:"numerator"`
	Denominator float64           `json:"denominator"`
	Value       float64           `json:"value"`
	Comparison  *MetricComparison `json:"comparison,omitempty"`
	// PValueBH is the fixed-horizon p-value adjusted by Benjamini–Hochberg
	// over every comparison of this metric in the breakdown (nil where the
	// p-value is undefined).
	PValueBH *float64 `json:"p_value_bh"`
}

// AddBreakdown sets r.Breakdown: every metric broken down by dimension,
// from units read with that one dimension (Unit.Dims[0]).
func AddBreakdown(r *Report, units []Unit, dimension string) {
	b := &Breakdown{Dimension: dimension, Warning: BreakdownWarning}
	type cell struct{ seg, value, arm string }
	counts := map[cell]*Counts{}
	perValue := map[[2]string]int64{}
	for _, u := range units {
		v := ""
		if len(u.Dims) > 0 {
			v = u.Dims[0]
		}
		k := cell{u.Segment, v, u.Variant}
		if counts[k] == nil {
			counts[k] = &Counts{}
		}
		counts[k].AddUnits(u.Outcome, u.N)
		perValue[[2]string{u.Segment, v}] += u.N
	}
	for _, s := range r.Segments {
		bs := BreakdownSegment{Key: s.Key}
		for sv, n := range perValue {
			if sv[0] == s.Key {
				bs.Values = append(bs.Values, BreakdownValue{Value: sv[1], Units: n})
			}
		}
		sort.Slice(bs.Values, func(i, j int) bool {
			x, y := bs.Values[i], bs.Values[j]
			return x.Units > y.Units || (x.Units == y.Units && x.Value < y.Value)
		})
		for vi := range bs.Values {
			bv := &bs.Values[vi]
			arm := func(a string) Counts {
				if c := counts[cell{s.Key, bv.Value, a}]; c != nil {
					return *c
				}
				return Counts{}
			}
			for _, m := range s.Metrics {
				if m.Metric.IsCustom() {
					// A breakdown's units carry their message events, not
					// their user events: a custom metric would read zeros.
					continue
				}
				bv.Metrics = append(bv.Metrics, breakdownMetric(m.Metric, s, arm, r.Alpha, r.Correction))
			}
		}
		b.Segments = append(b.Segments, bs)
	}
	b.Comparisons = adjustBreakdown(b)
	r.Breakdown = b
}

// breakdownMetric is metric m among one value's units: the rows the
// segment's report would have for those units alone, Holm and the policy's
// correction included.
func breakdownMetric(m experiment.Metric, s SegmentReport, arm func(string) Counts, alpha float64, corr experiment.Correction) BreakdownMetric {
	var rows []MetricRow
	var family []int
	control := arm(s.Control)
	for _, a := range s.Arms {
		c := arm(a.Variant)
		row := MetricRow{Variant: a.Variant}
		row.Numerator, row.Denominator, row.Value = MetricValue(m, c)
		if s.Control != "" && !a.Control {
			cmp := compare(m, control, c, alpha)
			row.Comparison = &cmp
			if a.Status != ArmHoldout && a.Status != ArmUnknown {
				family = append(family, len(rows))
			}
		}
		rows = append(rows, row)
	}
	adjustFamily(rows, family, corr)
	bm := BreakdownMetric{Metric: m}
	for _, row := range rows {
		bm.Rows = append(bm.Rows, BreakdownRow{Variant: row.Variant, Numerator: row.Numerator,
			Denominator: row.Denominator, Value: row.Value, Comparison: row.Comparison})
	}
	return bm
}

// adjustBreakdown sets PValueBH per metric over every comparison of the
// breakdown with a defined p-value, and returns the largest family's size.
func adjustBreakdown(b *Breakdown) int {
	families := map[experiment.Metric][]*BreakdownRow{}
	for si := range b.Segments {
		for vi := range b.Segments[si].Values {
			for mi := range b.Segments[si].Values[vi].Metrics {
				bm := &b.Segments[si].Values[vi].Metrics[mi]
				for ri := range bm.Rows {
					if c := bm.Rows[ri].Comparison; c != nil {
						if _, ok := c.FixedHorizon.P(); ok {
							families[bm.Metric] = append(families[bm.Metric], &bm.Rows[ri])
						}
					}
				}
			}
		}
	}
	most := 0
	for _, rows := range families {
		ps := make([]float64, len(rows))
		for i, row := range rows {
			ps[i], _ = row.Comparison.FixedHorizon.P()
		}
		for i, p := range stats.BenjaminiHochberg(ps) {
			rows[i].PValueBH = &p
		}
		most = max(most, len(rows))
	}
	return most
}
