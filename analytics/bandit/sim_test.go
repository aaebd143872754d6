package bandit_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/bandit"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// The simulation runs experiments day by day through the real code: the
// definition's current version is compiled by assign and every unit of the
// day is assigned by its hash; units click with their arm's true rate of
// the day; the day's counts (intent to treat, per version) feed
// retire.Decide (applied through experiment.Retire / Conclude) and, for
// Thompson, bandit.Compute (applied through experiment.Reweight). At the
// end the pooled lift and the report's phase-stratified estimate of b
// against the control a are compared with the truth.

// scenario is one simulated setting.
type scenario struct {
	name     string
	thompson bool
	// retire lets the retirement loop retire variants and conclude the
	// segment. Without it the scenario checks the estimator alone: a
	// stopped experiment's estimate carries the optional-stopping bias
	// (a winner's curse) of any estimate read when a test crossed its
	// bound, whatever the allocation.
	retire bool
	// rate returns arm k's true click rate on day d.
	rate func(k, d int) float64
	// truth is b minus a, the same on every day (effects are additive), so
	// that every phase weighting has the same estimand.
	truth float64
}

const (
	simDays    = 12
	simPerDay  = 2000
	simArms    = 3
	simAlpha   = 0.05
	simDraws   = 1000
	simBurnIn  = 200
	simSegment = "all"
)

var simStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// weekday is the baseline's drift: high early in the week, low at the
// weekend, so that a week is not exchangeable with the next few days.
var weekday = [7]float64{1.5, 1.3, 1.1, 0.9, 0.8, 0.7, 0.7}

func stationary(effect float64) func(k, d int) float64 {
	return func(k, _ int) float64 {
		if k == 1 {
			return 0.10 + effect
		}
		return 0.10
	}
}

func drifting(effect float64) func(k, d int) float64 {
	return func(k, d int) float64 {
		base := 0.10 * weekday[d%7]
		if k == 1 {
			return base + effect
		}
		return base
	}
}

func scenarios() []scenario {
	return []scenario{
		{"fixed+retire, effect", false, true, stationary(0.02), 0.02},
		{"thompson+retire, effect", true, true, stationary(0.02), 0.02},
		{"fixed+retire, no effect", false, true, stationary(0), 0},
		{"thompson+retire, no effect", true, true, stationary(0), 0},
		{"fixed+retire, drift+effect", false, true, drifting(0.02), 0.02},
		{"thompson+retire, drift+effect", true, true, drifting(0.02), 0.02},
		{"thompson+retire, drift, no effect", true, true, drifting(0), 0},
		{"thompson, effect", true, false, stationary(0.02), 0.02},
		{"thompson, drift+effect", true, false, drifting(0.02), 0.02},
		{"thompson, drift, no effect", true, false, drifting(0), 0},
	}
}

// runResult is one simulated experiment's outcome.
type runResult struct {
	naive   float64 // pooled rate of b minus pooled rate of a
	est     float64 // phase-stratified estimate
	covered bool
	defined bool
	decided bool    // a variant was retired or the segment concluded
	regret  float64 // expected clicks lost against always sending the day's best arm
	updates int     // bandit reweights
	finalB  float64 // b's share at the end
}

// simDefinition is the experiment every run starts from, with a new salt
// per run so that runs are independent.
func simDefinition(run int, thompson bool) experiment.Experiment {
	seg := experiment.Segment{Key: simSegment}
	for k := range simArms {
		seg.Variants = append(seg.Variants, experiment.Variant{Key: string(rune('a' + k)), Weight: 1, Control: k == 0})
	}
	if thompson {
		seg.Allocation = experiment.AllocationBandit
		seg.Bandit = &experiment.BanditPolicy{Interval: experiment.Duration(24 * time.Hour), BurnIn: simBurnIn}
	}
	return experiment.Experiment{
		Key: "sim", Salt: "sim-" + strconv.Itoa(run), Channel: experiment.ChannelEmail, Allocation: experiment.Full,
		PrimaryMetric: experiment.MetricClickRate, GuardrailMetrics: []experiment.Metric{},
		Retirement: experiment.RetirementPolicy{Auto: true, Alpha: simAlpha, MinSamplePerArm: 1000,
			MinRuntime: experiment.Duration(time.Hour)},
		Segments: []experiment.Segment{seg},
	}
}

// tally keeps the intent-to-treat counts per (variant, version).
type tally map[string]map[uint32]*results.Counts

func (t tally) add(variant string, version uint32, clicked bool) {
	if t[variant] == nil {
		t[variant] = map[uint32]*results.Counts{}
	}
	c := t[variant][version]
	if c == nil {
		c = &results.Counts{}
		t[variant][version] = c
	}
	c.Exposed++
	if clicked {
		c.Clicks.Units++
		c.Clicks.Events++
	}
}

func (t tally) aggregates() results.Aggregates {
	agg := results.Aggregates{Experiment: "sim"}
	for v, byVer := range t {
		var total results.Counts
		for ver, c := range byVer {
			total.Add(*c)
			agg.Versions = append(agg.Versions, results.VersionExposure{Segment: simSegment, Variant: v, Version: ver, Exposed: c.Exposed})
			agg.ByVersion = append(agg.ByVersion, results.VersionCounts{Segment: simSegment, Variant: v, Version: ver, Counts: *c})
		}
		agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: simSegment, Variant: v, Counts: total})
	}
	agg.Sort()
	return agg
}

// simRun runs one experiment of scenario sc.
func simRun(tb testing.TB, sc scenario, run int) runResult {
	tb.Helper()
	r := rand.New(rand.NewPCG(uint64(run), 0xb4d17))
	v1, err := experiment.Create(simDefinition(run, sc.thompson), "sim", "", simStart.Add(-time.Hour))
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	v2, err := experiment.Start(v1.Definition, "sim", "", simStart)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	history := []experiment.Version{v1, v2}
	apply := func(v experiment.Version, err error) {
		if err != nil {
			tb.Fatalf("run %d: %v", run, err)
		}
		history = append(history, v)
	}
	t := tally{}
	var res runResult
	for d := range simDays {
		now := simStart.Add(time.Duration(d)*24*time.Hour + time.Minute)
		cur := history[len(history)-1].Definition
		if d > 0 {
			agg := t.aggregates()
			decisions := retire.Decide(cur, history, agg, now)
			if !sc.retire {
				decisions = nil
			}
			for _, dec := range decisions {
				cur = history[len(history)-1].Definition
				if cur.Segments[0].Concluded() {
					break
				}
				res.decided = true
				if dec.Kind == results.DecisionRetire {
					apply(experiment.Retire(cur, dec.Segment, dec.Variant, "sim", dec.Reason, now))
				} else {
					apply(experiment.Conclude(cur, dec.Segment, dec.Variant, "sim", dec.Reason, now))
				}
			}
			cur = history[len(history)-1].Definition
			if sc.thompson {
				u := bandit.Compute(cur, history, simSegment, agg, now, simDraws)
				if u.Weights != nil {
					apply(experiment.Reweight(cur, simSegment, u.Weights, "sim", u.Reason(), now))
					res.updates++
				}
			}
		}
		cur = history[len(history)-1].Definition
		snap, err := assign.NewSnapshot([]experiment.Experiment{cur})
		if err != nil {
			tb.Fatal(err)
		}
		best := 0.0
		for k := range simArms {
			best = math.Max(best, sc.rate(k, d))
		}
		for i := range simPerDay {
			a, err := snap.Assign("sim", "d"+strconv.Itoa(d)+"-u"+strconv.Itoa(i), nil)
			if err != nil {
				tb.Fatal(err)
			}
			k := int(a.Variant[0] - 'a')
			p := sc.rate(k, d)
			res.regret += best - p
			t.add(a.Variant, a.Version, r.Float64() < p)
		}
	}
	agg := t.aggregates()
	last := history[len(history)-1].Definition
	phases := results.Phases(last, history)
	pa := results.Proportion(experiment.MetricClickRate, agg.Arm(simSegment, "a"))
	pb := results.Proportion(experiment.MetricClickRate, agg.Arm(simSegment, "b"))
	res.naive = pb.Rate() - pa.Rate()
	est, err := results.StratifiedCompare(phases, simSegment, experiment.MetricClickRate, "a", "b", agg, simAlpha)
	if err != nil {
		tb.Fatal(err)
	}
	res.defined, res.est, res.covered = est.Defined, est.Diff, est.CI.Contains(sc.truth)
	w := last.Segments[0].Variants
	res.finalB = float64(w[1].Weight) / float64(w[0].Weight+w[1].Weight+w[2].Weight)
	return res
}

// summary is a scenario's results over its runs.
type summary struct {
	sc                                 scenario
	runs                               int
	naiveMean, naiveSE, estMean, estSE float64
	coverage, decided, regret          float64
	updates, finalB                    float64
}

func simulate(tb testing.TB, sc scenario, runs int) summary {
	s := summary{sc: sc, runs: runs}
	var naive, est []float64
	var covered, decided int
	for run := range runs {
		r := simRun(tb, sc, run)
		if !r.defined {
			tb.Fatalf("%s run %d: the stratified estimate is undefined", sc.name, run)
		}
		naive, est = append(naive, r.naive), append(est, r.est)
		if r.covered {
			covered++
		}
		if r.decided {
			decided++
		}
		s.regret += r.regret / float64(runs)
		s.updates += float64(r.updates) / float64(runs)
		s.finalB += r.finalB / float64(runs)
	}
	s.naiveMean, s.naiveSE = meanSE(naive)
	s.estMean, s.estSE = meanSE(est)
	s.coverage = float64(covered) / float64(runs)
	s.decided = float64(decided) / float64(runs)
	return s
}

