package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestMSPRTAAFalsePositives simulates A/A experiments looked at after every batch and checks
// the always-valid guarantee: the running-minimum p-value falls below alpha in at most alpha
// of the experiments, up to Monte Carlo error (3 standard errors of a binomial proportion),
// while the fixed-horizon z-test looked at just as often rejects far more often.
func TestMSPRTAAFalsePositives(t *testing.T) {
	const (
		alpha = 0.05
		rate  = 0.2
		looks = 50
		batch = 200 // per arm per look: 10,000 per arm at the last look
	)
	experiments := 2000
	if testing.Short() {
		experiments = 400
	}
	rng := rand.New(rand.NewPCG(2024, 6))
	draw := distuv.Binomial{N: batch, P: rate, Src: rng}
	seqRejects, fixedRejects := 0, 0
	for range experiments {
		var c, tr Proportion
		var state MSPRTState
		seqRejected, fixedRejected := false, false
		for range looks {
			c.Successes += draw.Rand()
			c.Trials += batch
			tr.Successes += draw.Rand()
			tr.Trials += batch
			look, err := MSPRTProportions(c, tr, MSPRTConfig{Alpha: alpha})
			if err != nil {
				t.Fatal(err)
			}
			state = state.Update(look)
			seqRejected = seqRejected || state.PValue < alpha
			cmp, err := CompareProportions(c, tr, alpha)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := cmp.P()
			fixedRejected = fixedRejected || (ok && p < alpha)
		}
		if seqRejected {
			seqRejects++
		}
		if fixedRejected {
			fixedRejects++
		}
	}
	n := float64(experiments)
	seqRate, fixedRate := float64(seqRejects)/n, float64(fixedRejects)/n
	mcError := 3 * math.Sqrt(alpha*(1-alpha)/n)
	t.Logf("A/A, %d experiments × %d looks of %d per arm at p=%v: mSPRT rejects %.2f%%, fixed-horizon z-test rejects %.2f%% (bound %.2f%%)",
		experiments, looks, batch, rate, 100*seqRate, 100*fixedRate, 100*(alpha+mcError))
	if seqRate > alpha+mcError {
		t.Errorf("mSPRT A/A rejection rate = %v, want <= %v (alpha + 3 s.e.)", seqRate, alpha+mcError)
	}
	if fixedRate < 2*alpha {
		t.Errorf("fixed-horizon A/A rejection rate with %d looks = %v, want well above %v", looks, fixedRate, alpha)
	}
}

// TestMSPRTPower simulates A/B experiments with a true 10% relative lift on a 20% open rate,
// looked at every 100 units per arm, and compares the median sample per arm at which the
// sequential test detects the lift with the fixed-horizon sample size for 80% power.
func TestMSPRTPower(t *testing.T) {
	const (
		alpha = 0.05
		base  = 0.20
		lift  = 0.10
		batch = 100
	)
	experiments := 1000
	if testing.Short() {
		experiments = 200
	}
	fixed, err := SampleSizeProportions(base, RelativeEffect(lift), alpha, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	maxN := 10 * fixed
	rng := rand.New(rand.NewPCG(7, 11))
	ctrl := distuv.Binomial{N: batch, P: base, Src: rng}
	treat := distuv.Binomial{N: batch, P: base * (1 + lift), Src: rng}
	detectedAt := make([]float64, 0, experiments)
	withinFixed := 0
	for range experiments {
		var c, tr Proportion
		var state MSPRTState
		at := math.Inf(1)
		for c.Trials < maxN {
			c.Successes += ctrl.Rand()
			c.Trials += batch
			tr.Successes += treat.Rand()
			tr.Trials += batch
			look, err := MSPRTProportions(c, tr, MSPRTConfig{Alpha: alpha})
			if err != nil {
				t.Fatal(err)
			}
			if state = state.Update(look); state.PValue < alpha {
				at = c.Trials
				break
			}
		}
		if at <= fixed {
			withinFixed++
		}
		detectedAt = append(detectedAt, at)
	}
	slices.Sort(detectedAt)
	median := detectedAt[len(detectedAt)/2]
	t.Logf("true +%v%% on %v%%: fixed-horizon n per arm (80%% power, alpha %v) = %.0f; sequential median detection n per arm = %.0f (ratio %.2f; %.1f%% detected by the fixed n; %d experiments)",
		100*lift, 100*base, alpha, math.Ceil(fixed), median, median/fixed,
		100*float64(withinFixed)/float64(experiments), experiments)
	if math.IsInf(median, 1) || median/fixed > 3 || median/fixed < 0.2 {
		t.Errorf("sequential median detection n = %v, want finite and within [0.2, 3]× the fixed n %v", median, fixed)
	}
}

// TestMSPRTMeansAAFalsePositives is the A/A check for means, on skewed (exponential) values
// such as revenue, 1,000 experiments × 50 looks of 100 units per arm.
func TestMSPRTMeansAAFalsePositives(t *testing.T) {
	const (
		alpha = 0.05
		looks = 50
		batch = 100
	)
	experiments := 1000
	if testing.Short() {
		experiments = 200
	}
	rng := rand.New(rand.NewPCG(3, 4))
	add := func(m *Moments) {
		for range batch {
			x := rng.ExpFloat64() * 20
			m.N++
			m.Sum += x
			m.SumSq += x * x
		}
	}
	rejects := 0
	for range experiments {
		var c, tr Moments
		var state MSPRTState
		for range looks {
			add(&c)
			add(&tr)
			look, err := MSPRTMeans(c, tr, MSPRTConfig{Alpha: alpha})
			if err != nil {
				t.Fatal(err)
			}
			state = state.Update(look)
		}
		if state.PValue < alpha {
			rejects++
		}
	}
	rate := float64(rejects) / float64(experiments)
	bound := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(experiments))
	t.Logf("A/A means, %d experiments × %d looks of %d per arm: mSPRT rejects %.2f%% (bound %.2f%%)",
		experiments, looks, batch, 100*rate, 100*bound)
	if rate > bound {
		t.Errorf("mSPRT means A/A rejection rate = %v, want <= %v", rate, bound)
	}
}
