package stats

import (
	"fmt"
	"math"
)

// DefaultTau2 is the mixture variance of the mSPRT when MSPRTConfig.Tau2 is 0. It is on the
// standardised scale (see MSPRTConfig): a normal prior with standard deviation 0.05 on the
// effect in units of the per-unit standard deviation, the size of a 10% relative lift on a
// 20% open rate (0.02/0.4). Johari et al. show the test is most powerful for effects near
// tau; it stays valid, only slower, for any other effect.
const DefaultTau2 = 0.0025

// MSPRTConfig configures the mixture sequential probability ratio test. Zero fields take
// their documented defaults.
type MSPRTConfig struct {
	// Alpha is the level of the confidence sequence (1-Alpha) and the threshold the caller
	// compares p-values to. Default 0.05.
	Alpha float64 `json:"alpha"`
	// Tau2 is the variance of the normal mixture over the effect, standardised: the mixture
	// over the difference θ has variance Tau2·σ̄², where σ̄² = (σC² + σT²)/2 is the mean of
	// the two arms' per-unit variances (p(1-p) for rates). A standardised tau keeps one
	// default sensible for rates and for means in any unit. Default DefaultTau2.
	Tau2 float64 `json:"tau2"`
}

func (c MSPRTConfig) withDefaults() (MSPRTConfig, error) {
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if c.Tau2 == 0 {
		c.Tau2 = DefaultTau2
	}
	if err := checkAlpha(c.Alpha); err != nil {
		return c, err
	}
	if !(c.Tau2 > 0) || !finite(c.Tau2) {
		return c, fmt.Errorf("stats: msprt: tau2 %v is not positive", c.Tau2)
	}
	return c, nil
}

// MSPRTLook is the mSPRT evaluated at one look at the data, with no memory of earlier looks.
type MSPRTLook struct {
	// Defined is false when the variance of the difference is 0, an arm is too small (no
	// trials; for means, fewer than 2 units) or the values overflow float64: PValue is then
	// 1 and the other fields 0.
	Defined bool    `json:"defined"`
	Diff    float64 `json:"diff"`    // treatment minus control
	StdErr  float64 `json:"std_err"` // sqrt(V), V = σC²/nC + σT²/nT
	Tau2    float64 `json:"tau2"`    // the mixture variance on the scale of Diff
	LogLR   float64 `json:"log_lr"`  // log Λ, the mixture likelihood ratio
	// PValue is min(1, 1/Λ): valid at this look whatever the looks before it; keep the
	// running minimum over looks (MSPRTState) for the always-valid p-value.
	PValue float64 `json:"p_value"`
	// CI is the confidence sequence's interval at this look: the running intersection over
	// looks (MSPRTState) covers the true difference at all looks with probability 1-Alpha.
	CI    Interval `json:"ci"`
	Alpha float64  `json:"alpha"`
}

// MSPRTProportions evaluates the mSPRT of H0: θ = 0 for the difference of two rates at one
// look. σ² = p(1-p) per arm, from the data. See MSPRTConfig and the package doc.
func MSPRTProportions(control, treatment Proportion, cfg MSPRTConfig) (MSPRTLook, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return MSPRTLook{PValue: 1}, err
	}
	if err := validArms(control, treatment); err != nil {
		return MSPRTLook{PValue: 1}, err
	}
	if control.Trials == 0 || treatment.Trials == 0 {
		return MSPRTLook{PValue: 1, Alpha: cfg.Alpha}, nil
	}
	return msprt(treatment.Rate()-control.Rate(), control.variance(), treatment.variance(),
		control.Trials, treatment.Trials, cfg), nil
}

// MSPRTMeans evaluates the mSPRT of H0: θ = 0 for the difference of two means at one look.
// σ² is each arm's sample variance; each arm needs N >= 2.
func MSPRTMeans(control, treatment Moments, cfg MSPRTConfig) (MSPRTLook, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return MSPRTLook{PValue: 1}, err
	}
	if err := validArms(control, treatment); err != nil {
		return MSPRTLook{PValue: 1}, err
	}
	if control.N < 2 || treatment.N < 2 {
		return MSPRTLook{PValue: 1, Alpha: cfg.Alpha}, nil
	}
	return msprt(treatment.Mean()-control.Mean(), control.Variance(), treatment.Variance(),
		control.N, treatment.N, cfg), nil
}

