package stats

import (
	"fmt"
	"math"
)

// Proportion is a count of successes out of trials (opens out of recipients, say). The fields
// are float64 so that counts beyond 2^53 are representable; they need not be integers.
type Proportion struct {
	Successes float64 `json:"successes"`
	Trials    float64 `json:"trials"`
}

// Rate returns Successes/Trials, or 0 when Trials is 0.
func (p Proportion) Rate() float64 {
	if p.Trials == 0 {
		return 0
	}
	return p.Successes / p.Trials
}

// Validate reports an error unless 0 <= Successes <= Trials and both are finite.
func (p Proportion) Validate() error {
	switch {
	case !finite(p.Successes) || !finite(p.Trials):
		return fmt.Errorf("stats: proportion %v/%v is not finite", p.Successes, p.Trials)
	case p.Successes < 0 || p.Trials < 0:
		return fmt.Errorf("stats: proportion %v/%v is negative", p.Successes, p.Trials)
	case p.Successes > p.Trials:
		return fmt.Errorf("stats: proportion %v/%v has more successes than trials", p.Successes, p.Trials)
	}
	return nil
}

// variance returns the Bernoulli variance p(1-p) of one trial.
func (p Proportion) variance() float64 {
	r := p.Rate()
	return r * (1 - r)
}

// Moments summarises a metric by its count of units N, the sum of the values and the sum of
// their squares, as an aggregate query returns them.
type Moments struct {
	N     float64 `json:"n"`
	Sum   float64 `json:"sum"`
	SumSq float64 `json:"sum_sq"`
}

// Mean returns Sum/N, or 0 when N is 0.
func (m Moments) Mean() float64 {
	if m.N == 0 {
		return 0
	}
	return m.Sum / m.N
}

// Variance returns the sample variance (denominator N-1), or 0 when N < 2. A variance that
// rounding makes slightly negative is returned as 0.
func (m Moments) Variance() float64 {
	if m.N < 2 {
		return 0
	}
	v := (m.SumSq - m.Mean()*m.Sum) / (m.N - 1)
	if v < 0 {
		return 0
	}
	return v
}

// Validate reports an error unless the fields are finite, N and SumSq are not negative,
// N == 0 implies empty sums, and Sum^2 <= N*SumSq (Cauchy–Schwarz, with slack for rounding).
func (m Moments) Validate() error {
	switch {
	case !finite(m.N) || !finite(m.Sum) || !finite(m.SumSq):
		return fmt.Errorf("stats: moments %+v are not finite", m)
	case m.N < 0 || m.SumSq < 0:
		return fmt.Errorf("stats: moments %+v are negative", m)
	case m.N == 0 && (m.Sum != 0 || m.SumSq != 0):
		return fmt.Errorf("stats: moments %+v have sums but no units", m)
	case m.Sum*m.Sum > m.N*m.SumSq*(1+1e-9):
		return fmt.Errorf("stats: moments %+v have Sum^2 > N*SumSq", m)
	}
	return nil
}

// Interval is a closed interval [Lower, Upper].
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Contains reports whether x lies in the interval.
func (iv Interval) Contains(x float64) bool { return iv.Lower <= x && x <= iv.Upper }

func around(center, half float64) Interval {
	return Interval{Lower: center - half, Upper: center + half}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func checkAlpha(alpha float64) error {
	if !(alpha > 0 && alpha < 1) {
		return fmt.Errorf("stats: alpha %v is not in (0, 1)", alpha)
	}
	return nil
}

// normalSF returns P(Z > z) for a standard normal Z, accurate in the far tail.
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// twoSidedNormalP returns the two-sided p-value of a z statistic.
func twoSidedNormalP(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }
