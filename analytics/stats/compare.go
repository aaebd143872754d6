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

// Status says whether a Comparison's statistic, p-value and intervals were computed.
type Status string

// The statuses of a Comparison.
const (
	// StatusOK: every field was computed from the data.
	StatusOK Status = "ok"
	// StatusNoVariance: both arms have data but a standard error is 0 (0% or 100% in both
	// arms, 0% against 100%, or constant values): the intervals collapse to the point
	// estimate. When the test's own standard error is 0 as well, the p-value is 1 if the
	// estimates are equal (statistic 0) and 0 otherwise (statistic ±math.MaxFloat64); for
	// 0% against 100% the pooled z-test is still computed.
	StatusNoVariance Status = "no_variance"
	// StatusEmptyArm: an arm has no trials or units. Nothing is tested: Statistic, lifts and
	// intervals are 0 and PValue is 1; show them as unavailable.
	StatusEmptyArm Status = "empty_arm"
	// StatusTooFewUnits: Welch's test needs at least 2 units per arm to estimate a variance.
	// As for StatusEmptyArm, nothing is tested.
	StatusTooFewUnits Status = "too_few_units"
	// StatusOverflow: the values are too large for float64 arithmetic (a variance beyond
	// ~1e300). Nothing is tested, as for StatusEmptyArm, and Control and Treatment are 0.
	StatusOverflow Status = "overflow"
)

// Comparison is a treatment arm compared with its control on one metric. Every field is
// finite. Lifts are treatment minus control (absolute) and treatment/control - 1 (relative).
type Comparison struct {
	Test      Test    `json:"test"`
	Status    Status  `json:"status"`
	Alpha     float64 `json:"alpha"` // intervals have confidence 1-Alpha
	Control   float64 `json:"control"`
	Treatment float64 `json:"treatment"`

	AbsLift float64  `json:"abs_lift"`
	AbsCI   Interval `json:"abs_ci"`

	// RelLiftDefined is false when the relative lift has no meaning: the control's rate or
	// mean is 0, nothing was tested, or the ratio is not representable. RelLift and RelCI are
	// then 0.
	RelLiftDefined bool     `json:"rel_lift_defined"`
	RelLift        float64  `json:"rel_lift"`
	RelCI          Interval `json:"rel_ci"`

	Statistic float64 `json:"statistic"`    // z or Welch's t
	DF        float64 `json:"df,omitempty"` // Welch–Satterthwaite degrees of freedom; 0 for z
	PValue    float64 `json:"p_value"`      // two-sided
}

// Tested reports whether the statistic and p-value come from the data (possibly by the
// zero-variance convention) rather than from an empty or too small arm.
func (c Comparison) Tested() bool { return c.Status == StatusOK || c.Status == StatusNoVariance }

// CompareProportions compares treatment with control by the two-proportion z-test.
//
// The statistic uses the pooled proportion, z = (p2-p1)/sqrt(p(1-p)(1/n1+1/n2)) (statsmodels
// proportions_ztest); the interval of the absolute difference is the unpooled Wald interval
// (statsmodels confint_proportions_2indep, method "wald"); the relative lift p2/p1-1 has a
// delta-method interval with a normal quantile. The error reports invalid counts or alpha.
func CompareProportions(control, treatment Proportion, alpha float64) (Comparison, error) {
	c := Comparison{Test: TestZ, Alpha: alpha, PValue: 1}
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
	c.AbsLift = d
	zc := mathext.NormalQuantile(1 - alpha/2)

	pooled := (control.Successes + treatment.Successes) / (n1 + n2)
	se0 := math.Sqrt(pooled * (1 - pooled) * (1/n1 + 1/n2))
	var1, var2 := p1*(1-p1)/n1, p2*(1-p2)/n2
	se := math.Sqrt(var1 + var2)
	c.Status = StatusOK
	if se0 == 0 {
		// Pooled rate 0 or 1: both arms are all failures or all successes, so d == 0.
		c.Status = StatusNoVariance
	} else {
		c.Statistic = d / se0
		c.PValue = twoSidedNormalP(c.Statistic)
	}
	c.AbsCI = around(d, zc*se)
	if se == 0 && c.Status == StatusOK {
		// 0% against 100%: the test is defined but the Wald interval is a point.
		c.Status = StatusNoVariance
	}
	c.RelLiftDefined, c.RelLift, c.RelCI = relLift(p1, p2, var1, var2, zc)
	return c.representable(), nil
}

