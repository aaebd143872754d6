package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

type cupedEstimateExpect struct {
	Diff      float64   `json:"diff"`
	StdErr    float64   `json:"std_err"`
	CI        *Interval `json:"ci"`
	Statistic *float64  `json:"statistic"`
	PValue    *float64  `json:"p_value"`
}

// TestReferenceCUPED holds CUPED to statsmodels' OLS y ~ treatment + covariate (and y ~
// treatment) with HC0 standard errors, on the per-unit data of testdata/stats/cuped.json:
// relative 1e-9, absolute 1e-12.
func TestReferenceCUPED(t *testing.T) {
	var doc struct {
		Cases []struct {
			Name      string      `json:"name"`
			Alpha     float64     `json:"alpha"`
			Control   CUPEDArm    `json:"control"`
			Treatment CUPEDArm    `json:"treatment"`
			Expect    cupedExpect `json:"expect"`
		} `json:"cases"`
	}
	mustLoad(t, "cuped.json", &doc)
	var worst float64
	for _, c := range doc.Cases {
		// Each case twice: unit by unit, and as its distinct (y, x) pairs
		// with their counts (CUPEDArm.W), as reports read them.
		for _, weighted := range []bool{false, true} {
			control, treatment, name := c.Control, c.Treatment, c.Name
			if weighted {
				control, treatment, name = distinctPairs(control), distinctPairs(treatment), name+" (weighted)"
			}
			checkCUPEDCase(t, name, control, treatment, c.Alpha, c.Expect, &worst)
		}
	}
	t.Logf("largest relative difference from statsmodels: %.2g over %d cases", worst, len(doc.Cases))
}

// cupedExpect is a case's statsmodels figures.
type cupedExpect struct {
	Status            Status               `json:"status"`
	Theta             *float64             `json:"theta"`
	Adjusted          *cupedEstimateExpect `json:"adjusted"`
	Unadjusted        *cupedEstimateExpect `json:"unadjusted"`
	VarianceReduction *float64             `json:"variance_reduction"`
}

// distinctPairs returns a's distinct (y, x) pairs, each weighted by how
// many of a's units had it.
func distinctPairs(a CUPEDArm) CUPEDArm {
	idx := map[[2]float64]int{}
	var out CUPEDArm
	for i := range a.Y {
		k := [2]float64{a.Y[i], a.X[i]}
		j, ok := idx[k]
		if !ok {
			j = len(out.Y)
			idx[k] = j
			out.Y, out.X, out.W = append(out.Y, a.Y[i]), append(out.X, a.X[i]), append(out.W, 0)
		}
		out.W[j]++
	}
	return out
}

func checkCUPEDCase(t *testing.T, name string, control, treatment CUPEDArm, alpha float64, w cupedExpect, worst *float64) {
	t.Helper()
	got, err := CUPED(control, treatment, alpha)
	if err != nil {
		t.Fatalf("%s: CUPED error %v", name, err)
	}
	if got.Status != w.Status {
		t.Errorf("%s: Status = %q, want %q", name, got.Status, w.Status)
	}
	check := func(what string, g, want *float64) {
		switch {
		case (g == nil) != (want == nil):
			t.Errorf("%s: %s = %s, want %s", name, what, show(g), show(want))
		case g != nil:
			if !near(*g, *want, relTight, absCI) {
				t.Errorf("%s: %s = %.17g, want %.17g", name, what, *g, *want)
			}
			if *want != 0 {
				*worst = math.Max(*worst, math.Abs(*g-*want)/math.Abs(*want))
			}
		}
	}
	check("Theta", got.Theta, w.Theta)
	check("VarianceReduction", got.VarianceReduction, w.VarianceReduction)
	for _, e := range []struct {
		what string
		got  *CUPEDEstimate
		want *cupedEstimateExpect
	}{{"Adjusted", got.Adjusted, w.Adjusted}, {"Unadjusted", got.Unadjusted, w.Unadjusted}} {
		if (e.got == nil) != (e.want == nil) {
			t.Errorf("%s: %s = %v, want %v", name, e.what, e.got, e.want)
			continue
		}
		if e.got == nil {
			continue
		}
		check(e.what+".Diff", &e.got.Diff, &e.want.Diff)
		check(e.what+".StdErr", &e.got.StdErr, &e.want.StdErr)
		check(e.what+".Statistic", e.got.Statistic, e.want.Statistic)
		check(e.what+".PValue", e.got.PValue, e.want.PValue)
		lo, hi := ivEnds(e.got.CI)
		wlo, whi := ivEnds(e.want.CI)
		check(e.what+".CI.Lower", lo, wlo)
		check(e.what+".CI.Upper", hi, whi)
	}
}

