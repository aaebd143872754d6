package results_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

func healthExperiment(t *testing.T) experiment.Experiment {
	t.Helper()
	e, err := experiment.Decode([]byte(`{
  "key": "reengage", "channel": "email", "allocation": 100, "holdout": 10,
  "segments": [
    {"key": "dormant", "rule": {"attr": "trait.lifecycle_stage", "op": "equals", "value": "dormant"},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 2}]},
    {"key": "at-risk", "rule": {"attr": "trait.lifecycle_stage", "op": "equals", "value": "at_risk"},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]},
    {"key": "vip", "rule": {"attr": "plan", "op": "equals", "value": "vip"},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}
  ],
  "primary_metric": "open_rate"
}`))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSegmentHealthOverSegmentation(t *testing.T) {
	e := healthExperiment(t)
	traffic := map[string]results.SegmentTraffic{
		"dormant": {UnitsPerDay: 4000, Known: true, Source: "traits"},
		"at-risk": {UnitsPerDay: 60, Known: true, Source: "traits"},
		"rest":    {UnitsPerDay: 5000, Known: true, Source: "traits"},
		// vip: a rule on a caller attribute, traffic unknown
	}
	h := results.SegmentHealthOf(e, traffic, results.HealthConfig{})
	n, err := stats.SampleSizeProportions(0.20, stats.RelativeEffect(0.10), 0.05, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	want := int(math.Ceil(n))
	if h.RuntimeDays != 14 || h.MDE != stats.RelativeEffect(0.10) || h.Power != 0.8 || h.Alpha != 0.05 {
		t.Errorf("defaults: runtime %v days, MDE %+v, power %v, alpha %v; want 14, 10%% relative, 0.8, 0.05",
			h.RuntimeDays, h.MDE, h.Power, h.Alpha)
	}
	by := map[string]results.SegmentHealth{}
	for _, s := range h.Segments {
		by[s.Segment] = s
		if s.SamplePerArm != want || s.Baseline != 0.20 || s.BaselineSource != "default" {
			t.Errorf("%s: sample %d at baseline %v (%s), want %d at the default 0.20", s.Segment, s.SamplePerArm, s.Baseline, s.BaselineSource, want)
		}
	}

	// dormant: 4000/day × 90% not held out × 1/4 for the smallest arm = 900.
	d := by["dormant"]
	if d.UnitsPerArmDay != 900 || d.Arms != 3 || d.DaysNeeded == nil ||
		math.Abs(*d.DaysNeeded-float64(want)/900) > 0.01 || !d.Reachable || d.Warning != "" {
		t.Errorf("dormant = %+v, want 900 units per arm per day, reachable in %.2f days, no warning", d, float64(want)/900)
	}
	// at-risk: 60 × 0.9 / 3 = 18 a day: months, not 14 days.
	r := by["at-risk"]
	if r.UnitsPerArmDay != 18 || r.Reachable || !strings.Contains(r.Warning, "over-segmentation") {
		t.Errorf("at-risk = %+v, want 18 units per arm per day and an over-segmentation warning", r)
	}
	// Its neighbour is vip, whose traffic is unknown.
	if !strings.Contains(r.Suggestion, `merge "at-risk" into "vip"`) {
		t.Errorf("at-risk suggestion = %q, want a merge with its neighbour vip", r.Suggestion)
	}
	if v := by["vip"]; v.Warning != "" || v.DaysNeeded != nil || v.TrafficSource != "unknown" {
		t.Errorf("vip = %+v, want unknown traffic and no verdict", v)
	}
	if len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "at-risk") {
		t.Errorf("Warnings = %q, want one, on at-risk", h.Warnings)
	}
}

func TestSegmentHealthMergeSuggestion(t *testing.T) {
	e := healthExperiment(t)
	e.Segments = []experiment.Segment{e.Segments[0], e.Segments[1], e.Segments[3]}
	// at-risk alone is too small in 14 days, merged with rest it is not.
	traffic := map[string]results.SegmentTraffic{
		"dormant": {UnitsPerDay: 4000, Known: true},
		"at-risk": {UnitsPerDay: 200, Known: true},
		"rest":    {UnitsPerDay: 3000, Known: true},
	}
	h := results.SegmentHealthOf(e, traffic, results.HealthConfig{Runtime: 7 * 24 * time.Hour})
	var r results.SegmentHealth
	for _, s := range h.Segments {
		if s.Segment == "at-risk" {
			r = s
		}
	}
	if r.Reachable || !strings.Contains(r.Suggestion, `merge "at-risk" with "rest": together they reach`) {
		t.Errorf("at-risk = %+v, want unreachable, with a merge into rest that reaches the sample", r)
	}
	// A larger MDE needs less: with a 30% lift at-risk makes it alone in 14
	// days (770 per arm at 60 a day).
	h = results.SegmentHealthOf(e, traffic, results.HealthConfig{MDE: stats.RelativeEffect(0.3)})
	if len(h.Warnings) != 0 {
		t.Errorf("with a 30%% MDE: warnings %q, want none", h.Warnings)
	}
	// No traffic at all is a warning too.
	traffic["at-risk"] = results.SegmentTraffic{Known: true}
	h = results.SegmentHealthOf(e, traffic, results.HealthConfig{})
	if len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "gets no traffic") {
		t.Errorf("a segment without traffic: warnings %q", h.Warnings)
	}
}
