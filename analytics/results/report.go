package results

import (
	"sort"
	"time"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// Report is the statistics of one experiment, segment by segment: what the
// JSON, CSV, HTML and terminal reports show. Every number is finite, so it
// always marshals to JSON.
type Report struct {
	Experiment    string              `json:"experiment"`
	Name          string              `json:"name,omitempty"`
	Version       uint32              `json:"version"`
	Status        experiment.Status   `json:"status"`
	StartedAt     *time.Time          `json:"started_at,omitempty"`
	GeneratedAt   time.Time           `json:"generated_at"`
	PrimaryMetric experiment.Metric   `json:"primary_metric"`
	Guardrails    []experiment.Metric `json:"guardrail_metrics"`
	// Alpha is the level of every test and interval (the retirement
	// policy's): intervals have confidence 1-Alpha.
	Alpha float64 `json:"alpha"`
	// Correction is the policy's multiple-comparison correction, behind
	// every p_value_adjusted (Holm or Benjamini–Hochberg).
	Correction experiment.Correction `json:"correction"`
	// Imported is set when the experiment's events were imported from a
	// campaign sent by another tool: its assignment was not Splitcast's,
	// so the sample ratio is judged against the definition's weights alone
	// (one phase, whatever the history says).
	Imported *experiment.Imported `json:"imported,omitempty"`
	// Breakdown is every metric broken down by one exposure dimension,
	// when the report was asked for one (AddBreakdown).
	Breakdown *Breakdown `json:"breakdown,omitempty"`
	// CupedDays is the pre-exposure window of the CUPED estimates, in days;
	// 0 when the report has none (no unit reader).
	CupedDays int `json:"cuped_days,omitempty"`
	// SRM is true when some segment has a sample ratio mismatch, over all
	// phases or in one: the report says so at the top, and the segment's
	// automatic retirement is blocked (see SegmentReport.Retirement).
	SRM bool `json:"srm"`
	// Phases are the spans between assignment-relevant versions, with who
	// started each and why: the retirement history.
	Phases   []Phase         `json:"phases"`
	Segments []SegmentReport `json:"segments"`
	// Fatigue is the messages and suppressions per arm beside the primary
	// metric and the fatigue rates (AddFatigue); nil when not read.
	Fatigue *FatigueReport `json:"fatigue,omitempty"`
	// Channels is each metric per channel (AddChannels), beside the total
	// of Segments; nil when not read.
	Channels []ChannelReport `json:"channels,omitempty"`
}

// SegmentReport is one segment: its arms, the sample ratio checks, each
// metric's comparisons against the segment's control, and what the
// retirement loop would do.
type SegmentReport struct {
	Key         string     `json:"key"`
	Name        string     `json:"name,omitempty"`
	Control     string     `json:"control"`
	Winner      string     `json:"winner,omitempty"`
	ConcludedAt *time.Time `json:"concluded_at,omitempty"`
	// MultiArmUnits were exposed in more than one arm; each counts once,
	// in the arm of its first exposure.
	MultiArmUnits int64          `json:"multi_arm_units"`
	SRM           SRMReport      `json:"srm"`
	PhaseSRM      []PhaseSRM     `json:"phase_srm"`
	Arms          []ArmReport    `json:"arms"`
	Metrics       []MetricReport `json:"metrics"`
	// Retirement is the retirement decision as of GeneratedAt: what blocks
	// it, or what the loop decides (for an experiment without automatic
	// retirement, a recommendation). retire.Report sets it.
	Retirement SegmentRetirement `json:"retirement"`
	// Allocation is the segment's allocation ("bandit", or empty for
	// fixed weights); Bandit its phase-stratified estimates, the ones to
	// read for a bandit segment (Arms and Metrics pool over phases).
	Allocation string           `json:"allocation,omitempty"`
	Bandit     *BanditEstimates `json:"bandit,omitempty"`
}

// ArmStatus is where an arm stands.
type ArmStatus string

// The arm statuses.
const (
	ArmActive  ArmStatus = "active"
	ArmRetired ArmStatus = "retired"
	ArmWinner  ArmStatus = "winner"  // the concluded segment's winner
	ArmLoser   ArmStatus = "loser"   // active but not the winner of a concluded segment
	ArmHoldout ArmStatus = "holdout" // units held out, measured as an arm
	ArmUnknown ArmStatus = "unknown" // exposures in an arm the definition lacks
)

// ArmReport is one arm of a segment: its status, its counts (human and
// machine) and its cumulative daily series.
type ArmReport struct {
	Variant       string       `json:"variant"`
	Name          string       `json:"name,omitempty"`
	Control       bool         `json:"control,omitempty"`
	Status        ArmStatus    `json:"status"`
	Weight        int          `json:"weight"`
	RetiredAt     *time.Time   `json:"retired_at,omitempty"`
	RetiredReason string       `json:"retired_reason,omitempty"`
	Counts        Counts       `json:"counts"`
	Daily         []DailyPoint `json:"daily"`
}

// DailyPoint is an arm's cumulative counts and metrics at the end of a UTC
// day, for charts over time. Every arm of a segment has a point for every
// day from the segment's first to its last.
type DailyPoint struct {
	Day           time.Time `json:"day"`
	Exposed       int64     `json:"exposed"`
	Openers       int64     `json:"openers"`
	Clickers      int64     `json:"clickers"`
	OpenClickers  int64     `json:"open_clickers"`
	Converters    int64     `json:"converters"`
	Unsubscribers int64     `json:"unsubscribers"`
	Complainers   int64     `json:"complainers"`
	Value         float64   `json:"value"`
	// Metrics holds each metric's cumulative value, in the order of
	// ReportMetrics.
	Metrics []float64 `json:"metrics"`
}

// ReportMetrics are the metrics of every report, in order.
var ReportMetrics = []experiment.Metric{
	experiment.MetricOpenRate, experiment.MetricClickRate, experiment.MetricClickToOpen,
	experiment.MetricConversionRate, experiment.MetricRevenuePerRecipient,
	experiment.MetricUnsubscribeRate, experiment.MetricComplaintRate,
}

// MetricReport is one metric in one segment: a row per arm.
type MetricReport struct {
	Metric        experiment.Metric `json:"metric"`
	Mean          bool              `json:"mean"` // a mean per recipient; otherwise a rate
	Primary       bool              `json:"primary"`
	Guardrail     bool              `json:"guardrail"`
	LowerIsBetter bool              `json:"lower_is_better"`
	Rows          []MetricRow       `json:"rows"`
}

// MetricRow is one arm's value of a metric and, except for the control,
// its comparison with the control.
type MetricRow struct {
	Variant string `json:"variant"`
	// Numerator and Denominator: successes and trials of a rate, or the sum
	// of values and the number of units of a mean.
	Numerator   float64 `json:"numerator"`
	Denominator float64 `json:"denominator"`
	Value       float64 `json:"value"`
	// ProbBest is the posterior probability that this arm is the best of
	// the segment's variants on this rate (uniform priors, integrated
	// exactly: stats.ProbBest); set, control included, in segments with
	// three or more variants with trials.
	ProbBest   *float64          `json:"prob_best,omitempty"`
	Comparison *MetricComparison `json:"comparison,omitempty"`
}

// MetricComparison compares an arm with its segment's control on one
// metric, treatment minus control.
type MetricComparison struct {
	// FixedHorizon is the z-test (rates) or Welch's test (means), valid for
	// one look at a sample size fixed in advance.
	FixedHorizon stats.Comparison `json:"fixed_horizon"`
	// PValueHolm is FixedHorizon.PValue adjusted by Holm across the
	// segment's variants whose p-value is defined (the holdout and unknown
	// arms are not in the family: theirs is the raw p-value); nil where the
	// p-value is.
	PValueHolm *float64 `json:"p_value_holm"`
	// Sequential is the mSPRT at this look: its p-value and interval are
	// valid however often the report is looked at. The retirement loop
	// uses only these.
	Sequential stats.MSPRTLook `json:"sequential"`
	// SequentialPValueHolm is Sequential.PValue adjusted by Holm, as above,
	// over the looks that are Defined; nil for the others.
	SequentialPValueHolm *float64 `json:"sequential_p_value_holm"`
	// PValueAdjusted and SequentialPValueAdjusted are the same p-values
	// adjusted over the same families by the policy's correction
	// (Report.Correction): equal to the Holm ones under Holm.
	PValueAdjusted           *float64 `json:"p_value_adjusted"`
	SequentialPValueAdjusted *float64 `json:"sequential_p_value_adjusted"`
	// CUPED is the difference adjusted by each unit's same metric over the
	// Report.CupedDays before its first exposure, beside the unadjusted one,
	// with the variance reduction (AddCUPED); absent for click-to-open and
	// when the report was built without units.
	CUPED *stats.CUPEDResult `json:"cuped,omitempty"`
	// ProbBetter is the posterior probability that the arm is better than
	// the control (higher, or lower for LowerIsBetter metrics) under
	// uniform priors; rates only.
	ProbBetter *float64 `json:"prob_better,omitempty"`
	// Error is set when the counts are inconsistent (more openers than
	// recipients, say): the numbers above are then zero.
	Error string `json:"error,omitempty"`
}

// BuildReport computes the report of exp (its current definition) from its
// history (oldest first; it gives the phases) and its aggregates, as of now.
// It never fails: what cannot be computed says why in the report. Each
// segment's Retirement is left empty: retire.Report fills it in.
func BuildReport(exp experiment.Experiment, history []experiment.Version, agg Aggregates, now time.Time) Report {
	pol := exp.Retirement.WithDefaults()
	r := Report{
		Experiment: exp.Key, Name: exp.Name, Version: exp.Version, Status: exp.Status,
		StartedAt: exp.StartedAt, GeneratedAt: now, PrimaryMetric: exp.PrimaryMetric,
		Guardrails: exp.GuardrailMetrics, Alpha: pol.Alpha, Correction: pol.Correction,
		Phases: Phases(exp, history), Imported: exp.Imported,
	}
	if exp.Imported != nil {
		// Versions say nothing of when the other tool assigned whom.
		r.Phases = Phases(exp, nil)
	}
	if r.Guardrails == nil {
		r.Guardrails = []experiment.Metric{}
	}
	for _, s := range exp.Segments {
		sr := buildSegment(exp, s, r.Phases, agg, pol)
		if sr.SRM.Mismatch {
			r.SRM = true
		}
		for _, p := range sr.PhaseSRM {
			if p.Mismatch {
				r.SRM = true
			}
		}
		r.Segments = append(r.Segments, sr)
	}
	return r
}

// SegmentArms lists the arms of segment s in report order: its variants as
// defined, the holdout if the experiment has one or it has units, then any
// arm with units that the definition lacks.
func SegmentArms(exp experiment.Experiment, s experiment.Segment, agg Aggregates) []string {
	var arms []string
	for _, v := range s.Variants {
		arms = append(arms, v.Key)
	}
	holdout := exp.Holdout > 0
	var unknown []string
	for _, a := range agg.Arms {
		if a.Segment != s.Key {
			continue
		}
		if a.Variant == experiment.HoldoutArm {
			holdout = true
		} else if s.Variant(a.Variant) < 0 {
			unknown = append(unknown, a.Variant)
		}
	}
	if holdout {
		arms = append(arms, experiment.HoldoutArm)
	}
	sort.Strings(unknown)
	return append(arms, unknown...)
}

func buildSegment(exp experiment.Experiment, s experiment.Segment, phases []Phase, agg Aggregates, pol experiment.RetirementPolicy) SegmentReport {
	arms := SegmentArms(exp, s, agg)
	sr := SegmentReport{Key: s.Key, Name: s.Name, Winner: s.Winner, ConcludedAt: s.ConcludedAt}
	ci := s.Control()
	if ci >= 0 {
		sr.Control = s.Variants[ci].Key
	}
	sr.SRM, sr.PhaseSRM = SegmentSRM(phases, s.Key, arms, agg)
	days := segmentDays(agg, s.Key)
	for _, a := range arms {
		ar := ArmReport{Variant: a, Counts: agg.Arm(s.Key, a)}
		switch vi := s.Variant(a); {
		case a == experiment.HoldoutArm:
			ar.Status = ArmHoldout
		case vi < 0:
			ar.Status = ArmUnknown
		default:
			v := s.Variants[vi]
			ar.Name, ar.Control, ar.Weight = v.Name, v.Control, v.Weight
			ar.Status = ArmActive
			switch {
			case v.Retired:
				ar.Status, ar.RetiredAt, ar.RetiredReason = ArmRetired, v.RetiredAt, v.RetiredReason
			case s.Winner == v.Key:
				ar.Status = ArmWinner
			case s.Concluded():
				ar.Status = ArmLoser
			}
		}
		sr.MultiArmUnits += ar.Counts.MultiArm
		ar.Daily = dailyPoints(agg, s.Key, a, days)
		sr.Arms = append(sr.Arms, ar)
	}
	for _, m := range ReportMetrics {
		sr.Metrics = append(sr.Metrics, buildMetric(exp, m, sr, pol))
	}
	for _, cm := range exp.CustomMetrics {
		sr.Metrics = append(sr.Metrics, buildCustomMetric(exp, cm, sr, agg, pol))
	}
	if s.IsBandit() {
		sr.Allocation = s.Allocation
		sr.Bandit = banditEstimates(s, sr, phases, agg, pol.Alpha)
	}
	return sr
}

func buildMetric(exp experiment.Experiment, m experiment.Metric, sr SegmentReport, pol experiment.RetirementPolicy) MetricReport {
	mr := MetricReport{Metric: m, Mean: m.IsMean(),
		Primary: m == exp.PrimaryMetric, LowerIsBetter: m.LowerIsBetter()}
	for _, g := range exp.GuardrailMetrics {
		if g == m {
			mr.Guardrail = true
		}
	}
	var control *Counts
	for i := range sr.Arms {
		if sr.Arms[i].Control {
			control = &sr.Arms[i].Counts
		}
	}
	var family []int // rows in the Holm family
	for _, a := range sr.Arms {
		row := MetricRow{Variant: a.Variant}
		row.Numerator, row.Denominator, row.Value = MetricValue(m, a.Counts)
		if control != nil && !a.Control {
			c := compare(m, *control, a.Counts, pol.Alpha)
			row.Comparison = &c
			if a.Status != ArmHoldout && a.Status != ArmUnknown {
				family = append(family, len(mr.Rows))
			}
		}
		mr.Rows = append(mr.Rows, row)
	}
	adjustFamily(mr.Rows, family, pol.Correction)
	setProbBest(m, sr.Arms, mr.Rows)
	return mr
}

// adjustFamily sets the adjusted p-values of the rows in family, by Holm
// and by the policy's correction. A comparison whose p-value is undefined
// is no test, so it is not in the family and its adjusted p-values stay nil.
func adjustFamily(rows []MetricRow, family []int, corr experiment.Correction) {
	var fixedRows, seqRows []int
	var fixed, seq []float64
	for _, ri := range family {
		c := rows[ri].Comparison
		if p, ok := c.FixedHorizon.P(); ok {
			fixedRows, fixed = append(fixedRows, ri), append(fixed, p)
		}
		if c.Sequential.Defined {
			seqRows, seq = append(seqRows, ri), append(seq, c.Sequential.PValue)
		}
	}
	holm, adj := stats.Holm(fixed), Adjust(corr, fixed)
	for i, ri := range fixedRows {
		rows[ri].Comparison.PValueHolm, rows[ri].Comparison.PValueAdjusted = &holm[i], &adj[i]
	}
	seqHolm, seqAdj := stats.Holm(seq), Adjust(corr, seq)
	for i, ri := range seqRows {
		rows[ri].Comparison.SequentialPValueHolm, rows[ri].Comparison.SequentialPValueAdjusted = &seqHolm[i], &seqAdj[i]
	}
}

// MetricValue returns the numerator, denominator and value of metric m.
func MetricValue(m experiment.Metric, c Counts) (num, den, value float64) {
	if m.IsMean() {
		mo := Moments(c)
		return mo.Sum, mo.N, mo.Mean()
	}
	p := Proportion(m, c)
	return p.Successes, p.Trials, p.Rate()
}

// Proportion returns the successes and trials of rate metric m.
func Proportion(m experiment.Metric, c Counts) stats.Proportion {
	n := float64(c.Exposed)
	switch m {
	case experiment.MetricOpenRate:
		return stats.Proportion{Successes: float64(c.Opens.Units), Trials: n}
	case experiment.MetricClickRate:
		return stats.Proportion{Successes: float64(c.Clicks.Units), Trials: n}
	case experiment.MetricClickToOpen:
		return stats.Proportion{Successes: float64(c.OpenClickers), Trials: float64(c.Opens.Units)}
	case experiment.MetricConversionRate:
		return stats.Proportion{Successes: float64(c.Conversions.Units), Trials: n}
	case experiment.MetricUnsubscribeRate:
		return stats.Proportion{Successes: float64(c.Unsubscribes.Units), Trials: n}
	case experiment.MetricComplaintRate:
		return stats.Proportion{Successes: float64(c.Complaints.Units), Trials: n}
	}
	return stats.Proportion{}
}

// Moments returns the sums a mean metric (revenue per recipient) is tested
// on.
func Moments(c Counts) stats.Moments {
	return stats.Moments{N: float64(c.Exposed), Sum: c.Value, SumSq: c.ValueSumSq}
}

// compare compares treatment with control on metric m: fixed-horizon test,
// mSPRT at this look and, for rates, the probability to be better.
func compare(m experiment.Metric, control, treatment Counts, alpha float64) MetricComparison {
	if m.IsMean() {
		return compareMeans(Moments(control), Moments(treatment), alpha)
	}
	return compareRates(Proportion(m, control), Proportion(m, treatment), m.LowerIsBetter(), alpha)
}

// compareMeans is compare for a mean per recipient.
func compareMeans(mc, mt stats.Moments, alpha float64) MetricComparison {
	var c MetricComparison
	var err error
	if c.FixedHorizon, err = stats.CompareMeans(mc, mt, alpha); err == nil {
		c.Sequential, err = stats.MSPRTMeans(mc, mt, stats.MSPRTConfig{Alpha: alpha})
	}
	return compared(c, err, alpha)
}

// compareRates is compare for a rate, lower the better when lower.
func compareRates(pc, pt stats.Proportion, lower bool, alpha float64) MetricComparison {
	var c MetricComparison
	var err error
	if c.FixedHorizon, err = stats.CompareProportions(pc, pt, alpha); err == nil {
		c.Sequential, err = stats.MSPRTProportions(pc, pt, stats.MSPRTConfig{Alpha: alpha})
	}
	if err == nil && pc.Trials > 0 && pt.Trials > 0 {
		var p float64
		if p, err = stats.ProbBeatControl(pc, pt, stats.BetaPrior{}); err == nil {
			if lower {
				p = 1 - p
			}
			c.ProbBetter = &p
		}
	}
	return compared(c, err, alpha)
}

// compared finishes a comparison: the error's form, or the Holm p-values
// before adjustment.
func compared(c MetricComparison, err error, alpha float64) MetricComparison {
	if err != nil {
		return MetricComparison{Error: err.Error(), FixedHorizon: stats.Comparison{Alpha: alpha, RelStatus: stats.RelUntested},
			Sequential: stats.MSPRTLook{PValue: 1, Alpha: alpha}}
	}
	// Outside a Holm family (the holdout, unknown arms) the adjusted p-value
	// is the raw one; adjustFamily replaces it for the family.
	if p, ok := c.FixedHorizon.P(); ok {
		holm, adj := p, p
		c.PValueHolm, c.PValueAdjusted = &holm, &adj
	}
	if c.Sequential.Defined {
		holm, adj := c.Sequential.PValue, c.Sequential.PValue
		c.SequentialPValueHolm, c.SequentialPValueAdjusted = &holm, &adj
	}
	return c
}

// segmentDays returns every UTC day from the segment's first daily entry to
// its last.
func segmentDays(agg Aggregates, seg string) []time.Time {
	var first, last time.Time
	for _, d := range agg.Daily {
		if d.Segment != seg {
			continue
		}
		if first.IsZero() || d.Day.Before(first) {
			first = d.Day
		}
		if d.Day.After(last) {
			last = d.Day
		}
	}
	if first.IsZero() {
		return nil
	}
	var out []time.Time
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

func dailyPoints(agg Aggregates, seg, arm string, days []time.Time) []DailyPoint {
	inc := map[time.Time]DailyAggregate{}
	for _, d := range agg.Daily {
		if d.Segment == seg && d.Variant == arm {
			inc[d.Day] = d
		}
	}
	out := make([]DailyPoint, 0, len(days))
	var p DailyPoint
	for _, day := range days {
		d := inc[day]
		p.Day = day
		p.Exposed += d.Exposed
		p.Openers += d.Openers
		p.Clickers += d.Clickers
		p.OpenClickers += d.OpenClickers
		p.Converters += d.Converters
		p.Unsubscribers += d.Unsubscribers
		p.Complainers += d.Complainers
		p.Value += d.Value
		c := Counts{Exposed: p.Exposed, Opens: KindCounts{Units: p.Openers}, Clicks: KindCounts{Units: p.Clickers},
			OpenClickers: p.OpenClickers, Conversions: KindCounts{Units: p.Converters},
			Unsubscribes: KindCounts{Units: p.Unsubscribers}, Complaints: KindCounts{Units: p.Complainers}, Value: p.Value}
		p.Metrics = make([]float64, len(ReportMetrics))
		for i, m := range ReportMetrics {
			_, _, p.Metrics[i] = MetricValue(m, c)
		}
		out = append(out, p)
	}
	return out
}
