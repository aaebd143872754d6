package results

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader is the first row that WriteCSV writes.
var CSVHeader = []string{
	"experiment", "version", "segment", "variant", "status", "control", "exposed", "multi_arm",
	"metric", "primary", "guardrail", "lower_is_better", "numerator", "denominator", "value",
	"abs_lift", "abs_ci_lower", "abs_ci_upper", "rel_lift", "rel_ci_lower", "rel_ci_upper", "p_value", "p_value_holm",
	"seq_diff", "seq_ci_lower", "seq_ci_upper", "seq_p_value", "seq_p_value_holm", "prob_better",
	"machine_openers", "machine_clickers", "srm_p_value", "srm",
	"test_status", "rel_status", "correction", "p_value_adjusted", "seq_p_value_adjusted", "prob_best",
	"cuped_status", "cuped_diff", "cuped_ci_lower", "cuped_ci_upper", "cuped_p_value", "cuped_variance_reduction",
	"channel", "messaged_units", "messages", "messages_per_unit", "suppressed_units", "suppressed_share",
	"suppressed_unsubscribed", "suppressed_complained", "suppressed_frequency_cap", "suppressed_global_control",
	"breakdown", "breakdown_value", "p_value_bh",
}

// WriteCSV writes r as CSV: a header, then one row per segment, arm and
// metric, with channel empty (every channel together), then the same rows
// per channel of r.Channels, with channel set (and no SRM columns: the
// sample ratio is checked on the total), then, when r has a breakdown, one
// row per segment, value of the dimension, arm and metric, naming the
// dimension and value in the breakdown columns (empty on the other rows)
// with the BH-adjusted p-value. A breakdown row leaves channel empty (a
// breakdown by channel names the channel in breakdown_value) and has no
// exposed, multi-arm, machine, SRM, P(best), CUPED or fatigue cells: the
// total rows of its segment have them. A reader wanting the total rows
// selects channel and breakdown both empty.
// Comparison columns are empty for the control and wherever the JSON has
// null (a zero standard error, an empty arm, a zero control for rel_*);
// test_status and rel_status say why, as the JSON's status and rel_status
// do. The fatigue columns (messaged_units to suppressed_global_control) are
// the arm's line of r.Fatigue, repeated on each of its total rows, beside
// the primary metric's and the unsubscribe and complaint rates' rows; empty
// on the channel and breakdown rows and when r has no fatigue section.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	fatigue := fatigueCells(r.Fatigue)
	for _, s := range r.Segments {
		if err := writeSegmentCSV(cw, r, s, "", fatigue); err != nil {
			return err
		}
	}
	for _, ch := range r.Channels {
		for _, s := range ch.Segments {
			if err := writeSegmentCSV(cw, r, s, ch.Channel, nil); err != nil {
				return err
			}
		}
	}
	if err := writeBreakdownCSV(cw, r); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// writeSegmentCSV writes the rows of segment s on channel ch ("" for the
