package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Effect is a minimum detectable effect: an absolute difference (0.02 is two percentage
// points on a rate, or 2 units on a mean) or, when Relative, a fraction of the baseline
// (0.1 is a 10% lift). Negative effects are allowed: the test is two-sided.
type Effect struct {
	Value    float64 `json:"value"`
	Relative bool    `json:"relative"`
}

// RelativeEffect returns the Effect of a relative lift (0.1 for +10%).
func RelativeEffect(lift float64) Effect { return Effect{Value: lift, Relative: true} }

// AbsoluteEffect returns the Effect of an absolute difference.
func AbsoluteEffect(diff float64) Effect { return Effect{Value: diff} }

func (e Effect) apply(baseline float64) float64 {
	if e.Relative {
		return baseline * (1 + e.Value)
	}
	return baseline + e.Value
}

// SampleSizeProportions returns the sample size per arm (unrounded: take math.Ceil) for a
// two-sided two-proportion test at level alpha to reach the given power against a baseline
// rate and a treatment rate of mde applied to it. It matches statsmodels
// NormalIndPower().solve_power(effect_size=proportion_effectsize(p2, p1), alpha, power,
// ratio=1, alternative="two-sided"): Cohen's h = 2·asin(√p2) − 2·asin(√p1) and
//
//	power = Φ(−z + |h|·√(n/2)) + Φ(−z − |h|·√(n/2)),  z = Φ⁻¹(1−α/2),
//
// solved for n (both tails counted). The error reports a baseline or treatment rate outside
// [0, 1], a zero effect, or alpha or power outside (0, 1) with power > alpha.
func SampleSizeProportions(baseline float64, mde Effect, alpha, power float64) (float64, error) {
	p2 := mde.apply(baseline)
	switch {
	case !(baseline >= 0 && baseline <= 1):
		return 0, fmt.Errorf("stats: sample size: baseline rate %v is not in [0, 1]", baseline)
	case !(p2 >= 0 && p2 <= 1):
		return 0, fmt.Errorf("stats: sample size: treatment rate %v is not in [0, 1]", p2)
	case p2 == baseline:
		return 0, fmt.Errorf("stats: sample size: the effect is zero")
	}
	h := 2*math.Asin(math.Sqrt(p2)) - 2*math.Asin(math.Sqrt(baseline))
	return sampleSizeNormal(math.Abs(h), alpha, power)
}

// SampleSizeMeans returns the sample size per arm (unrounded) for a two-sided two-sample test
// of means at level alpha to reach the given power, for a metric with the given baseline
// mean and per-unit variance (the same in both arms) and an effect mde applied to the mean.
// It matches statsmodels NormalIndPower().solve_power(effect_size=Δ/σ, ...) as
// SampleSizeProportions does (a normal, not t, approximation: the difference is below one
// unit for n > 30).
func SampleSizeMeans(mean, variance float64, mde Effect, alpha, power float64) (float64, error) {
	if !(variance > 0) || !finite(variance) || !finite(mean) {
		return 0, fmt.Errorf("stats: sample size: variance %v and mean %v", variance, mean)
	}
	delta := mde.apply(mean) - mean
	if delta == 0 || !finite(delta) {
		return 0, fmt.Errorf("stats: sample size: the effect %v is zero or not finite", delta)
	}
	return sampleSizeNormal(math.Abs(delta)/math.Sqrt(variance), alpha, power)
}

// sampleSizeNormal solves power(n) = target for n, with power(n) as documented on
// SampleSizeProportions and d the standardised effect.
func sampleSizeNormal(d, alpha, power float64) (float64, error) {
	if err := checkAlpha(alpha); err != nil {
		return 0, err
	}
	if !(power > alpha && power < 1) {
		return 0, fmt.Errorf("stats: sample size: power %v is not in (alpha, 1)", power)
	}
	z := mathext.NormalQuantile(1 - alpha/2)
	pow := func(n float64) float64 {
		s := d * math.Sqrt(n/2)
		return normalSF(z-s) + normalSF(z+s)
	}
	// The one-tailed closed form is a lower bound (the other tail only adds power); the
	// root lies in [lo/4, lo] or a little above, so bracket and bisect.
	lo := 2 * math.Pow((z+mathext.NormalQuantile(power))/d, 2)
	hi := lo
	for pow(hi) < power {
		hi *= 2
	}
	lo = hi / 4
	for pow(lo) > power && lo > 1e-300 {
		lo /= 4
	}
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if pow(mid) < power {
			lo = mid
		} else {
			hi = mid
		}
	}
	n := lo + (hi-lo)/2
	if !finite(n) {
		return 0, fmt.Errorf("stats: sample size: effect %v is too small", d)
	}
	return n, nil
}