func ivEnds(iv *Interval) (*float64, *float64) {
	if iv == nil {
		return nil, nil
	}
	return &iv.Lower, &iv.Upper
}

// TestCUPEDCoverageAA simulates A/A experiments (no effect) whose outcome depends on the
// pre-period covariate, and checks that CUPED's 95% intervals cover 0 in 95% of them (within
// 3 Monte Carlo standard errors), for a rate metric and a heavy-tailed revenue metric, and
// that the adjustment reduces the variance.
func TestCUPEDCoverageAA(t *testing.T) {
	const experiments, units = 2000, 400
	rng := rand.New(rand.NewPCG(20251214, 1))
	binary := func() CUPEDArm {
		a := CUPEDArm{Y: make([]float64, units), X: make([]float64, units)}
		for i := range units {
			if rng.Float64() < 0.3 {
				a.X[i] = 1
			}
			if rng.Float64() < 0.1+0.3*a.X[i] {
				a.Y[i] = 1
			}
		}
		return a
	}
	revenue := func() CUPEDArm {
		a := CUPEDArm{Y: make([]float64, units), X: make([]float64, units)}
		for i := range units {
			if rng.Float64() < 0.3 {
				a.X[i] = math.Exp(2 + 1.2*rng.NormFloat64())
			}
			a.Y[i] = 0.6 * a.X[i]
			if rng.Float64() < 0.25 {
				a.Y[i] += math.Exp(1.8 + 1.0*rng.NormFloat64())
			}
		}
		return a
	}
	for _, tc := range []struct {
		name string
		arm  func() CUPEDArm
	}{{"rate", binary}, {"revenue", revenue}} {
		covered, coveredRaw := 0, 0
		var reduction float64
		for range experiments {
			r, err := CUPED(tc.arm(), tc.arm(), 0.05)
			if err != nil {
				t.Fatal(err)
			}
			if r.Adjusted == nil || r.Adjusted.CI == nil || r.Unadjusted.CI == nil {
				t.Fatalf("%s: CUPED = %+v, want both estimates", tc.name, r)
			}
			if r.Adjusted.CI.Contains(0) {
				covered++
			}
			if r.Unadjusted.CI.Contains(0) {
				coveredRaw++
			}
			reduction += *r.VarianceReduction / experiments
		}
		rate := float64(covered) / experiments
		se := math.Sqrt(0.95 * 0.05 / experiments)
		t.Logf("%s: CUPED coverage %.4f, unadjusted %.4f, mean variance reduction %.3f", tc.name, rate, float64(coveredRaw)/experiments, reduction)
		if math.Abs(rate-0.95) > 3*se {
			t.Errorf("%s: CUPED 95%% intervals cover 0 in %.4f of %d A/A experiments, want 0.95 ± %.4f", tc.name, rate, experiments, 3*se)
		}
		if reduction < 0.1 {
			t.Errorf("%s: mean variance reduction %.3f, want a real one with a correlated covariate", tc.name, reduction)
		}
	}
}

func TestCUPEDInvalid(t *testing.T) {
	ok := CUPEDArm{Y: []float64{1, 2}, X: []float64{0, 1}}
	for _, bad := range []CUPEDArm{{Y: []float64{1}, X: []float64{1, 2}}, {Y: []float64{math.NaN(), 1}, X: []float64{0, 1}},
		{Y: []float64{1, 2}, X: []float64{0, 1}, W: []float64{1}}, {Y: []float64{1, 2}, X: []float64{0, 1}, W: []float64{1, -1}},
		{Y: []float64{1, 2}, X: []float64{0, 1}, W: []float64{1, 0.5}}} {
		if _, err := CUPED(ok, bad, 0.05); err == nil {
			t.Errorf("CUPED(%v) error = nil, want an error", bad)
		}
	}
	if r, err := CUPED(ok, CUPEDArm{}, 0.05); err != nil || r.Status != StatusEmptyArm || r.Adjusted != nil || r.Unadjusted != nil {
		t.Errorf("CUPED(empty arm) = %+v, %v; want status empty_arm and nothing estimated", r, err)
	}
}
