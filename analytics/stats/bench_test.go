package stats

import "testing"

// segment is one segment's aggregates: 4 arms (control first), 3 rate metrics and 1 mean.
type segment struct {
	exposures []float64
	weights   []float64
	rates     [3][4]Proportion
	means     [4]Moments
}

func benchSegment() segment {
	s := segment{exposures: []float64{25030, 24980, 24870, 25120}, weights: []float64{1, 1, 1, 1}}
	for m, base := range []float64{0.2, 0.03, 0.01} {
		for v := range 4 {
			n := s.exposures[v]
			s.rates[m][v] = Proportion{Successes: float64(int(n * base * (1 + 0.03*float64(v)))), Trials: n}
		}
	}
	for v := range 4 {
		n := s.exposures[v]
		mean := 1.5 + 0.05*float64(v)
		s.means[v] = Moments{N: n, Sum: n * mean, SumSq: (n-1)*400 + n*mean*mean}
	}
	return s
}

// evaluate runs everything a report computes for one segment: SRM, then per metric and
// treatment the fixed-horizon test with intervals and relative lift, the mSPRT look, the
// probability to beat control (rates), and Holm across the treatments.
func evaluate(tb testing.TB, s segment) {
	if _, err := SRM(s.exposures, s.weights); err != nil {
		tb.Fatal(err)
	}
	p := make([]float64, 3)
	for m := range s.rates {
		for v := 1; v < 4; v++ {
			c, err := CompareProportions(s.rates[m][0], s.rates[m][v], 0.05)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := MSPRTProportions(s.rates[m][0], s.rates[m][v], MSPRTConfig{}); err != nil {
				tb.Fatal(err)
			}
			if _, err := ProbBeatControl(s.rates[m][0], s.rates[m][v], BetaPrior{}); err != nil {
				tb.Fatal(err)
			}
			p[v-1], _ = c.P()
		}
		Holm(p)
	}
	for v := 1; v < 4; v++ {
		c, err := CompareMeans(s.means[0], s.means[v], 0.05)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := MSPRTMeans(s.means[0], s.means[v], MSPRTConfig{}); err != nil {
			tb.Fatal(err)
		}
		p[v-1], _ = c.P()
	}
	Holm(p)
}

// BenchmarkSegmentEvaluation is one full per-segment evaluation: 4 variants (control + 3),
// 4 metrics (3 rates + 1 mean), all tests.
func BenchmarkSegmentEvaluation(b *testing.B) {
	s := benchSegment()
	b.ReportAllocs()
	for b.Loop() {
		evaluate(b, s)
	}
}

func BenchmarkCompareProportions(b *testing.B) {
	c, t := Proportion{5000, 25000}, Proportion{5200, 25000}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = CompareProportions(c, t, 0.05)
	}
}

func BenchmarkCompareMeans(b *testing.B) {
	c, t := Moments{25000, 37500, 1e7}, Moments{25000, 38000, 1.01e7}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = CompareMeans(c, t, 0.05)
	}
}

func BenchmarkProbBeatControl(b *testing.B) {
	for _, tc := range []struct {
		name string
		c, t Proportion
	}{
		{"25k", Proportion{5000, 25000}, Proportion{5200, 25000}},
		{"1e9", Proportion{2e8, 1e9}, Proportion{2.0002e8, 1e9}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ProbBeatControl(tc.c, tc.t, BetaPrior{})
			}
		})
	}
}

func BenchmarkMSPRTProportions(b *testing.B) {
	c, t := Proportion{5000, 25000}, Proportion{5200, 25000}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = MSPRTProportions(c, t, MSPRTConfig{})
	}
}

func BenchmarkProbBest(b *testing.B) {
	arms := []Proportion{{5000, 25000}, {5200, 25000}, {5100, 25000}, {4900, 25000}}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ProbBest(arms, BetaPrior{})
	}
}
