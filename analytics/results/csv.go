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
}

// WriteCSV writes r as CSV: a header, then one row per segment, arm and
// metric. Comparison columns are empty for the control and where nothing
// was tested; rel_* are empty where the relative lift is undefined.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	b := strconv.FormatBool
	for _, s := range r.Segments {
		for ai, a := range s.Arms {
			for _, m := range s.Metrics {
				row := m.Rows[ai]
				rec := []string{r.Experiment, strconv.FormatUint(uint64(r.Version), 10), s.Key, a.Variant, string(a.Status),
					b(a.Control), i(a.Counts.Exposed), i(a.Counts.MultiArm),
					string(m.Metric), b(m.Primary), b(m.Guardrail), b(m.LowerIsBetter), f(row.Numerator), f(row.Denominator), f(row.Value)}
				cmp := make([]string, 14)
				if c := row.Comparison; c != nil && c.Error == "" {
					fh, sq := c.FixedHorizon, c.Sequential
					if fh.Tested() {
						copy(cmp[0:3], []string{f(fh.AbsLift), f(fh.AbsCI.Lower), f(fh.AbsCI.Upper)})
						if fh.RelLiftDefined {
							copy(cmp[3:6], []string{f(fh.RelLift), f(fh.RelCI.Lower), f(fh.RelCI.Upper)})
						}
						copy(cmp[6:8], []string{f(fh.PValue), f(c.PValueHolm)})
					}
					if sq.Defined {
						copy(cmp[8:13], []string{f(sq.Diff), f(sq.CI.Lower), f(sq.CI.Upper), f(sq.PValue), f(c.SequentialPValueHolm)})
					}
					if c.ProbBetter != nil {
						cmp[13] = f(*c.ProbBetter)
					}
				}
				rec = append(rec, cmp...)
				rec = append(rec, i(a.Counts.Opens.MachineUnits), i(a.Counts.Clicks.MachineUnits), f(s.SRM.PValue), b(s.SRM.Mismatch))
				if err := cw.Write(rec); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