func meanSE(x []float64) (mean, se float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}

// simRuns is the number of runs per scenario: SPLITCAST_BANDIT_RUNS
// (make bench-bandit sets 500), else 40 for make test.
func simRuns(tb testing.TB) int {
	if s := os.Getenv("SPLITCAST_BANDIT_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			tb.Fatalf("SPLITCAST_BANDIT_RUNS=%q: want a number of at least 10", s)
		}
		return n
	}
	if testing.Short() {
		return 10
	}
	return 40
}

// TestSimulation runs every scenario and checks the acceptance of issue 21
// (docs/bandit.md has the table at 500 runs, from make bench-bandit):
//   - with moving weights and no stopping, the stratified estimate's mean is
//     within 2 Monte Carlo standard errors of the truth in the drifting
//     scenarios (3 in the stationary one, and in all of them below 200 runs:
//     each such check is itself a 95% test), and its 95% intervals cover
//     the truth in 93-97% of runs (at 500 runs; below, 95% ± 2 binomial
//     errors ± 2 points);
//   - the pooled lift of the drifting scenario is off by at least 4 s.e.;
//   - with no effect, the share of runs where anything is retired or
//     concluded is at most alpha plus 2 Monte Carlo errors;
//   - with a true effect, Thompson's regret is below the fixed split's, with
//     and without drift.
//
// Scenarios with retirement are not held to the estimator's bounds: an
// estimate read when a sequential test stops is biased away from zero
// (the winner's curse), with fixed weights as much as with a bandit.
func TestSimulation(t *testing.T) {
	runs := simRuns(t)
	rows := map[string]summary{}
	var order []summary
	for _, sc := range scenarios() {
		s := simulate(t, sc, runs)
		rows[sc.name] = s
		order = append(order, s)
	}
	t.Log("\n" + table(order))
	covSlack := 2*math.Sqrt(0.95*0.05/float64(runs)) + 0.02
	for _, s := range order {
		if s.sc.truth == 0 {
			if limit := simAlpha + 2*math.Sqrt(simAlpha*(1-simAlpha)/float64(runs)); s.decided > limit {
				t.Errorf("%s: a winner or retirement in %.3f of runs, above alpha + 2 MC s.e. = %.3f", s.sc.name, s.decided, limit)
			}
		}
		if s.sc.retire {
			continue
		}
		bound := 3.0
		if runs >= 200 && strings.Contains(s.sc.name, "drift") {
			bound = 2
		}
		if d := math.Abs(s.estMean - s.sc.truth); d > bound*s.estSE {
			t.Errorf("%s: stratified mean %.5f, truth %.5f: off by %.1f Monte Carlo s.e., want at most %g", s.sc.name, s.estMean, s.sc.truth, d/s.estSE, bound)
		}
		lo, hi := 0.93, 0.97
		if runs < 500 {
			lo, hi = 0.95-covSlack, 0.95+covSlack
		}
		if s.coverage < lo || s.coverage > hi {
			t.Errorf("%s: coverage %.3f, want %.3f-%.3f", s.sc.name, s.coverage, lo, hi)
		}
	}
	drift := rows["thompson, drift+effect"]
	if d := math.Abs(drift.naiveMean - drift.sc.truth); d < 4*drift.naiveSE {
		t.Errorf("%s: pooled lift %.5f is within %.1f s.e. of the truth %.3f: the scenario does not show the bias it is for", drift.sc.name, drift.naiveMean, d/drift.naiveSE, drift.sc.truth)
	}
	for _, pair := range [][2]string{{"thompson+retire, effect", "fixed+retire, effect"}, {"thompson+retire, drift+effect", "fixed+retire, drift+effect"}} {
		if a, b := rows[pair[0]], rows[pair[1]]; a.regret >= b.regret {
			t.Errorf("%s: regret %.1f is not below %s's %.1f", pair[0], a.regret, pair[1], b.regret)
		}
	}
}

func table(rows []summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d runs per scenario, %d days of %d units, arms a (control), b, c; click rate 10%% (x weekday factor under drift), b +2 points where there is an effect\n\n", rows[0].runs, simDays, simPerDay)
	b.WriteString("| scenario | truth b-a | pooled b-a (MC s.e.) | stratified b-a (MC s.e.) | 95% CI coverage | runs with a retirement or winner | regret (clicks lost) | reweights | b's final share |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range rows {
		fmt.Fprintf(&b, "| %s | %+.4f | %+.4f (%.4f) | %+.4f (%.4f) | %.3f | %.3f | %.1f | %.1f | %.2f |\n",
			s.sc.name, s.sc.truth, s.naiveMean, s.naiveSE, s.estMean, s.estSE, s.coverage, s.decided, s.regret, s.updates, s.finalB)
	}
	return b.String()
}
