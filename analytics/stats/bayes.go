package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/integrate/quad"
)

// BetaPrior is the Beta(Alpha, Beta) prior on a rate. The zero value is the uniform
// Beta(1, 1). Both parameters must be at least 1 (so that posterior densities are bounded
// and log-concave, which the integration relies on): Jeffreys' Beta(1/2, 1/2) is not
// supported.
type BetaPrior struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
}

func (p BetaPrior) params() (a, b float64, err error) {
	if p.Alpha == 0 && p.Beta == 0 {
		return 1, 1, nil
	}
	if !(p.Alpha >= 1 && p.Beta >= 1) || !finite(p.Alpha) || !finite(p.Beta) {
		return 0, 0, fmt.Errorf("stats: prior Beta(%v, %v): parameters must be finite and at least 1", p.Alpha, p.Beta)
	}
	return p.Alpha, p.Beta, nil
}

// posterior returns the Beta posterior of a proportion under the prior.
func posterior(p Proportion, prior BetaPrior) (betaDensity, error) {
	a, b, err := prior.params()
	if err != nil {
		return betaDensity{}, err
	}
	if err := p.Validate(); err != nil {
		return betaDensity{}, err
	}
	return newBetaDensity(a+p.Successes, b+(p.Trials-p.Successes)), nil
}

// ProbBeatControl returns the posterior probability that the treatment's rate exceeds the
// control's, P(θT > θC), where each θ has the Beta posterior of its counts under prior.
//
// It integrates ∫ f_N(x)·P(θ_O ≷ x) dx numerically, N being the arm with the narrower
// posterior and O the other, with Gauss–Legendre rules (48 nodes for the narrower density; for the other, 48 nodes on the tail above the highest of those and 8 on each panel between them) on
// windows outside of which the densities fall below e^-40 of their mode. The densities are
// evaluated relative to their mean with log1p, and each integral is normalised by the same
// rule's integral of the density, so that counts of 10^9 and beyond keep full accuracy
// (incomplete beta routines, gonum's and scipy's alike, fail there). Absolute error is
// below 1e-9 for counts up to 1e12; beyond, the spacing of float64 numbers near a rate,
// relative to the posterior's width, grows like 1e-16·sqrt(n) and so does the error.
func ProbBeatControl(control, treatment Proportion, prior BetaPrior) (float64, error) {
	c, err := posterior(control, prior)
	if err != nil {
		return 0, err
	}
	t, err := posterior(treatment, prior)
	if err != nil {
		return 0, err
	}
	if c.mean+t.mean > 1 {
		// float64 resolves rates near 0 far better than near 1 (1 - 1e-9 is stored to 1e-7 of
		// its distance from 1): compare failure rates instead, P(θT > θC) = P(1-θT < 1-θC).
		c, t = newBetaDensity(c.b, c.a), newBetaDensity(t.b, t.a)
		return 1 - probBeat(c, t), nil
	}
	return probBeat(c, t), nil
}

// probBeat returns P(θt > θc).
func probBeat(c, t betaDensity) float64 {
	if t.sd <= c.sd {
		// P(θT > θC) = ∫ f_T(x) P(θC < x) dx.
		return 1 - probAbove(t, c)
	}
	// P(θT > θC) = ∫ f_C(x) P(θT > x) dx.
	return probAbove(c, t)
}

const (
	gaussNodes = 48
	logTail    = 40.0 // windows end where the density is e^-logTail of its mode
)

// probAbove returns ∫ f_n(x) P(θ_o > x) dx for the Beta densities n and o, o being the
// broader. P(θ_o > x) is accumulated from the highest node down, a short panel between
// neighbouring nodes at a time, so that o is evaluated O(nodes) times rather than
// O(nodes²).
func probAbove(n, o betaDensity) float64 {
	if n.hi == n.lo {
		return o.survival(n.mean)
	}
	var xs, fws [gaussNodes]float64
	top := 0
	for i := range gaussNodes {
		x, w := quad.Legendre{}.FixedLocationSingle(gaussNodes, i, n.lo, n.hi)
		xs[i], fws[i] = x, w*n.rel(x)
		if x > xs[top] {
			top = i
		}
	}
	step := 1 // walk the nodes from the highest down, whichever order gonum gives them in
	if top == 0 {
		step = -1
	}
	var num, den float64
	above := o.survival(xs[top])
	for k, i := 0, top; k < gaussNodes; k, i = k+1, i-step {
		if k > 0 {
			above += o.mass(xs[i], xs[i+step]) / o.total
		}
		num += fws[i] * clamp01(above)
		den += fws[i]
	}
	if !(den > 0) {
		return o.survival(n.mean)
	}
	return clamp01(num / den)
}

