// Package stats is the statistics of Splitcast's reports and of its retirement loop: pure
// functions on counts (Proportion) and moments (Moments), with gonum for the special
// functions and nothing else from the repository.
//
// # Invariants
//
//   - No result holds NaN or ±Inf: every struct marshals with encoding/json. Undefined stays
//     undefined: where a comparison's number has no meaning (a zero standard error, an empty
//     or too small arm, a zero control for a relative lift) its field is nil, null in JSON,
//     and Comparison.Status or RelStatus says why; never z = 0 with p = 1, never a largest
//     float. MSPRTLook keeps PValue 1 when not Defined (the running minimum needs a number)
//     but marshals its undefined numbers as null.
//   - Invalid input (negative or non-finite counts, successes above trials, alpha outside
//     (0, 1), slices of different lengths) is an error, never silently repaired. Valid edge
//     cases (0 or 1 trials, 0% or 100%, constant values) have defined results.
//   - No package state: the same inputs give the same outputs (nothing is Monte Carlo).
//
// # Formulas
//
// Rates, control p1 = x1/n1 and treatment p2 = x2/n2:
//
//	z = (p2−p1) / sqrt(p̄(1−p̄)(1/n1+1/n2)),  p̄ = (x1+x2)/(n1+n2)      (pooled z-test)
//	CI(p2−p1) = p2−p1 ± z_{1−α/2}·sqrt(p1(1−p1)/n1 + p2(1−p2)/n2)  (Wald, unpooled)
//
// Means, from n, Σx and Σx²: Welch's t = (m2−m1)/sqrt(s1²/n1+s2²/n2) with the
// Welch–Satterthwaite df, and the interval with the t quantile at that df. Student's t uses
// gonum's incomplete beta up to df = 1e5 and the Cornish–Fisher expansion (Abramowitz and
// Stegun 26.7.5) above, where the incomplete beta loses precision.
//
// Relative lift r = (x2 − x1)/|x1| (rates or means; the sign of the difference survives a
// negative control mean) by the delta method, with a normal quantile:
//
//	Var(x2/x1) ≈ Var(x2)/x1² + x2²·Var(x1)/x1⁴
//
// SRM: Pearson's chi-square of observed counts against weights, df = arms − 1.
// Holm (1979) step-down and Benjamini–Hochberg (1995) step-up adjusted p-values.
//
// Probability to beat control: each rate has the posterior Beta(α+x, β+n−x) under the prior
// Beta(α, β); P(θT > θC) is integrated numerically (see ProbBeatControl); probability to be
// best among k arms is integrated numerically too (ProbBest).
//
// Sequential testing: the mixture sequential probability ratio test (mSPRT) of Johari,
// Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
// (Operations Research, 2022; arXiv:1512.04922), with a normal mixture N(0, τ²) over the
// difference θ, V the estimated variance of the difference at this look:
//
//	Λ = sqrt(V/(V+τ²)) · exp(τ²·θ̂² / (2V(V+τ²)))
//	p = min(1, 1/Λ), the always-valid p-value is the running minimum over looks
//	CI = θ̂ ± sqrt(V(V+τ²)/τ² · (2·log(1/α) + log((V+τ²)/V)))
//
// τ² is configured on a standardised scale (MSPRTConfig.Tau2, default DefaultTau2). Under the
// null, the probability that the running-minimum p-value ever falls below α is at most α,
// however often one looks; with V estimated from the data the guarantee is asymptotic, and
// the tests simulate it (2,000 A/A experiments × 50 looks).
//
// Power: the per-arm sample size that statsmodels' NormalIndPower solves for, with Cohen's h
// for rates and Δ/σ for means (SampleSizeProportions, SampleSizeMeans).
//
// # Tolerance policy
//
// Every formula is checked against scipy, statsmodels or mpmath values in testdata/stats,
// written by testdata/stats/generate.py. The tolerance for each kind of value is stated and
// justified in reference_test.go: relative 1e-9 for closed forms (1e-8 for Welch p-values,
// 1e-6 for sample sizes, bounded by statsmodels' solver), absolute 1e-9 for the integrated
// probabilities to beat control and to be best (observed: below 1e-12).
package stats
