package retire

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// Decide returns what the retirement loop does to exp (its
// current definition, running) given its history (oldest first) and
// aggregates, as of now. It is a pure function: the same inputs give the
// same decisions. It does not look at RetirementPolicy.Auto (the loop does),
// so a report may show its decisions as recommendations.
//
// Per segment that is not concluded:
//   - With one active variant left, the segment is concluded with it.
//   - Nothing is decided before the experiment ran MinRuntime since
//     StartedAt, while an active arm has fewer than MinSamplePerArm exposed
//     units, or while the current phase (the latest with exposures) has a
//     sample ratio mismatch.
//   - The best arm is the active arm with the best observed primary metric
//     (ties go to the control, then to the first listed). Every two active
//     arms are compared by the mSPRT (always-valid p-value at this look,
//     with the policy's Alpha), and the p-values are Holm-adjusted over all
//     those pairs: because the best arm is chosen from the data, the family
//     is every pair it could have been compared in, which keeps the chance
//     of retiring anything in an A/A test at most Alpha however often the
//     loop looks.
//   - Guardrail breach: when the best arm is not the control and is
//     significantly worse than the control on a guardrail metric (mSPRT,
//     Alpha, not adjusted: a breach only blocks, so erring towards it is
//     the safe side), nothing in the segment is decided: retiring the
//     others would hand the segment to a variant that annoys people.
//   - Each active variant other than the control and the best whose
//     adjusted p-value against the best is below Alpha, the difference in
//     the worse direction, is retired.
//   - If then only the best and the control remain, and the control is
//     significantly worse than the best by the same test, the segment is
//     concluded with the best (the control is never retired).
func Decide(exp experiment.Experiment, history []experiment.Version, agg results.Aggregates, now time.Time) []results.Decision {
	if exp.Status != experiment.StatusRunning {
		return nil
	}
	phases := results.Phases(exp, history)
	var out []results.Decision
	for _, s := range exp.Segments {
		out = append(out, evaluateSegment(exp, s, phases, agg, now).Decisions...)
	}
	return out
}

