package stats

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// ProbBestMC estimates, for each arm, the posterior probability that its rate is the highest,
// by Monte Carlo: draws joint samples from the arms' Beta posteriors under prior, with a
// PCG generator seeded by seed (the same inputs give the same answer). It returns the
// probabilities (summing to 1) and their Monte Carlo standard error, the largest over arms
// of sqrt(p(1-p)/draws), which is at most 0.5/sqrt(draws). The bandit's
// reweighting uses it (its Thompson draws); reports use the exact ProbBest. The error reports no arms, draws
// < 1, or invalid counts or prior.
func ProbBestMC(arms []Proportion, prior BetaPrior, draws int, seed uint64) ([]float64, float64, error) {
	if len(arms) == 0 {
		return nil, 0, fmt.Errorf("stats: prob best: no arms")
	}
	if draws < 1 {
		return nil, 0, fmt.Errorf("stats: prob best: %d draws", draws)
	}
	src := rand.NewPCG(seed, 0x5eed5eed5eed5eed)
	dists := make([]distuv.Beta, len(arms))
	for i, arm := range arms {
		d, err := posterior(arm, prior)
		if err != nil {
			return nil, 0, err
		}
		dists[i] = distuv.Beta{Alpha: d.a, Beta: d.b, Src: src}
	}
	wins, stderr := shareOfWins(len(arms), draws, func(i int) float64 { return dists[i].Rand() })
	return wins, stderr, nil
}
