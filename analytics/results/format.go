package results

import (
	"fmt"
	"strconv"

	"github.com/splitcast/splitcast/analytics/stats"
)

// The one way numbers of a report are written for people: the HTML page,
// the terminal table and retirement reasons all use these, so that a lift
// reads the same wherever it is shown. mean is true for a mean metric
// (experiment.Metric.IsMean) and false for a rate.

// FormatValue writes a metric's value: a rate as a percent with two
// decimals, a mean with three.
func FormatValue(mean bool, x float64) string {
	if mean {
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	return strconv.FormatFloat(100*x, 'f', 2, 64) + "%"
}

// FormatDiff writes a difference of values, signed: percentage points for
// rates ("+1.20 pp"), three decimals for means.
func FormatDiff(mean bool, x float64) string {
	if mean {
		return fmt.Sprintf("%+.3f", x)
	}
	return fmt.Sprintf("%+.2f pp", 100*x)
}

// FormatFraction writes a value's numerator and denominator: units over
// units for rates, a sum over units for means.
func FormatFraction(mean bool, num, den float64) string {
	if mean {
		return fmt.Sprintf("%.2f / %.0f", num, den)
	}
	return fmt.Sprintf("%.0f / %.0f", num, den)
}

// FormatP writes a p-value with three decimals, or in scientific notation
// when smaller than 0.001.
func FormatP(p float64) string {
	if p >= 0.001 || p == 0 {
		return strconv.FormatFloat(p, 'f', 3, 64)
	}
	return strconv.FormatFloat(p, 'e', 1, 64)
}

// FormatRelLift writes a relative lift as a signed percent with one
// decimal.
func FormatRelLift(x float64) string { return fmt.Sprintf("%+.1f%%", 100*x) }

// FormatShare writes a share (a probability, a fraction of events) as a
// percent with one decimal.
func FormatShare(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// FormatInterval writes an interval of differences, "[lo, hi]" as
// FormatDiff writes each end.
func FormatInterval(mean bool, lo, hi float64) string {
	return "[" + FormatDiff(mean, lo) + ", " + FormatDiff(mean, hi) + "]"
}

// FormatRelInterval writes an interval of relative lifts, "[lo, hi]" as
// FormatRelLift writes each end.
func FormatRelInterval(lo, hi float64) string {
	return "[" + FormatRelLift(lo) + ", " + FormatRelLift(hi) + "]"
}

// FormatNA writes a number that is undefined: "n/a" and why, as reason
// (TestReason, RelReason) gives it.
func FormatNA(reason string) string {
	if reason == "" {
		return "n/a"
	}
	return "n/a: " + reason
}

// TestReason says in a few words why a comparison's statistic, p-value or
// interval is undefined; "" for a comparison that is fully computed.
func TestReason(s stats.Status) string {
	switch s {
	case stats.StatusNoVariance:
		return "zero standard error"
	case stats.StatusEmptyArm:
		return "an arm is empty"
	case stats.StatusTooFewUnits:
		return "fewer than 2 units in an arm"
	case stats.StatusOverflow:
		return "values too large"
	}
	return ""
}

// RelReason says why a relative lift or its interval is undefined; "" when
// it is computed.
func RelReason(c stats.Comparison) string {
	switch c.RelStatus {
	case stats.RelZeroControl:
		return "control is 0"
	case stats.RelNoVariance:
		return "zero standard error"
	case stats.RelOverflow:
		return "values too large"
	case stats.RelUntested:
		return TestReason(c.Status)
	}
	return ""
}

// SeqReason says why the always-valid test of a comparison whose
// fixed-horizon test is fh is undefined: fh's reason when it has one, else
// a zero standard error (the only other case).
func SeqReason(fh stats.Comparison) string {
	if r := TestReason(fh.Status); r != "" {
		return r
	}
	return TestReason(stats.StatusNoVariance)
}

// FormatReduction writes a variance reduction, the share of variance an
// adjustment removed: "variance -35.2%" (or "+" when it added some).
func FormatReduction(x float64) string { return fmt.Sprintf("variance %+.1f%%", -100*x) }

// CUPEDReason says why a CUPED estimate is undefined; "" when it is
// computed.
func CUPEDReason(s stats.Status) string {
	if s == stats.StatusConstantCovariate {
		return "no pre-exposure variation"
	}
	return TestReason(s)
}