func evaluateSegment(exp experiment.Experiment, s experiment.Segment, phases []results.Phase, agg results.Aggregates, now time.Time) results.SegmentRetirement {
	var r results.SegmentRetirement
	pol := exp.Retirement.WithDefaults()
	primary := exp.PrimaryMetric
	if s.Concluded() {
		r.Blocked = append(r.Blocked, "segment concluded with "+s.Winner)
		return r
	}
	if exp.Status != experiment.StatusRunning {
		r.Blocked = append(r.Blocked, "experiment is "+string(exp.Status))
		return r
	}
	var active []experiment.Variant
	for _, v := range s.Variants {
		if !v.Retired {
			active = append(active, v)
		}
	}
	if len(active) == 1 {
		r.Decisions = []results.Decision{{Kind: results.DecisionConclude, Segment: s.Key, Variant: active[0].Key,
			Reason: fmt.Sprintf("retirement loop: segment %s concluded with %s, its last active variant", s.Key, active[0].Key)}}
		return r
	}
	if len(active) == 0 || !primary.Valid() {
		r.Blocked = append(r.Blocked, "no active variant or no valid primary metric")
		return r
	}

	// Preconditions; every failing one is listed.
	ran := time.Duration(0)
	if exp.StartedAt != nil {
		ran = now.Sub(*exp.StartedAt)
	}
	if ran < time.Duration(pol.MinRuntime) {
		r.Blocked = append(r.Blocked, fmt.Sprintf("ran %s of the minimum %s", ran.Round(time.Minute), time.Duration(pol.MinRuntime)))
	}
	counts := make([]results.Counts, len(active))
	var small []string
	for i, v := range active {
		counts[i] = agg.Arm(s.Key, v.Key)
		if counts[i].Exposed < int64(pol.MinSamplePerArm) {
			small = append(small, fmt.Sprintf("%s n=%d", v.Key, counts[i].Exposed))
		}
	}
	if len(small) > 0 {
		r.Blocked = append(r.Blocked, fmt.Sprintf("below the minimum sample of %d per arm: %s", pol.MinSamplePerArm, strings.Join(small, ", ")))
	}
	srmNote := "no exposures to check for SRM yet"
	_, per := results.SegmentSRM(phases, s.Key, results.SegmentArms(exp, s, agg), agg)
	for i := len(per) - 1; i >= 0; i-- {
		if per[i].Total > 0 {
			if per[i].Mismatch {
				r.Blocked = append(r.Blocked, fmt.Sprintf("sample ratio mismatch in phase %d: chi2=%.1f, p=%.3g, empty arms %v, unexpected arms %v",
					per[i].Phase, per[i].ChiSquare, per[i].PValue, armNames(per[i].Arms, per[i].EmptyArms), armNames(per[i].Arms, per[i].UnexpectedArms)))
			}
			srmNote = fmt.Sprintf("no SRM in phase %d (p=%.3g)", per[i].Phase, per[i].PValue)
			break
		}
	}

	// The tests, run even when blocked, so that a report shows them.
	value := func(i int) float64 { _, _, x := results.MetricValue(primary, counts[i]); return x }
	better := func(x, y float64) bool { // x strictly better than y
		if primary.LowerIsBetter() {
			return x < y
		}
		return x > y
	}
	best := -1
	for i, v := range active {
		if best < 0 || better(value(i), value(best)) || (value(i) == value(best) && v.Control && !active[best].Control) {
			best = i
		}
	}
	r.Best = active[best].Key
	cfg := stats.MSPRTConfig{Alpha: pol.Alpha}
	type pair struct{ a, b int }
	var pairs []pair
	var ps []float64
	for i := range active {
		for j := i + 1; j < len(active); j++ {
			l := msprt(primary, counts[i], counts[j], cfg)
			pairs = append(pairs, pair{i, j})
			ps = append(ps, l.PValue)
			r.Pairs = append(r.Pairs, results.PairTest{A: active[i].Key, B: active[j].Key, Look: l})
		}
	}
	adj := stats.Holm(ps)
	for k := range r.Pairs {
		r.Pairs[k].PValueHolm = adj[k]
	}
	// against returns the test of arm i against the best: the look with
	// Diff = i minus best, and its adjusted p-value.
	against := func(i int) (stats.MSPRTLook, float64) {
		for k, p := range pairs {
			if p.a == best && p.b == i {
				return r.Pairs[k].Look, adj[k]
			}
			if p.a == i && p.b == best {
				l := r.Pairs[k].Look
				l.Diff, l.CI = -l.Diff, stats.Interval{Lower: -l.CI.Upper, Upper: -l.CI.Lower}
				return l, adj[k]
			}
		}
		return stats.MSPRTLook{PValue: 1}, 1
	}
	worse := func(l stats.MSPRTLook, p float64) bool {
		if !l.Defined || p >= pol.Alpha {
			return false
		}
		if primary.LowerIsBetter() {
			return l.CI.Lower > 0
		}
		return l.CI.Upper < 0
	}

	control := -1
	for i, v := range active {
		if v.Control {
			control = i
		}
	}
	if control >= 0 && best != control {
		cc, bc := agg.Arm(s.Key, active[control].Key), counts[best]
		for _, g := range exp.GuardrailMetrics {
			if !g.Valid() {
				continue
			}
			l := msprt(g, cc, bc, cfg)
			bad := l.Defined && l.PValue < pol.Alpha && ((g.LowerIsBetter() && l.CI.Lower > 0) || (!g.LowerIsBetter() && l.CI.Upper < 0))
			if bad {
				_, _, vc := results.MetricValue(g, cc)
				_, _, vb := results.MetricValue(g, bc)
				r.Blocked = append(r.Blocked, fmt.Sprintf("guardrail breach: best variant %s is worse than the control %s on %s: %s vs %s, diff %s, always-valid CI [%s, %s], p=%.3g",
					active[best].Key, active[control].Key, g, results.FormatValue(g, vb), results.FormatValue(g, vc), results.FormatDiff(g, l.Diff),
					results.FormatDiff(g, l.CI.Lower), results.FormatDiff(g, l.CI.Upper), l.PValue))
			}
		}
	}
	if len(r.Blocked) > 0 {
		return r
	}

	evidence := func(i int, l stats.MSPRTLook, p float64) string {
		return fmt.Sprintf("on %s, %s (n=%d, %s) vs best %s (n=%d, %s): diff %s, always-valid %g%% CI [%s, %s], mSPRT p=%.3g, Holm-adjusted over %d pairwise comparisons p=%.3g < alpha %g; each arm has at least %d units, ran %s >= %s, %s",
			primary, active[i].Key, counts[i].Exposed, results.FormatValue(primary, value(i)), active[best].Key, counts[best].Exposed,
			results.FormatValue(primary, value(best)), results.FormatDiff(primary, l.Diff), 100*(1-pol.Alpha), results.FormatDiff(primary, l.CI.Lower),
			results.FormatDiff(primary, l.CI.Upper), l.PValue, len(pairs), p, pol.Alpha, pol.MinSamplePerArm,
			ran.Round(time.Minute), time.Duration(pol.MinRuntime), srmNote)
	}
	type cand struct {
		i int
		p float64
	}
	var retire []cand
	for i, v := range active {
		if i == best || v.Control {
			continue
		}
		if l, p := against(i); worse(l, p) {
			retire = append(retire, cand{i, p})
		}
	}
	sort.SliceStable(retire, func(a, b int) bool { return retire[a].p < retire[b].p })
	left := len(active) - len(retire)
	for _, c := range retire {
		l, p := against(c.i)
		left--
		reason := "retirement loop: " + active[c.i].Key + " is worse than the best variant " + evidence(c.i, l, p)
		if left == 0 {
			reason += fmt.Sprintf("; %s is the last active variant and wins the segment", active[best].Key)
		}
		r.Decisions = append(r.Decisions, results.Decision{Kind: results.DecisionRetire, Segment: s.Key, Variant: active[c.i].Key, Reason: reason})
	}
	if control >= 0 && best != control && len(active)-len(retire) == 2 {
		if l, p := against(control); worse(l, p) {
			r.Decisions = append(r.Decisions, results.Decision{Kind: results.DecisionConclude, Segment: s.Key, Variant: active[best].Key,
				Reason: "retirement loop: " + active[best].Key + " wins the segment: every other variant is retired, and the control (" +
					active[control].Key + ") is worse " + evidence(control, l, p)})
		}
	}
	return r
}

