package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// CUPEDArm is one arm's units: each unit's outcome Y (its metric after exposure: 0 or 1 for
// a rate, the value for a mean) and covariate X (the same metric over a window before its
// first exposure). Y and X have one entry per unit, in the same order.
//
// W, when not nil, has one entry per entry of Y: how many units had that (Y, X), so that
// an arm of millions of units travels as its few distinct pairs (a rate has at most four).
// The estimate is the one of the units listed W times each; nil means once each.
type CUPEDArm struct {
	Y, X, W []float64
}

// weight is the number of units entry i stands for.
func (a CUPEDArm) weight(i int) float64 {
	if a.W == nil {
		return 1
	}
	return a.W[i]
}

// StatusConstantCovariate: the covariate does not vary within the arms (every unit's X is
// its arm's mean, often all 0: no pre-exposure history), so it explains nothing and the
// regression's slope is undefined. The adjusted estimate is then nil; the unadjusted one
// stands.
const StatusConstantCovariate Status = "constant_covariate"

// CUPEDResult is the treatment-minus-control difference of one metric estimated twice: by
// the difference of means (Unadjusted, the regression y ~ treatment) and adjusted by the
// covariate (the regression y ~ treatment + x), each with its heteroskedasticity-robust
// (HC0) standard error, normal interval and two-sided normal p-value, as statsmodels' OLS
// fit(cov_type="HC0") gives them. Undefined numbers are nil, with Status saying why.
type CUPEDResult struct {
	Status Status  `json:"status"`
	Alpha  float64 `json:"alpha"`
	// Theta is the covariate's coefficient: the within-arm slope of Y on X, pooled over
	// both arms.
	Theta      *float64       `json:"theta"`
	Adjusted   *CUPEDEstimate `json:"adjusted"`
	Unadjusted *CUPEDEstimate `json:"unadjusted"`
	// VarianceReduction is 1 - Var(adjusted)/Var(unadjusted): the share of the
	// difference's variance the covariate removed (negative when it added some).
	VarianceReduction *float64 `json:"variance_reduction"`
}

// CUPEDEstimate is one estimate of the difference.
type CUPEDEstimate struct {
	Diff      float64   `json:"diff"`
	StdErr    float64   `json:"std_err"`
	CI        *Interval `json:"ci"`
	Statistic *float64  `json:"statistic"`
	PValue    *float64  `json:"p_value"`
}

// CUPED estimates the treatment effect on one metric with the covariate adjustment of Deng,
// Xu, Kohavi and Walker, "Improving the Sensitivity of Online Controlled Experiments by
// Utilizing Pre-Experiment Data" (WSDM 2013), as the regression y = a + b·t + θ·x + e, the
// form statsmodels checks (testdata/stats/cuped.json). With ỹ, x̃ centred within each arm,
// n_g the arm sizes and D = x̄_T − x̄_C:
//
//	θ = Σ x̃ỹ / Σ x̃²                      (both arms' sums)
//	b = (ȳ_T − ȳ_C) − θ·D
//	Var_HC0(b) = Σ_i w_i² e_i²,  w_i = ±1/n_g − D·x̃_i/Σx̃²,  e_i = ỹ_i − θ·x̃_i
//
// (b is Σ w_i y_i, so this is the b entry of the sandwich (X'X)⁻¹X'diag(e²)X(X'X)⁻¹). The
// unadjusted b is ȳ_T − ȳ_C with Var_HC0 = Σ_g Σ ỹ²/n_g². Every sum is over centred values,
// computed in two passes, so large means lose nothing. Each arm needs 2 units. The error
// reports arms whose Y and X differ in length, non-finite values, or alpha outside (0, 1).
func CUPED(control, treatment CUPEDArm, alpha float64) (CUPEDResult, error) {
	r := CUPEDResult{Alpha: alpha}
	if err := checkAlpha(alpha); err != nil {
		return r, err
	}
	var arms [2]armSums
	for i, a := range []CUPEDArm{control, treatment} {
		s, err := sumsOf(a)
		if err != nil {
			return r, err
		}
		arms[i] = s
	}
	c, t := arms[0], arms[1]
	switch {
	case c.n == 0 || t.n == 0:
		r.Status = StatusEmptyArm
		return r, nil
	case c.n < 2 || t.n < 2:
		r.Status = StatusTooFewUnits
		return r, nil
	}
	zc := mathext.NormalQuantile(1 - alpha/2)
	unadj := t.my - c.my
	r.Unadjusted = estimate(unadj, c.syy/(c.n*c.n)+t.syy/(t.n*t.n), zc)
	r.Status = StatusOK
	sxx := c.sxx + t.sxx
	if !(sxx > 0) {
		r.Status = StatusConstantCovariate
		return r.representable(), nil
	}
	theta := (c.sxy + t.sxy) / sxx
	d := t.mx - c.mx
	b := unadj - theta*d
	v := hc0(control, c, -1, theta, d/sxx) + hc0(treatment, t, 1, theta, d/sxx)
	r.Theta, r.Adjusted = num(theta), estimate(b, v, zc)
	if r.Unadjusted.StdErr > 0 {
		r.VarianceReduction = num(1 - v/(r.Unadjusted.StdErr*r.Unadjusted.StdErr))
	}
	if r.Adjusted.PValue == nil || r.Unadjusted.PValue == nil {
		r.Status = StatusNoVariance
	}
	return r.representable(), nil
}

