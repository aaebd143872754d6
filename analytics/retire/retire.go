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
//     with the policy's Alpha), and the p-values are adjusted over all
//     those pairs by the policy's correction (Holm by default; BH controls
//     the false discovery rate instead, a weaker promise): because the best
//     arm is chosen from the data, the family is every pair it could have
//     been compared in, which under Holm keeps the chance
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

// evaluateSegment is the retirement evaluation of segment s as Decide
// describes it: what blocks a decision, the tests, and the decisions.
func evaluateSegment(exp experiment.Experiment, s experiment.Segment, phases []results.Phase, agg results.Aggregates, now time.Time) results.SegmentRetirement {
	active := activeVariants(s)
	if r, done := settled(exp, s, active); done {
		return r
	}
	e := newEvaluation(exp, s, active, agg, now)
	e.useStrata(phases)
	var r results.SegmentRetirement
	var srmNote string
	r.Blocked, srmNote = e.blockers(phases)
	// The tests run even when blocked, so that a report shows them.
	r.Best, r.Pairs = e.pairTests()
	r.Blocked = append(r.Blocked, e.guardrailBreaches()...)
	if len(r.Blocked) > 0 {
		return r
	}
	r.Decisions = e.decide(srmNote)
	return r
}

// activeVariants returns the variants of s that are not retired, in order.
func activeVariants(s experiment.Segment) []experiment.Variant {
	var active []experiment.Variant
	for _, v := range s.Variants {
		if !v.Retired {
			active = append(active, v)
		}
	}
	return active
}

// settled returns the evaluation of a segment that needs no test, and
// whether there is one: concluded, of an experiment not running, with one
// active variant left (which wins), or with nothing to test.
func settled(exp experiment.Experiment, s experiment.Segment, active []experiment.Variant) (results.SegmentRetirement, bool) {
	var r results.SegmentRetirement
	switch {
	case s.Concluded():
		r.Blocked = append(r.Blocked, "segment concluded with "+s.Winner)
	case exp.Status != experiment.StatusRunning:
		r.Blocked = append(r.Blocked, "experiment is "+string(exp.Status))
	case len(active) == 1:
		r.Decisions = []results.Decision{{Kind: results.DecisionConclude, Segment: s.Key, Variant: active[0].Key,
			Reason: fmt.Sprintf("retirement loop: segment %s concluded with %s, its last active variant", s.Key, active[0].Key)}}
	case exp.PrimaryMetric.IsCustom() && s.IsBandit():
		// Custom metrics are read pooled over versions: in a bandit
		// segment, whose weights move, pooled counts are biased.
		r.Blocked = append(r.Blocked, "primary metric "+string(exp.PrimaryMetric)+" is a custom metric, which the retirement loop reads pooled over versions: it does not decide on one in a bandit segment")
	case len(active) == 0 || !knownMetric(exp, exp.PrimaryMetric):
		r.Blocked = append(r.Blocked, "no active variant or no valid primary metric")
	default:
		return r, false
	}
	return r, true
}

// evaluation is what the steps of evaluateSegment share about one segment
// with at least two active arms: their counts, and from pairTests on, the
// best arm and the tests.
type evaluation struct {
	exp     experiment.Experiment
	s       experiment.Segment
	agg     results.Aggregates
	pol     experiment.RetirementPolicy
	primary experiment.Metric
	active  []experiment.Variant
	counts  []results.Counts // per active arm
	ran     time.Duration
	control int // index in active, -1 without a control

	// mean and lowerIsBetter describe primary (built-in or custom).
	mean, lowerIsBetter bool

	// phases is set for a bandit segment with per-version counts: its
	// tests and values are then phase-stratified (useStrata).
	phases []results.Phase

	best  int                // index in active; set by pairTests
	pairs []armPair          // the indexes of tests[k]'s arms
	tests []results.PairTest // with their adjusted p-values
}

// armPair is the indexes in active of a test's arms A and B.
type armPair struct{ a, b int }

// newEvaluation gathers the counts of the active arms of s and how long exp
// has run as of now.
func newEvaluation(exp experiment.Experiment, s experiment.Segment, active []experiment.Variant, agg results.Aggregates, now time.Time) *evaluation {
	e := &evaluation{exp: exp, s: s, agg: agg, pol: exp.Retirement.WithDefaults(), primary: exp.PrimaryMetric,
		active: active, counts: make([]results.Counts, len(active)), control: -1, best: -1}
	e.mean, e.lowerIsBetter = metricKind(exp, e.primary)
	if exp.StartedAt != nil {
		e.ran = now.Sub(*exp.StartedAt)
	}
	for i, v := range active {
		e.counts[i] = agg.Arm(s.Key, v.Key)
		if v.Control {
			e.control = i
		}
	}
	return e
}