// msprt is the mSPRT of metric m, treatment b minus control a.
func msprt(m experiment.Metric, a, b results.Counts, cfg stats.MSPRTConfig) stats.MSPRTLook {
	var l stats.MSPRTLook
	var err error
	if m == experiment.MetricRevenuePerRecipient {
		l, err = stats.MSPRTMeans(results.Moments(a), results.Moments(b), cfg)
	} else {
		l, err = stats.MSPRTProportions(results.Proportion(m, a), results.Proportion(m, b), cfg)
	}
	if err != nil {
		return stats.MSPRTLook{PValue: 1, Alpha: cfg.Alpha}
	}
	return l
}

func armNames(arms []string, idx []int) []string {
	out := []string{}
	for _, i := range idx {
		out = append(out, arms[i])
	}
	return out
}

// Report is the report of exp as results.BuildReport makes it, with each
// segment's retirement evaluation as the loop would decide it as of now:
// what the report page and the API show, as recommendations when the policy
// is not automatic.
func Report(exp experiment.Experiment, history []experiment.Version, agg results.Aggregates, now time.Time) results.Report {
	r := results.BuildReport(exp, history, agg, now)
	for i, s := range exp.Segments {
		r.Segments[i].Retirement = evaluateSegment(exp, s, r.Phases, agg, now)
	}
	return r
}
