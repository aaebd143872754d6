package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ArmSummary is one arm in one stratum: its units, the mean of the metric
// over them, and the per-unit variance (p(1-p) for a rate, the sample
// variance for a mean).
type ArmSummary struct {
	N    float64 `json:"n"`
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"`
}

// SummaryOfProportion summarises a rate: variance p(1-p), as the unpooled
// z-test's.
func SummaryOfProportion(p Proportion) ArmSummary {
	return ArmSummary{N: p.Trials, Mean: p.Rate(), Var: p.variance()}
}

// SummaryOfMoments summarises a mean: the sample variance, as Welch's.
func SummaryOfMoments(m Moments) ArmSummary {
	return ArmSummary{N: m.N, Mean: m.Mean(), Var: m.Variance()}
}

// Stratum is one stratum of a stratified comparison (a phase of a bandit
// segment): its weight and the control's and treatment's summaries in it.
type Stratum struct {
	// Weight is the stratum's share of the population the estimate is
	// about; it must not depend on how the stratum's units were split
	// between the arms (a phase's weight is its traffic, all arms
	// together). Weights need not add up to 1: they are normalised over
	// the strata used.
	Weight             float64    `json:"weight"`
	Control, Treatment ArmSummary `json:"-"`
}

// StratifiedEstimate is the stratified difference treatment minus control:
// Diff = Σ w_s (T_s - C_s) over the strata in which both arms have at least
// two units, the weights w_s normalised over those strata, with variance
// Σ w_s² (σT_s²/nT_s + σC_s²/nC_s) (the strata are independent) and a
// normal interval.
type StratifiedEstimate struct {
	// Defined is false when no stratum has two units in both arms, or the
	// variance is 0; the other fields are then 0 and PValue 1.
	Defined bool `json:"defined"`
	// Control and Treatment are the arms' stratified means, Σ w_s C_s and
	// Σ w_s T_s: what each arm's mean would have been had both arms had
	// every stratum's whole traffic.
	Control   float64  `json:"control"`
	Treatment float64  `json:"treatment"`
	Diff      float64  `json:"diff"`
	StdErr    float64  `json:"std_err"`
	CI        Interval `json:"ci"`
	PValue    float64  `json:"p_value"`
	// RelLift is Treatment/Control - 1 with its delta-method interval
	// (the two stratified means are independent).
	RelLiftDefined bool     `json:"rel_lift_defined"`
	RelLift        float64  `json:"rel_lift"`
	RelCI          Interval `json:"rel_ci"`
	// UnitVar is the weighted mean of the two arms' per-unit variances,
	// the scale of the mSPRT's mixture (MSPRTEstimate).
	UnitVar float64 `json:"unit_var"`
	// Strata is the number of strata used; Dropped those left out because
	// an arm had fewer than two units in them.
	Strata  int     `json:"strata"`
	Dropped int     `json:"dropped"`
	Alpha   float64 `json:"alpha"`
}

// StratifiedDiff computes the stratified estimate of the strata at level
// alpha. An error reports an invalid alpha, a negative or non-finite
// weight, or a summary that is not finite.
func StratifiedDiff(strata []Stratum, alpha float64) (StratifiedEstimate, error) {
	e := StratifiedEstimate{Alpha: alpha, PValue: 1}
	if err := checkAlpha(alpha); err != nil {
		return e, err
	}
	var wsum float64
	for i, s := range strata {
		if !(s.Weight >= 0) || !finite(s.Weight) {
			return e, fmt.Errorf("stats: stratum %d: weight %v", i, s.Weight)
		}
		for _, a := range []ArmSummary{s.Control, s.Treatment} {
			if !finite(a.N) || !finite(a.Mean) || !finite(a.Var) || a.N < 0 || a.Var < 0 {
				return e, fmt.Errorf("stats: stratum %d: summary %+v", i, a)
			}
		}
		if usable(s) {
			wsum += s.Weight
			e.Strata++
		} else {
			e.Dropped++
		}
	}
	if !(wsum > 0) {
		e.Strata = 0
		e.Dropped = len(strata)
		return e, nil
	}
	var varC, varT float64
	for _, s := range strata {
		if !usable(s) {
			continue
		}
		w := s.Weight / wsum
		e.Control += w * s.Control.Mean
		e.Treatment += w * s.Treatment.Mean
		varC += w * w * s.Control.Var / s.Control.N
		varT += w * w * s.Treatment.Var / s.Treatment.N
		e.UnitVar += w * (s.Control.Var + s.Treatment.Var) / 2
	}
	e.Diff = e.Treatment - e.Control
	v := varC + varT
	if !(v > 0) || !finite(v) {
		return StratifiedEstimate{Alpha: alpha, PValue: 1, Strata: e.Strata, Dropped: e.Dropped}, nil
	}
	zc := mathext.NormalQuantile(1 - alpha/2)
	e.StdErr = math.Sqrt(v)
	e.CI = around(e.Diff, zc*e.StdErr)
	e.PValue = twoSidedNormalP(e.Diff / e.StdErr)
	e.RelLiftDefined, e.RelLift, e.RelCI = relLift(e.Control, e.Treatment, varC, varT, zc)
	e.Defined = true
	return e, nil
}

func usable(s Stratum) bool { return s.Weight > 0 && s.Control.N >= 2 && s.Treatment.N >= 2 }

// MSPRTEstimate is the mSPRT of H0: θ = 0 on a stratified estimate: the
// mixture likelihood ratio of MSPRTProportions with V = StdErr² and the
// mixture variance Tau2·UnitVar, so that the retirement loop can test a
// bandit segment's arms on the estimate that weight changes do not bias.
func MSPRTEstimate(e StratifiedEstimate, cfg MSPRTConfig) (MSPRTLook, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return MSPRTLook{}, err
	}
	if !e.Defined {
		return MSPRTLook{PValue: 1, Alpha: cfg.Alpha}, nil
	}
	return msprtV(e.Diff, e.StdErr*e.StdErr, cfg.Tau2*e.UnitVar, cfg), nil
}