// total), with the fatigue cells of each arm by segment and variant.
func writeSegmentCSV(cw *csv.Writer, r Report, s SegmentReport, ch string, fatigue map[[2]string][]string) error {
	version := strconv.FormatUint(uint64(r.Version), 10)
	srmP, srm := csvFloat(s.SRM.PValue), csvBool(s.SRM.Mismatch)
	if ch != "" {
		srmP, srm = "", ""
	}
	for ai, a := range s.Arms {
		for _, m := range s.Metrics {
			row := m.Rows[ai]
			rec := []string{r.Experiment, version, s.Key, a.Variant, string(a.Status),
				csvBool(a.Control), csvInt(a.Counts.Exposed), csvInt(a.Counts.MultiArm),
				string(m.Metric), csvBool(m.Primary), csvBool(m.Guardrail), csvBool(m.LowerIsBetter),
				csvFloat(row.Numerator), csvFloat(row.Denominator), csvFloat(row.Value)}
			cmp, status, adjusted := comparisonCells(row.Comparison)
			rec = append(rec, cmp...)
			rec = append(rec, csvInt(a.Counts.Opens.MachineUnits), csvInt(a.Counts.Clicks.MachineUnits), srmP, srm,
				status[0], status[1], string(r.Correction), adjusted[0], adjusted[1], csvOpt(row.ProbBest))
			rec = append(rec, cupedCells(row.Comparison, csvFloat, csvOpt)...)
			rec = append(rec, ch)
			if cells, ok := fatigue[[2]string{s.Key, a.Variant}]; ok {
				rec = append(rec, cells...)
			} else {
				rec = append(rec, make([]string, fatigueColumns)...)
			}
			rec = append(rec, "", "", "") // not a breakdown row
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// fatigueColumns is how many columns fatigueCells fills per arm.
var fatigueColumns = 5 + len(SuppressionReasons)

// fatigueCells are the fatigue columns of each arm of f, by segment and
// variant; nil without a fatigue section.
func fatigueCells(f *FatigueReport) map[[2]string][]string {
	if f == nil {
		return nil
	}
	out := map[[2]string][]string{}
	for _, a := range f.Arms {
		cells := []string{csvInt(a.MessagedUnits), csvInt(a.Messages), csvFloat(a.MessagesPerUnit),
			csvInt(a.SuppressedUnits), csvFloat(a.SuppressedShare)}
		for _, reason := range SuppressionReasons {
			cells = append(cells, csvInt(a.Suppressed[reason]))
		}
		out[[2]string{a.Segment, a.Variant}] = cells
	}
	return out
}

// writeBreakdownCSV writes r's breakdown rows, if it has a breakdown.
func writeBreakdownCSV(cw *csv.Writer, r Report) error {
	b := r.Breakdown
	if b == nil {
		return nil
	}
	version := strconv.FormatUint(uint64(r.Version), 10)
	for _, bs := range b.Segments {
		var seg *SegmentReport
		for i := range r.Segments {
			if r.Segments[i].Key == bs.Key {
				seg = &r.Segments[i]
			}
		}
		if seg == nil {
			continue
		}
		for _, bv := range bs.Values {
			for mi, bm := range bv.Metrics {
				m := seg.Metrics[mi]
				for ri, row := range bm.Rows {
					a := seg.Arms[ri]
					rec := []string{r.Experiment, version, bs.Key, row.Variant, string(a.Status), csvBool(a.Control), "", "",
						string(bm.Metric), csvBool(m.Primary), csvBool(m.Guardrail), csvBool(m.LowerIsBetter),
						csvFloat(row.Numerator), csvFloat(row.Denominator), csvFloat(row.Value)}
					cmp, status, adjusted := comparisonCells(row.Comparison)
					rec = append(rec, cmp...)
					rec = append(rec, "", "", "", "", status[0], status[1], string(r.Correction), adjusted[0], adjusted[1], "")
					rec = append(rec, make([]string, 6)...)                // no CUPED in a breakdown
					rec = append(rec, make([]string, 1+fatigueColumns)...) // no channel, no fatigue
					rec = append(rec, b.Dimension, bv.Value, csvOpt(row.PValueBH))
					if err := cw.Write(rec); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// comparisonCells are a comparison's cells from abs_lift to prob_better,
// its status and relative status, and its p-values adjusted by the
// policy's correction: all empty for none (the control) or one that failed.
func comparisonCells(c *MetricComparison) (cmp []string, status, adjusted [2]string) {
	cmp = make([]string, 14)
	if c == nil || c.Error != "" {
		return cmp, status, adjusted
	}
	fh, sq := c.FixedHorizon, c.Sequential
	status = [2]string{string(fh.Status), string(fh.RelStatus)}
	adjusted = [2]string{csvOpt(c.PValueAdjusted), csvOpt(c.SequentialPValueAdjusted)}
	cmp[0] = csvOpt(fh.AbsLift)
	if fh.AbsCI != nil {
		cmp[1], cmp[2] = csvFloat(fh.AbsCI.Lower), csvFloat(fh.AbsCI.Upper)
	}
	cmp[3] = csvOpt(fh.RelLift)
	if fh.RelCI != nil {
		cmp[4], cmp[5] = csvFloat(fh.RelCI.Lower), csvFloat(fh.RelCI.Upper)
	}
	cmp[6], cmp[7] = csvOpt(fh.PValue), csvOpt(c.PValueHolm)
	if sq.Defined {
		copy(cmp[8:13], []string{csvFloat(sq.Diff), csvFloat(sq.CI.Lower), csvFloat(sq.CI.Upper), csvFloat(sq.PValue), csvOpt(c.SequentialPValueHolm)})
	}
	cmp[13] = csvOpt(c.ProbBetter)
	return cmp, status, adjusted
}

func csvFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
func csvInt(x int64) string     { return strconv.FormatInt(x, 10) }
func csvBool(x bool) string     { return strconv.FormatBool(x) }

// csvOpt is empty for an undefined number.
func csvOpt(x *float64) string {
	if x == nil {
		return ""
	}
	return csvFloat(*x)
}

// cupedCells are the CSV's CUPED columns of a comparison: empty where it
// has no CUPED estimate or a number is undefined.
func cupedCells(c *MetricComparison, f func(float64) string, opt func(*float64) string) []string {
	out := make([]string, 6)
	if c == nil || c.CUPED == nil {
		return out
	}
	out[0], out[5] = string(c.CUPED.Status), opt(c.CUPED.VarianceReduction)
	if a := c.CUPED.Adjusted; a != nil {
		out[1], out[4] = f(a.Diff), opt(a.PValue)
		if a.CI != nil {
			out[2], out[3] = f(a.CI.Lower), f(a.CI.Upper)
		}
	}
	return out
}