// CompareMeans compares treatment with control by Welch's t-test on their moments.
//
// t = (m2-m1)/sqrt(s1²/n1+s2²/n2) with Welch–Satterthwaite degrees of freedom (scipy
// ttest_ind(equal_var=False)); the interval of the difference uses the t quantile with those
// degrees of freedom; the relative lift m2/m1-1 has a delta-method interval with a normal
// quantile. Each arm needs N >= 2. The error reports invalid moments or alpha.
func CompareMeans(control, treatment Moments, alpha float64) (Comparison, error) {
	c := Comparison{Test: TestWelch, Alpha: alpha, PValue: 1}
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
	c.AbsLift = d
	var1, var2 := control.Variance()/control.N, treatment.Variance()/treatment.N
	se2 := var1 + var2
	zc := mathext.NormalQuantile(1 - alpha/2)
	if se2 == 0 {
		c.Status = StatusNoVariance
		c.AbsCI = around(d, 0)
		if d != 0 {
			c.Statistic = math.Copysign(math.MaxFloat64, d)
			c.PValue = 0
		}
	} else {
		c.Status = StatusOK
		se := math.Sqrt(se2)
		// The Welch–Satterthwaite df, (var1+var2)²/(var1²/(n1-1)+var2²/(n2-1)), in shares of
		// se2 so that neither squares overflow nor underflow.
		r1, r2 := var1/se2, var2/se2
		c.DF = 1 / (r1*r1/(control.N-1) + r2*r2/(treatment.N-1))
		c.Statistic = d / se
		c.PValue = 2 * tSurvival(math.Abs(c.Statistic), c.DF)
		c.AbsCI = around(d, tQuantile(1-alpha/2, c.DF)*se)
	}
	c.RelLiftDefined, c.RelLift, c.RelCI = relLift(m1, m2, var1, var2, zc)
	return c.representable(), nil
}

// representable returns c, or, if float64 overflowed anywhere in it (means and variances
// near 1e154 and beyond), c with Status StatusOverflow and nothing tested.
func (c Comparison) representable() Comparison {
	for _, x := range []float64{c.Control, c.Treatment, c.AbsLift, c.AbsCI.Lower, c.AbsCI.Upper,
		c.RelLift, c.RelCI.Lower, c.RelCI.Upper, c.Statistic, c.DF, c.PValue} {
		if !finite(x) {
			return Comparison{Test: c.Test, Status: StatusOverflow, Alpha: c.Alpha, PValue: 1}
		}
	}
	return c
}

// relLift returns x2/x1-1 and its delta-method interval, where var1 and var2 are the
// variances of the estimates x1 and x2:
//
//	Var(x2/x1) ≈ var2/x1² + x2²·var1/x1⁴.
func relLift(x1, x2, var1, var2, zc float64) (bool, float64, Interval) {
	if x1 == 0 {
		return false, 0, Interval{}
	}
	ratio := x2 / x1
	v := (var2 + ratio*ratio*var1) / (x1 * x1)
	r := ratio - 1
	iv := around(r, zc*math.Sqrt(v))
	if !finite(r) || !finite(iv.Lower) || !finite(iv.Upper) {
		return false, 0, Interval{}
	}
	return true, r, iv
}

// validArms validates both arms of a comparison, the control's first.
func validArms(control, treatment interface{ Validate() error }) error {
	if err := control.Validate(); err != nil {
		return err
	}
	return treatment.Validate()
}
