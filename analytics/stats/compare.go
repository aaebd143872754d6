package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Test names the test behind a Comparison.
type Test string

// The tests a Comparison can come from.
const (
	TestZ     Test = "z"     // two-proportion z-test
	TestWelch Test = "welch" // Welch's unequal-variance t-test
)

// Status says whether a Comparison's statistic, p-value and intervals were computed. Where
// one was not, its field is nil (null in JSON): an undefined number is never written as a
// number (no z = 0 with p = 1, no largest float).
type Status string

// The statuses of a Comparison.
const (
	// StatusOK: every field was computed from the data.
	StatusOK Status = "ok"
	// StatusNoVariance: both arms have data but a standard error is 0 (0% or 100% in both
	// arms, 0% against 100%, or constant values). What divides by a zero standard error is
	// nil: the statistic and p-value when the test's own (pooled, for rates) standard error
	// is 0, the interval when the interval's is. For 0% against 100% the pooled z-test is
	// still defined, and computed; the Wald interval is not. AbsLift is computed.
	StatusNoVariance Status = "no_variance"
	// StatusEmptyArm: an arm has no trials or units. Nothing is tested: lifts, intervals,
	// statistic and p-value are nil.
	StatusEmptyArm Status = "empty_arm"
	// StatusTooFewUnits: Welch's test needs at least 2 units per arm to estimate a variance.
	// As for StatusEmptyArm, nothing is tested.
	StatusTooFewUnits Status = "too_few_units"
	// StatusOverflow: the values are too large for float64 arithmetic (a variance beyond
	// ~1e300). Nothing is tested, as for StatusEmptyArm, and Control and Treatment are 0.
	StatusOverflow Status = "overflow"
)

// RelStatus says whether a Comparison's relative lift and its interval were computed.
type RelStatus string

// The statuses of a relative lift.
const (
	RelOK RelStatus = "ok"
	// RelZeroControl: the control's rate or mean is 0, so no lift relative to it exists.
	RelZeroControl RelStatus = "zero_control"
	// RelNoVariance: the lift is computed but its delta-method standard error is 0, so
	// its interval is nil.
	RelNoVariance RelStatus = "no_variance"
	// RelUntested: the comparison itself was not tested (an empty or too small arm, an
	// overflow): see Status.
	RelUntested RelStatus = "untested"
	// RelOverflow: the ratio is not representable in float64.
	RelOverflow RelStatus = "overflow"
)

// Comparison is a treatment arm compared with its control on one metric. Every number is
// finite; a number that is undefined is nil, with Status (or RelStatus) saying why. Lifts
// are treatment minus control (absolute) and (treatment - control)/|control| (relative, so
// that a negative control mean keeps the sign of the difference).
type Comparison struct {
	Test      Test    `json:"test"`
	Status    Status  `json:"status"`
	Alpha     float64 `json:"alpha"` // intervals have confidence 1-Alpha
	Control   float64 `json:"control"`
	Treatment float64 `json:"treatment"`

	AbsLift *float64  `json:"abs_lift"`
	AbsCI   *Interval `json:"abs_ci"`

	RelStatus RelStatus `json:"rel_status"`
	RelLift   *float64  `json:"rel_lift"`
	RelCI     *Interval `json:"rel_ci"`

	Statistic *float64 `json:"statistic"`    // z or Welch's t
	DF        *float64 `json:"df,omitempty"` // Welch–Satterthwaite degrees of freedom; nil for z
	PValue    *float64 `json:"p_value"`      // two-sided
}

// Tested reports whether both arms had enough data for the test to be attempted (Status OK
// or NoVariance); even then a field may be nil, with StatusNoVariance.
func (c Comparison) Tested() bool { return c.Status == StatusOK || c.Status == StatusNoVariance }

// RelLiftDefined reports whether the relative lift was computed.
func (c Comparison) RelLiftDefined() bool { return c.RelLift != nil }

// P returns the p-value and whether it is defined.
func (c Comparison) P() (float64, bool) {
	if c.PValue == nil {
		return 0, false
	}
	return *c.PValue, true
}

func num(x float64) *float64 { return &x }

func interval(iv Interval) *Interval { return &iv }

// CompareProportions compares treatment with control by the two-proportion z-test.
//
// The statistic uses the pooled proportion, z = (p2-p1)/sqrt(p(1-p)(1/n1+1/n2)) (statsmodels
// proportions_ztest); the interval of the absolute difference is the unpooled Wald interval
// (statsmodels confint_proportions_2indep, method "wald"); the relative lift p2/p1-1 has a
// delta-method interval with a normal quantile. The error reports invalid counts or alpha.
func CompareProportions(control, treatment Proportion, alpha float64) (Comparison, error) {
	c := Comparison{Test: TestZ, Alpha: alpha, RelStatus: RelUntested}
	if err := checkAlpha(alpha); err != nil {
		return c, err
	}
	if err := validArms(control, treatment); err != nil {
		return c, err
	}
	c.Control, c.Treatment = control.Rate(), treatment.Rate()
	if control.Trials == 0 || treatment.Trials == 0 {
		c.Status = StatusEmptyArm
		return c, nil
	}
	n1, n2 := control.Trials, treatment.Trials
	p1, p2 := c.Control, c.Treatment
	d := p2 - p1
	c.AbsLift = num(d)
	zc := mathext.NormalQuantile(1 - alpha/2)

	pooled := (control.Successes + treatment.Successes) / (n1 + n2)
	se0 := math.Sqrt(pooled * (1 - pooled) * (1/n1 + 1/n2))
	var1, var2 := p1*(1-p1)/n1, p2*(1-p2)/n2
	se := math.Sqrt(var1 + var2)
	c.Status = StatusOK
	if se0 > 0 {
		z := d / se0
		c.Statistic, c.PValue = num(z), num(twoSidedNormalP(z))
	} else {
		// Pooled rate 0 or 1: both arms are all failures or all successes.
		c.Status = StatusNoVariance
	}
	if se > 0 {
		c.AbsCI = interval(around(d, zc*se))
	} else {
		// 0% or 100% in both arms, or 0% against 100%: no Wald interval.
		c.Status = StatusNoVariance
	}
	c.RelStatus, c.RelLift, c.RelCI = relLift(p1, p2, var1, var2, zc)
	return c.representable(), nil
}

