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
}

// WriteCSV writes r as CSV: a header, then one row per segment, arm and
// metric, with channel empty (every channel together), then the same rows
// per channel of r.Channels, with channel set (and no SRM columns: the
// sample ratio is checked on the total). Comparison columns are empty for
// the control and wherever the JSON has null (a zero standard error, an
// empty arm, a zero control for rel_*); test_status and rel_status say
// why, as the JSON's status and rel_status do. The fatigue columns
// (messaged_units to suppressed_global_control) are the arm's line of
// r.Fatigue, repeated on each of its total rows, beside the primary
// metric's and the unsubscribe and complaint rates' rows; empty on the
// channel rows and when r has no fatigue section.
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
	cw.Flush()
	return cw.Error()
}

// writeSegmentCSV writes the rows of segment s on channel ch ("" for the
// total), with the fatigue cells of each arm by segment and variant.
func writeSegmentCSV(cw *csv.Writer, r Report, s SegmentReport, ch string, fatigue map[[2]string][]string) error {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	b := strconv.FormatBool
	opt := func(x *float64) string { // empty for an undefined number
		if x == nil {
			return ""
		}
		return f(*x)
	}
	srmP, srm := f(s.SRM.PValue), b(s.SRM.Mismatch)
	if ch != "" {
		srmP, srm = "", ""
	}
	for ai, a := range s.Arms {
		for _, m := range s.Metrics {
			row := m.Rows[ai]
			rec := []string{r.Experiment, strconv.FormatUint(uint64(r.Version), 10), s.Key, a.Variant, string(a.Status),
				b(a.Control), i(a.Counts.Exposed), i(a.Counts.MultiArm),
				string(m.Metric), b(m.Primary), b(m.Guardrail), b(m.LowerIsBetter), f(row.Numerator), f(row.Denominator), f(row.Value)}
			cmp := make([]string, 14)
			var status [2]string
			var adjusted [2]string
			if c := row.Comparison; c != nil && c.Error == "" {
				fh, sq := c.FixedHorizon, c.Sequential
				status = [2]string{string(fh.Status), string(fh.RelStatus)}
				adjusted = [2]string{opt(c.PValueAdjusted), opt(c.SequentialPValueAdjusted)}
				cmp[0] = opt(fh.AbsLift)
				if fh.AbsCI != nil {
					cmp[1], cmp[2] = f(fh.AbsCI.Lower), f(fh.AbsCI.Upper)
				}
				cmp[3] = opt(fh.RelLift)
				if fh.RelCI != nil {
					cmp[4], cmp[5] = f(fh.RelCI.Lower), f(fh.RelCI.Upper)
				}
				cmp[6], cmp[7] = opt(fh.PValue), opt(c.PValueHolm)
				if sq.Defined {
					copy(cmp[8:13], []string{f(sq.Diff), f(sq.CI.Lower), f(sq.CI.Upper), f(sq.PValue), opt(c.SequentialPValueHolm)})
				}
				cmp[13] = opt(c.ProbBetter)
			}
			rec = append(rec, cmp...)
			rec = append(rec, i(a.Counts.Opens.MachineUnits), i(a.Counts.Clicks.MachineUnits), srmP, srm, status[0], status[1],
				string(r.Correction), adjusted[0], adjusted[1], opt(row.ProbBest))
			rec = append(rec, cupedCells(row.Comparison, f, opt)...)
			rec = append(rec, ch)
			if cells, ok := fatigue[[2]string{s.Key, a.Variant}]; ok {
				rec = append(rec, cells...)
			} else {
				rec = append(rec, make([]string, fatigueColumns)...)
			}
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
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	out := map[[2]string][]string{}
	for _, a := range f.Arms {
		cells := []string{i(a.MessagedUnits), i(a.Messages), g(a.MessagesPerUnit), i(a.SuppressedUnits), g(a.SuppressedShare)}
		for _, reason := range SuppressionReasons {
			cells = append(cells, i(a.Suppressed[reason]))
		}
		out[[2]string{a.Segment, a.Variant}] = cells
	}
	return out
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
