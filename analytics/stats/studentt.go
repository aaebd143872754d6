package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// largeDF is where Student's t switches from gonum's incomplete beta to the Cornish–Fisher
// expansion. The incomplete beta loses about df·1e-16 of relative accuracy (it raises
// x = df/(df+t²), rounded, to the power df/2), so at df = 1e9 a p-value is off by ~1e-6; the
// expansion, truncated after the 1/df⁴ term, errs by about z¹¹/df⁵ < 1e-13 for df > 1e5
// and |z| < 40 (beyond which p-values underflow anyway).
const largeDF = 1e5

// tSurvival returns P(T > t) for Student's t with df degrees of freedom.
func tSurvival(t, df float64) float64 {
	if df > largeDF {
		// P(T > t) = P(Z > z) where t = cornishFisher(z, df); solve for z by Newton.
		z := t
		for range 8 {
			f, fp := cornishFisher(z, df)
			step := (f - t) / fp
			z -= step
			if math.Abs(step) <= 1e-15*math.Max(1, math.Abs(z)) {
				break
			}
		}
		return normalSF(z)
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(t)
}

// tQuantile returns the p-quantile of Student's t with df degrees of freedom.
func tQuantile(p, df float64) float64 {
	z := mathext.NormalQuantile(p)
	if df > largeDF {
		q, _ := cornishFisher(z, df)
		return q
	}
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	q := dist.Quantile(p)
	// gonum's inverse incomplete beta is good to ~1e-9; two Newton steps on the CDF, which is
	// accurate to ~1e-16, bring the quantile to full precision.
	for range 2 {
		pdf := dist.Prob(q)
		if pdf == 0 {
			break
		}
		q -= (dist.CDF(q) - p) / pdf
	}
	return q
}

// cornishFisher returns the t quantile that corresponds to the normal quantile z, and its
// derivative in z, by the expansion of Abramowitz and Stegun 26.7.5.
func cornishFisher(z, df float64) (q, dq float64) {
	z2 := z * z
	g1 := (z2 + 1) * z / 4
	g2 := ((5*z2+16)*z2 + 3) * z / 96
	g3 := (((3*z2+19)*z2+17)*z2 - 15) * z / 384
	g4 := ((((79*z2+776)*z2+1482)*z2-1920)*z2 - 945) * z / 92160
	d1 := (3*z2 + 1) / 4
	d2 := ((25*z2+48)*z2 + 3) / 96
	d3 := (((21*z2+95)*z2+51)*z2 - 15) / 384
	d4 := ((((711*z2+5432)*z2+7410)*z2-5760)*z2 - 945) / 92160
	v := 1 / df
	q = z + v*(g1+v*(g2+v*(g3+v*g4)))
	dq = 1 + v*(d1+v*(d2+v*(d3+v*d4)))
	return q, dq
}
