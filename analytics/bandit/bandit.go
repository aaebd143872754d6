// Package bandit moves the weights of bandit segments by Thompson sampling:
// each arm's primary metric has a posterior (Beta for rates, normal for
// means), the probability that each arm is best is estimated by seeded
// sampling, and the new shares go towards those probabilities, no arm below
// the floor and none moved further than the cap in one update. Each update
// is a new experiment version (experiment.Reweight) whose reason holds the
// posteriors and probabilities.
//
// Invariants: Compute is pure (the same experiment, history, aggregates and
// time give the same weights, whoever computes them, because the sampling
// is seeded by the experiment, segment and version); it never touches a
// retired variant's weight; and before every active arm has the burn-in's
// exposed units it changes nothing.
package bandit

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// DefaultDraws is the number of joint posterior draws behind the
// probabilities: their Monte Carlo standard error is at most
// 0.5/sqrt(draws), 0.5 percentage points.
const DefaultDraws = 10000

// ArmPosterior is one active arm at an update: its data, posterior,
// probability to be best and shares before and after.
type ArmPosterior struct {
	Variant string `json:"variant"`
	Exposed int64  `json:"exposed"`
	// Kind is "beta" (rates: Alpha, Beta under a uniform prior) or
	// "normal" (means: Mean, Var of the mean).
	Kind     string  `json:"kind"`
	Alpha    float64 `json:"alpha,omitempty"`
	Beta     float64 `json:"beta,omitempty"`
	Mean     float64 `json:"mean"`
	Var      float64 `json:"var"`
	ProbBest float64 `json:"prob_best"`
	OldShare float64 `json:"old_share"` // of the segment's variant traffic
	NewShare float64 `json:"new_share"`
}

// Update is the bandit's decision for one segment at one look.
type Update struct {
	Segment string            `json:"segment"`
	Metric  experiment.Metric `json:"metric"`
	// Blocked says why the weights stay (not due yet, burn-in, concluded);
	// then Weights is nil.
	Blocked string         `json:"blocked,omitempty"`
	Arms    []ArmPosterior `json:"arms,omitempty"`
	// Weights are the new weights of every variant of the segment, in
	// order, retired ones unchanged; nil when nothing changes.
	Weights []int   `json:"weights,omitempty"`
	Draws   int     `json:"draws,omitempty"`
	Seed    uint64  `json:"seed,omitempty"`
	StdErr  float64 `json:"std_err,omitempty"` // Monte Carlo, of the probabilities
	policy  experiment.BanditPolicy
}

// Compute returns the update of bandit segment seg of exp (current, with
// its history oldest first) from agg as of now, with draws posterior draws
// (0: DefaultDraws).
func Compute(exp experiment.Experiment, history []experiment.Version, seg string, agg results.Aggregates, now time.Time, draws int) Update {
	u := Update{Segment: seg, Metric: exp.PrimaryMetric}
	si := exp.Segment(seg)
	if si < 0 || !exp.Segments[si].IsBandit() || exp.Segments[si].Bandit == nil {
		u.Blocked = "not a bandit segment"
		return u
	}
	s := exp.Segments[si]
	u.policy = *s.Bandit
	if blocked := due(exp, s, history, now); blocked != "" {
		u.Blocked = blocked
		return u
	}
	active := activeIndexes(s)
	var small []string
	for _, i := range active {
		if n := agg.Arm(seg, s.Variants[i].Key).Exposed; n < int64(u.policy.BurnIn) {
			small = append(small, fmt.Sprintf("%s n=%d", s.Variants[i].Key, n))
		}
	}
	if len(small) > 0 {
		u.Blocked = fmt.Sprintf("burn-in: every arm needs %d exposed units: %s", u.policy.BurnIn, strings.Join(small, ", "))
		return u
	}
	if draws <= 0 {
		draws = DefaultDraws
	}
	u.Draws, u.Seed = draws, seedOf(exp.Key, seg, exp.Version)
	probs, err := u.posteriors(s, active, agg)
	if err != nil {
		u.Blocked = "posterior: " + err.Error()
		return u
	}
	u.Weights = u.reweight(s, active, probs)
	return u
}

// due returns why segment s is not due for an update at now: it is
// concluded, the experiment is not running, or an interval has not passed
// since the segment's phase began.
func due(exp experiment.Experiment, s experiment.Segment, history []experiment.Version, now time.Time) string {
	switch {
	case exp.Status != experiment.StatusRunning:
		return "experiment is " + string(exp.Status)
	case s.Concluded():
		return "segment concluded with " + s.Winner
	case len(activeIndexes(s)) < 2:
		return "fewer than two active variants"
	}
	last := experiment.LastPhaseStart(history, s.Key)
	if next := last.Add(time.Duration(s.Bandit.Interval)); now.Before(next) {
		return "next update at " + next.UTC().Format(time.RFC3339)
	}
	return ""
}

func activeIndexes(s experiment.Segment) []int {
	var out []int
	for i, v := range s.Variants {
		if !v.Retired {
			out = append(out, i)
		}
	}
	return out
}

// seedOf seeds the sampling by what the update is about, so that two
// servers computing it get the same weights.
func seedOf(key, seg string, version uint32) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s:bandit:%s:%d", key, seg, version)
	return h.Sum64()
}