// blockers lists every failing precondition (runtime, sample per arm, SRM in
// the current phase, the latest with exposures), and returns the note on SRM
// that a decision's reason cites.
func (e *evaluation) blockers(phases []results.Phase) (blocked []string, srmNote string) {
	if e.ran < time.Duration(e.pol.MinRuntime) {
		blocked = append(blocked, fmt.Sprintf("ran %s of the minimum %s", e.ran.Round(time.Minute), time.Duration(e.pol.MinRuntime)))
	}
	var small []string
	for i, v := range e.active {
		if e.counts[i].Exposed < int64(e.pol.MinSamplePerArm) {
			small = append(small, fmt.Sprintf("%s n=%d", v.Key, e.counts[i].Exposed))
		}
	}
	if len(small) > 0 {
		blocked = append(blocked, fmt.Sprintf("below the minimum sample of %d per arm: %s", e.pol.MinSamplePerArm, strings.Join(small, ", ")))
	}
	srmNote = "no exposures to check for SRM yet"
	_, per := results.SegmentSRM(phases, e.s.Key, results.SegmentArms(e.exp, e.s, e.agg), e.agg)
	for i := len(per) - 1; i >= 0; i-- {
		if per[i].Total > 0 {
			if per[i].Mismatch {
				blocked = append(blocked, fmt.Sprintf("sample ratio mismatch in phase %d: chi2=%.1f, p=%.3g, empty arms %v, unexpected arms %v",
					per[i].Phase, per[i].ChiSquare, per[i].PValue, armNames(per[i].Arms, per[i].EmptyArms), armNames(per[i].Arms, per[i].UnexpectedArms)))
			}
			srmNote = fmt.Sprintf("no SRM in phase %d (p=%.3g)", per[i].Phase, per[i].PValue)
			break
		}
	}
	return blocked, srmNote
}

// value is the observed primary metric of active arm i (phase-stratified
// in a bandit segment).
func (e *evaluation) value(i int) float64 {
	if e.phases != nil {
		return results.StratifiedMean(e.phases, e.s.Key, e.primary, e.active[i].Key, e.agg)
	}
	return e.metricValue(e.primary, i)
}

// metricValue is the observed value of metric m (built-in or custom) of
// active arm i, pooled.
func (e *evaluation) metricValue(m experiment.Metric, i int) float64 {
	if m.IsCustom() {
		p, mo := e.agg.CustomValue(m, e.s.Key, e.active[i].Key, e.counts[i].Exposed)
		if mean, _ := metricKind(e.exp, m); mean {
			return mo.Mean()
		}
		return p.Rate()
	}
	_, _, x := results.MetricValue(m, e.counts[i])
	return x
}

// knownMetric reports whether m is a built-in metric or one of exp's
// custom ones.
func knownMetric(exp experiment.Experiment, m experiment.Metric) bool {
	if m.IsCustom() {
		_, ok := exp.Custom(m)
		return ok
	}
	return m.Valid()
}

// metricKind reports whether m, built-in or one of exp's custom metrics,
// is a mean per recipient and whether lower is better.
func metricKind(exp experiment.Experiment, m experiment.Metric) (mean, lowerIsBetter bool) {
	if cm, ok := exp.Custom(m); ok && m.IsCustom() {
		return cm.IsMean(), cm.LowerIsBetter
	}
	return m.IsMean(), m.LowerIsBetter()
}

// useStrata makes the tests of a bandit segment phase-stratified when the
// aggregates hold its per-version counts: pooled counts are biased when its
// weights move while the baseline drifts, and a biased test retires arms
// (and declares winners) that are not worse.
func (e *evaluation) useStrata(phases []results.Phase) {
	if !e.s.IsBandit() || e.primary.IsCustom() {
		return
	}
	for _, vc := range e.agg.ByVersion {
		if vc.Segment == e.s.Key {
			e.phases = phases
			return
		}
	}
}

