package stats

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
)

// assertFinite fails if any float64 reachable in v is NaN or infinite, and checks that v
// marshals to JSON.
func assertFinite(tb testing.TB, call string, v any) {
	tb.Helper()
	if _, err := json.Marshal(v); err != nil {
		tb.Errorf("json.Marshal(%s) error %v", call, err)
	}
	var walk func(reflect.Value, string)
	walk = func(r reflect.Value, path string) {
		switch r.Kind() {
		case reflect.Float64:
			if x := r.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
				tb.Errorf("%s%s = %v, want finite", call, path, x)
			}
		case reflect.Struct:
			for i := range r.NumField() {
				walk(r.Field(i), path+"."+r.Type().Field(i).Name)
			}
		case reflect.Slice:
			for i := range r.Len() {
				walk(r.Index(i), path+"[]")
			}
		}
	}
	walk(reflect.ValueOf(v), "")
}

var edgeProportions = []Proportion{
	{0, 0}, {0, 1}, {1, 1}, {0, 2}, {1, 2}, {2, 2}, {0, 1000}, {1000, 1000}, {1, 1e9},
	{2e8, 1e9}, {1e9, 1e9}, {1e18, 4e18}, {0, 1e12},
}

func TestCompareProportionsEdges(t *testing.T) {
	for _, c := range edgeProportions {
		for _, tr := range edgeProportions {
			got, err := CompareProportions(c, tr, 0.05)
			if err != nil {
				t.Fatalf("CompareProportions(%v, %v) error %v", c, tr, err)
			}
			assertFinite(t, "CompareProportions", got)
			checkUndefined(t, "CompareProportions", c.Trials > 0 && tr.Trials > 0, got)
			if p, ok := got.P(); ok && (p < 0 || p > 1) {
				t.Errorf("CompareProportions(%v, %v).PValue = %v, want in [0, 1]", c, tr, p)
			}
			if want := c.Trials > 0 && c.Successes > 0 && tr.Trials > 0; got.RelLiftDefined() != want {
				t.Errorf("CompareProportions(%v, %v).RelLiftDefined() = %v, want %v", c, tr, got.RelLiftDefined(), want)
			}
			if got.Tested() != (c.Trials > 0 && tr.Trials > 0) {
				t.Errorf("CompareProportions(%v, %v).Status = %v", c, tr, got.Status)
			}
			if got.AbsCI != nil && !got.AbsCI.Contains(*got.AbsLift) {
				t.Errorf("CompareProportions(%v, %v).AbsCI = %v, misses %v", c, tr, *got.AbsCI, *got.AbsLift)
			}
			// Both arms' rates are 0 or 1 exactly when the Wald standard error is 0.
			constant := func(p Proportion) bool { return p.Successes == 0 || p.Successes == p.Trials }
			if got.Tested() && (got.AbsCI == nil) != (constant(c) && constant(tr)) {
				t.Errorf("CompareProportions(%v, %v).AbsCI = %v, want nil exactly when no arm varies", c, tr, got.AbsCI)
			}
		}
	}
}

// checkUndefined checks the rules of undefined numbers: nothing tested means every lift,
// interval, statistic and p-value nil; a statistic and a p-value are nil together; a nil
// number always comes with a status other than ok.
func checkUndefined(t *testing.T, call string, tested bool, c Comparison) {
	t.Helper()
	if !tested && (c.AbsLift != nil || c.AbsCI != nil || c.RelLift != nil || c.RelCI != nil || c.Statistic != nil || c.PValue != nil) {
		t.Errorf("%s = %+v: untested (%s) but with numbers", call, c, c.Status)
	}
	if (c.Statistic == nil) != (c.PValue == nil) {
		t.Errorf("%s: statistic %v and p-value %v not both defined or both nil", call, c.Statistic, c.PValue)
	}
	if c.Status == StatusOK && (c.AbsCI == nil || c.PValue == nil) {
		t.Errorf("%s: status ok with a nil interval or p-value", call)
	}
	if (c.RelStatus == RelOK) != (c.RelCI != nil) {
		t.Errorf("%s: rel status %s with rel interval %v", call, c.RelStatus, c.RelCI)
	}
	if c.Statistic != nil && math.Abs(*c.Statistic) == math.MaxFloat64 {
		t.Errorf("%s: statistic %v, the largest float", call, *c.Statistic)
	}
}

