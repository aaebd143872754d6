package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// NormalPosterior is the approximate posterior of an arm's mean: normal
// with the sample mean and the variance of the mean (sample variance / N),
// as a bandit on revenue per recipient uses it. An arm with fewer than two
// units has an unknown variance; callers give it a wide one.
type NormalPosterior struct {
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"` // of the mean
}

// NormalPosteriorOf returns the posterior of m's mean: N(mean, s²/N), or
// for fewer than two units (or no variance) N(mean, fallback).
func NormalPosteriorOf(m Moments, fallback float64) NormalPosterior {
	if m.N < 2 || m.Variance() == 0 {
		return NormalPosterior{Mean: m.Mean(), Var: fallback}
	}
	return NormalPosterior{Mean: m.Mean(), Var: m.Variance() / m.N}
}

// ProbBestNormal estimates, for each arm, the posterior probability that its
// mean is the highest, by Monte Carlo with a PCG generator seeded by seed,
// as ProbBest does for rates. It returns the probabilities and their
// largest Monte Carlo standard error. The error reports no arms, draws < 1,
// or a posterior that is not finite or has a negative variance.
func ProbBestNormal(arms []NormalPosterior, draws int, seed uint64) ([]float64, float64, error) {
	if len(arms) == 0 {
		return nil, 0, fmt.Errorf("stats: prob best normal: no arms")
	}
	if draws < 1 {
		return nil, 0, fmt.Errorf("stats: prob best normal: %d draws", draws)
	}
	sd := make([]float64, len(arms))
	for i, a := range arms {
		if !finite(a.Mean) || !finite(a.Var) || a.Var < 0 {
			return nil, 0, fmt.Errorf("stats: prob best normal: arm %d posterior %+v", i, a)
		}
		sd[i] = math.Sqrt(a.Var)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed5eed5eed5eed))
	wins := make([]float64, len(arms))
	for range draws {
		best, bestX := 0, math.Inf(-1)
		for i, a := range arms {
			if x := a.Mean + sd[i]*r.NormFloat64(); x > bestX {
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
	return wins, stderr, nil
}