// look is the mSPRT of metric m, active arm j minus active arm i.
func (e *evaluation) look(m experiment.Metric, i, j int, cfg stats.MSPRTConfig) stats.MSPRTLook {
	if m.IsCustom() {
		return e.msprtCustom(m, i, j, cfg)
	}
	if e.phases == nil {
		return msprt(m, e.counts[i], e.counts[j], cfg)
	}
	est, err := results.StratifiedCompare(e.phases, e.s.Key, m, e.active[i].Key, e.active[j].Key, e.agg, cfg.Alpha)
	var l stats.MSPRTLook
	if err == nil {
		l, err = stats.MSPRTEstimate(est, cfg)
	}
	if err != nil {
		return stats.MSPRTLook{PValue: 1, Alpha: cfg.Alpha}
	}
	return l
}

// msprtCustom is the mSPRT of custom metric m, active arm j minus active
// arm i, on the same proportions or moments as the report's tests.
func (e *evaluation) msprtCustom(m experiment.Metric, i, j int, cfg stats.MSPRTConfig) stats.MSPRTLook {
	pi, mi := e.agg.CustomValue(m, e.s.Key, e.active[i].Key, e.counts[i].Exposed)
	pj, mj := e.agg.CustomValue(m, e.s.Key, e.active[j].Key, e.counts[j].Exposed)
	var l stats.MSPRTLook
	var err error
	if mean, _ := metricKind(e.exp, m); mean {
		l, err = stats.MSPRTMeans(mi, mj, cfg)
	} else {
		l, err = stats.MSPRTProportions(pi, pj, cfg)
	}
	if err != nil {
		return stats.MSPRTLook{PValue: 1, Alpha: cfg.Alpha}
	}
	return l
}

// better reports whether x is strictly better than y on the primary metric.
func (e *evaluation) better(x, y float64) bool {
	if e.lowerIsBetter {
		return x < y
	}
	return x > y
}

// pairTests picks the best arm (ties go to the control, then to the first
// listed) and runs the mSPRT of the primary metric between every two active
// arms, adjusted over all of them by the policy's correction; it returns the best arm's key and
// the tests.
func (e *evaluation) pairTests() (best string, tests []results.PairTest) {
	for i, v := range e.active {
		if e.best < 0 || e.better(e.value(i), e.value(e.best)) || (e.value(i) == e.value(e.best) && v.Control && !e.active[e.best].Control) {
			e.best = i
		}
	}
	cfg := stats.MSPRTConfig{Alpha: e.pol.Alpha}
	var ps []float64
	for i := range e.active {
		for j := i + 1; j < len(e.active); j++ {
			l := e.look(e.primary, i, j, cfg)
			e.pairs = append(e.pairs, armPair{i, j})
			ps = append(ps, l.PValue)
			e.tests = append(e.tests, results.PairTest{A: e.active[i].Key, B: e.active[j].Key, Look: l})
		}
	}
	adj := results.Adjust(e.pol.Correction, ps)
	for k := range e.tests {
		e.tests[k].PValueAdjusted = adj[k]
	}
	return e.active[e.best].Key, e.tests
}

// against returns the test of active arm i against the best: the look with
// Diff = i minus best, and its adjusted p-value.
func (e *evaluation) against(i int) (stats.MSPRTLook, float64) {
	for k, p := range e.pairs {
		if p.a == e.best && p.b == i {
			return e.tests[k].Look, e.tests[k].PValueAdjusted
		}
		if p.a == i && p.b == e.best {
			l := e.tests[k].Look
			l.Diff, l.CI = -l.Diff, stats.Interval{Lower: -l.CI.Upper, Upper: -l.CI.Lower}
			return l, e.tests[k].PValueAdjusted
		}
	}
	return stats.MSPRTLook{PValue: 1}, 1
}

// worse reports whether a test against the best, with adjusted p-value p,
// shows the arm significantly worse on the primary metric.
func (e *evaluation) worse(l stats.MSPRTLook, p float64) bool {
	if !l.Defined || p >= e.pol.Alpha {
		return false
	}
	if e.lowerIsBetter {
		return l.CI.Lower > 0
	}
	return l.CI.Upper < 0
}