// CompareMeans compares treatment with control by Welch's t-test on their moments.
//
// t = (m2-m1)/sqrt(s1²/n1+s2²/n2) with Welch–Satterthwaite degrees of freedom (scipy
// ttest_ind(equal_var=False)); the interval of the difference uses the t quantile with those
// degrees of freedom; the relative lift m2/m1-1 has a delta-method interval with a normal
// quantile. Each arm needs N >= 2. The error reports invalid moments or alpha.
func CompareMeans(control, treatment Moments, alpha float64) (Comparison, error) {
	c := Comparison{Test: TestWelch, Alpha: alpha, RelStatus: RelUntested}
	if err := checkAlpha(alpha); err != nil {
		return c, err
	}
	if err := validArms(control, treatment); err != nil {
		return c, err
	}
	c.Control, c.Treatment = control.Mean(), treatment.Mean()
	switch {
	case control.N == 0 || treatment.N == 0:
		c.Status = StatusEmptyArm
		return c, nil
	case control.N < 2 || treatment.N < 2:
		c.Status = StatusTooFewUnits
		return c, nil
	}
	m1, m2 := c.Control, c.Treatment
	d := m2 - m1
	c.AbsLift = num(d)
	var1, var2 := control.Variance()/control.N, treatment.Variance()/treatment.N
	se2 := var1 + var2
	zc := mathext.NormalQuantile(1 - alpha/2)
	if se2 == 0 {
		// Constant values in both arms: nothing to divide by.
		c.Status = StatusNoVariance
	} else {
		c.Status = StatusOK
		se := math.Sqrt(se2)
		// The Welch–Satterthwaite df, (var1+var2)²/(var1²/(n1-1)+var2²/(n2-1)), in shares of
		// se2 so that neither squares overflow nor underflow.
		r1, r2 := var1/se2, var2/se2
		df := 1 / (r1*r1/(control.N-1) + r2*r2/(treatment.N-1))
		t := d / se
		c.DF, c.Statistic = num(df), num(t)
		c.PValue = num(2 * tSurvival(math.Abs(t), df))
		c.AbsCI = interval(around(d, tQuantile(1-alpha/2, df)*se))
	}
	c.RelStatus, c.RelLift, c.RelCI = relLift(m1, m2, var1, var2, zc)
	return c.representable(), nil
}

// representable returns c, or, if float64 overflowed anywhere in it (means and variances
// near 1e154 and beyond), c with Status StatusOverflow and nothing tested.
func (c Comparison) representable() Comparison {
	xs := []float64{c.Control, c.Treatment}
	for _, p := range []*float64{c.AbsLift, c.RelLift, c.Statistic, c.DF, c.PValue} {
		if p != nil {
			xs = append(xs, *p)
		}
	}
	for _, iv := range []*Interval{c.AbsCI, c.RelCI} {
		if iv != nil {
			xs = append(xs, iv.Lower, iv.Upper)
		}
	}
	for _, x := range xs {
		if !finite(x) {
			return Comparison{Test: c.Test, Status: StatusOverflow, Alpha: c.Alpha, RelStatus: RelUntested}
		}
	}
	return c
}

// relLift returns (x2-x1)/|x1| and its delta-method interval, where var1 and var2 are the
// variances of the estimates x1 and x2. (x2-x1)/|x1| = sign(x1)·(x2/x1 - 1), so its variance
// is that of the ratio:
//
//	Var(x2/x1) ≈ var2/x1² + x2²·var1/x1⁴.
func relLift(x1, x2, var1, var2, zc float64) (RelStatus, *float64, *Interval) {
	if x1 == 0 {
		return RelZeroControl, nil, nil
	}
	r := (x2 - x1) / math.Abs(x1)
	ratio := x2 / x1
	v := (var2 + ratio*ratio*var1) / (x1 * x1)
	if !finite(r) || !finite(v) {
		return RelOverflow, nil, nil
	}
	if v == 0 {
		return RelNoVariance, num(r), nil
	}
	iv := around(r, zc*math.Sqrt(v))
	if !finite(iv.Lower) || !finite(iv.Upper) {
		return RelOverflow, nil, nil
	}
	return RelOK, num(r), interval(iv)
}

// validArms validates both arms of a comparison, the control's first.
func validArms(control, treatment interface{ Validate() error }) error {
	if err := control.Validate(); err != nil {
		return err
	}
	return treatment.Validate()
}
