package stats

import (
	"math"
	"testing"
)

// stratumCase is one case of testdata/stats/stratified.json: the strata as
// JSON spells them (Stratum's arms are not marshalled) and the estimate.
type stratumCase struct {
	Name   string  `json:"name"`
	Alpha  float64 `json:"alpha"`
	Strata []struct {
		Weight    float64    `json:"weight"`
		Control   ArmSummary `json:"control"`
		Treatment ArmSummary `json:"treatment"`
	} `json:"strata"`
	Expect StratifiedEstimate `json:"expect"`
}

// TestStratifiedReference holds StratifiedDiff to statsmodels (one stratum)
// and to the stratified formula written independently in
// testdata/stats/generate_bandit.py (several).
func TestStratifiedReference(t *testing.T) {
	var doc struct{ Cases []stratumCase }
	mustLoad(t, "stratified.json", &doc)
	if len(doc.Cases) < 5 {
		t.Fatalf("only %d cases", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		var strata []Stratum
		for _, s := range c.Strata {
			strata = append(strata, Stratum{Weight: s.Weight, Control: s.Control, Treatment: s.Treatment})
		}
		got, err := StratifiedDiff(strata, c.Alpha)
		if err != nil {
			t.Fatalf("%s: StratifiedDiff = %v", c.Name, err)
		}
		w := c.Expect
		if got.Defined != w.Defined || got.Strata != w.Strata || got.Dropped != w.Dropped || got.RelLiftDefined != true {
			t.Errorf("%s: StratifiedDiff = %+v, want %+v", c.Name, got, w)
			continue
		}
		pairs := [][2]float64{{got.Control, w.Control}, {got.Treatment, w.Treatment}, {got.Diff, w.Diff},
			{got.StdErr, w.StdErr}, {got.CI.Lower, w.CI.Lower}, {got.CI.Upper, w.CI.Upper}, {got.PValue, w.PValue},
			{got.RelLift, w.RelLift}, {got.RelCI.Lower, w.RelCI.Lower}, {got.RelCI.Upper, w.RelCI.Upper}}
		for i, p := range pairs {
			if !near(p[0], p[1], relTight, absCI) {
				t.Errorf("%s: value %d = %v, want %v", c.Name, i, p[0], p[1])
			}
		}
	}
}

func TestStratifiedEdges(t *testing.T) {
	if _, err := StratifiedDiff(nil, 0); err == nil {
		t.Errorf("StratifiedDiff(alpha 0) = nil error")
	}
	if _, err := StratifiedDiff([]Stratum{{Weight: math.NaN()}}, 0.05); err == nil {
		t.Errorf("StratifiedDiff(NaN weight) = nil error")
	}
	e, err := StratifiedDiff([]Stratum{{Weight: 1, Control: ArmSummary{N: 1}, Treatment: ArmSummary{N: 10, Var: 1}}}, 0.05)
	if err != nil || e.Defined || e.PValue != 1 || e.Dropped != 1 {
		t.Errorf("StratifiedDiff(one unit in the control) = %+v, %v; want undefined, dropped 1", e, err)
	}
	// A one-stratum estimate's mSPRT is the two-sample one.
	c, tr := Proportion{Successes: 100, Trials: 1000}, Proportion{Successes: 140, Trials: 1000}
	e, _ = StratifiedDiff([]Stratum{{Weight: 1, Control: SummaryOfProportion(c), Treatment: SummaryOfProportion(tr)}}, 0.05)
	got, err := MSPRTEstimate(e, MSPRTConfig{})
	want, _ := MSPRTProportions(c, tr, MSPRTConfig{})
	if err != nil || !near(got.LogLR, want.LogLR, 1e-12, 0) || !near(got.CI.Upper, want.CI.Upper, 1e-12, 0) {
		t.Errorf("MSPRTEstimate(one stratum) = %+v, want %+v", got, want)
	}
}

// TestProbBestNormalReference holds ProbBestNormal to scipy quadrature.
func TestProbBestNormalReference(t *testing.T) {
	var doc struct {
		Cases []struct {
			Name   string            `json:"name"`
			Arms   []NormalPosterior `json:"arms"`
			Expect []float64         `json:"expect"`
		}
	}
	mustLoad(t, "prob_best_normal.json", &doc)
	const draws = 20000
	for _, c := range doc.Cases {
		got, se, err := ProbBestNormal(c.Arms, draws, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.Expect {
			if !near(got[i], c.Expect[i], 0, 4*se+1e-9) {
				t.Errorf("%s: ProbBestNormal = %v ± %.2g, want %v", c.Name, got, se, c.Expect)
				break
			}
		}
	}
	if _, _, err := ProbBestNormal([]NormalPosterior{{Mean: 1, Var: -1}}, 10, 1); err == nil {
		t.Errorf("ProbBestNormal(negative variance) = nil error")
	}
}