// guardrailBreaches lists the guardrail metrics on which the best arm, when
// it is not the control, is significantly worse than the control. The test
// is not adjusted: a breach only blocks, so erring towards it is the safe
// side.
func (e *evaluation) guardrailBreaches() []string {
	if e.control < 0 || e.best == e.control {
		return nil
	}
	var breaches []string
	cfg := stats.MSPRTConfig{Alpha: e.pol.Alpha}
	for _, g := range e.exp.GuardrailMetrics {
		if !knownMetric(e.exp, g) {
			continue
		}
		mean, lower := metricKind(e.exp, g)
		l := e.look(g, e.control, e.best, cfg)
		bad := l.Defined && l.PValue < e.pol.Alpha && ((lower && l.CI.Lower > 0) || (!lower && l.CI.Upper < 0))
		if bad {
			vc, vb := e.metricValue(g, e.control), e.metricValue(g, e.best)
			breaches = append(breaches, fmt.Sprintf("guardrail breach: best variant %s is worse than the control %s on %s: %s vs %s, diff %s, always-valid CI [%s, %s], p=%.3g",
				e.active[e.best].Key, e.active[e.control].Key, g, results.FormatValue(mean, vb), results.FormatValue(mean, vc), results.FormatDiff(mean, l.Diff),
				results.FormatDiff(mean, l.CI.Lower), results.FormatDiff(mean, l.CI.Upper), l.PValue))
		}
	}
	return breaches
}

// decide retires every active variant other than the control and the best
// that is significantly worse than the best, most significant first, and
// concludes the segment with the best when only it and a worse control
// remain.
func (e *evaluation) decide(srmNote string) []results.Decision {
	type cand struct {
		i int
		p float64
	}
	var retire []cand
	for i, v := range e.active {
		if i == e.best || v.Control {
			continue
		}
		if l, p := e.against(i); e.worse(l, p) {
			retire = append(retire, cand{i, p})
		}
	}
	sort.SliceStable(retire, func(a, b int) bool { return retire[a].p < retire[b].p })
	var out []results.Decision
	best := e.active[e.best].Key
	left := len(e.active) - len(retire)
	for _, c := range retire {
		l, p := e.against(c.i)
		left--
		reason := "retirement loop: " + e.active[c.i].Key + " is worse than the best variant " + e.evidence(c.i, l, p, srmNote)
		if left == 0 {
			reason += fmt.Sprintf("; %s is the last active variant and wins the segment", best)
		}
		out = append(out, results.Decision{Kind: results.DecisionRetire, Segment: e.s.Key, Variant: e.active[c.i].Key, Reason: reason})
	}
	if e.control >= 0 && e.best != e.control && len(e.active)-len(retire) == 2 {
		if l, p := e.against(e.control); e.worse(l, p) {
			out = append(out, results.Decision{Kind: results.DecisionConclude, Segment: e.s.Key, Variant: best,
				Reason: "retirement loop: " + best + " wins the segment: every other variant is retired, and the control (" +
					e.active[e.control].Key + ") is worse " + e.evidence(e.control, l, p, srmNote)})
		}
	}
	return out
}

// evidence is the part of a decision's reason that shows the test of active
// arm i against the best, with adjusted p-value p, and the preconditions met.
func (e *evaluation) evidence(i int, l stats.MSPRTLook, p float64, srmNote string) string {
	pol, primary, mean := e.pol, e.primary, e.mean
	if e.phases != nil {
		srmNote += fmt.Sprintf("; bandit segment: values and tests phase-stratified over %d phases (%s)", len(e.phases), results.Estimator)
	}
	return fmt.Sprintf("on %s, %s (n=%d, %s) vs best %s (n=%d, %s): diff %s, always-valid %g%% CI [%s, %s], mSPRT p=%.3g, %s-adjusted over %d pairwise comparisons p=%.3g < alpha %g; each arm has at least %d units, ran %s >= %s, %s",
		primary, e.active[i].Key, e.counts[i].Exposed, results.FormatValue(mean, e.value(i)), e.active[e.best].Key, e.counts[e.best].Exposed,
		results.FormatValue(mean, e.value(e.best)), results.FormatDiff(mean, l.Diff), 100*(1-pol.Alpha), results.FormatDiff(mean, l.CI.Lower),
		results.FormatDiff(mean, l.CI.Upper), l.PValue, pol.Correction.Label(), len(e.pairs), p, pol.Alpha, pol.MinSamplePerArm,
		e.ran.Round(time.Minute), time.Duration(pol.MinRuntime), srmNote)
}

// msprt is the mSPRT of metric m, treatment b minus control a.
func msprt(m experiment.Metric, a, b results.Counts, cfg stats.MSPRTConfig) stats.MSPRTLook {
	var l stats.MSPRTLook
	var err error
	if m.IsMean() {
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
