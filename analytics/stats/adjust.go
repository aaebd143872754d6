package stats

import (
	"cmp"
	"math"
	"slices"
)

// Holm returns Holm's step-down adjusted p-values, in the order of p (statsmodels
// multipletests, method "holm"). It controls the family-wise error rate under any
// dependence. Inputs are clamped to [0, 1]; NaN counts as 1. p is not modified.
func Holm(p []float64) []float64 {
	m := len(p)
	adj, order := sortedCopy(p)
	running := 0.0
	for rank, i := range order {
		v := math.Min(1, float64(m-rank)*adj[i])
		running = math.Max(running, v)
		adj[i] = running
	}
	return adj
}

// BenjaminiHochberg returns the Benjamini–Hochberg adjusted p-values (q-values), in the
// order of p (statsmodels multipletests, method "fdr_bh"). It controls the false discovery
// rate for independent or positively dependent tests. Inputs are clamped to [0, 1]; NaN
// counts as 1. p is not modified.
func BenjaminiHochberg(p []float64) []float64 {
	m := len(p)
	adj, order := sortedCopy(p)
	running := 1.0
	for rank := m - 1; rank >= 0; rank-- {
		i := order[rank]
		v := math.Min(1, float64(m)/float64(rank+1)*adj[i])
		running = math.Min(running, v)
		adj[i] = running
	}
	return adj
}

// sortedCopy returns p clamped to [0, 1] and the indices of p in ascending order of value,
// ties kept in input order.
func sortedCopy(p []float64) ([]float64, []int) {
	c := make([]float64, len(p))
	order := make([]int, len(p))
	for i, v := range p {
		switch {
		case math.IsNaN(v) || v > 1:
			v = 1
		case v < 0:
			v = 0
		}
		c[i] = v
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
	return c, order
}
