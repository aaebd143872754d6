package results

import (
	"context"
	"sort"

	"github.com/splitcast/splitcast/experiment"
)

// FatigueReader reads what the fatigue section of a report counts, per
// arm: an optional companion of AggregateReader (analytics/clickhouse's
// FatigueReader), read by a query of its own.
type FatigueReader interface {
	ArmFatigue(ctx context.Context, experimentKey string) ([]ArmFatigue, error)
}

// ArmFatigue is what one arm's units were sent and spared. Units and
// messages are distinct (by unit, by event id), each in the arm its own
// exposure or suppression names.
type ArmFatigue struct {
	Segment string `json:"segment"`
	Variant string `json:"variant"` // a variant key or experiment.HoldoutArm
	// MessagedUnits got at least one exposure in the arm; Messages are
	// those exposures (a held-out unit's assignment counts as one: it is
	// counted against the caps as a message too).
	MessagedUnits int64 `json:"messaged_units"`
	Messages      int64 `json:"messages"`
	// Suppressed are the units answered suppressed at least once, with
	// the arm they would have had, by reason (unsubscribed, complained,
	// frequency_cap, global_control); a unit suppressed for two reasons
	// counts under each, and once in SuppressedUnits.
	SuppressedUnits int64            `json:"suppressed_units"`
	Suppressed      map[string]int64 `json:"suppressed"`
}

// SuppressionReasons are the reasons a suppressed event names, as
// analytics/fatigue answers them (its Reason* constants; its tests hold the
// two lists equal), in the order the CSV's and the page's columns take.
var SuppressionReasons = []string{"unsubscribed", "complained", "frequency_cap", "global_control"}

// FatigueReport is the report's fatigue section: per arm, the messages
// per unit, the suppressed units, and beside the primary metric the
// unsubscribe and complaint rates (the default guardrails), so that a
// variant winning by sending more, or by annoying people, shows.
type FatigueReport struct {
	PrimaryMetric experiment.Metric `json:"primary_metric"`
	Arms          []FatigueArm      `json:"arms"`
}

// FatigueArm is one arm's line of the fatigue section.
type FatigueArm struct {
	ArmFatigue
	// MessagesPerUnit is Messages / MessagedUnits (0 without units).
	MessagesPerUnit float64 `json:"messages_per_unit"`
	// SuppressedShare is SuppressedUnits over the units the arm was
	// assigned (messaged or suppressed): equal across arms, because the
	// fatigue rules never look at the arm.
	SuppressedShare float64 `json:"suppressed_share"`
	// Primary, UnsubscribeRate and ComplaintRate are the arm's values in
	// the report's metrics (intent to treat, per exposed unit).
	Primary         float64 `json:"primary"`
	UnsubscribeRate float64 `json:"unsubscribe_rate"`
	ComplaintRate   float64 `json:"complaint_rate"`
}

// AddFatigue fills r.Fatigue from the per-arm fatigue counts, beside the
// arms' metrics already in r: one line per arm of r and per arm of arms
// that r lacks, in segment and arm order.
func AddFatigue(r *Report, arms []ArmFatigue) {
	byArm := map[[2]string]ArmFatigue{}
	for _, a := range arms {
		byArm[[2]string{a.Segment, a.Variant}] = a
	}
	f := &FatigueReport{PrimaryMetric: r.PrimaryMetric, Arms: []FatigueArm{}}
	for _, s := range r.Segments {
		for _, a := range s.Arms {
			k := [2]string{s.Key, a.Variant}
			fa := FatigueArm{ArmFatigue: byArm[k]}
			fa.Segment, fa.Variant = s.Key, a.Variant
			delete(byArm, k)
			_, _, fa.Primary = MetricValue(r.PrimaryMetric, a.Counts)
			_, _, fa.UnsubscribeRate = MetricValue(experiment.MetricUnsubscribeRate, a.Counts)
			_, _, fa.ComplaintRate = MetricValue(experiment.MetricComplaintRate, a.Counts)
			f.Arms = append(f.Arms, fa.withShares())
		}
	}
	var rest []FatigueArm
	for _, a := range byArm {
		rest = append(rest, FatigueArm{ArmFatigue: a}.withShares())
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].Segment != rest[j].Segment {
			return rest[i].Segment < rest[j].Segment
		}
		return rest[i].Variant < rest[j].Variant
	})
	f.Arms = append(f.Arms, rest...)
	r.Fatigue = f
}

func (a FatigueArm) withShares() FatigueArm {
	if a.MessagedUnits > 0 {
		a.MessagesPerUnit = float64(a.Messages) / float64(a.MessagedUnits)
	}
	if n := a.MessagedUnits + a.SuppressedUnits; n > 0 {
		a.SuppressedShare = float64(a.SuppressedUnits) / float64(n)
	}
	if a.Suppressed == nil {
		a.Suppressed = map[string]int64{}
	}
	return a
}
