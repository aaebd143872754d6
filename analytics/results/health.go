package results

import (
	"fmt"
	"math"
	"time"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// Segment health: can each segment of an experiment reach the sample its
// primary metric needs within the planned runtime? A segment that cannot is
// over-segmentation: its variants will never be told apart, and its units
// would be better spent merged into a neighbour.
//
// Experiments carry no minimum detectable effect or planned runtime, so
// HealthConfig's documented defaults stand in for them: a 10% relative MDE
// and 14 days, at the experiment's own alpha and 80% power.

// Defaults of HealthConfig.
const (
	DefaultHealthMDE     = 0.10 // relative
	DefaultHealthRuntime = 14 * 24 * time.Hour
	DefaultHealthPower   = 0.8
)

// DefaultBaselines are the primary-metric rates assumed when none was
// measured: typical marketing email figures. revenue_per_recipient has no
// rate; it is sized as its conversion rate, since a mean's variance is
// unknown before there is data.
var DefaultBaselines = map[experiment.Metric]float64{
	experiment.MetricOpenRate:            0.20,
	experiment.MetricClickRate:           0.02,
	experiment.MetricClickToOpen:         0.10,
	experiment.MetricConversionRate:      0.02,
	experiment.MetricRevenuePerRecipient: 0.02,
	experiment.MetricUnsubscribeRate:     0.002,
	experiment.MetricComplaintRate:       0.0005,
}

// HealthConfig sets what segment health is measured against. Zero values
// take the defaults above.
type HealthConfig struct {
	MDE     stats.Effect  // default a 10% relative lift
	Runtime time.Duration // planned runtime, default 14 days
	Alpha   float64       // default the experiment's retirement alpha
	Power   float64       // default 0.8
}

// SegmentTraffic is a segment's estimated traffic: the units per day that
// match its rule (before allocation and holdout), and where the estimate
// comes from. Unknown segments (a rule on caller attributes and no
// exposures yet) get no verdict.
type SegmentTraffic struct {
	UnitsPerDay float64
	Known       bool
	Source      string
	// Baseline is the measured primary-metric rate, 0 when not measured.
	Baseline float64
}

// SegmentHealth is one segment's verdict.
type SegmentHealth struct {
	Segment        string  `json:"segment"`
	UnitsPerDay    float64 `json:"units_per_day"`
	TrafficSource  string  `json:"traffic_source"`
	Arms           int     `json:"arms"`
	UnitsPerArmDay float64 `json:"units_per_arm_per_day"` // in the smallest arm
	Baseline       float64 `json:"baseline"`
	BaselineSource string  `json:"baseline_source"` // measured or default
	SamplePerArm   int     `json:"sample_size_per_arm"`
	// DaysNeeded is how long the smallest arm takes to reach SamplePerArm;
	// nil when traffic is unknown or zero.
	DaysNeeded *float64 `json:"days_needed"`
	Reachable  bool     `json:"reachable"`
	Warning    string   `json:"warning,omitempty"`
	Suggestion string   `json:"suggestion,omitempty"`
}

// Health is an experiment's segment health.
type Health struct {
	Experiment    string            `json:"experiment"`
	PrimaryMetric experiment.Metric `json:"primary_metric"`
	MDE           stats.Effect      `json:"mde"`
	RuntimeDays   float64           `json:"runtime_days"`
	Alpha         float64           `json:"alpha"`
	Power         float64           `json:"power"`
	Segments      []SegmentHealth   `json:"segments"`
	Warnings      []string          `json:"warnings"`
}

// SegmentHealthOf sizes every segment of e against its traffic: the sample
// per arm its primary metric needs for the MDE (two-proportion test, as
// stats.SampleSizeProportions), the units per day its smallest arm gets
// (traffic × allocation × (1 − holdout) × the smallest active weight's
// share), the days that takes, and a warning with a merge suggestion when it
// exceeds the planned runtime. Concluded segments are skipped: they no
// longer split traffic.
func SegmentHealthOf(e experiment.Experiment, traffic map[string]SegmentTraffic, cfg HealthConfig) Health {
	cfg = cfg.withDefaults(e)
	h := Health{Experiment: e.Key, PrimaryMetric: e.PrimaryMetric, MDE: cfg.MDE, RuntimeDays: cfg.Runtime.Hours() / 24,
		Alpha: cfg.Alpha, Power: cfg.Power, Segments: []SegmentHealth{}, Warnings: []string{}}
	admitted := e.Allocation.Percent() / 100 * (1 - e.Holdout.Percent()/100)
	var all []sizedSegment
	for _, s := range e.Segments {
		if s.Concluded() {
			continue
		}
		sh, ok := sizeSegment(e, s, traffic[s.Key], cfg, admitted)
		h.Segments = append(h.Segments, sh)
		if !ok {
			h.Warnings = append(h.Warnings, sh.Warning)
			continue
		}
		all = append(all, sizedSegment{s, traffic[s.Key], float64(sh.SamplePerArm)})
	}
	suggestMerges(&h, all, admitted)
	return h
}

// withDefaults returns cfg with its zero fields set to their defaults, the
// alpha being e's retirement alpha.
func (cfg HealthConfig) withDefaults(e experiment.Experiment) HealthConfig {
	if cfg.MDE.Value == 0 {
		cfg.MDE = stats.RelativeEffect(DefaultHealthMDE)
	}
	if cfg.Runtime <= 0 {
		cfg.Runtime = DefaultHealthRuntime
	}
	if cfg.Alpha <= 0 {
		cfg.Alpha = e.Retirement.Alpha
		if cfg.Alpha <= 0 {
			cfg.Alpha = experiment.DefaultAlpha
		}
	}
	if cfg.Power <= 0 {
		cfg.Power = DefaultHealthPower
	}
	return cfg
}

// smallestArmPerDay returns the daily units of the smallest active arm of s
// at traffic unitsPerDay, of which the share admitted enters the
// experiment, and the number of active arms.
func smallestArmPerDay(s experiment.Segment, unitsPerDay, admitted float64) (float64, int) {
	total, smallest, arms := 0, math.MaxInt, 0
	for _, v := range s.Variants {
		if v.Retired || v.Weight <= 0 {
			continue
		}
		total += v.Weight
		smallest = min(smallest, v.Weight)
		arms++
	}
	if arms == 0 {
		return 0, 0
	}
	return unitsPerDay * admitted * float64(smallest) / float64(total), arms
}

// sizeSegment returns the health of segment s of e at traffic tr, with a
// warning when it cannot reach its sample within the planned runtime. It
// reports false, with the reason as the warning, when s cannot be sized.
func sizeSegment(e experiment.Experiment, s experiment.Segment, tr SegmentTraffic, cfg HealthConfig, admitted float64) (SegmentHealth, bool) {
	runtimeDays := cfg.Runtime.Hours() / 24
	sh := SegmentHealth{Segment: s.Key, UnitsPerDay: round2(tr.UnitsPerDay), TrafficSource: tr.Source}
	if !tr.Known {
		sh.TrafficSource = "unknown"
	}
	sh.Baseline, sh.BaselineSource = tr.Baseline, "measured"
	if tr.Baseline <= 0 || tr.Baseline >= 1 {
		sh.Baseline, sh.BaselineSource = DefaultBaselines[e.PrimaryMetric], "default"
	}
	n, err := stats.SampleSizeProportions(sh.Baseline, cfg.MDE, cfg.Alpha, cfg.Power)
	if err != nil {
		sh.Warning = fmt.Sprintf("cannot size segment %q: %v", s.Key, err)
		return sh, false
	}
	sh.SamplePerArm = int(math.Ceil(n))
	var armDay float64
	armDay, sh.Arms = smallestArmPerDay(s, tr.UnitsPerDay, admitted)
	sh.UnitsPerArmDay = round2(armDay)
	if tr.Known && armDay > 0 {
		d := round2(float64(sh.SamplePerArm) / armDay)
		sh.DaysNeeded = &d
		sh.Reachable = d <= runtimeDays
	}
	if tr.Known && !sh.Reachable {
		if sh.DaysNeeded == nil {
			sh.Warning = fmt.Sprintf("segment %q gets no traffic: it cannot reach %d units per arm", s.Key, sh.SamplePerArm)
		} else {
			sh.Warning = fmt.Sprintf("segment %q needs %d units per arm for a %s on %s; at %.1f units per arm per day that takes %.0f days, beyond the planned %.0f: over-segmentation",
				s.Key, sh.SamplePerArm, describeMDE(cfg.MDE), e.PrimaryMetric, armDay, *sh.DaysNeeded, runtimeDays)
		}
	}
	return sh, true
}

// suggestMerges adds to h's warnings those of its sized segments, each
// unreachable one with a merge suggestion: with its neighbour in rule order
// among all (the next one, or the previous for the last), which is the edit
// that keeps the other segments' rules unchanged.
func suggestMerges(h *Health, all []sizedSegment, admitted float64) {
	for i := range h.Segments {
		sh := &h.Segments[i]
		if sh.Warning == "" || sh.SamplePerArm == 0 {
			continue
		}
		j := indexSized(all, sh.Segment)
		if j < 0 || len(all) < 2 {
			h.Warnings = append(h.Warnings, sh.Warning)
			continue
		}
		k := j + 1
		if k == len(all) {
			k = j - 1
		}
		sh.Suggestion = mergeSuggestion(*sh, all[j], all[k], admitted, h.RuntimeDays)
		h.Warnings = append(h.Warnings, sh.Warning+"; suggestion: "+sh.Suggestion)
	}
}

// mergeSuggestion suggests merging the unreachable segment sh, sized as
// seg, with its neighbour nb, and says whether that suffices.
func mergeSuggestion(sh SegmentHealth, seg, nb sizedSegment, admitted, runtimeDays float64) string {
	merged := seg.tr.UnitsPerDay + nb.tr.UnitsPerDay
	armDay, _ := smallestArmPerDay(seg.seg, merged, admitted)
	switch {
	case !nb.tr.Known:
		return fmt.Sprintf("merge %q into %q (whose traffic is unknown), or drop variants, or plan a longer runtime", sh.Segment, nb.seg.Key)
	case armDay > 0 && seg.need/armDay <= runtimeDays:
		return fmt.Sprintf("merge %q with %q: together they reach %d units per arm in %.0f days",
			sh.Segment, nb.seg.Key, sh.SamplePerArm, math.Ceil(seg.need/armDay))
	default:
		return fmt.Sprintf("merge %q with %q, and also drop variants or plan a longer runtime: even together they need %s",
			sh.Segment, nb.seg.Key, daysText(seg.need, armDay))
	}
}

func indexSized(all []sizedSegment, key string) int {
	for i, s := range all {
		if s.seg.Key == key {
			return i
		}
	}
	return -1
}

// sizedSegment is a segment that could be sized, for merge suggestions.
type sizedSegment struct {
	seg  experiment.Segment
	tr   SegmentTraffic
	need float64
}

func daysText(need, armDay float64) string {
	if armDay <= 0 {
		return "more traffic than they get"
	}
	return fmt.Sprintf("%.0f days", math.Ceil(need/armDay))
}

func describeMDE(e stats.Effect) string {
	if e.Relative {
		return fmt.Sprintf("%g%% relative lift", e.Value*100)
	}
	return fmt.Sprintf("%g absolute lift", e.Value)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
