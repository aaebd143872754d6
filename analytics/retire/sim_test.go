package retire_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/experiment"
)

// simArms runs one simulated experiment with the given true conversion rates
// (arm 0 the control) in one catch-all segment: at each of looks looks,
// perLook new units are split among the active arms at random by weight
// (so that SRM checks see real multinomial noise), convert with their arm's
// rate, and the RetirementLoop runs on the aggregates so far. It returns the
// keys of the retired variants and the winner, if any.
func simArms(t *testing.T, r *rand.Rand, rates []float64, looks, perLook int) (retired []string, winner string) {
	t.Helper()
	keys := []string{"a", "b", "c", "d"}[:len(rates)]
	def := experiment.Experiment{
		Key: "welcome", Channel: experiment.ChannelEmail, Allocation: experiment.Full,
		PrimaryMetric: experiment.MetricConversionRate, GuardrailMetrics: []experiment.Metric{},
		Retirement: experiment.RetirementPolicy{Auto: true, Alpha: 0.05, MinSamplePerArm: 1000, MinRuntime: experiment.Duration(time.Hour)},
	}
	seg := experiment.Segment{Key: "all"}
	for i, k := range keys {
		seg.Variants = append(seg.Variants, experiment.Variant{Key: k, Weight: 1, Control: i == 0})
	}
	def.Segments = []experiment.Segment{seg}
	h := resultstest.Started(t, def)
	store := repStore(t, h)
	reader := &repReader{}
	now := resultstest.T0
	loop := &retire.Loop{Store: store, Reader: reader, Now: func() time.Time { return now }}
	ctx := context.Background()

	exposed := make([]int64, len(rates))
	conv := make([]int64, len(rates))
	byVersion := map[[2]uint32]int64{} // (arm, version) -> units
	for look := 0; look < looks; look++ {
		now = now.Add(time.Hour)
		e, err := store.Get(ctx, "welcome")
		if err != nil {
			t.Fatal(err)
		}
		s := e.Segments[0]
		if s.Concluded() {
			return retired, s.Winner
		}
		var active []int
		for i, v := range s.Variants {
			if !v.Retired {
				active = append(active, i)
			}
		}
		for u := 0; u < perLook; u++ {
			i := active[r.IntN(len(active))]
			exposed[i]++
			byVersion[[2]uint32{uint32(i), e.Version}]++
			if r.Float64() < rates[i] {
				conv[i]++
			}
		}
		agg := results.Aggregates{Experiment: "welcome"}
		for i, k := range keys {
			agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: "all", Variant: k, Counts: results.Counts{
				Exposed: exposed[i], Conversions: results.KindCounts{Units: conv[i], Events: conv[i]}}})
		}
		for av, n := range byVersion {
			agg.Versions = append(agg.Versions, results.VersionExposure{Segment: "all", Variant: keys[av[0]], Version: av[1], Exposed: n})
		}
		agg.Sort()
		reader.agg = agg
		applied, err := loop.RunOnce(ctx)
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		for _, a := range applied {
			if a.Kind == results.DecisionRetire {
				retired = append(retired, a.Variant)
			}
		}
	}
	e, _ := store.Get(ctx, "welcome")
	return retired, e.Segments[0].Winner
}

// TestRetirementAA: in A/A experiments the loop, looking after every batch
// of units, retires a variant in at most Alpha of them. 200 experiments of 3
// arms at 10% conversion, 30 looks of 900 units: with a true rate of
// 0.05 the count of experiments with a retirement is Binomial(200, 0.05),
// mean 10, sd 3.1; the test allows 17 (the 99th percentile; a false alarm
// rate of 1%). The mSPRT with Holm over the 3 pairs is conservative, so the
// observed count is far lower.
func TestRetirementAA(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 200
	bad := 0
	for i := 0; i < n; i++ {
		if retired, _ := simArms(t, r, []float64{0.1, 0.1, 0.1}, 30, 900); len(retired) > 0 {
			bad++
		}
	}
	rate := float64(bad) / n
	t.Logf("A/A: a variant retired in %d of %d experiments (%.1f%%; alpha 5%%, Monte Carlo sd at 5%%: %.1f points)",
		bad, n, 100*rate, 100*math.Sqrt(0.05*0.95/n))
	if bad > 17 {
		t.Errorf("A/A: %d of %d experiments retired a variant, want at most 17 (alpha 0.05 plus Monte Carlo error)", bad, n)
	}
}

// TestRetirementTrueEffect: with a worse variant (8% against 10%) and a
// better one (12%), the worse is retired and the better never is; once the
// control is shown worse too, the better wins the segment.
func TestRetirementTrueEffect(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 20
	worseRetired, won := 0, 0
	for i := 0; i < n; i++ {
		retired, winner := simArms(t, r, []float64{0.10, 0.08, 0.12}, 40, 1500)
		for _, v := range retired {
			if v == "c" {
				t.Errorf("experiment %d retired the better variant c (retired %v)", i, retired)
			}
			if v == "b" {
				worseRetired++
			}
		}
		if winner == "c" {
			won++
		} else if winner != "" {
			t.Errorf("experiment %d: winner %s, want c or none", i, winner)
		}
	}
	t.Logf("true effect: worse variant retired in %d of %d, better variant won in %d", worseRetired, n, won)
	if worseRetired < n*3/4 {
		t.Errorf("the worse variant was retired in %d of %d experiments, want at least %d", worseRetired, n, n*3/4)
	}
}