// panelNodes is the Gauss–Legendre rule on a panel between neighbouring outer nodes, at most
// ~0.6 posterior standard deviations wide: exact to ~1e-16 on such a short panel.
const panelNodes = 8

// mass returns the integral of rel over [lo, hi] ∩ [d.lo, d.hi].
func (d betaDensity) mass(lo, hi float64) float64 { return d.legendre(lo, hi, panelNodes) }

// legendre returns the integral of rel over [lo, hi] ∩ [d.lo, d.hi] by a
// Gauss–Legendre rule of nodes points.
func (d betaDensity) legendre(lo, hi float64, nodes int) float64 {
	lo, hi = math.Max(lo, d.lo), math.Min(hi, d.hi)
	if !(hi > lo) {
		return 0
	}
	var s float64
	for i := range nodes {
		x, w := quad.Legendre{}.FixedLocationSingle(nodes, i, lo, hi)
		s += w * d.rel(x)
	}
	return s
}

// betaDensity is a Beta(a, b) density with a, b >= 1, evaluated relative to its value at the
// mean, on the window [lo, hi] outside of which it is below e^-logTail of its mode.
type betaDensity struct {
	a, b, mean, sd float64
	lo, hi         float64
	total          float64 // Gauss–Legendre integral of rel over [lo, hi]
}

func newBetaDensity(a, b float64) betaDensity {
	d := betaDensity{a: a, b: b, mean: a / (a + b)}
	d.sd = math.Sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)))
	mode := d.mean
	if a+b > 2 {
		mode = (a - 1) / (a + b - 2)
	}
	target := d.logRel(mode) - logTail
	d.lo, d.hi = 0, 1
	if a > 1 && d.logRel(0) < target {
		d.lo = d.crossing(0, mode, target)
	}
	if b > 1 && d.logRel(1) < target {
		d.hi = d.crossing(mode, 1, target)
	}
	if !(d.hi > d.lo) {
		// The window is narrower than float64 resolves: a point mass at the mean.
		d.lo, d.hi = d.mean, d.mean
		return d
	}
	d.total = d.integral(d.lo, d.hi)
	return d
}

// logRel returns log f(x) - log f(mean), computed from x - mean to keep precision when a and
// b are large.
func (d betaDensity) logRel(x float64) float64 {
	dx := x - d.mean
	var l float64
	if d.a != 1 {
		l += (d.a - 1) * math.Log1p(dx/d.mean)
	}
	if d.b != 1 {
		l += (d.b - 1) * math.Log1p(-dx/(1-d.mean))
	}
	return l
}

func (d betaDensity) rel(x float64) float64 {
	if d.hi == d.lo {
		return 1
	}
	return math.Exp(d.logRel(x))
}

// crossing finds by bisection the x in [lo, hi] where logRel crosses target, logRel being
// monotone there, to a thousandth of the standard deviation.
func (d betaDensity) crossing(lo, hi, target float64) float64 {
	rising := d.logRel(lo) < d.logRel(hi)
	// The window's ends need no precision: a thousandth of a standard deviation will do.
	for tol := d.sd * 1e-3; hi-lo > tol; {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if (d.logRel(mid) < target) == rising {
			lo = mid
		} else {
			hi = mid
		}
	}
	// The end of the bracket on the low-density side, so the window never cuts into the
	// region above e^-logTail.
	if rising {
		return lo
	}
	return hi
}

func (d betaDensity) integral(lo, hi float64) float64 {
	var s float64
	for i := range gaussNodes {
		x, w := quad.Legendre{}.FixedLocationSingle(gaussNodes, i, lo, hi)
		s += w * d.rel(x)
	}
	return s
}

// survival returns P(θ > x).
func (d betaDensity) survival(x float64) float64 {
	switch {
	case d.hi == d.lo:
		return 0.5 // two point masses: counts beyond 10^30, a tie as far as float64 can tell
	case x <= d.lo:
		return 1
	case x >= d.hi:
		return 0
	}
	return clamp01(d.integral(x, d.hi) / d.total)
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// shareOfWins draws each of n arms' posterior (draw) draws times and
// returns the share of draws each arm was the largest in, and the largest
// Monte Carlo standard error of those shares.
func shareOfWins(n, draws int, draw func(arm int) float64) ([]float64, float64) {
	wins := make([]float64, n)
	for range draws {
		best, bestX := 0, math.Inf(-1)
		for i := range n {
			if x := draw(i); x > bestX {
				best, bestX = i, x
			}
		}
		wins[best]++
	}
	var stderr float64
	for i := range wins {
		p := wins[i] / float64(draws)
		wins[i] = p
		stderr = math.Max(stderr, math.Sqrt(p*(1-p)/float64(draws)))
	}
	return wins, stderr
}