// msprt computes, for a difference estimate d with variance V = varC/nC + varT/nT and the
// mixture θ ~ N(0, τ²) (Johari, Pekelis and Walsh 2017, eq. (11) with V in place of 2σ²/n):
//
//	log Λ = ½·log(V/(V+τ²)) + τ²d²/(2V(V+τ²))
//	CI    = d ± sqrt( V(V+τ²)/τ² · (2·log(1/α) + log((V+τ²)/V)) )
func msprt(d, varC, varT, nC, nT float64, cfg MSPRTConfig) MSPRTLook {
	return msprtV(d, varC/nC+varT/nT, cfg.Tau2*(varC+varT)/2, cfg)
}

// msprtV is msprt given V, the variance of d, and tau2, the mixture
// variance on the scale of d.
func msprtV(d, v, tau2 float64, cfg MSPRTConfig) MSPRTLook {
	l := MSPRTLook{Diff: d, PValue: 1, Alpha: cfg.Alpha}
	if !(v > 0) || !(tau2 > 0) {
		return l
	}
	// In ratios, so that values near the float64 limits neither overflow nor underflow.
	s := v + tau2
	shareV, shareTau := v/s, tau2/s
	z := d / math.Sqrt(v)
	l.LogLR = math.Min(0.5*math.Log(shareV)+shareTau*z*z/2, math.MaxFloat64)
	l.PValue = math.Min(1, math.Exp(-l.LogLR))
	half := math.Sqrt(v) * math.Sqrt((2*math.Log(1/cfg.Alpha)-math.Log(shareV))/shareTau)
	l.CI = around(d, half)
	l.StdErr = math.Sqrt(v)
	l.Tau2 = tau2
	l.Defined = true
	for _, x := range []float64{l.Diff, l.StdErr, l.Tau2, l.LogLR, l.PValue, l.CI.Lower, l.CI.Upper} {
		if !finite(x) {
			// Values beyond float64 (variances near 1e300): not evaluated.
			return MSPRTLook{PValue: 1, Alpha: cfg.Alpha}
		}
	}
	return l
}

// MSPRTState is what a caller keeps between looks: the always-valid p-value (the running
// minimum of the looks' p-values) and the confidence sequence (the running intersection of
// their intervals). The zero value is the state before any look. Store it with the
// experiment (it marshals to JSON) and feed each new look to Update.
type MSPRTState struct {
	Looks  int     `json:"looks"`
	PValue float64 `json:"p_value"` // 1 before the first defined look
	// CIDefined is false until a look has a defined interval.
	CIDefined bool     `json:"ci_defined"`
	CI        Interval `json:"ci"`
}

// Update returns the state after one more look. The p-value never increases. The interval
// never widens; if a look's interval misses the running one entirely (which the guarantee
// allows with probability at most Alpha), the state keeps that look's interval.
func (s MSPRTState) Update(l MSPRTLook) MSPRTState {
	if s.Looks == 0 {
		s.PValue = 1
	}
	s.Looks++
	s.PValue = math.Min(s.PValue, l.PValue)
	if !l.Defined {
		return s
	}
	if !s.CIDefined {
		s.CIDefined, s.CI = true, l.CI
		return s
	}
	iv := Interval{Lower: math.Max(s.CI.Lower, l.CI.Lower), Upper: math.Min(s.CI.Upper, l.CI.Upper)}
	if iv.Lower > iv.Upper {
		iv = l.CI
	}
	s.CI = iv
	return s
}

// AlwaysValidPValue returns the always-valid p-value after a look whose own p-value is p,
// given the previous always-valid p-value prev (1 before the first look): min(prev, p).
func AlwaysValidPValue(prev, p float64) float64 { return math.Min(prev, p) }