// armSums are one arm's size, means, and centred sums of squares and products.
type armSums struct {
	n, my, mx, syy, sxx, sxy float64
}

func sumsOf(a CUPEDArm) (armSums, error) {
	if len(a.Y) != len(a.X) {
		return armSums{}, fmt.Errorf("stats: cuped: %d outcomes and %d covariates", len(a.Y), len(a.X))
	}
	if a.W != nil && len(a.W) != len(a.Y) {
		return armSums{}, fmt.Errorf("stats: cuped: %d outcomes and %d weights", len(a.Y), len(a.W))
	}
	var s armSums
	for i := range a.Y {
		if !finite(a.Y[i]) || !finite(a.X[i]) {
			return armSums{}, fmt.Errorf("stats: cuped: unit %d has y %v, x %v", i, a.Y[i], a.X[i])
		}
		w := a.weight(i)
		if !(w >= 0) || math.IsInf(w, 0) || w != math.Trunc(w) {
			return armSums{}, fmt.Errorf("stats: cuped: entry %d has weight %v, want a count", i, w)
		}
		s.n += w
		s.my += w * a.Y[i]
		s.mx += w * a.X[i]
	}
	if s.n == 0 {
		return armSums{}, nil
	}
	s.my /= s.n
	s.mx /= s.n
	for i := range a.Y {
		w, dy, dx := a.weight(i), a.Y[i]-s.my, a.X[i]-s.mx
		s.syy += w * dy * dy
		s.sxx += w * dx * dx
		s.sxy += w * dx * dy
	}
	return s, nil
}

// hc0 returns one arm's part of Σ w_i² e_i², sign being -1 for the control and +1 for the
// treatment, k = D/Σx̃².
func hc0(a CUPEDArm, s armSums, sign, theta, k float64) float64 {
	var v float64
	for i := range a.Y {
		dy, dx := a.Y[i]-s.my, a.X[i]-s.mx
		w := sign/s.n - k*dx
		e := dy - theta*dx
		v += a.weight(i) * w * w * e * e
	}
	return v
}

// estimate returns the estimate d with variance v: its interval, z and p-value when the
// standard error is positive, nil otherwise.
func estimate(d, v, zc float64) *CUPEDEstimate {
	e := &CUPEDEstimate{Diff: d, StdErr: math.Sqrt(v)}
	if e.StdErr > 0 {
		z := d / e.StdErr
		e.CI = interval(around(d, zc*e.StdErr))
		e.Statistic, e.PValue = num(z), num(twoSidedNormalP(z))
	}
	return e
}

// representable returns r, or r with StatusOverflow and nothing estimated when float64
// overflowed anywhere in it.
func (r CUPEDResult) representable() CUPEDResult {
	var xs []float64
	for _, e := range []*CUPEDEstimate{r.Adjusted, r.Unadjusted} {
		if e == nil {
			continue
		}
		xs = append(xs, e.Diff, e.StdErr)
		if e.CI != nil {
			xs = append(xs, e.CI.Lower, e.CI.Upper)
		}
	}
	for _, p := range []*float64{r.Theta, r.VarianceReduction} {
		if p != nil {
			xs = append(xs, *p)
		}
	}
	for _, x := range xs {
		if !finite(x) {
			return CUPEDResult{Status: StatusOverflow, Alpha: r.Alpha}
		}
	}
	return r
}
