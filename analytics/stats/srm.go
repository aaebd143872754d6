package stats

import (
	"fmt"

	"gonum.org/v1/gonum/stat/distuv"
)

// SRMThreshold is the p-value below which SRM reports a sample ratio mismatch.
const SRMThreshold = 0.001

// SRMResult is the chi-square goodness-of-fit test of observed counts against the counts that
// the configured weights lead one to expect.
type SRMResult struct {
	Total float64 `json:"total"`
	// Expected shares out the observations of the arms with positive weight by weight:
	// Σ_{w_j>0} o_j · w_i/Σw. It is 0 for arms of zero weight.
	Expected  []float64 `json:"expected"`
	ChiSquare float64   `json:"chi_square"`
	DF        int       `json:"df"` // arms with positive weight, minus 1; 0 with no observations
	PValue    float64   `json:"p_value"`
	// EmptyArms lists the arms with positive weight and no observations, when Total > 0.
	EmptyArms []int `json:"empty_arms,omitempty"`
	// UnexpectedArms lists the arms with zero weight and some observations.
	UnexpectedArms []int `json:"unexpected_arms,omitempty"`
	// Mismatch is true when PValue < SRMThreshold or either list above is not empty.
	Mismatch bool `json:"mismatch"`
}

// SRM tests observed counts per arm against weights (the configured integer weights, or any
// non-negative numbers: only their ratios matter), as scipy.stats.chisquare(observed, expected).
// Arms with zero weight are left out of the statistic. An arm with positive weight and no
// observations is a mismatch whatever the p-value; so is an observation in an arm of zero
// weight (those observations are flagged, not tested). With no observations in the arms of
// positive weight, nothing is tested: PValue is 1.
// The error reports slices of different lengths, negative or non-finite values, or weights
// that are all zero.
func SRM(observed, weights []float64) (SRMResult, error) {
	var r SRMResult
	if len(observed) != len(weights) {
		return r, fmt.Errorf("stats: srm: %d observed counts for %d weights", len(observed), len(weights))
	}
	var sumW, tested float64
	for i := range observed {
		if !finite(observed[i]) || observed[i] < 0 {
			return r, fmt.Errorf("stats: srm: observed[%d] = %v", i, observed[i])
		}
		if !finite(weights[i]) || weights[i] < 0 {
			return r, fmt.Errorf("stats: srm: weights[%d] = %v", i, weights[i])
		}
		r.Total += observed[i]
		sumW += weights[i]
		if weights[i] > 0 {
			tested += observed[i]
		}
	}
	if sumW == 0 {
		return r, fmt.Errorf("stats: srm: all weights are zero")
	}
	r.Expected = make([]float64, len(observed))
	r.PValue = 1
	arms := 0
	for i, o := range observed {
		w := weights[i]
		if w == 0 {
			if o > 0 {
				r.UnexpectedArms = append(r.UnexpectedArms, i)
			}
			continue
		}
		if tested == 0 {
			continue
		}
		arms++
		e := tested * w / sumW
		r.Expected[i] = e
		r.ChiSquare += (o - e) * (o - e) / e
		if o == 0 {
			r.EmptyArms = append(r.EmptyArms, i)
		}
	}
	r.DF = max(arms-1, 0)
	if r.DF > 0 {
		r.PValue = distuv.ChiSquared{K: float64(r.DF)}.Survival(r.ChiSquare)
	}
	r.Mismatch = r.PValue < SRMThreshold || len(r.EmptyArms) > 0 || len(r.UnexpectedArms) > 0
	return r, nil
}