var edgeMoments = []Moments{
	{}, {N: 1, Sum: 5, SumSq: 25}, {N: 2, Sum: 0, SumSq: 0}, {N: 2, Sum: 2, SumSq: 2},
	{N: 2, Sum: 1, SumSq: 1}, {N: 10, Sum: -5, SumSq: 30}, {N: 1e9, Sum: 5e9, SumSq: 1.25e11},
	{N: 3, Sum: 1e-200, SumSq: 1e-300}, {N: 5, Sum: 1e150, SumSq: 1e300},
}

func TestCompareMeansEdges(t *testing.T) {
	for _, c := range edgeMoments {
		for _, tr := range edgeMoments {
			got, err := CompareMeans(c, tr, 0.05)
			if err != nil {
				t.Fatalf("CompareMeans(%v, %v) error %v", c, tr, err)
			}
			assertFinite(t, "CompareMeans", got)
			checkUndefined(t, "CompareMeans", got.Tested(), got)
			if p, ok := got.P(); ok && (p < 0 || p > 1) {
				t.Errorf("CompareMeans(%v, %v).PValue = %v, want in [0, 1]", c, tr, p)
			}
			if c.Mean() == 0 && got.RelLiftDefined() {
				t.Errorf("CompareMeans(%v, %v).RelLiftDefined() = true with a zero control mean", c, tr)
			}
			if got.Tested() && c.Variance() == 0 && tr.Variance() == 0 && (got.PValue != nil || got.AbsCI != nil) {
				t.Errorf("CompareMeans(%v, %v): p %v, interval %v with no variance, want nil", c, tr, got.PValue, got.AbsCI)
			}
		}
	}
}

