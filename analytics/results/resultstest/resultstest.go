// Package resultstest holds the fixtures that the tests of results and
// retire share: a definition, its history and hand-made aggregates.
package resultstest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// T0 is when the fixtures' experiments start.
var T0 = time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)

// Definition is a valid email experiment: segment "pro" (a rule) with
// control a and variants b, c; catch-all "rest" with a and b.
func Definition(tb testing.TB, holdout experiment.BasisPoints) experiment.Experiment {
	tb.Helper()
	var rule experiment.Rule
	if err := json.Unmarshal([]byte(`{"attr": "plan", "op": "equals", "value": "pro"}`), &rule); err != nil {
		tb.Fatal(err)
	}
	return experiment.Experiment{
		Key: "welcome", Channel: experiment.ChannelEmail, Allocation: experiment.Full, Holdout: holdout,
		PrimaryMetric: experiment.MetricConversionRate,
		Retirement:    experiment.RetirementPolicy{Auto: true, Alpha: 0.05, MinSamplePerArm: 1000, MinRuntime: experiment.Duration(72 * time.Hour)},
		Segments: []experiment.Segment{
			{Key: "pro", Rule: &rule, Variants: []experiment.Variant{
				{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}}},
			{Key: "rest", Variants: []experiment.Variant{{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}}},
		},
	}
}

// Started returns the history of def created and started at T0.
func Started(tb testing.TB, def experiment.Experiment) []experiment.Version {
	tb.Helper()
	v1, err := experiment.Create(def, "alice", "test", T0.Add(-time.Hour))
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	v2, err := experiment.Start(v1.Definition, "alice", "go", T0)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return []experiment.Version{v1, v2}
}

// Current is the definition of h's latest version.
func Current(h []experiment.Version) experiment.Experiment { return h[len(h)-1].Definition }

// Arm returns aggregates of one arm with n exposed units, conv converters
// and every unit's value as given.
func Arm(seg, v string, n, conv int64) results.ArmAggregate {
	return results.ArmAggregate{Segment: seg, Variant: v, Counts: results.Counts{
		Exposed: n, Opens: results.KindCounts{Units: n / 4, Events: n / 3, MachineUnits: n / 20, MachineEvents: n / 10},
		Clicks: results.KindCounts{Units: n / 10, Events: n / 8}, OpenClickers: n / 12,
		Conversions:  results.KindCounts{Units: conv, Events: conv + conv/5},
		Unsubscribes: results.KindCounts{Units: n / 200}, Complaints: results.KindCounts{Units: n / 1000},
		Value: float64(conv) * 20, ValueSumSq: float64(conv) * 500,
	}}
}

// AggOf builds aggregates from arms, every unit first exposed at version v
// on one day.
func AggOf(v uint32, arms ...results.ArmAggregate) results.Aggregates {
	a := results.Aggregates{Experiment: "welcome", Arms: arms}
	for _, x := range arms {
		a.Versions = append(a.Versions, results.VersionExposure{Segment: x.Segment, Variant: x.Variant, Version: v, Exposed: x.Exposed})
		a.Daily = append(a.Daily, results.DailyAggregate{Segment: x.Segment, Variant: x.Variant, Day: T0.Truncate(24 * time.Hour),
			Exposed: x.Exposed, Openers: x.Opens.Units, Converters: x.Conversions.Units, Value: x.Value})
	}
	a.Sort()
	return a
}