// posteriors fills u.Arms with the active arms' posteriors and returns the
// probabilities that each is best (lowest, for a metric where lower is
// better), from the arms' intent-to-treat counts.
func (u *Update) posteriors(s experiment.Segment, active []int, agg results.Aggregates) ([]float64, error) {
	m := u.Metric
	props := make([]stats.Proportion, len(active))
	normals := make([]stats.NormalPosterior, len(active))
	for k, i := range active {
		c := agg.Arm(s.Key, s.Variants[i].Key)
		a := ArmPosterior{Variant: s.Variants[i].Key, Exposed: c.Exposed}
		if m.IsMean() {
			mo := results.Moments(c)
			// An arm without a variance yet is as uncertain as the
			// largest mean seen: wide, but on the metric's scale.
			normals[k] = stats.NormalPosteriorOf(mo, math.Max(1, mo.Mean()*mo.Mean()))
			a.Kind, a.Mean, a.Var = "normal", normals[k].Mean, normals[k].Var
			if m.LowerIsBetter() {
				normals[k].Mean = -normals[k].Mean
			}
		} else {
			p := results.Proportion(m, c)
			a.Kind, a.Alpha, a.Beta = "beta", 1+p.Successes, 1+p.Trials-p.Successes
			a.Mean = a.Alpha / (a.Alpha + a.Beta)
			a.Var = a.Alpha * a.Beta / ((a.Alpha + a.Beta) * (a.Alpha + a.Beta) * (a.Alpha + a.Beta + 1))
			if m.LowerIsBetter() {
				p.Successes = p.Trials - p.Successes
			}
			props[k] = p
		}
		u.Arms = append(u.Arms, a)
	}
	var probs []float64
	var err error
	if m.IsMean() {
		probs, u.StdErr, err = stats.ProbBestNormal(normals, u.Draws, u.Seed)
	} else {
		probs, u.StdErr, err = stats.ProbBest(props, stats.BetaPrior{}, u.Draws, u.Seed)
	}
	for k := range probs {
		u.Arms[k].ProbBest = probs[k]
	}
	return probs, err
}

// reweight returns the weights of every variant of s after the update, or
// nil when they do not change. The target share of active arm k is
// floor + (1 - n·floor)·P(best); the new shares move from the current ones
// along the straight line towards the target, as far as the cap allows:
// both ends add up to 1, so every point between does, and an arm already at
// or above the floor stays there. Shares become integer weights over the
// active arms' budget (10000 less the retired weights) by largest
// remainder.
func (u *Update) reweight(s experiment.Segment, active []int, probs []float64) []int {
	floor := u.policy.Floor.Percent() / 100
	maxMove := u.policy.MaxMove.Percent() / 100
	var total float64
	for _, i := range active {
		total += float64(s.Variants[i].Weight)
	}
	cur := make([]float64, len(active))
	target := make([]float64, len(active))
	var farthest float64
	for k, i := range active {
		cur[k] = float64(s.Variants[i].Weight) / total
		target[k] = floor + (1-float64(len(active))*floor)*probs[k]
		farthest = math.Max(farthest, math.Abs(target[k]-cur[k]))
	}
	step := 1.0
	if farthest > maxMove {
		step = maxMove / farthest
	}
	budget := experiment.MaxTotalWeight
	for _, v := range s.Variants {
		if v.Retired {
			budget -= v.Weight
		}
	}
	shares := make([]float64, len(active))
	for k := range active {
		shares[k] = cur[k] + step*(target[k]-cur[k])
		u.Arms[k].OldShare = cur[k]
	}
	ints := largestRemainder(shares, budget)
	weights := make([]int, len(s.Variants))
	same := true
	for i, v := range s.Variants {
		weights[i] = v.Weight
	}
	for k, i := range active {
		weights[i] = ints[k]
		u.Arms[k].NewShare = float64(ints[k]) / float64(budget)
		same = same && ints[k] == s.Variants[i].Weight
	}
	if same {
		return nil
	}
	return weights
}

// largestRemainder turns shares adding up to 1 into positive integers
// adding up to budget, each the floor or the ceiling of share·budget.
func largestRemainder(shares []float64, budget int) []int {
	out := make([]int, len(shares))
	type rem struct {
		k int
		r float64
	}
	rems := make([]rem, len(shares))
	left := budget
	for k, s := range shares {
		x := s * float64(budget)
		out[k] = int(math.Floor(x))
		left -= out[k]
		rems[k] = rem{k, x - math.Floor(x)}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for j := 0; left > 0; j = (j + 1) % len(rems) {
		out[rems[j].k]++
		left--
	}
	for k := range out {
		// A share rounded to nothing would leave a variant without
		// buckets; take the unit from the largest.
		if out[k] < 1 {
			big := 0
			for j := range out {
				if out[j] > out[big] {
					big = j
				}
			}
			out[big]--
			out[k]++
		}
	}
	return out
}

// Reason is the evidence of an update, the reason of the version it makes:
// every arm's data, posterior, probability to be best and shares, and the
// policy applied.
func (u Update) Reason() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bandit: Thompson sampling on %s in segment %s, %d joint posterior draws (seed %d, Monte Carlo s.e. %.2g):",
		u.Metric, u.Segment, u.Draws, u.Seed, u.StdErr)
	for _, a := range u.Arms {
		if a.Kind == "beta" {
			fmt.Fprintf(&b, " %s n=%d Beta(%g, %g) mean %.4g P(best)=%.4f share %.2f%% -> %.2f%%;",
				a.Variant, a.Exposed, a.Alpha, a.Beta, a.Mean, a.ProbBest, 100*a.OldShare, 100*a.NewShare)
		} else {
			fmt.Fprintf(&b, " %s n=%d Normal(mean %.4g, var %.3g) P(best)=%.4f share %.2f%% -> %.2f%%;",
				a.Variant, a.Exposed, a.Mean, a.Var, a.ProbBest, 100*a.OldShare, 100*a.NewShare)
		}
	}
	fmt.Fprintf(&b, " target floor + (1 - arms x floor) x P(best), floor %v, max move %v per update, burn-in %d per arm reached",
		u.policy.Floor, u.policy.MaxMove, u.policy.BurnIn)
	return b.String()
}