// TestRelativeLiftSign: with a negative control mean, a treatment above it has a positive
// relative lift ((b-a)/|a|), where b/a-1 would say negative.
func TestRelativeLiftSign(t *testing.T) {
	control := Moments{N: 4, Sum: -8, SumSq: 18}  // mean -2
	treatment := Moments{N: 4, Sum: -4, SumSq: 6} // mean -1
	got, err := CompareMeans(control, treatment, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if got.RelLift == nil || math.Abs(*got.RelLift-0.5) > 1e-15 {
		t.Errorf("CompareMeans(mean -2, mean -1).RelLift = %s, want 0.5", show(got.RelLift))
	}
	if got.RelCI == nil || !got.RelCI.Contains(0.5) {
		t.Errorf("CompareMeans(mean -2, mean -1).RelCI = %v, want around 0.5", got.RelCI)
	}
}

func TestInvalidInputs(t *testing.T) {
	good := Proportion{1, 10}
	for _, p := range []Proportion{{-1, 10}, {11, 10}, {math.NaN(), 10}, {1, math.Inf(1)}} {
		if _, err := CompareProportions(good, p, 0.05); err == nil {
			t.Errorf("CompareProportions(%v, %v) error = nil, want an error", good, p)
		}
		if _, err := ProbBeatControl(p, good, BetaPrior{}); err == nil {
			t.Errorf("ProbBeatControl(%v, %v) error = nil, want an error", p, good)
		}
		if _, err := MSPRTProportions(p, good, MSPRTConfig{}); err == nil {
			t.Errorf("MSPRTProportions(%v, %v) error = nil, want an error", p, good)
		}
	}
	for _, alpha := range []float64{0, 1, -0.1, math.NaN()} {
		if _, err := CompareProportions(good, good, alpha); err == nil {
			t.Errorf("CompareProportions(alpha %v) error = nil, want an error", alpha)
		}
	}
	for _, m := range []Moments{{N: -1}, {N: 0, Sum: 1}, {N: 2, Sum: 10, SumSq: 1}, {N: 2, SumSq: math.NaN()}} {
		if _, err := CompareMeans(m, Moments{N: 3, Sum: 3, SumSq: 5}, 0.05); err == nil {
			t.Errorf("CompareMeans(%v) error = nil, want an error", m)
		}
	}
	for _, prior := range []BetaPrior{{0.5, 0.5}, {1, 0}, {math.Inf(1), 1}} {
		if _, err := ProbBeatControl(good, good, prior); err == nil {
			t.Errorf("ProbBeatControl(prior %v) error = nil, want an error", prior)
		}
	}
	if _, err := ProbBest(nil, BetaPrior{}); err == nil {
		t.Errorf("ProbBest(no arms) error = nil, want an error")
	}
	for _, tc := range []struct{ obs, w []float64 }{
		{[]float64{1, 2}, []float64{1}}, {[]float64{1, 2}, []float64{0, 0}},
		{[]float64{-1, 2}, []float64{1, 1}}, {[]float64{1, 2}, []float64{1, math.NaN()}},
	} {
		if _, err := SRM(tc.obs, tc.w); err == nil {
			t.Errorf("SRM(%v, %v) error = nil, want an error", tc.obs, tc.w)
		}
	}
	for _, tc := range []struct {
		base    float64
		e       Effect
		a, pow  float64
		comment string
	}{
		{0.2, RelativeEffect(0), 0.05, 0.8, "zero effect"},
		{0.8, AbsoluteEffect(0.3), 0.05, 0.8, "rate above 1"},
		{1.2, AbsoluteEffect(0.1), 0.05, 0.8, "baseline above 1"},
		{0.2, AbsoluteEffect(0.1), 0.05, 0.04, "power below alpha"},
		{0.2, AbsoluteEffect(0.1), 0.05, 1, "power 1"},
	} {
		if _, err := SampleSizeProportions(tc.base, tc.e, tc.a, tc.pow); err == nil {
			t.Errorf("SampleSizeProportions(%s) error = nil, want an error", tc.comment)
		}
	}
	if _, err := SampleSizeMeans(1, 0, RelativeEffect(0.1), 0.05, 0.8); err == nil {
		t.Errorf("SampleSizeMeans(variance 0) error = nil, want an error")
	}
	if _, err := MSPRTProportions(good, good, MSPRTConfig{Tau2: -1}); err == nil {
		t.Errorf("MSPRTProportions(tau2 -1) error = nil, want an error")
	}
}

func TestAdjustClampsAndKeepsInput(t *testing.T) {
	p := []float64{math.NaN(), -0.1, 0.02, 1.5}
	in := append([]float64(nil), p...)
	for _, f := range []struct {
		name string
		fn   func([]float64) []float64
	}{{"Holm", Holm}, {"BenjaminiHochberg", BenjaminiHochberg}} {
		got := f.fn(p)
		assertFinite(t, f.name, got)
		for i, x := range got {
			if x < 0 || x > 1 {
				t.Errorf("%s(%v)[%d] = %v, want in [0, 1]", f.name, p, i, x)
			}
		}
		if got[0] != 1 || got[3] != 1 || got[1] != 0 {
			t.Errorf("%s(%v) = %v, want NaN and 1.5 as 1, -0.1 as 0", f.name, p, got)
		}
		if len(f.fn(nil)) != 0 {
			t.Errorf("%s(nil) not empty", f.name)
		}
	}
	if math.IsNaN(p[0]) != math.IsNaN(in[0]) || p[1] != in[1] || p[3] != in[3] {
		t.Errorf("Holm modified its input: %v, was %v", p, in)
	}
}

func TestSRMFlags(t *testing.T) {
	tests := []struct {
		obs, w   []float64
		mismatch bool
	}{
		{[]float64{1000, 1000}, []float64{1, 1}, false},
		{[]float64{1, 0}, []float64{1, 1}, true},  // empty arm, p-value alone would pass
		{[]float64{0, 0}, []float64{1, 1}, false}, // nothing sent yet
		{[]float64{1000, 1000, 1}, []float64{1, 1, 0}, true},
		{[]float64{500}, []float64{1}, false}, // one arm left
	}
	for _, tc := range tests {
		got, err := SRM(tc.obs, tc.w)
		if err != nil {
			t.Fatal(err)
		}
		assertFinite(t, "SRM", got)
		if got.Mismatch != tc.mismatch {
			t.Errorf("SRM(%v, %v).Mismatch = %v, want %v", tc.obs, tc.w, got.Mismatch, tc.mismatch)
		}
	}
}

func TestProbBeatControlSymmetry(t *testing.T) {
	for _, c := range edgeProportions {
		for _, tr := range edgeProportions {
			if c.Trials > 1e12 || tr.Trials > 1e12 {
				continue // beyond the documented 1e-9 accuracy
			}
			p, err := ProbBeatControl(c, tr, BetaPrior{})
			if err != nil {
				t.Fatal(err)
			}
			q, _ := ProbBeatControl(tr, c, BetaPrior{})
			if p < 0 || p > 1 || math.Abs(p+q-1) > 1e-9 {
				t.Errorf("ProbBeatControl(%v, %v) = %v and swapped %v: want in [0,1], summing to 1", c, tr, p, q)
			}
		}
	}
}

// TestProbBestConsistent: the exact P(best) sums to 1, gives equal arms equal shares,
// agrees with ProbBeatControl for two arms, and is unchanged by the order of the arms.
func TestProbBestConsistent(t *testing.T) {
	cases := [][]Proportion{
		{{200, 1000}, {220, 1000}, {0, 0}},
		{{50, 100}, {50, 100}, {50, 100}, {50, 100}},
		{{1, 1e9}, {2e8, 1e9}, {2.0001e8, 1e9}},
		{{999990, 1e6}, {999995, 1e6}, {999980, 1e6}},
		{{3, 10}, {30000, 100000}, {310, 1000}},
	}
	for _, arms := range cases {
		got, err := ProbBest(arms, BetaPrior{})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, x := range got {
			sum += x
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("ProbBest(%v) = %v, sum %v, want 1", arms, got, sum)
		}
		rev := slices.Clone(arms)
		slices.Reverse(rev)
		back, _ := ProbBest(rev, BetaPrior{})
		for i := range got {
			if math.Abs(got[i]-back[len(back)-1-i]) > 1e-9 {
				t.Errorf("ProbBest(%v) = %v, reversed %v", arms, got, back)
				break
			}
		}
	}
	eq, _ := ProbBest(cases[1], BetaPrior{})
	for _, x := range eq {
		if math.Abs(x-0.25) > 1e-9 {
			t.Errorf("ProbBest(4 equal arms) = %v, want 0.25 each", eq)
		}
	}
	for _, pair := range [][2]Proportion{{{200, 1000}, {220, 1000}}, {{1, 10}, {5000, 20000}}} {
		pb, _ := ProbBest(pair[:], BetaPrior{})
		want, _ := ProbBeatControl(pair[0], pair[1], BetaPrior{})
		if math.Abs(pb[1]-want) > 1e-9 {
			t.Errorf("ProbBest(%v)[1] = %v, ProbBeatControl = %v", pair, pb[1], want)
		}
	}
}

func TestMSPRTStateMonotone(t *testing.T) {
	var s MSPRTState
	if s.Update(MSPRTLook{PValue: 1}).PValue != 1 {
		t.Errorf("first undefined look: PValue != 1")
	}
	looks := []MSPRTLook{
		{Defined: true, PValue: 0.5, CI: Interval{-1, 1}},
		{Defined: true, PValue: 0.8, CI: Interval{-0.5, 2}},
		{PValue: 1},
		{Defined: true, PValue: 0.2, CI: Interval{-2, 0.7}},
		{Defined: true, PValue: 0.9, CI: Interval{3, 4}}, // disjoint: the look's interval is kept
	}
	wantP := []float64{0.5, 0.5, 0.5, 0.2, 0.2}
	wantCI := []Interval{{-1, 1}, {-0.5, 1}, {-0.5, 1}, {-0.5, 0.7}, {3, 4}}
	for i, l := range looks {
		s = s.Update(l)
		if s.PValue != wantP[i] || s.CI != wantCI[i] || s.Looks != i+1 {
			t.Errorf("Update #%d = %+v, want p %v, CI %v", i, s, wantP[i], wantCI[i])
		}
		if got := AlwaysValidPValue(1, l.PValue); got != l.PValue {
			t.Errorf("AlwaysValidPValue(1, %v) = %v", l.PValue, got)
		}
	}
}

func TestMSPRTEdges(t *testing.T) {
	for _, c := range edgeProportions {
		for _, tr := range edgeProportions {
			l, err := MSPRTProportions(c, tr, MSPRTConfig{})
			if err != nil {
				t.Fatal(err)
			}
			assertFinite(t, "MSPRTProportions", l)
			if l.PValue < 0 || l.PValue > 1 {
				t.Errorf("MSPRTProportions(%v, %v).PValue = %v", c, tr, l.PValue)
			}
		}
	}
	for _, c := range edgeMoments {
		for _, tr := range edgeMoments {
			l, err := MSPRTMeans(c, tr, MSPRTConfig{})
			if err != nil {
				t.Fatal(err)
			}
			assertFinite(t, "MSPRTMeans", l)
		}
	}
}

func TestStudentT(t *testing.T) {
	// Values from scipy.stats.t (sf), and t.ppf polished by Newton on t.cdf.
	tests := []struct{ x, df, sf float64 }{
		{2.5, 5, 0.027245049671188102},
		{2.5, 1e3, 0.006289283900545397},
		{2.5, 1e6, 0.006209744751081614},
		{2.5, 1e9, 0.006209665405201255},
		{10, 1e9, 7.619872453045468e-24},
		{10, 1e12, 7.619853043589427e-24},
	}
	for _, tc := range tests {
		if got := tSurvival(tc.x, tc.df); !near(got, tc.sf, 1e-9, 0) {
			t.Errorf("tSurvival(%v, %v) = %.17g, want %.17g", tc.x, tc.df, got, tc.sf)
		}
		if q := tQuantile(1-tc.sf, tc.df); tc.sf > 1e-6 && !near(q, tc.x, 1e-8, 0) {
			t.Errorf("tQuantile(%v, %v) = %.17g, want %v", 1-tc.sf, tc.df, q, tc.x)
		}
	}
}

func FuzzCompareProportions(f *testing.F) {
	for _, c := range edgeProportions {
		f.Add(c.Successes, c.Trials, 1.0, 3.0, 0.05)
	}
	f.Fuzz(func(t *testing.T, x1, n1, x2, n2, alpha float64) {
		c, tr := Proportion{x1, n1}, Proportion{x2, n2}
		if got, err := CompareProportions(c, tr, alpha); err == nil {
			assertFinite(t, "CompareProportions", got)
		}
		if got, err := MSPRTProportions(c, tr, MSPRTConfig{Alpha: alpha}); err == nil {
			assertFinite(t, "MSPRTProportions", got)
		}
		if got, err := ProbBeatControl(c, tr, BetaPrior{}); err == nil && !(got >= 0 && got <= 1) {
			t.Errorf("ProbBeatControl(%v, %v) = %v", c, tr, got)
		}
	})
}

func FuzzCompareMeans(f *testing.F) {
	for _, m := range edgeMoments {
		f.Add(m.N, m.Sum, m.SumSq, 3.0, 3.0, 5.0, 0.05)
	}
	f.Fuzz(func(t *testing.T, n1, s1, q1, n2, s2, q2, alpha float64) {
		c, tr := Moments{n1, s1, q1}, Moments{n2, s2, q2}
		if got, err := CompareMeans(c, tr, alpha); err == nil {
			assertFinite(t, "CompareMeans", got)
		}
		if got, err := MSPRTMeans(c, tr, MSPRTConfig{Alpha: alpha}); err == nil {
			assertFinite(t, "MSPRTMeans", got)
		}
	})
}
